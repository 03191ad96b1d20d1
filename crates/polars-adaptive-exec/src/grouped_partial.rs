//! A batch's partial `group_by` computed with the streaming engine's building blocks: a hash
//! grouper over the key columns (polars-expr `groups`, `hash_keys`) and one grouped reduction
//! per aggregation (polars-expr `reduce`), instead of the in-memory engine's group_by, which
//! gathers every group's row indices before aggregating them.
//!
//! Covered: `sum`, `min`, `max`, `count`, `len` and `null_count` of row-wise inputs, which
//! are what `AggPlan` decomposes `sum`, `mean`, `min`, `max`, `count` and `len` into. Any
//! other partial aggregation uses the compiled in-memory group_by (`BatchExec`).
//!
//! A single string key that nothing else reads may reach it as a categorical (the scan's
//! `CategoricalColumns`): rows are grouped by dictionary code through a table from code to
//! group, and only a code's first appearance inserts its string into the grouper.

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
use polars_plan::utils::aexpr_to_leaf_names_iter;
use polars_streaming_adaptive::{MemoryGuard, MemoryManager};

use crate::batch_exec::Idle;
use crate::streaming_agg::AggPlan;

/// Rows aggregated at a time: the streaming engine's morsel size (polars-stream
/// `get_ideal_morsel_size`, 100,000), rounded to a power of two.
const MORSEL_ROWS: usize = 1 << 17;

/// One aggregation: its output name, its input (an index into `GroupedPartial::inputs`) and
/// an empty reduction to clone.
struct Leaf {
    name: PlSmallStr,
    input: usize,
    reduction: Box<dyn GroupedReduction>,
}

/// The partial aggregation of `AggPlan`, shared by every thread running batches.
///
/// When the plan leaves the order of groups open, a batch smaller than a morsel adds its rows
/// to an aggregation state that outlives it (`Pool`): the state of the last batch that
/// finished, so each thread keeps feeding about one state, and the consumer merges the states
/// when the scan ends (`drain`). Otherwise (`group_by_stable`, or a slice of the groups), every batch gets
/// its own state and hands it on as its partial, so groups keep their first appearance.
pub(crate) struct GroupedPartial {
    /// Columns of the batch the expressions were compiled for, when the optimizer projected.
    columns: Option<Vec<PlSmallStr>>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    key_schema: Arc<Schema>,
    grouper: Box<dyn Grouper>,
    /// The aggregations' distinct inputs, each evaluated once per morsel.
    inputs: Vec<Arc<dyn PhysicalExpr>>,
    leaves: Vec<Leaf>,
    random_state: PlRandomState,
    /// The most groups a state has had so far: a new state's grouper is sized for them
    /// rather than grown from empty (with 8192-row batches of 500 groups, the rehashes of
    /// growing took about 1.7 % of criterion `agg/partial_merge`'s samples).
    groups_seen: AtomicUsize,
    pool: Option<Pool>,
    /// The one key, when it is a string column that no aggregation reads: the scan may hand
    /// it out as a categorical, whose codes are grouped without hashing strings.
    categorical_key: Option<PlSmallStr>,
}

/// A grouper and one reduction per aggregation: the partial aggregate of some batches.
struct State {
    grouper: Box<dyn Grouper>,
    /// For a key handed out as a categorical: the group of each code met so far
    /// (`IdxSize::MAX` where none), and of the null key. The grouper holds their strings, so
    /// batches of strings (a chunk that was not dictionary-encoded) find the same groups.
    code_groups: Vec<IdxSize>,
    null_group: Option<IdxSize>,
    reductions: Vec<Box<dyn GroupedReduction>>,
    /// The state's estimated size, counted while it waits in the pool.
    guard: Option<MemoryGuard>,
}

/// States kept across batches, until they grow past a flush bound or the scan ends.
struct Pool {
    idle: Idle<State>,
    memory: MemoryManager,
    /// A state whose estimate passes this is handed on as a batch's partial.
    flush_bytes: usize,
    /// Bytes a group takes in a partial: the largest seen in a flushed state so far, at
    /// first a guess from the dtypes.
    group_bytes: AtomicUsize,
}

