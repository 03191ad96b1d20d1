//! Runs a plan over a `scan_adaptive` source batch by batch.
//!
//! The optimized plan (`LazyFrame::to_alp_optimized`) is split along the path from its root
//! down to the adaptive scan:
//!
//! ```text
//!   rest            anything: runs once, in Polars' in-memory engine, on the small result
//!   reduction       Slice (early stop) | GroupBy / global aggregation (streaming_agg)
//!                   | Sort with a slice (top_k: k rows held, row groups skipped)
//!   row-local chain Filter, Select / HStack of elementwise expressions, SimpleProjection
//!   scan            the adaptive source, streamed in batches
//! ```
//!
//! The row-local chain runs once per batch: the scan node is replaced in (a copy of) the IR
//! arena by an `IR::DataFrameScan` holding the batch, and Polars' own physical planner
//! (`polars_mem_engine::create_physical_plan`) builds and runs the chain. The rest runs the
//! same way above a `DataFrameScan` holding the reduction's result. A plan with anything else
//! between the scan and the reduction (a full sort, a join, a window over the input, ...) is
//! not streamed.

use std::sync::Arc;

use polars::prelude::*;
use polars_adaptive_plan::{AdaptiveSource, ScanRequest};
use polars_expr::state::ExecutionState;
use polars_mem_engine::create_physical_plan;
use polars_plan::dsl::FileScanIR;
use polars_plan::plans::expr_ir::ExprIR;
use polars_plan::plans::{is_elementwise_rec, AExpr, IRPlan, IR};
use polars_plan::prelude::DistinctOptionsIR;
use polars_plan::prelude::{Arena, Node};
use polars_streaming_adaptive::{BatchMap, CategoricalColumns, MemoryManager, RowGroupFilter};

use crate::batch_exec::{BatchExec, BatchExecPool};
use crate::error::ExecError;
use crate::grouped_partial::GroupedPartial;
use crate::stats_answer::StatsAnswer;
use crate::streaming_agg::{AggPlan, StreamingAgg};
use crate::top_k::{needed_row_groups, Held, Skipping, TopKPlan};

/// Output batches go here; `Ok(true)` stops the run.
pub(crate) type Emit<'a> = dyn FnMut(DataFrame) -> PolarsResult<bool> + 'a;

/// What sits right above the row-local chain.
enum Reduction {
    /// The chain's output is the plan's output (the chain reaches the root).
    None,
    Slice {
        node: Node,
        offset: usize,
        len: usize,
    },
    Aggregate {
        node: Node,
        plan: AggPlan,
    },
    /// A sort whose slice keeps its first k rows.
    TopK {
        node: Node,
        plan: TopKPlan,
    },
}

struct Split {
    plan: IRPlan,
    scan: Node,
    chain_top: Node,
    reduction: Reduction,
}

/// Runs `lf`, handing its output to `emit` in batches.
pub(crate) fn run(lf: LazyFrame, emit: &mut Emit<'_>) -> PolarsResult<()> {
    let plan = lf.clone().to_alp_optimized()?;
    let reads_budgeted = scans_budget(&plan);
    let (source, split) = match split(plan) {
        Ok(found) => found,
        Err(Unstreamable { operation, budget }) => {
            // A join or union of budgeted scans has no one scan to read the budget from; any
            // budget of a scan the optimized plan still reads forbids running it unbounded
            // (a `LIMIT 0` the optimizer turned into an empty frame reads none).
            if let Some(budget) = budget.or(reads_budgeted) {
                return Err(ExecError::Unstreamable { operation, budget }.into());
            }
            warn_once(&operation);
            emit(lf.collect()?)?;
            return Ok(());
        }
    };
    Runner {
        source,
        split: Arc::new(split),
        partial: false,
    }
    .run(emit)
}

/// Runs `lf` over one part of its input (a split), handing `emit` the part's partial answer,
/// which [`merge_partials`] turns, with the other parts', into the plan's answer:
///
/// | plan above the row-local chain | a part's partial answer | merged by |
/// | --- | --- | --- |
/// | nothing | its rows | concatenation in part order |
/// | a slice of `len` rows from `offset` | its first `offset + len` rows | concatenation, then the slice |
/// | an aggregation | the aggregation's partial state, compacted | the streaming aggregation's merge |
/// | a sort with a slice (top-k) | its top `offset + len` rows, sorted | the top-k of them |
///
/// and then the rest of the plan. A plan with anything else is refused, naming it.
pub(crate) fn run_partial(lf: LazyFrame, emit: &mut Emit<'_>) -> PolarsResult<()> {
    let (source, split) = split_for_parts(lf)?;
    Runner {
        source,
        split: Arc::new(split),
        partial: true,
    }
    .run(emit)
}

