//! A batch's partial `group_by` computed with the streaming engine's building blocks: a hash
//! grouper over the key columns (polars-expr `groups`, `hash_keys`) and one grouped reduction
//! per aggregation (polars-expr `reduce`), instead of the in-memory engine's group_by, which
//! gathers every group's row indices before aggregating them.
//!
//! Covered: `sum`, `min`, `max`, `count`, `len` and `null_count` of row-wise inputs, which
//! are what `AggPlan` decomposes `sum`, `mean`, `min`, `max`, `count` and `len` into. Any
//! other partial aggregation uses the compiled in-memory group_by (`BatchExec`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use polars::prelude::*;
use polars_core::prelude::PlRandomState;
use polars_expr::groups::{new_hash_grouper, Grouper};
use polars_expr::hash_keys::HashKeys;
use polars_expr::prelude::PhysicalExpr;
use polars_expr::reduce::{into_reduction, GroupedReduction};
use polars_expr::state::ExecutionState;
use polars_expr::{create_physical_expr, ExpressionConversionState};
use polars_plan::plans::expr_ir::ExprIR;
use polars_plan::plans::{is_elementwise_rec, AExpr, IRAggExpr, IRFunctionExpr, IR};

use crate::streaming_agg::AggPlan;

/// Rows aggregated at a time: the streaming engine's morsel size (polars-stream
/// `get_ideal_morsel_size`, 100,000), rounded to a power of two.
const MORSEL_ROWS: usize = 1 << 17;

/// One aggregation: its output name, its compiled input and an empty reduction to clone.
struct Leaf {
    name: PlSmallStr,
    input: Arc<dyn PhysicalExpr>,
    reduction: Box<dyn GroupedReduction>,
}

/// The partial aggregation of `AggPlan` for one batch at a time; shared by every thread (each
/// batch gets its own grouper and reductions).
pub(crate) struct GroupedPartial {
    /// Columns of the batch the expressions were compiled for, when the optimizer projected.
    columns: Option<Vec<PlSmallStr>>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    key_schema: Arc<Schema>,
    grouper: Box<dyn Grouper>,
    leaves: Vec<Leaf>,
    random_state: PlRandomState,
    /// The most groups a batch has had so far: the next batch's grouper is sized for them
    /// rather than grown from empty (with 8192-row batches of 500 groups, the rehashes of
    /// growing took about 1.7 % of criterion `agg/partial_merge`'s samples).
    groups_seen: AtomicUsize,
}

impl GroupedPartial {
    /// `None` when `plan` is a global aggregation or has a partial aggregation this does not
    /// cover.
    pub fn try_new(plan: &AggPlan) -> Option<Self> {
        let lf = DataFrame::empty_with_arc_schema(plan.input_schema().clone()).lazy();
        let mut ir = plan.partial(lf).to_alp_optimized().ok()?;
        let IR::GroupBy {
            keys,
            aggs,
            input,
            schema,
            apply: None,
            ..
        } = ir.lp_arena.get(ir.lp_top).clone()
        else {
            return None;
        };
        let IR::DataFrameScan { output_schema, .. } = ir.lp_arena.get(input) else {
            return None;
        };
        let columns = output_schema
            .as_ref()
            .map(|s| s.iter_names().cloned().collect());
        let in_schema = ir.lp_arena.get(input).schema(&ir.lp_arena).into_owned();
        let arena = &mut ir.expr_arena;
        let mut state = ExpressionConversionState::new(false);
        let mut compile =
            |e: &ExprIR, arena: &mut _| create_physical_expr(e, arena, &in_schema, &mut state).ok();
        let keys = keys
            .iter()
            .map(|k| compile(k, arena))
            .collect::<Option<Vec<_>>>()?;
        let key_schema: Arc<Schema> = Arc::new(
            schema
                .iter()
                .take(keys.len())
                .map(|(n, d)| (n.clone(), d.clone()))
                .collect(),
        );
        let mut leaves = Vec::with_capacity(aggs.len());
        for agg in &aggs {
            let covered = match arena.get(agg.node()) {
                AExpr::Agg(a) => matches!(
                    a,
                    IRAggExpr::Sum(_)
                        | IRAggExpr::Min { .. }
                        | IRAggExpr::Max { .. }
                        | IRAggExpr::Count { .. }
                ),
                AExpr::Len => true,
                AExpr::Function {
                    function: IRFunctionExpr::NullCount,
                    ..
                } => true,
                _ => false,
            };
            if !covered {
                return None;
            }
            let (reduction, inputs) = into_reduction(agg.node(), arena, &in_schema, true).ok()?;
            let [input] = inputs.as_slice() else {
                return None;
            };
            if !is_elementwise_rec(*input, arena) {
                return None;
            }
            let input = compile(&ExprIR::from_node(*input, arena), arena)?;
            leaves.push(Leaf {
                name: agg.output_name().clone(),
                input,
                reduction,
            });
        }
        Some(Self {
            columns,
            keys,
            grouper: new_hash_grouper(key_schema.clone()),
            key_schema,
            leaves,
            random_state: PlRandomState::default(),
            groups_seen: AtomicUsize::new(0),
        })
    }

