//! The streaming aggregation operator: a `group_by().agg()` (or a global aggregation) computed
//! as partial aggregates per batch, merged into a bounded state, finalized at the end.
//!
//! Every aggregation is rewritten into three Polars expressions: the *partial* ones evaluated
//! on each batch, the *compaction* ones that merge partial rows into fewer rows of the same
//! columns, and the *final* one over the merged columns. Arithmetic, casts and aliases over
//! aggregations stay as they are and are evaluated on the final columns, so
//! `(price * volume).sum() / volume.sum()` streams. Polars evaluates every step: semantics
//! (null handling, dtypes, NaN) stay Polars'.

use polars::prelude::*;
use polars_streaming_adaptive::{MemoryGuard, MemoryManager};

use crate::error::ExecError;

/// Why an aggregation cannot stream: the operation to name in an error.
pub(crate) type NotStreamable = String;

/// One aggregation leaf, decomposed.
struct Leaf {
    partial: Vec<Expr>,
    compact: Vec<Expr>,
    merged: Expr,
}

/// A decomposed aggregation: per-batch partials, compaction, finalization.
#[derive(Debug, Clone)]
pub(crate) struct AggPlan {
    /// The group keys, named as in the output: they group the batches.
    keys: Vec<Expr>,
    /// The output's key columns: they group the partial rows.
    key_cols: Vec<Expr>,
    partial: Vec<Expr>,
    compact: Vec<Expr>,
    finals: Vec<Expr>,
    /// The aggregation node's output schema: the final frame is cast to it.
    schema: SchemaRef,
    /// The schema of the aggregation's input.
    input: SchemaRef,
    /// A slice the optimizer pushed into the group_by: applied to the result.
    slice: Option<(i64, usize)>,
    /// The group_by keeps groups in order of first appearance (`group_by_stable`).
    maintain_order: bool,
}

impl AggPlan {
    /// Decomposes `group_by(keys).agg(aggs)` (no keys: a global aggregation), or names the
    /// part that cannot be decomposed.
    pub fn new(
        keys: Vec<Expr>,
        aggs: Vec<Expr>,
        schema: SchemaRef,
        input: SchemaRef,
    ) -> Result<Self, NotStreamable> {
        for k in &keys {
            if contains_aggregation(k) {
                return Err(format!("group_by key {k:?}"));
            }
        }
        let key_names: Vec<PlSmallStr> = schema.iter_names().take(keys.len()).cloned().collect();
        let key_cols: Vec<Expr> = key_names.iter().cloned().map(col).collect();
        let keys: Vec<Expr> = keys
            .into_iter()
            .zip(key_names)
            .map(|(k, n)| k.alias(n))
            .collect();
        let mut plan = AggPlan {
            keys,
            key_cols,
            partial: Vec::new(),
            compact: Vec::new(),
            finals: Vec::new(),
            schema,
            input,
            slice: None,
            maintain_order: false,
        };
        let names: Vec<PlSmallStr> = plan
            .schema
            .iter_names()
            .skip(plan.keys.len())
            .cloned()
            .collect();
        for (agg, name) in aggs.iter().zip(names) {
            // Rewritten leaves are named after partial columns: give back the output name.
            let final_expr = plan.rewrite(agg)?.alias(name);
            plan.finals.push(final_expr);
        }
        Ok(plan)
    }

    pub fn with_slice(mut self, slice: Option<(i64, usize)>) -> Self {
        self.slice = slice;
        self
    }

    pub fn with_maintain_order(mut self, maintain_order: bool) -> Self {
        self.maintain_order = maintain_order;
        self
    }

    /// Whether the output's row order is defined: groups in order of first appearance, or a
    /// slice of them.
    pub fn ordered(&self) -> bool {
        self.maintain_order || self.slice.is_some()
    }