/// The plan's answer from its parts' partial answers (see [`run_partial`]), given in part
/// order. With `compact_only`, the merged partial state instead (an aggregation's partial rows
/// of one group merged into one; other plans' parts concatenated): a step of a merge done in
/// several places, such as a shuffle by group.
pub(crate) fn merge_partials(
    lf: LazyFrame,
    parts: Vec<DataFrame>,
    compact_only: bool,
) -> PolarsResult<DataFrame> {
    let (source, split) = split_for_parts(lf)?;
    let runner = Runner {
        source,
        split: Arc::new(split),
        partial: false,
    };
    runner.merge(parts, compact_only)
}

/// What a plan run in parts (see [`run_partial`]) reads and how its parts merge.
#[derive(Debug, Clone)]
pub struct PartsPlan {
    /// The key columns of the partial answers when they may be merged group by group in
    /// several places (an aggregation by keys whose result has no defined order); `None`
    /// when the parts must be merged together, in order.
    pub group_keys: Option<Vec<PlSmallStr>>,
    /// The predicate the optimizer pushed into the scan: parts may be planned with it.
    pub scan_predicate: Option<Expr>,
    /// The columns the scan reads.
    pub scan_columns: Vec<PlSmallStr>,
    /// The row groups the plan can need, when statistics alone narrow them (a top-k over
    /// unfiltered rows): splits of the others would answer nothing.
    pub row_groups: Option<RowGroupFilter>,
}

pub(crate) fn parts_plan(lf: LazyFrame) -> PolarsResult<PartsPlan> {
    let (source, split) = split_for_parts(lf)?;
    let group_keys = match &split.reduction {
        Reduction::Aggregate { plan, .. } if !plan.ordered() && !plan.key_names().is_empty() => {
            Some(plan.key_names())
        }
        _ => None,
    };
    let runner = Runner {
        source,
        split: Arc::new(split),
        partial: true,
    };
    let request = runner.scan_request()?;
    let row_groups = match &runner.split.reduction {
        Reduction::TopK { plan, .. } if request.predicate.is_none() && !runner.chain_filters() => {
            needed_row_groups(plan, runner.source())
        }
        _ => None,
    };
    Ok(PartsPlan {
        group_keys,
        scan_predicate: request.predicate,
        scan_columns: request.columns,
        row_groups,
    })
}

fn split_for_parts(lf: LazyFrame) -> PolarsResult<(Arc<dyn AnonymousScan>, Split)> {
    let plan = lf.to_alp_optimized()?;
    let (source, split) = split(plan).map_err(|Unstreamable { operation, .. }| {
        PolarsError::from(ExecError::NotSplittable { operation })
    })?;
    // A row limit in the scan under a predicate (`n_rows`) counts the dataset's first rows,
    // which no part but the first knows.
    if let IR::Scan {
        predicate: Some(_),
        unified_scan_args,
        ..
    } = split.plan.lp_arena.get(split.scan)
    {
        if unified_scan_args.pre_slice.is_some() {
            return Err(ExecError::NotSplittable {
                operation: "a row limit applied before the filter (n_rows)".into(),
            }
            .into());
        }
    }
    Ok((source, split))
}

/// How a batch's partial aggregate is computed.
enum Partial {
    /// Hash grouper and grouped reductions (the streaming engine's).
    Grouped(Arc<GroupedPartial>),
    /// Polars' in-memory group_by, compiled once per thread.
    Compiled(BatchExecPool),
}

struct Unstreamable {
    operation: String,
    budget: Option<usize>,
}

struct Runner {
    source: Arc<dyn AnonymousScan>,
    split: Arc<Split>,
    /// Hand out a partial answer (`run_partial`), not the plan's answer.
    partial: bool,
}

impl Runner {
    fn source(&self) -> &AdaptiveSource {
        AdaptiveSource::of(&*self.source).unwrap()
    }

    fn run(self, emit: &mut Emit<'_>) -> PolarsResult<()> {
        let Some(answer) = self.statistics_answer() else {
            return self.read(emit, None, self.partial);
        };
        let mut decoded = None;
        self.read(
            &mut |df| {
                decoded = Some(df);
                Ok(false)
            },
            Some(&answer),
            false,
        )?;
        let decoded = decoded.ok_or_else(
            || polars_err!(ComputeError: "the aggregation of the decoded row groups gave no answer"),
        )?;
        let answer = answer.combine(decoded)?;
        if self.partial {
            emit(self.as_partial_state(answer)?)?;
        } else {
            emit(answer)?;
        }
        Ok(())
    }

