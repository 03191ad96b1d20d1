//! Custom stateful per-batch operators, and the built-in `first_n_per_group`.

use polars::prelude::*;

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
/// works. One pass, vectorized (Polars joins and group_bys per batch); the state is the
/// admitted (group, id) pairs, at most `groups × n` rows.
pub fn first_n_per_group<S: Into<PlSmallStr>>(
    group_cols: impl IntoIterator<Item = S>,
    id_col: impl Into<PlSmallStr>,
    n: usize,
) -> FirstNPerGroup {
    FirstNPerGroup {
        groups: group_cols.into_iter().map(Into::into).collect(),
        id: id_col.into(),
        n,
        admitted: None,
    }
}

/// See [`first_n_per_group`].
#[derive(Debug, Clone)]
pub struct FirstNPerGroup {
    groups: Vec<PlSmallStr>,
    id: PlSmallStr,
    n: usize,
    /// Admitted (group..., id) pairs, in admission order.
    admitted: Option<DataFrame>,
}

const HAVE: &str = "__first_n_have";
const FLAG: &str = "__first_n_flag";

impl FirstNPerGroup {
    fn cols(names: &[PlSmallStr]) -> Vec<Expr> {
        names.iter().cloned().map(col).collect()
    }

    fn pair_names(&self) -> Vec<PlSmallStr> {
        let mut out = self.groups.clone();
        out.push(self.id.clone());
        out
    }

    /// `left` with a boolean `FLAG` column: whether its `on` columns match a row of `right`.
    /// Null keys match null keys; the left order is kept. `right` must be unique on `on`.
    fn flag_matches(left: LazyFrame, right: LazyFrame, on: &[PlSmallStr]) -> LazyFrame {
        let right = right
            .select(Self::cols(on))
            .with_column(lit(true).alias(FLAG));
        let args = JoinArgs {
            nulls_equal: true,
            maintain_order: MaintainOrderJoin::Left,
            ..JoinArgs::new(JoinType::Left)
        };
        left.join(right, Self::cols(on), Self::cols(on), args)
            .with_column(col(FLAG).is_not_null().alias(FLAG))
    }

    fn admit(&mut self, batch: &DataFrame) -> PolarsResult<()> {
        let pairs = self.pair_names();
        let seen = batch
            .clone()
            .lazy()
            .select(Self::cols(&pairs))
            .unique_stable(None, UniqueKeepStrategy::First);
        let (new, have) = match &self.admitted {
            None => (seen, None),
            Some(admitted) => {
                let new = Self::flag_matches(seen, admitted.clone().lazy(), &pairs)
                    .filter(col(FLAG).not())
                    .select(Self::cols(&pairs));
                let have = admitted
                    .clone()
                    .lazy()
                    .group_by(Self::cols(&self.groups))
                    .agg([len().alias(HAVE)]);
                (new, Some(have))
            }
        };
        let new = match have {
            None => new.with_column(lit(0).cast(IDX_DTYPE).alias(HAVE)),
            Some(have) => {
                let args = JoinArgs {
                    nulls_equal: true,
                    maintain_order: MaintainOrderJoin::Left,
                    ..JoinArgs::new(JoinType::Left)
                };
                let on = Self::cols(&self.groups);
                new.join(have, on.clone(), on, args)
                    .with_column(col(HAVE).fill_null(lit(0).cast(IDX_DTYPE)))
            }
        };
        // Groups already full admit nothing; the others take their first (n - have) new ids.
        let n = self.n as IdxSize;
        let taken = new
            .filter(col(HAVE).lt(lit(n)))
            .group_by_stable(Self::cols(&self.groups))
            .agg([col(self.id.clone()).slice(lit(0), lit(n) - col(HAVE).first())])
            .explode(
                cols([self.id.clone()]),
                ExplodeOptions {
                    empty_as_null: false,
                    keep_nulls: true,
                },
            )
            .select(Self::cols(&pairs))
            .collect()?;
        self.admitted = Some(match self.admitted.take() {
            None => taken,
            Some(mut a) => {
                a.vstack_mut_owned(taken)?;
                a.rechunk_mut();
                a
            }
        });
        Ok(())
    }
}

impl BatchOperator for FirstNPerGroup {
    fn state_bytes(&self) -> usize {
        self.admitted.as_ref().map_or(0, DataFrame::estimated_size)
    }

    fn process(&mut self, batch: DataFrame) -> PolarsResult<DataFrame> {
        if self.n == 0 {
            return Ok(batch.clear());
        }
        self.admit(&batch)?;
        let admitted = self.admitted.clone().unwrap().lazy();
        let names: Vec<Expr> = batch
            .get_column_names()
            .into_iter()
            .cloned()
            .map(col)
            .collect();
        Self::flag_matches(batch.lazy(), admitted, &self.pair_names())
            .filter(col(FLAG))
            .select(names)
            .collect()
    }
}