    /// `e` with every aggregation leaf replaced by its merged form over partial columns.
    fn rewrite(&mut self, e: &Expr) -> Result<Expr, NotStreamable> {
        if let Some(leaf) = self.leaf(e)? {
            self.partial.extend(leaf.partial);
            self.compact.extend(leaf.compact);
            return Ok(leaf.merged);
        }
        Ok(match e {
            Expr::Alias(inner, name) => self.rewrite(inner)?.alias(name.clone()),
            Expr::Literal(_) => e.clone(),
            Expr::BinaryExpr { left, op, right } => Expr::BinaryExpr {
                left: Arc::new(self.rewrite(left)?),
                op: *op,
                right: Arc::new(self.rewrite(right)?),
            },
            Expr::Cast {
                expr,
                dtype,
                options,
            } => Expr::Cast {
                expr: Arc::new(self.rewrite(expr)?),
                dtype: dtype.clone(),
                options: *options,
            },
            Expr::Ternary {
                predicate,
                truthy,
                falsy,
            } => Expr::Ternary {
                predicate: Arc::new(self.rewrite(predicate)?),
                truthy: Arc::new(self.rewrite(truthy)?),
                falsy: Arc::new(self.rewrite(falsy)?),
            },
            other => return Err(describe(other)),
        })
    }

    /// The decomposition of `e` when it is an aggregation of row-wise input.
    fn leaf(&mut self, e: &Expr) -> Result<Option<Leaf>, NotStreamable> {
        let n = self.partial.len();
        let name = |i: usize| PlSmallStr::from(format!("__pa_{}", n + i));
        let p = |i: usize| col(name(i));
        let row_wise = |x: &Expr| -> Result<Expr, NotStreamable> {
            if contains_aggregation(x) {
                Err(format!("nested aggregation {e:?}"))
            } else {
                Ok(x.clone())
            }
        };
        let single = |partial: Expr, compact: Expr, merged: Expr| Leaf {
            partial: vec![partial.alias(name(0))],
            compact: vec![compact.alias(name(0))],
            merged,
        };
        let leaf = match e {
            Expr::Len => single(len(), p(0).sum(), p(0).sum()),
            Expr::Agg(agg) => match agg {
                AggExpr::Sum(x) => single(row_wise(x)?.sum(), p(0).sum(), p(0).sum()),
                AggExpr::Count { input, .. } => {
                    let partial = Expr::Agg(AggExpr::Count {
                        input: Arc::new(row_wise(input)?),
                        include_nulls: matches!(
                            agg,
                            AggExpr::Count {
                                include_nulls: true,
                                ..
                            }
                        ),
                    });
                    single(partial, p(0).sum(), p(0).sum())
                }
                AggExpr::Min {
                    input,
                    propagate_nans,
                } => {
                    let min = |x: Expr| {
                        Expr::Agg(AggExpr::Min {
                            input: Arc::new(x),
                            propagate_nans: *propagate_nans,
                        })
                    };
                    single(min(row_wise(input)?), min(p(0)), min(p(0)))
                }
                AggExpr::Max {
                    input,
                    propagate_nans,
                } => {
                    let max = |x: Expr| {
                        Expr::Agg(AggExpr::Max {
                            input: Arc::new(x),
                            propagate_nans: *propagate_nans,
                        })
                    };
                    single(max(row_wise(input)?), max(p(0)), max(p(0)))
                }
                // Partials are kept in input order, so first of firsts is the first.
                AggExpr::First(x) => single(row_wise(x)?.first(), p(0).first(), p(0).first()),
                AggExpr::Last(x) => single(row_wise(x)?.last(), p(0).last(), p(0).last()),
                AggExpr::Mean(x) => {
                    let x = self.numeric(row_wise(x)?, "mean")?.cast(DataType::Float64);
                    let (sum, count) = (p(0).sum(), p(1).sum());
                    Leaf {
                        partial: vec![x.clone().sum().alias(name(0)), x.count().alias(name(1))],
                        compact: vec![sum.clone().alias(name(0)), count.clone().alias(name(1))],
                        merged: when(count.clone().gt(lit(0)))
                            .then(sum / count.cast(DataType::Float64))
                            .otherwise(lit(NULL).cast(DataType::Float64)),
                    }
                }
                // Exact: the distinct values themselves are the state.
                AggExpr::NUnique(x) => {
                    let distinct = |x: Expr| x.unique_stable().implode(true);
                    let flat = || {
                        p(0).explode(ExplodeOptions {
                            empty_as_null: false,
                            keep_nulls: true,
                        })
                    };
                    single(distinct(row_wise(x)?), distinct(flat()), flat().n_unique())
                }
                AggExpr::Std(x, ddof) | AggExpr::Var(x, ddof) => {
                    let x = self
                        .numeric(row_wise(x)?, "std/var")?
                        .cast(DataType::Float64);
                    self.variance_leaf(x, *ddof, matches!(agg, AggExpr::Std(..)), name)
                }
                _ => return Err(describe(e)),
            },
            Expr::Function {
                input,
                function: FunctionExpr::NullCount,
            } if input.len() == 1 => {
                single(row_wise(&input[0])?.null_count(), p(0).sum(), p(0).sum())
            }
            // SQL's COUNT(DISTINCT x) is `n_unique - has_nulls`: any partial with a null.
            Expr::Function {
                input,
                function: FunctionExpr::Boolean(BooleanFunction::HasNulls),
            } if input.len() == 1 => single(
                row_wise(&input[0])?.null_count(),
                p(0).sum(),
                p(0).sum().gt(lit(0)),
            ),
            _ => return Ok(None),
        };
        Ok(Some(leaf))
    }