    /// A global aggregation's answer from statistics, as the partial state `run_partial` hands
    /// out: each of its aggregates (min, max, len, count) is one leaf whose partial is the
    /// aggregate itself, in order.
    fn as_partial_state(&self, answer: DataFrame) -> PolarsResult<DataFrame> {
        let Reduction::Aggregate { plan, .. } = &self.split.reduction else {
            unreachable!("statistics answer only aggregations")
        };
        let schema = plan
            .partial(DataFrame::empty_with_arc_schema(plan.input_schema().clone()).lazy())
            .collect_schema()?;
        if schema.len() != answer.width() {
            return Err(ExecError::Internal(format!(
                "a statistics answer of {} columns for a partial state of {}",
                answer.width(),
                schema.len()
            ))
            .into());
        }
        let columns = answer
            .columns()
            .iter()
            .zip(schema.iter())
            .map(|(c, (name, dtype))| Ok(c.cast(dtype)?.with_name(name.clone())))
            .collect::<PolarsResult<Vec<_>>>()?;
        DataFrame::new(answer.height(), columns)
    }

    /// See [`merge_partials`].
    fn merge(&self, parts: Vec<DataFrame>, compact_only: bool) -> PolarsResult<DataFrame> {
        let top = self.split.plan.lp_top;
        let empty = self.chain_output_empty()?;
        match &self.split.reduction {
            // A limit the optimizer pushed into the scan: each part kept its first rows.
            Reduction::None => Ok(match self.scan_request()?.limit {
                Some(n) => concat_or(parts, empty).head(Some(n)),
                None => concat_or(parts, empty),
            }),
            Reduction::Slice { node, offset, len } => {
                let df = concat_or(parts, empty);
                if compact_only {
                    return Ok(df);
                }
                self.execute_above(*node, df.slice(*offset as i64, *len), top)
            }
            Reduction::Aggregate { node, plan } => {
                let mut agg = StreamingAgg::new(plan.clone(), MemoryManager::new(), None);
                for part in parts {
                    agg.add_partial(part)?;
                }
                if compact_only {
                    return agg.into_partial(empty);
                }
                if agg.is_empty() {
                    agg.seed(empty)?;
                }
                self.execute_above(*node, agg.finish()?, top)
            }
            Reduction::TopK { node, plan } => {
                let mut held =
                    Held::new(Arc::new(plan.compile()), plan.k, MemoryManager::new(), None);
                for part in parts {
                    held.add(part, None)?;
                }
                let held = held.finish(empty);
                if compact_only {
                    return Ok(held);
                }
                self.execute_above(*node, plan.answer(held)?, top)
            }
        }
    }

    /// Whether the row-local chain drops rows (a filter in it).
    fn chain_filters(&self) -> bool {
        self.chain().any(|ir| matches!(ir, IR::Filter { .. }))
    }

    /// Whether the row-local chain only selects columns (the projection that drops the
    /// predicate's columns), so that a column reaches the reduction as the scan decoded it.
    fn chain_only_selects(&self) -> bool {
        self.chain()
            .all(|ir| matches!(ir, IR::SimpleProjection { .. }))
    }

    /// The nodes of the row-local chain, from its top down to the scan's parent.
    fn chain(&self) -> impl Iterator<Item = &IR> {
        let arena = &self.split.plan.lp_arena;
        let mut node = self.split.chain_top;
        std::iter::from_fn(move || {
            (node != self.split.scan).then(|| {
                let ir = arena.get(node);
                node = ir.inputs().next().expect("a chain node has one input");
                ir
            })
        })
    }

    /// The row-local chain's output for no rows: the schema of what reaches the reduction.
    fn chain_output_empty(&self) -> PolarsResult<DataFrame> {
        let plan = &self.split.plan;
        let schema = plan
            .lp_arena
            .get(self.split.scan)
            .schema(&plan.lp_arena)
            .into_owned();
        let empty = DataFrame::empty_with_arc_schema(schema);
        match self.compile_chain() {
            Some(chain) => chain.run(empty),
            None => Ok(empty),
        }
    }

    /// Row groups whose statistics answer the plan (a global aggregation straight over the
    /// scan, without predicate or slice): see `stats_answer.rs`.
    fn statistics_answer(&self) -> Option<StatsAnswer> {
        let split = &self.split;
        let arena = &split.plan.lp_arena;
        // A global aggregation at the plan's root.
        let Reduction::Aggregate { node, .. } = &split.reduction else {
            return None;
        };
        let IR::Select { expr, schema, .. } = arena.get(*node) else {
            return None;
        };
        if *node != split.plan.lp_top {
            return None;
        }
        let exprs: Vec<Expr> = expr
            .iter()
            .map(|e| e.to_expr(&split.plan.expr_arena))
            .collect();
        let IR::Scan {
            predicate,
            unified_scan_args,
            ..
        } = split.plan.lp_arena.get(split.scan)
        else {
            return None;
        };
        let direct = split.chain_top == split.scan
            && predicate.is_none()
            && unified_scan_args.pre_slice.is_none();
        direct
            .then(|| StatsAnswer::try_new(&exprs, schema, self.source()))
            .flatten()
    }