/// Groups a pooled state holds at most before it is handed on: the consumer's compaction
/// threshold, so a state is never larger than what the consumer merges at once.
const FLUSH_GROUPS: usize = 65_536;

impl GroupedPartial {
    /// `None` when `plan` is a global aggregation or has a partial aggregation this does not
    /// cover.
    pub fn try_new(plan: &AggPlan) -> Option<Self> {
        let lf = DataFrame::empty_with_arc_schema(plan.input_schema().clone()).lazy();
        // Without common-subexpression elimination: it would compute a repeated input (SQL's
        // `SUM(x)` is `sum`, `null_count` and `len` of one `x`) in a projection below the
        // group_by, which this does not read; repeated inputs are evaluated once below.
        let mut ir = plan
            .partial(lf)
            .with_comm_subexpr_elim(false)
            .to_alp_optimized()
            .ok()?;
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
        let mut key_column = match keys.as_slice() {
            [key] => match ir.expr_arena.get(key.node()) {
                AExpr::Column(name) if in_schema.get(name) == Some(&DataType::String) => {
                    Some(name.clone())
                }
                _ => None,
            },
            _ => None,
        };
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
        let (mut compiled, mut compiled_keys) = (Vec::new(), Vec::<String>::new());
        for agg in &aggs {
            // Counting rows or nulls of the key reads its validity, the same for codes.
            let counts = matches!(
                arena.get(agg.node()),
                AExpr::Len
                    | AExpr::Agg(IRAggExpr::Count { .. })
                    | AExpr::Function {
                        function: IRFunctionExpr::NullCount,
                        ..
                    }
            );
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
            // Any other aggregation reading the key (its `min` differs on categoricals; `len`
            // reads the first column, which may be the key) keeps it a string.
            let is_key =
                |e: &AExpr| matches!(e, AExpr::Column(n) if Some(n) == key_column.as_ref());
            if !(counts && is_key(arena.get(*input)))
                && aexpr_to_leaf_names_iter(*input, arena).any(|n| Some(n) == key_column.as_ref())
            {
                key_column = None;
            }
            let input = ExprIR::from_node(*input, arena);
            let key = format!("{:?}", input.to_expr(arena));
            let index = match compiled_keys.iter().position(|k| *k == key) {
                Some(i) => i,
                None => {
                    compiled.push(compile(&input, arena)?);
                    compiled_keys.push(key);
                    compiled.len() - 1
                }
            };
            leaves.push(Leaf {
                name: agg.output_name().clone(),
                input: index,
                reduction,
            });
        }
        Some(Self {
            columns,
            keys,
            grouper: new_hash_grouper(key_schema.clone()),
            key_schema,
            inputs: compiled,
            leaves,
            random_state: PlRandomState::default(),
            groups_seen: AtomicUsize::new(0),
            pool: None,
            categorical_key: key_column,
        })
    }

    /// Keeps aggregation states across batches when `plan` leaves the order of groups open;
    /// their estimated size is counted in `memory`, and a state is handed on once it passes
    /// `limit / 8` (a hard budget's share for aggregation state) or `FLUSH_GROUPS` groups, or
    /// took a batch of a morsel or more (see `run`).
    pub fn with_pool(
        mut self,
        plan: &AggPlan,
        memory: MemoryManager,
        limit: Option<usize>,
    ) -> Self {
        if plan.ordered() {
            return self;
        }
        let guess = self
            .key_schema
            .iter_values()
            .map(dtype_bytes)
            .sum::<usize>()
            + 8 * self.leaves.len();
        self.pool = Some(Pool {
            idle: Idle::new(),
            memory,
            flush_bytes: limit.map_or(usize::MAX, |l| l / 8),
            group_bytes: AtomicUsize::new(guess.max(1)),
        });
        self
    }

    /// The key a scan may hand out as a categorical: a string column no aggregation reads.
    pub fn categorical_key(&self) -> Option<&PlSmallStr> {
        self.categorical_key.as_ref()
    }