    /// `x`, when it is numeric: means and variances are computed in f64, which matches Polars
    /// for numbers and booleans only (Polars' mean of a string is null, of a date a date).
    fn numeric(&self, x: Expr, what: &str) -> Result<Expr, NotStreamable> {
        let dtype = x
            .to_field(&self.input)
            .map(|f| f.dtype)
            .map_err(|e| format!("{what} of {x}: {e}"))?;
        if dtype.is_primitive_numeric() || dtype.is_bool() {
            Ok(x)
        } else {
            Err(format!("{what} of a {dtype} column"))
        }
    }

    /// Count, mean and sum of squared deviations per partial, merged with Chan's formula:
    /// M2 = Σ M2_i + Σ n_i (mean_i − mean)².
    fn variance_leaf(
        &self,
        x: Expr,
        ddof: u8,
        std: bool,
        name: impl Fn(usize) -> PlSmallStr,
    ) -> Leaf {
        let (n, m, m2) = (col(name(0)), col(name(1)), col(name(2)));
        let total = n.clone().sum();
        let mean = (n.clone() * m.clone()).sum() / total.clone().cast(DataType::Float64);
        let merged_m2 = m2.clone().sum() + (n.clone() * (m.clone() - mean.clone()).pow(2)).sum();
        let deviation = x.clone() - x.clone().mean();
        let var = when(total.clone().gt(lit(ddof as u32)))
            .then(merged_m2.clone() / (total.clone() - lit(ddof as u32)).cast(DataType::Float64))
            .otherwise(lit(NULL).cast(DataType::Float64));
        Leaf {
            partial: vec![
                x.clone().count().alias(name(0)),
                x.mean().alias(name(1)),
                deviation.pow(2).sum().alias(name(2)),
            ],
            compact: vec![
                total.alias(name(0)),
                mean.alias(name(1)),
                merged_m2.alias(name(2)),
            ],
            merged: if std { var.sqrt() } else { var },
        }
    }

    /// The per-batch partial aggregation over `batches`.
    pub fn partial(&self, batches: LazyFrame) -> LazyFrame {
        if self.keys.is_empty() {
            batches.select(self.partial.clone())
        } else {
            batches
                .group_by_stable(self.keys.clone())
                .agg(self.partial.clone())
        }
    }

    /// The names of the group keys in the output (none for a global aggregation).
    pub fn key_names(&self) -> Vec<PlSmallStr> {
        self.schema
            .iter_names()
            .take(self.keys.len())
            .cloned()
            .collect()
    }

    /// The schema of the aggregation's input.
    pub fn input_schema(&self) -> &SchemaRef {
        &self.input
    }

    fn aggregate(&self, df: DataFrame, exprs: &[Expr]) -> PolarsResult<DataFrame> {
        if self.keys.is_empty() {
            df.lazy().select(exprs).collect()
        } else {
            df.lazy()
                .group_by_stable(self.key_cols.clone())
                .agg(exprs)
                .collect()
        }
    }
}

/// The running state of one streaming aggregation.
pub(crate) struct StreamingAgg {
    plan: AggPlan,
    parts: Vec<DataFrame>,
    rows: usize,
    /// Rows after the last compaction: the next one runs when the parts hold more than
    /// twice as many (and at least `MIN_COMPACT_ROWS`).
    compacted_rows: usize,
    memory: MemoryManager,
    guard: Option<MemoryGuard>,
    limit: Option<usize>,
}