    /// Streams the scan through the plan; `answer`: leave out the row groups it answers;
    /// `partial`: hand out the partial answer (see `run_partial`).
    fn read(
        &self,
        emit: &mut Emit<'_>,
        answer: Option<&StatsAnswer>,
        partial: bool,
    ) -> PolarsResult<()> {
        let args = self.source().args().clone();
        let memory = match args.memory_budget {
            // A quarter of a hard budget is left for aggregation state.
            Some(b) => MemoryManager::new().with_budget(b - b / 4),
            None => MemoryManager::new(),
        };
        if let Reduction::TopK { node, plan } = &self.split.reduction {
            return self.read_top_k(emit, *node, plan, memory, args.memory_budget);
        }
        let mut request = self.scan_request()?;
        request.memory = Some(memory.clone());
        let chain = self.compile_chain();
        let pooled = self.pooled_partial(&memory, args.memory_budget);
        // A group key read by nothing but the grouped partial is grouped by its dictionary
        // codes: the scan hands it out as a categorical, the partial's keys are strings again.
        let categorical = match (self.chain_only_selects(), &pooled) {
            (true, Some(p)) => p
                .categorical_key()
                .map(|k| CategoricalColumns::new([k.clone()])),
            _ => None,
        };
        request.categorical = categorical;
        request.map = Some(self.batch_map(chain.clone(), pooled.clone()));
        request.row_groups = answer.map(StatsAnswer::filter);
        let metrics = request.metrics.clone();
        if let Some(answer) = answer {
            metrics.add_row_groups_answered_from_statistics(answer.row_groups());
        }
        let stream = self.source().stream(request);
        let empty = DataFrame::empty_with_arc_schema(stream.schema().clone());
        let empty = match &chain {
            Some(chain) => chain.run(empty)?,
            None => empty,
        };
        let result = self.drive(
            stream,
            empty,
            emit,
            memory,
            args.memory_budget,
            pooled,
            partial,
        );
        self.source().report(&metrics);
        result
    }

    /// Streams the scan into a top-k, in rounds when row groups can be skipped (`top_k.rs`).
    fn read_top_k(
        &self,
        emit: &mut Emit<'_>,
        node: Node,
        plan: &TopKPlan,
        memory: MemoryManager,
        budget: Option<usize>,
    ) -> PolarsResult<()> {
        let chain = self.compile_chain();
        let map = self.batch_map(chain.clone(), None);
        let metrics = Arc::new(polars_streaming_adaptive::ScanMetrics::default());
        let limit = self.scan_request()?.limit;
        let mut skipping = Skipping::try_new(plan, self.source(), limit);
        let mut held = Held::new(
            Arc::new(plan.compile()),
            plan.k,
            memory.clone(),
            budget.map(|b| b / 4),
        );
        let mut empty = None;
        let result = (|| {
            loop {
                let round = match &mut skipping {
                    Some(s) => match s.next_round() {
                        Some(round) => Some(round),
                        None => break,
                    },
                    None => None,
                };
                let mut request = self.scan_request()?;
                request.memory = Some(memory.clone());
                request.map = Some(map.clone());
                request.metrics = metrics.clone();
                if let Some((paths, filter)) = round {
                    request.paths = paths;
                    request.row_groups = Some(filter);
                }
                let stream = self.source().stream(request);
                if empty.is_none() {
                    let none = DataFrame::empty_with_arc_schema(stream.schema().clone());
                    empty = Some(match &chain {
                        Some(chain) => chain.run(none)?,
                        None => none,
                    });
                }
                for batch in stream {
                    held.add(batch?, skipping.as_ref())?;
                }
                if skipping.is_none() {
                    break;
                }
            }
            Ok::<_, PolarsError>(())
        })();
        if let Some(s) = &skipping {
            metrics.add_row_groups_skipped_by_top_k(s.skipped());
        }
        self.source().report(&metrics);
        result?;
        let empty = match empty {
            Some(empty) => empty,
            // No round ran: no row group of the files holds a row.
            None => DataFrame::empty_with_arc_schema(plan.input_schema.clone()),
        };
        let held = held.finish(empty);
        if self.partial {
            emit(held)?;
            return Ok(());
        }
        let df = plan.answer(held)?;
        emit(self.execute_above(node, df, self.split.plan.lp_top)?)?;
        Ok(())
    }

    /// The row-local chain, compiled once per thread that runs it; `None` when the plan has
    /// none (the scan's batches are the chain's output).
    fn compile_chain(&self) -> Option<Arc<BatchExecPool>> {
        let split = self.split.clone();
        (split.chain_top != split.scan).then(|| {
            Arc::new(BatchExecPool::new(move || {
                BatchExec::from_ir(&split.plan, split.scan, split.chain_top)
            }))
        })
    }