    /// An empty state for a first batch of `rows` rows.
    fn new_state(&self, rows: usize) -> State {
        let mut grouper = self.grouper.new_empty();
        grouper.reserve(self.groups_seen.load(Ordering::Relaxed).min(rows));
        State {
            grouper,
            code_groups: Vec::new(),
            null_group: None,
            reductions: self
                .leaves
                .iter()
                .map(|l| l.reduction.new_empty())
                .collect(),
            guard: None,
        }
    }

    /// The partial aggregate of `batch`, or with a pool an empty frame while the batch's rows
    /// wait in a pooled state: one row per group, the keys then each aggregation; without a
    /// pool, groups in order of first appearance (as `group_by_stable`).
    pub fn run(&self, batch: DataFrame) -> PolarsResult<DataFrame> {
        let Some(pool) = &self.pool else {
            let mut state = self.new_state(batch.height());
            self.update(&mut state, batch)?;
            return self.finish(state);
        };
        let height = batch.height();
        let mut state = pool.idle.take().unwrap_or_else(|| self.new_state(height));
        state.guard = None;
        self.update(&mut state, batch)?;
        let groups = state.grouper.num_groups() as usize;
        let bytes = groups.saturating_mul(pool.group_bytes.load(Ordering::Relaxed));
        // A batch of a morsel or more hands its state on, as without a pool: its per-batch
        // cost is small next to its rows, and keeping states across such batches made P1 on
        // one thread 1.67 -> 3.02 s (glibc then trims the heap's top after every batch and
        // the next batch faults it in again; with trimming off both took 1.6 s).
        if height >= MORSEL_ROWS || groups >= FLUSH_GROUPS || bytes > pool.flush_bytes {
            return self.finish(state);
        }
        state.guard = Some(pool.memory.track_usage(bytes));
        pool.idle.put(state);
        Ok(DataFrame::empty())
    }

    /// The partial aggregates of the states left in the pool, once no batch runs any more.
    pub fn drain(&self) -> PolarsResult<Vec<DataFrame>> {
        let Some(pool) = &self.pool else {
            return Ok(Vec::new());
        };
        let states = pool.idle.take_all();
        states.into_iter().map(|state| self.finish(state)).collect()
    }

    /// Adds `batch`'s rows to `state`.
    ///
    /// The batch is aggregated a morsel of `MORSEL_ROWS` at a time, as the streaming engine
    /// does: the key hashes and the aggregations' inputs (`price * volume`) are morsel-sized
    /// temporaries that the allocator reuses while they are still in cache, instead of
    /// unit-sized buffers (a unit is up to 2^20 rows) that it hands back to the kernel and
    /// faults in again for the next unit.
    fn update(&self, state: &mut State, batch: DataFrame) -> PolarsResult<()> {
        let batch = match &self.columns {
            Some(cols) => batch.select(cols.iter().cloned())?,
            None => batch,
        };
        let exec_state = ExecutionState::new();
        let height = batch.height();
        let State {
            grouper,
            code_groups,
            null_group,
            reductions,
            ..
        } = state;
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
                .map(
                    |(k, name)| Ok(full(k.evaluate(&morsel, &exec_state)?).with_name(name.clone())),
                )
                .collect::<PolarsResult<Vec<_>>>()?;
            subset.clear();
            subset.extend(0..len as IdxSize);
            group_idxs.clear();
            match key_columns.as_slice() {
                [key] if key.dtype().is_categorical() => {
                    let mut codes = Codes {
                        groups: code_groups,
                        null: null_group,
                    };
                    codes.groups_of(key, &mut **grouper, self, &subset, &mut group_idxs)?;
                }
                _ => {
                    let keys = DataFrame::new(len, key_columns)?;
                    self.insert(&mut **grouper, &keys, &subset, &mut group_idxs);
                }
            }
            let values = self
                .inputs
                .iter()
                .map(|input| Ok(full(input.evaluate(&morsel, &exec_state)?).rechunk()))
                .collect::<PolarsResult<Vec<_>>>()?;
            for (leaf, reduction) in self.leaves.iter().zip(reductions.iter_mut()) {
                reduction.resize(grouper.num_groups());
                let values = &values[leaf.input];
                // SAFETY: `values` has `len` rows (one chunk), `subset` indexes them, and
                // `group_idxs` holds one group below `num_groups` per row of `subset`.
                unsafe { reduction.update_groups_subset(&[values], &subset, &group_idxs, 0)? };
            }
        }
        Ok(())
    }

    /// Inserts every row of `keys` into `grouper`, pushing each row's group to `group_idxs`;
    /// `all` counts from 0 to at least `keys.height()`.
    fn insert(
        &self,
        grouper: &mut dyn Grouper,
        keys: &DataFrame,
        all: &[IdxSize],
        group_idxs: &mut Vec<IdxSize>,
    ) {
        let hash_keys = HashKeys::from_df(keys, self.random_state.clone(), true, false);
        let subset = &all[..keys.height()];
        // SAFETY: `subset` holds the indices of `hash_keys`, which has `keys.height()` keys.
        unsafe { grouper.insert_keys_subset(&hash_keys, subset, Some(group_idxs)) };
    }

    /// `state`'s partial aggregate: one row per group, in order of first appearance.
    fn finish(&self, state: State) -> PolarsResult<DataFrame> {
        let State {
            grouper,
            mut reductions,
            ..
        } = state;
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
        let df = DataFrame::new(groups as usize, columns)?;
        if let (Some(pool), true) = (&self.pool, groups > 0) {
            let per_group = df.estimated_size() / groups as usize;
            pool.group_bytes.fetch_max(per_group, Ordering::Relaxed);
        }
        Ok(df)
    }
}

