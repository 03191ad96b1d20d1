//! Custom stateful per-batch operators, and the built-in `first_n_per_group`.

use std::sync::Arc;

use polars::prelude::*;
use polars_arrow::bitmap::{Bitmap, BitmapBuilder, MutableBitmap};
use polars_core::prelude::PlRandomState;
use polars_core::series::BitRepr;
use polars_expr::groups::{new_hash_grouper, Grouper};
use polars_expr::hash_keys::HashKeys;
use polars_utils::hashing::HashPartitioner;

/// A stateful operator applied to every output batch of a plan, in order.
///
/// `process` sees each batch once and returns the rows it lets through (possibly none);
/// `finish` runs after the last batch and may return rows it held back.
pub trait BatchOperator: Send {
    fn process(&mut self, batch: DataFrame) -> PolarsResult<DataFrame>;

    fn finish(&mut self) -> PolarsResult<Option<DataFrame>> {
        Ok(None)
    }

    /// Bytes of state the operator holds between batches. Under a hard memory budget the
    /// pipeline fails, naming the operator, once its operators hold more than the state's
    /// share of the budget.
    fn state_bytes(&self) -> usize {
        0
    }
}

/// Keeps every row of the first `n` distinct ids seen in each group: the subsample of the
/// PyArrow streaming post. Null groups and null ids are values like any other; any key dtype
/// works. One vectorized pass per batch over two hash groupers of polars-expr (the streaming
/// engine's own): one numbers the groups, one holds the admitted (group, id) pairs, at most
/// `groups × n` of them.
pub fn first_n_per_group<S: Into<PlSmallStr>>(
    group_cols: impl IntoIterator<Item = S>,
    id_col: impl Into<PlSmallStr>,
    n: usize,
) -> FirstNPerGroup {
    FirstNPerGroup {
        groups: group_cols.into_iter().map(Into::into).collect(),
        id: id_col.into(),
        n,
        state: None,
    }
}

/// See [`first_n_per_group`].
pub struct FirstNPerGroup {
    groups: Vec<PlSmallStr>,
    id: PlSmallStr,
    n: usize,
    /// Created from the first batch's key dtypes.
    state: Option<Admitted>,
}

impl std::fmt::Debug for FirstNPerGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstNPerGroup")
            .field("groups", &self.groups)
            .field("id", &self.id)
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

/// What `first_n_per_group` remembers between batches.
struct Admitted {
    /// Group keys seen, numbered in order of first appearance.
    groups: Box<dyn Grouper>,
    /// Ids admitted so far, per group number.
    have: Vec<IdxSize>,
    /// The admitted (group..., id) pairs.
    pairs: Box<dyn Grouper>,
    /// The admitted pairs as (group number, id bits), when ids compare by their bits.
    pair_bits: PlHashSet<u128>,
    /// One hasher for every batch: the groupers compare stored hashes.
    random_state: PlRandomState,
    /// Largest bytes per pair key seen, for `state_bytes`.
    pair_bytes: usize,
}

/// A row's pair is new in this batch and not yet decided.
const UNDECIDED: u8 = 2;

impl FirstNPerGroup {
    fn keys(batch: &DataFrame, names: &[PlSmallStr]) -> PolarsResult<DataFrame> {
        batch.select(names.iter().cloned())
    }

    /// The rows of `batch` to keep, admitting new pairs in row order.
    fn keep(&mut self, batch: &DataFrame) -> PolarsResult<Bitmap> {
        let group_df = Self::keys(batch, &self.groups)?;
        let mut pair_names = self.groups.clone();
        pair_names.push(self.id.clone());
        let pair_df = Self::keys(batch, &pair_names)?;
        let state = self.state.get_or_insert_with(|| Admitted {
            groups: new_hash_grouper(Arc::new(group_df.schema().as_ref().clone())),
            have: Vec::new(),
            pairs: new_hash_grouper(Arc::new(pair_df.schema().as_ref().clone())),
            pair_bits: PlHashSet::default(),
            random_state: PlRandomState::default(),
            pair_bytes: 0,
        });
        let rows = batch.height();
        if let Some(ids) = id_bits(batch.column(&self.id)?) {
            return Ok(Self::keep_by_bits(
                state,
                &group_df,
                &ids,
                self.n as IdxSize,
            ));
        }
        state.pair_bytes = state
            .pair_bytes
            .max(pair_df.estimated_size().div_ceil(rows.max(1)));
        let pair_keys = HashKeys::from_df(&pair_df, state.random_state.clone(), true, false);
        // Rows whose pair was admitted in an earlier batch are kept.
        let mut found = BitmapBuilder::with_capacity(rows);
        let one = HashPartitioner::new(1, 0);
        // SAFETY: both groupers were created for this schema (the plan's batches share it).
        unsafe {
            state.pairs.contains_key_partitioned_groupers(
                std::slice::from_ref(&state.pairs),
                &pair_keys,
                &one,
                false,
                &mut found,
            )
        };
        let mut keep = found.freeze().make_mut();
        let fresh: Vec<IdxSize> = (0..rows as IdxSize)
            .filter(|&i| !keep.get(i as usize))
            .collect();
        if fresh.is_empty() {
            return Ok(keep.freeze());
        }
        // The other rows' groups, numbered over all batches. A group already full admits
        // nothing more: its rows without an admitted pair are dropped unseen.
        let group_keys = HashKeys::from_df(&group_df, state.random_state.clone(), true, false);
        let mut group_idx = Vec::with_capacity(fresh.len());
        // SAFETY: `fresh` holds row numbers of this batch.
        unsafe {
            state
                .groups
                .insert_keys_subset(&group_keys, &fresh, Some(&mut group_idx))
        };
        state.have.resize(state.groups.num_groups() as usize, 0);
        let n = self.n as IdxSize;
        let (open, open_groups): (Vec<IdxSize>, Vec<IdxSize>) = fresh
            .iter()
            .zip(&group_idx)
            .filter(|(_, &g)| state.have[g as usize] < n)
            .unzip();
        // Their pairs, numbered in this batch; a pair is decided at its first row: admitted
        // while its group has room.
        let mut local = state.pairs.new_empty();
        let mut local_idx = Vec::with_capacity(open.len());
        // SAFETY: `open` holds row numbers of this batch.
        unsafe { local.insert_keys_subset(&pair_keys, &open, Some(&mut local_idx)) };
        let mut decided = vec![UNDECIDED; local.num_groups() as usize];
        let mut first_rows = Vec::new();
        for ((&row, &pair), &group) in open.iter().zip(&local_idx).zip(&open_groups) {
            let d = &mut decided[pair as usize];
            if *d == UNDECIDED {
                let have = &mut state.have[group as usize];
                *d = u8::from(*have < n);
                if *have < n {
                    *have += 1;
                    first_rows.push(row);
                }
            }
            if *d == 1 {
                keep.set(row as usize, true);
            }
        }
        // SAFETY: row numbers of this batch.
        unsafe {
            state
                .pairs
                .insert_keys_subset(&pair_keys, &first_rows, None)
        };
        Ok(keep.freeze())
    }
}