    /// The aggregation's partial with the streaming engine's grouped reductions, when it
    /// covers the plan: states kept across batches count in `memory` (`GroupedPartial`).
    fn pooled_partial(
        &self,
        memory: &MemoryManager,
        budget: Option<usize>,
    ) -> Option<Arc<GroupedPartial>> {
        let Reduction::Aggregate { plan, .. } = &self.split.reduction else {
            return None;
        };
        let partial = GroupedPartial::try_new(plan)?;
        Some(Arc::new(partial.with_pool(
            plan,
            memory.clone(),
            budget.map(|b| b / 4),
        )))
    }

    /// What the scan's decoding threads run on each batch: the row-local chain, then the
    /// partial aggregation when one is above it (`grouped` when the grouped reductions cover
    /// it; empty when the chain keeps no row).
    fn batch_map(
        &self,
        chain: Option<Arc<BatchExecPool>>,
        grouped: Option<Arc<GroupedPartial>>,
    ) -> BatchMap {
        let partial = match &self.split.reduction {
            Reduction::Aggregate { plan, .. } => Some(match grouped {
                Some(grouped) => Partial::Grouped(grouped),
                None => {
                    let plan = plan.clone();
                    Partial::Compiled(BatchExecPool::new(move || {
                        BatchExec::from_lazy(plan.input_schema().clone(), |lf| plan.partial(lf))
                    }))
                }
            }),
            Reduction::TopK { plan, .. } => Some(Partial::Compiled(plan.compile())),
            _ => None,
        };
        BatchMap(Arc::new(move |batch: DataFrame| {
            let out = match &chain {
                Some(chain) => chain.run(batch)?,
                None => batch,
            };
            match &partial {
                Some(Partial::Grouped(p)) if out.height() > 0 => p.run(out),
                Some(Partial::Compiled(p)) if out.height() > 0 => p.run(out),
                Some(_) => Ok(out.clear()),
                None => Ok(out),
            }
        }))
    }

    /// Consumes the stream of mapped batches: the chain's output, or partial aggregates (and
    /// at the end those `pooled` still holds). `empty` is the chain's output for no rows.
    // One parameter per thing the caller prepared; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    fn drive(
        &self,
        stream: impl Iterator<Item = PolarsResult<DataFrame>>,
        empty: DataFrame,
        emit: &mut Emit<'_>,
        memory: MemoryManager,
        budget: Option<usize>,
        pooled: Option<Arc<GroupedPartial>>,
        partial: bool,
    ) -> PolarsResult<()> {
        match &self.split.reduction {
            Reduction::None => {
                let mut emitted = false;
                for batch in stream {
                    let out = batch?;
                    if out.height() > 0 {
                        emitted = true;
                        if emit(out)? {
                            return Ok(());
                        }
                    }
                }
                if !emitted {
                    emit(empty)?;
                }
                Ok(())
            }
            Reduction::Slice { node, offset, len } => {
                // With nothing above the slice and no budget to count its rows against, they
                // leave as they come (a `LIMIT` streamed to a client). Otherwise only the
                // slice's own rows are held, counted like aggregation state, so that
                // collecting too many under a budget is refused. Rows before the offset are
                // dropped batch by batch either way.
                let top = self.split.plan.lp_top;
                let streamed = *node == top && budget.is_none() && !partial;
                // A part keeps its first `offset + len` rows: the offset counts across parts.
                let (offset, len) = match partial {
                    true => (0, offset.saturating_add(*len)),
                    false => (*offset, *len),
                };
                let (mut skip, mut left) = (offset, len);
                let mut frames = vec![empty];
                let (mut held, mut bytes) = (Vec::new(), 0usize);
                let limit = budget.map(|b| b / 4);
                for batch in stream {
                    if left == 0 {
                        break;
                    }
                    let out = batch?;
                    if skip >= out.height() {
                        skip -= out.height();
                        continue;
                    }
                    let out = out.slice(skip as i64, left);
                    (skip, left) = (0, left - out.height());
                    if streamed {
                        if out.height() > 0 && emit(out)? {
                            return Ok(());
                        }
                        continue;
                    }
                    let guard = memory.track_usage(out.estimated_size());
                    bytes += guard.bytes();
                    held.push(guard);
                    if let Some(limit) = limit.filter(|&l| bytes > l) {
                        return Err(ExecError::SliceTooLarge {
                            rows: len,
                            bytes,
                            limit,
                        }
                        .into());
                    }
                    frames.push(out);
                }
                if streamed {
                    // No row kept, none emitted: the empty frame carries the schema.
                    if left == len {
                        emit(frames.swap_remove(0))?;
                    }
                    return Ok(());
                }
                let df = concat(frames);
                match partial {
                    true => emit(df)?,
                    false => emit(self.execute_above(*node, df, top)?)?,
                };
                Ok(())
            }
            Reduction::Aggregate { node, plan } => {
                let mut agg = StreamingAgg::new(plan.clone(), memory, budget.map(|b| b / 4));
                for part in stream {
                    agg.add_partial(part?)?;
                }
                // Every batch has run: the states they left are complete.
                for part in pooled.map(|p| p.drain()).transpose()?.unwrap_or_default() {
                    agg.add_partial(part)?;
                }
                if partial {
                    emit(agg.into_partial(empty)?)?;
                    return Ok(());
                }
                if agg.is_empty() {
                    agg.seed(empty)?;
                }
                let df = agg.finish()?;
                emit(self.execute_above(*node, df, self.split.plan.lp_top)?)?;
                Ok(())
            }
            Reduction::TopK { .. } => unreachable!("read() hands top-k plans to read_top_k"),
        }
    }

    /// The scan node's pushed-down projection, slice and predicate.
    fn scan_request(&self) -> PolarsResult<ScanRequest> {
        let plan = &self.split.plan;
        let IR::Scan {
            predicate,
            output_schema,
            unified_scan_args,
            ..
        } = plan.lp_arena.get(self.split.scan)
        else {
            unreachable!("split() found a scan")
        };
        let limit = unified_scan_args.pre_slice.clone().map(|s| s.len());
        self.source().request(
            unified_scan_args.projection.as_deref(),
            output_schema.as_ref(),
            predicate.as_ref().map(|p| p.to_expr(&plan.expr_arena)),
            limit,
        )
    }

    /// Runs the plan from `top` down to `node`, with `node` replaced by `df`.
    fn execute_above(&self, node: Node, df: DataFrame, top: Node) -> PolarsResult<DataFrame> {
        if node == top {
            return Ok(df);
        }
        let mut lp_arena = self.split.plan.lp_arena.clone();
        let mut expr_arena = self.split.plan.expr_arena.clone();
        let schema = df.schema().clone();
        lp_arena.replace(
            node,
            IR::DataFrameScan {
                df: std::sync::Arc::new(df),
                schema,
                output_schema: None,
            },
        );
        let mut exec = create_physical_plan(top, &mut lp_arena, &mut expr_arena, None)?;
        exec.execute(&mut ExecutionState::new())
    }
}