/// A state's groups of a categorical key's codes (`State::code_groups`).
struct Codes<'a> {
    groups: &'a mut Vec<IdxSize>,
    null: &'a mut Option<IdxSize>,
}

/// A code met in this morsel for the first time: its group is being made.
const PENDING: IdxSize = IdxSize::MAX - 1;
const NONE: IdxSize = IdxSize::MAX;

impl Codes<'_> {
    /// Pushes the group of each row of `key` (a categorical) to `group_idxs`. Codes met for
    /// the first time have their strings inserted into `grouper`, in order of first
    /// appearance, so that groups keep that order.
    fn groups_of(
        &mut self,
        key: &Column,
        grouper: &mut dyn Grouper,
        partial: &GroupedPartial,
        all: &[IdxSize],
        group_idxs: &mut Vec<IdxSize>,
    ) -> PolarsResult<()> {
        let DataType::Categorical(_, mapping) = key.dtype() else {
            unreachable!("the caller checked the dtype");
        };
        let codes = key.as_materialized_series().cat32()?.physical();
        // The codes met for the first time, and the null key (`None`) if it is. A null row's
        // code is whatever the decoder left there: it is never looked up.
        let mut new: Vec<Option<CatSize>> = Vec::new();
        let first = |c: CatSize, groups: &mut Vec<IdxSize>, new: &mut Vec<_>| {
            // The table grows to the largest code met (amortized, as a `Vec` grows); the
            // second pass below then indexes it only with codes met here.
            if c as usize >= groups.len() {
                groups.resize(c as usize + 1, NONE);
            }
            let g = &mut groups[c as usize];
            if *g == NONE {
                *g = PENDING;
                new.push(Some(c));
            }
        };
        let mut null_new = self.null.is_none();
        for arr in codes.downcast_iter() {
            match arr.validity().filter(|v| v.unset_bits() > 0) {
                None => arr
                    .values()
                    .iter()
                    .for_each(|&c| first(c, self.groups, &mut new)),
                Some(valid) => {
                    for (&c, v) in arr.values().iter().zip(valid.iter()) {
                        match v {
                            true => first(c, self.groups, &mut new),
                            false if null_new => {
                                null_new = false;
                                new.push(None);
                            }
                            false => {}
                        }
                    }
                }
            }
        }
        if !new.is_empty() {
            let strings = new
                .iter()
                .map(|c| c.map(|c| mapping.cat_to_str(c).expect("a code of the mapping")));
            let strings = Series::new(key.name().clone(), strings.collect::<Vec<_>>());
            let keys = DataFrame::new(new.len(), vec![strings.into_column()])?;
            let mut groups = Vec::with_capacity(new.len());
            partial.insert(grouper, &keys, all, &mut groups);
            for (code, group) in new.into_iter().zip(groups) {
                match code {
                    Some(c) => self.groups[c as usize] = group,
                    None => *self.null = Some(group),
                }
            }
        }
        let null = self.null.unwrap_or(NONE);
        for arr in codes.downcast_iter() {
            let groups = &*self.groups;
            match arr.validity().filter(|v| v.unset_bits() > 0) {
                None => group_idxs.extend(arr.values().iter().map(|&c| groups[c as usize])),
                Some(valid) => {
                    group_idxs.extend(arr.values().iter().zip(valid.iter()).map(|(&c, v)| {
                        if v {
                            groups[c as usize]
                        } else {
                            null
                        }
                    }))
                }
            }
        }
        Ok(())
    }
}