const MIN_COMPACT_ROWS: usize = 65_536;

impl StreamingAgg {
    /// `limit`: the bytes the state may hold, when the caller set a hard budget.
    pub fn new(plan: AggPlan, memory: MemoryManager, limit: Option<usize>) -> Self {
        Self {
            plan,
            parts: Vec::new(),
            rows: 0,
            compacted_rows: 0,
            memory,
            guard: None,
            limit,
        }
    }

    /// Adds the partial aggregate of one batch (`AggPlan::partial`). An empty batch has no
    /// partial (empty here): as a partial row of a global aggregation it would be a null
    /// `first`.
    pub fn add_partial(&mut self, partial: DataFrame) -> PolarsResult<()> {
        if partial.height() == 0 {
            return Ok(());
        }
        self.push(partial)
    }

    /// Whether no row has been added.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Aggregates an empty input, which still has a result: a global aggregation's one row
    /// (sum 0, count 0, min null), or no groups.
    pub fn seed(&mut self, empty: DataFrame) -> PolarsResult<()> {
        let partial = self.plan.partial(empty.lazy()).collect()?;
        self.push(partial)
    }

    fn push(&mut self, partial: DataFrame) -> PolarsResult<()> {
        self.rows += partial.height();
        self.parts.push(partial);
        if self.rows > MIN_COMPACT_ROWS.max(2 * self.compacted_rows) {
            self.compact()?;
        }
        self.account()
    }

    fn compact(&mut self) -> PolarsResult<()> {
        let all = concat_parts(std::mem::take(&mut self.parts));
        let merged = self.plan.aggregate(all, &self.plan.compact)?;
        self.rows = merged.height();
        self.compacted_rows = merged.height();
        self.parts.push(merged);
        Ok(())
    }

    /// Tracks the state's size; over a hard limit, the aggregation cannot go on.
    fn account(&mut self) -> PolarsResult<()> {
        let bytes: usize = self.parts.iter().map(|p| p.estimated_size()).sum();
        self.guard = None;
        if let Some(limit) = self.limit {
            if bytes > limit {
                return Err(ExecError::AggregationStateTooLarge {
                    groups: self.rows,
                    bytes,
                    limit,
                }
                .into());
            }
        }
        self.guard = Some(self.memory.track_usage(bytes));
        Ok(())
    }

    /// The state as one partial frame, compacted (one row per group); for no rows, the
    /// partial of `empty` (the aggregation's input for no rows) without its rows.
    pub fn into_partial(mut self, empty: DataFrame) -> PolarsResult<DataFrame> {
        if self.parts.is_empty() {
            return Ok(self.plan.partial(empty.lazy()).collect()?.clear());
        }
        let all = concat_parts(std::mem::take(&mut self.parts));
        self.plan.aggregate(all, &self.plan.compact)
    }

    /// The aggregation's result, cast to the plan's output schema.
    pub fn finish(mut self) -> PolarsResult<DataFrame> {
        let all = concat_parts(std::mem::take(&mut self.parts));
        let out = self.plan.aggregate(all, &self.plan.finals)?;
        let casts: Vec<Expr> = self
            .plan
            .schema
            .iter()
            .map(|(name, dtype)| col(name.clone()).cast(dtype.clone()))
            .collect();
        let out = out.lazy().select(casts).collect()?;
        Ok(match self.plan.slice {
            Some((offset, len)) => out.slice(offset, len),
            None => out,
        })
    }
}

fn concat_parts(parts: Vec<DataFrame>) -> DataFrame {
    polars_core::utils::accumulate_dataframes_vertical_unchecked(parts)
}

fn contains_aggregation(e: &Expr) -> bool {
    e.into_iter().any(|node| {
        matches!(node, Expr::Agg(_) | Expr::Len | Expr::Over { .. })
            || matches!(
                node,
                Expr::Function {
                    function: FunctionExpr::NullCount
                        | FunctionExpr::Boolean(BooleanFunction::HasNulls),
                    ..
                }
            )
    })
}

/// A short name of the operation that stops streaming, for errors and warnings.
fn describe(e: &Expr) -> String {
    match e {
        Expr::Agg(AggExpr::Median(_)) => "median".into(),
        Expr::Agg(a) => format!("aggregation {}", Expr::Agg(a.clone())),
        other => format!("expression {other}"),
    }
}