fn concat(frames: Vec<DataFrame>) -> DataFrame {
    polars_core::utils::accumulate_dataframes_vertical_unchecked(frames)
}

/// `parts` concatenated, or `empty` when there are none.
fn concat_or(parts: Vec<DataFrame>, empty: DataFrame) -> DataFrame {
    match parts.is_empty() {
        true => empty,
        false => concat(parts),
    }
}

/// Calls `f` with the sources of every scan in `lf`, and the adaptive source when it is one.
pub(crate) fn for_each_scan(
    lf: &LazyFrame,
    mut f: impl FnMut(&ScanSources, Option<&AdaptiveSource>),
) -> PolarsResult<()> {
    let plan = lf.clone().to_alp()?;
    for i in 0..plan.lp_arena.len() {
        if let IR::Scan {
            sources, scan_type, ..
        } = plan.lp_arena.get(Node(i))
        {
            let ours = match &**scan_type {
                FileScanIR::Anonymous { function, .. } => AdaptiveSource::of(&**function),
                _ => None,
            };
            f(sources, ours);
        }
    }
    Ok(())
}

/// The smallest hard memory budget of the adaptive scans an optimized plan reads, if any has
/// one.
fn scans_budget(plan: &IRPlan) -> Option<usize> {
    let mut budget: Option<usize> = None;
    let mut stack = vec![plan.lp_top];
    while let Some(node) = stack.pop() {
        let ir = plan.lp_arena.get(node);
        if let IR::Scan { scan_type, .. } = ir {
            if let FileScanIR::Anonymous { function, .. } = &**scan_type {
                if let Some(b) =
                    AdaptiveSource::of(&**function).and_then(|s| s.args().memory_budget)
                {
                    budget = Some(budget.map_or(b, |prev| prev.min(b)));
                }
            }
        }
        stack.extend(ir.inputs());
    }
    budget
}

/// The smallest hard memory budget of the plan's adaptive scans, if any has one.
pub(crate) fn plan_budget(lf: &LazyFrame) -> PolarsResult<Option<usize>> {
    let mut budget: Option<usize> = None;
    for_each_scan(lf, |_, ours| {
        if let Some(b) = ours.and_then(|s| s.args().memory_budget) {
            budget = Some(budget.map_or(b, |prev| prev.min(b)));
        }
    })?;
    Ok(budget)
}