/// A first guess of the bytes a key of `dtype` takes in a partial, before any state has been
/// measured: 8 for numbers and temporals, 16 (a string view) for anything else.
fn dtype_bytes(dtype: &DataType) -> usize {
    match dtype.is_primitive_numeric() || dtype.is_temporal() || dtype.is_bool() {
        true => 8,
        false => 16,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_sums_are_covered_and_their_repeated_input_is_evaluated_once() {
        let input: SchemaRef = Arc::new(Schema::from_iter([
            Field::new("k".into(), DataType::String),
            Field::new("a".into(), DataType::Float64),
            Field::new("b".into(), DataType::Int64),
        ]));
        // polars-sql's `SUM(a * b)`: null when every value is null.
        let x = col("a") * col("b").cast(DataType::Float64);
        let sql_sum = when(x.clone().null_count().lt(x.clone().len()))
            .then(x.sum())
            .otherwise(lit(NULL).cast(DataType::Float64))
            .alias("s");
        let schema: SchemaRef = Arc::new(Schema::from_iter([
            Field::new("k".into(), DataType::String),
            Field::new("s".into(), DataType::Float64),
        ]));
        let plan = AggPlan::new(vec![col("k")], vec![sql_sum], schema, input).unwrap();
        let partial = GroupedPartial::try_new(&plan).expect("covered by the grouped reductions");
        assert_eq!(partial.leaves.len(), 3);
        assert_eq!(partial.inputs.len(), 1);
    }

    #[test]
    fn a_string_key_only_the_grouper_reads_may_come_as_dictionary_codes() {
        let input: SchemaRef = Arc::new(Schema::from_iter([
            Field::new("symbol".into(), DataType::String),
            Field::new("price".into(), DataType::Float64),
            Field::new("n".into(), DataType::Int64),
        ]));
        // `output`: the key's and the aggregation's dtypes.
        let key_of = |key: Expr, agg: Expr, output: [DataType; 2]| {
            let [k, a] = output;
            let schema: SchemaRef = Arc::new(Schema::from_iter([
                Field::new("k".into(), k),
                Field::new("a".into(), a),
            ]));
            let plan = AggPlan::new(
                vec![key.alias("k")],
                vec![agg.alias("a")],
                schema,
                input.clone(),
            )
            .unwrap();
            let partial = GroupedPartial::try_new(&plan).expect("covered");
            partial.categorical_key().cloned()
        };
        let vwap = || (col("price") * col("n")).sum();
        let (string, float) = (DataType::String, DataType::Float64);
        assert_eq!(
            key_of(col("symbol"), vwap(), [string.clone(), float.clone()]),
            Some("symbol".into())
        );
        // The key's own `min` orders strings, not codes.
        let min = col("symbol").min();
        assert_eq!(
            key_of(col("symbol"), min, [string.clone(), string.clone()]),
            None
        );
        // A computed key, and a numeric one, are not a string column.
        let upper = col("symbol").str().to_uppercase();
        assert_eq!(key_of(upper, vwap(), [string, float.clone()]), None);
        assert_eq!(key_of(col("n"), vwap(), [DataType::Int64, float]), None);
    }
}