impl FirstNPerGroup {
    /// `keep` for ids that compare by their bits: a pair is (group number, id), looked up in
    /// a hash set, row by row in one loop.
    fn keep_by_bits(
        state: &mut Admitted,
        group_df: &DataFrame,
        ids: &UInt64Chunked,
        n: IdxSize,
    ) -> Bitmap {
        let rows = group_df.height();
        let group_keys = HashKeys::from_df(group_df, state.random_state.clone(), true, false);
        let all: Vec<IdxSize> = (0..rows as IdxSize).collect();
        let mut group_idx = Vec::with_capacity(rows);
        // SAFETY: row numbers of this batch.
        unsafe {
            state
                .groups
                .insert_keys_subset(&group_keys, &all, Some(&mut group_idx))
        };
        state.have.resize(state.groups.num_groups() as usize, 0);
        state.pair_bytes = 16;
        let mut keep = MutableBitmap::with_capacity(rows);
        for (&group, id) in group_idx.iter().zip(ids.iter()) {
            // Bit 64 tells a null id from the id whose bits are all zero.
            let key = (u128::from(group) << 65)
                | (u128::from(id.is_some()) << 64)
                | u128::from(id.unwrap_or(0));
            let admitted = state.pair_bits.contains(&key) || {
                let have = &mut state.have[group as usize];
                let room = *have < n;
                if room {
                    *have += 1;
                    state.pair_bits.insert(key);
                }
                room
            };
            keep.push(admitted);
        }
        keep.freeze()
    }
}

/// The ids as 64-bit values, when equal ids are exactly equal bits: integers and the temporal
/// types stored as integers (not floats: `-0.0 = 0.0` and NaNs compare equal).
fn id_bits(id: &Column) -> Option<UInt64Chunked> {
    let dtype = id.dtype();
    if !(dtype.is_integer()
        || matches!(
            dtype,
            DataType::Date | DataType::Datetime(_, _) | DataType::Duration(_) | DataType::Time
        ))
    {
        return None;
    }
    let bits = id.as_materialized_series().bit_repr()?;
    Some(match bits {
        BitRepr::U8(ca) => ca.cast(&DataType::UInt64).ok()?.u64().ok()?.clone(),
        BitRepr::U16(ca) => ca.cast(&DataType::UInt64).ok()?.u64().ok()?.clone(),
        BitRepr::U32(ca) => ca.cast(&DataType::UInt64).ok()?.u64().ok()?.clone(),
        BitRepr::U64(ca) => ca,
        _ => return None,
    })
}

impl BatchOperator for FirstNPerGroup {
    fn state_bytes(&self) -> usize {
        self.state.as_ref().map_or(0, |s| {
            // Each stored key, its hash and its table slot; each group's count.
            (s.pairs.num_groups() as usize + s.pair_bits.len()) * (s.pair_bytes + 24)
                + s.have.len() * (std::mem::size_of::<IdxSize>() + 24)
        })
    }

    fn process(&mut self, batch: DataFrame) -> PolarsResult<DataFrame> {
        if self.n == 0 || batch.height() == 0 {
            return Ok(batch.clear());
        }
        let keep = self.keep(&batch)?;
        if keep.unset_bits() == 0 {
            return Ok(batch);
        }
        batch.filter(&BooleanChunked::from_bitmap(PlSmallStr::EMPTY, keep))
    }
}