/// Finds the adaptive scan and the parts of the plan above it.
fn split(plan: IRPlan) -> Result<(Arc<dyn AnonymousScan>, Split), Unstreamable> {
    let unstreamable = |operation: String, budget| Unstreamable { operation, budget };
    // The path from the root down to the first node that is not single-input.
    let mut path = vec![plan.lp_top];
    loop {
        let ir = plan.lp_arena.get(*path.last().unwrap());
        let inputs: Vec<Node> = ir.inputs().collect();
        match (ir, inputs.as_slice()) {
            (IR::Scan { .. }, _) => break,
            (_, [one]) => path.push(*one),
            (ir, _) => {
                let name: &'static str = ir.into();
                return Err(unstreamable(
                    format!("{name} (a plan without exactly one scan_adaptive input)"),
                    None,
                ));
            }
        }
    }
    let scan = *path.last().unwrap();
    let source = match plan.lp_arena.get(scan) {
        IR::Scan { scan_type, .. } => match &**scan_type {
            FileScanIR::Anonymous { function, .. } if AdaptiveSource::of(&**function).is_some() => {
                function.clone()
            }
            _ => {
                return Err(unstreamable(
                    "a scan that is not scan_adaptive".into(),
                    None,
                ))
            }
        },
        _ => unreachable!(),
    };
    let budget = AdaptiveSource::of(&*source).unwrap().args().memory_budget;
    // Climb the row-local chain.
    let mut i = path.len() - 1;
    while i > 0 && is_row_local(plan.lp_arena.get(path[i - 1]), &plan.expr_arena) {
        i -= 1;
    }
    let chain_top = path[i];
    let input_schema = plan
        .lp_arena
        .get(chain_top)
        .schema(&plan.lp_arena)
        .into_owned();
    // Every-column `unique` over a `sort` (SQL's `SELECT DISTINCT … ORDER BY`, which
    // polars-sql sorts first): the distinct rows are few, so they are found by streaming and
    // the sort and the (then idle) `unique` run on them alone. The order is the same: a stable
    // sort of the distinct rows in first-seen order ties them as the sorted input would.
    let distinct_over_sort = i >= 2
        && matches!(plan.lp_arena.get(path[i - 1]), IR::Sort { slice: None, .. })
        && matches!(plan.lp_arena.get(path[i - 2]), IR::Distinct { options, .. }
            if distinct_on_every_column(options, &input_schema));
    let reduction = if distinct_over_sort {
        let keys = input_schema.iter_names().cloned().map(col).collect();
        let plan = AggPlan::new(keys, vec![], input_schema.clone(), input_schema.clone())
            .map_err(|op| unstreamable(op, budget))?
            .with_maintain_order(true);
        Reduction::Aggregate {
            node: chain_top,
            plan,
        }
    } else if i == 0 {
        Reduction::None
    } else {
        let node = path[i - 1];
        match plan.lp_arena.get(node) {
            IR::Slice { offset, len, .. } if *offset >= 0 => Reduction::Slice {
                node,
                offset: *offset as usize,
                len: *len as usize,
            },
            IR::GroupBy {
                keys,
                aggs,
                schema,
                apply: None,
                options,
                maintain_order,
                ..
            } if !options.is_rolling() => {
                let keys = keys.iter().map(|k| k.to_expr(&plan.expr_arena)).collect();
                let aggs = aggs.iter().map(|a| a.to_expr(&plan.expr_arena)).collect();
                let plan = AggPlan::new(keys, aggs, schema.clone(), input_schema.clone())
                    .map_err(|op| unstreamable(op, budget))?
                    .with_slice(options.slice)
                    .with_maintain_order(*maintain_order);
                Reduction::Aggregate { node, plan }
            }
            // `unique` over every column (SQL's DISTINCT): a group_by of every column without
            // aggregates. Duplicates are then identical rows, so which one a strategy keeps
            // does not matter, only `keep="none"` (drop every duplicated row) differs.
            IR::Distinct { options, .. } if distinct_on_every_column(options, &input_schema) => {
                let keys = input_schema.iter_names().cloned().map(col).collect();
                let plan = AggPlan::new(keys, vec![], input_schema.clone(), input_schema.clone())
                    .map_err(|op| unstreamable(op, budget))?
                    .with_slice(options.slice)
                    .with_maintain_order(options.maintain_order);
                Reduction::Aggregate { node, plan }
            }
            IR::Select { expr, schema, .. } => {
                let aggs: Vec<Expr> = expr.iter().map(|a| a.to_expr(&plan.expr_arena)).collect();
                if let Some(w) = aggs
                    .iter()
                    .find(|e| e.into_iter().any(|n| matches!(n, Expr::Over { .. })))
                {
                    return Err(unstreamable(format!("window expression {w}"), budget));
                }
                let plan = AggPlan::new(vec![], aggs, schema.clone(), input_schema.clone())
                    .map_err(|op| unstreamable(op, budget))?;
                Reduction::Aggregate { node, plan }
            }
            IR::Sort {
                by_column,
                slice: Some((offset, len, _)),
                sort_options,
                ..
            } if *offset >= 0 => {
                let by = by_column
                    .iter()
                    .map(|e| e.to_expr(&plan.expr_arena))
                    .collect();
                let file_schema = AdaptiveSource::of(&*source).unwrap().file_schema();
                let key = by_column
                    .first()
                    .and_then(|e| sort_key(&plan, &path[i..], e, file_schema));
                let offset = *offset as usize;
                let k = offset.saturating_add(*len);
                let plan = TopKPlan {
                    offset,
                    k,
                    by,
                    options: sort_options.clone(),
                    key,
                    input_schema,
                };
                Reduction::TopK { node, plan }
            }
            other => return Err(unstreamable(operation_name(other), budget)),
        }
    };
    Ok((
        source,
        Split {
            plan,
            scan,
            chain_top,
            reduction,
        },
    ))
}