    /// The partial aggregate of `batch`: one row per group, groups in order of first
    /// appearance (as `group_by_stable`), the keys then each aggregation.
    ///
    /// The batch is aggregated a morsel of `MORSEL_ROWS` at a time into one grouper, as the
    /// streaming engine does: the key hashes and the aggregations' inputs (`price * volume`)
    /// are morsel-sized temporaries that the allocator reuses while they are still in cache,
    /// instead of unit-sized buffers (a unit is up to 2^20 rows) that it hands back to the
    /// kernel and faults in again for the next unit.
    pub fn run(&self, batch: DataFrame) -> PolarsResult<DataFrame> {
        let batch = match &self.columns {
            Some(cols) => batch.select(cols.iter().cloned())?,
            None => batch,
        };
        let state = ExecutionState::new();
        let height = batch.height();
        let mut grouper = self.grouper.new_empty();
        grouper.reserve(self.groups_seen.load(Ordering::Relaxed).min(height));
        let mut reductions: Vec<_> = self
            .leaves
            .iter()
            .map(|l| l.reduction.new_empty())
            .collect();
        let mut group_idxs = Vec::new();
        let mut subset: Vec<IdxSize> = Vec::new();
        // An empty batch is one empty morsel: its expressions are still evaluated once.
        for offset in (0..height.max(1)).step_by(MORSEL_ROWS) {
            let len = MORSEL_ROWS.min(height - offset);
            let morsel = batch.slice(offset as i64, len);
            let full = |c: Column| match c.len() {
                1 if len != 1 => c.new_from_index(0, len),
                _ => c,
            };
            let key_columns = self
                .keys
                .iter()
                .zip(self.key_schema.iter_names())
                .map(|(k, name)| Ok(full(k.evaluate(&morsel, &state)?).with_name(name.clone())))
                .collect::<PolarsResult<Vec<_>>>()?;
            let keys = DataFrame::new(len, key_columns)?;
            let hash_keys = HashKeys::from_df(&keys, self.random_state.clone(), true, false);
            subset.clear();
            subset.extend(0..len as IdxSize);
            group_idxs.clear();
            // SAFETY: `subset` holds the indices of `hash_keys`, which has `len` keys.
            unsafe { grouper.insert_keys_subset(&hash_keys, &subset, Some(&mut group_idxs)) };
            for (leaf, reduction) in self.leaves.iter().zip(&mut reductions) {
                let values = full(leaf.input.evaluate(&morsel, &state)?).rechunk();
                reduction.resize(grouper.num_groups());
                // SAFETY: `values` has `len` rows (one chunk), `subset` indexes them, and
                // `group_idxs` holds one group below `num_groups` per row of `subset`.
                unsafe { reduction.update_groups_subset(&[&values], &subset, &group_idxs, 0)? };
            }
        }
        let groups = grouper.num_groups();
        self.groups_seen
            .fetch_max(groups as usize, Ordering::Relaxed);
        let mut columns = grouper
            .get_keys_in_group_order(&self.key_schema)
            .into_columns();
        for (leaf, reduction) in self.leaves.iter().zip(&mut reductions) {
            reduction.resize(groups);
            let out = reduction.finalize()?.with_name(leaf.name.clone());
            columns.push(out.into_column());
        }
        DataFrame::new(groups as usize, columns)
    }
}