/// The sort key `first` when it is a file column with statistics that bound it (integers,
/// dates, datetimes) and every step of the chain (`chain`, from its top down to the scan)
/// passes it on unchanged.
fn sort_key(
    plan: &IRPlan,
    chain: &[Node],
    first: &ExprIR,
    file_schema: &Schema,
) -> Option<PlSmallStr> {
    let AExpr::Column(name) = plan.expr_arena.get(first.node()) else {
        return None;
    };
    let dtype = file_schema.get(name)?;
    if !(dtype.is_integer() || matches!(dtype, DataType::Date | DataType::Datetime(_, _))) {
        return None;
    }
    let passes = |exprs: &[ExprIR]| {
        exprs
            .iter()
            .filter(|e| e.output_name() == name)
            .all(|e| matches!(plan.expr_arena.get(e.node()), AExpr::Column(c) if c == name))
    };
    chain
        .iter()
        .all(|&n| match plan.lp_arena.get(n) {
            IR::Filter { .. } | IR::SimpleProjection { .. } | IR::Scan { .. } => true,
            IR::Select { expr, .. } => passes(expr),
            IR::HStack { exprs, .. } => passes(exprs),
            _ => false,
        })
        .then(|| name.clone())
}

/// Whether `ir` maps each batch on its own: its output for the whole input is the
/// concatenation of its outputs for the batches.
/// Whether `lf` is one `scan_adaptive`, without a row limit, under row-local steps only
/// (filters, projections, elementwise columns): its result over the scan's files is then the
/// concatenation, in order, of its results over any split of them into consecutive groups.
pub fn is_row_local_plan(lf: &LazyFrame) -> PolarsResult<bool> {
    let plan = lf.clone().to_alp_optimized()?;
    let mut node = plan.lp_top;
    loop {
        let ir = plan.lp_arena.get(node);
        if let IR::Scan {
            scan_type,
            unified_scan_args,
            ..
        } = ir
        {
            let ours = match &**scan_type {
                FileScanIR::Anonymous { function, .. } => AdaptiveSource::of(&**function)
                    .is_some_and(|s| s.args().n_rows.is_none() && s.args().row_index.is_none()),
                _ => false,
            };
            return Ok(ours && unified_scan_args.pre_slice.is_none());
        }
        let mut inputs = ir.inputs();
        match (inputs.next(), inputs.next()) {
            (Some(input), None) if is_row_local(ir, &plan.expr_arena) => node = input,
            _ => return Ok(false),
        }
    }
}

/// Whether a `unique` compares every column and keeps one row of each (any, first or last:
/// the duplicates are identical rows).
fn distinct_on_every_column(options: &DistinctOptionsIR, input: &Schema) -> bool {
    options.keep_strategy != UniqueKeepStrategy::None
        && options.subset.as_ref().is_none_or(|subset| {
            subset.len() == input.len() && subset.iter().all(|c| input.contains(c))
        })
}

fn is_row_local(ir: &IR, expr_arena: &Arena<AExpr>) -> bool {
    let elementwise = |node: Node| is_elementwise_rec(node, expr_arena);
    match ir {
        IR::Filter { predicate, .. } => elementwise(predicate.node()),
        IR::HStack { exprs, .. } => exprs.iter().all(|e| elementwise(e.node())),
        // A select of literals alone would give one row per batch.
        IR::Select { expr, .. } => {
            expr.iter().all(|e| elementwise(e.node()))
                && expr.iter().any(|e| {
                    polars_plan::utils::aexpr_to_leaf_names_iter(e.node(), expr_arena)
                        .next()
                        .is_some()
                })
        }
        IR::SimpleProjection { .. } => true,
        _ => false,
    }
}

/// The name users know an IR node by.
fn operation_name(ir: &IR) -> String {
    match ir {
        IR::Distinct { .. } => "unique".into(),
        IR::MapFunction { function, .. } => format!("{function}"),
        other => <&'static str>::from(other).to_lowercase(),
    }
}

/// Warns on stderr that `operation` falls back to the in-memory engine, once per operation
/// and process: a loop over many queries should not drown its output.
fn warn_once(operation: &str) {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if !warned.iter().any(|w| w == operation) {
        warned.push(operation.to_string());
        eprintln!(
            "polars-adaptive: {operation} cannot be streamed; running the plan in Polars' in-memory engine"
        );
    }
}
