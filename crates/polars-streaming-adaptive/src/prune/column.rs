//! The built-in one-column predicates: a comparison, a range, a set of values, null or not.

use polars::prelude::*;

use crate::file::statistics::RowGroupStats;
use crate::prune::predicate::{
    comparison_outcomes, filter_by, CmpOp, IntoLiteral, Outcomes, PredicatePushdown,
};

macro_rules! expr_predicate_impl {
    () => {
        fn should_skip_row_group(&self, stats: &RowGroupStats) -> bool {
            !self.outcomes(stats).can_be_true
        }
        fn should_skip_row_group_negated(&self, stats: &RowGroupStats) -> bool {
            !self.outcomes(stats).can_be_false
        }
        fn apply(&self, df: DataFrame) -> PolarsResult<DataFrame> {
            filter_by(df, self.to_expr())
        }
        fn expr(&self) -> Option<Expr> {
            Some(self.to_expr())
        }
    };
}

/// `column op value`, e.g. `price > 100.0`.
///
/// ```
/// use polars_streaming_adaptive::{CmpOp, ComparisonPredicate};
/// let p = ComparisonPredicate::new("price", CmpOp::Gt, 100.0);
/// ```
#[derive(Debug, Clone)]
pub struct ComparisonPredicate {
    column: PlSmallStr,
    op: CmpOp,
    value: Scalar,
}

impl ComparisonPredicate {
    /// `column op value`.
    pub fn new(column: impl Into<PlSmallStr>, op: CmpOp, value: impl IntoLiteral) -> Self {
        Self {
            column: column.into(),
            op,
            value: value.into_literal(),
        }
    }

    fn to_expr(&self) -> Expr {
        self.op
            .expr(col(self.column.clone()), lit(self.value.clone()))
    }

    fn outcomes(&self, stats: &RowGroupStats) -> Outcomes {
        comparison_outcomes(
            stats.column(&self.column),
            stats.num_rows(),
            self.op,
            &self.value,
        )
    }
}

impl PredicatePushdown for ComparisonPredicate {
    expr_predicate_impl!();
    fn columns(&self) -> Option<Vec<PlSmallStr>> {
        Some(vec![self.column.clone()])
    }
}

/// `lower <= column <= upper` (Polars' `is_between` with both ends closed).
#[derive(Debug, Clone)]
pub struct RangePredicate {
    column: PlSmallStr,
    lower: Scalar,
    upper: Scalar,
}

impl RangePredicate {
    /// Rows with `lower <= column <= upper`.
    pub fn new(
        column: impl Into<PlSmallStr>,
        lower: impl IntoLiteral,
        upper: impl IntoLiteral,
    ) -> Self {
        Self {
            column: column.into(),
            lower: lower.into_literal(),
            upper: upper.into_literal(),
        }
    }

    fn to_expr(&self) -> Expr {
        col(self.column.clone()).is_between(
            lit(self.lower.clone()),
            lit(self.upper.clone()),
            ClosedInterval::Both,
        )
    }

    fn outcomes(&self, stats: &RowGroupStats) -> Outcomes {
        let c = stats.column(&self.column);
        let n = stats.num_rows();
        comparison_outcomes(c, n, CmpOp::GtEq, &self.lower).and(comparison_outcomes(
            c,
            n,
            CmpOp::LtEq,
            &self.upper,
        ))
    }
}

impl PredicatePushdown for RangePredicate {
    expr_predicate_impl!();
    fn columns(&self) -> Option<Vec<PlSmallStr>> {
        Some(vec![self.column.clone()])
    }
}

/// `column` is one of `values` (Polars' `is_in`; a null value matches nothing).
///
/// ```
/// use polars_streaming_adaptive::ColumnFilterPredicate;
/// let p = ColumnFilterPredicate::new("symbol", vec!["AAPL".to_string(), "MSFT".to_string()]);
/// ```
#[derive(Debug, Clone)]
pub struct ColumnFilterPredicate {
    column: PlSmallStr,
    values: Series,
}

impl ColumnFilterPredicate {
    /// Rows whose `column` equals one of `values`.
    pub fn new<T>(column: impl Into<PlSmallStr>, values: Vec<T>) -> Self
    where
        Series: NamedFrom<Vec<T>, [T]>,
    {
        Self::from_series(column, Series::new(PlSmallStr::EMPTY, values))
    }

    /// Rows whose `column` equals one of the values of `values`.
    pub fn from_series(column: impl Into<PlSmallStr>, values: Series) -> Self {
        Self {
            column: column.into(),
            values,
        }
    }

    fn to_expr(&self) -> Expr {
        col(self.column.clone()).is_in(lit(self.values.clone()).implode(false), false)
    }

    pub(crate) fn outcomes(&self, stats: &RowGroupStats) -> Outcomes {
        let c = stats.column(&self.column);
        let n = stats.num_rows();
        let mut out = Outcomes::ALWAYS_FALSE;
        for v in self.values.iter() {
            let v = Scalar::new(self.values.dtype().clone(), v.into_static());
            if v.is_null() {
                continue;
            }
            out = out.or(comparison_outcomes(c, n, CmpOp::Eq, &v));
        }
        // Whether `is_in` answers null or false on a null row is Polars' business; either
        // way `NOT is_in` must not skip a row group that may hold nulls.
        if c.is_none_or(|s| s.null_count != Some(0)) {
            out.can_be_false = true;
        }
        out
    }
}

impl PredicatePushdown for ColumnFilterPredicate {
    expr_predicate_impl!();
    fn columns(&self) -> Option<Vec<PlSmallStr>> {
        Some(vec![self.column.clone()])
    }
}

/// `column` is null (or, with [`NullPredicate::is_not_null`], is not).
#[derive(Debug, Clone)]
pub struct NullPredicate {
    column: PlSmallStr,
    is_null: bool,
}

impl NullPredicate {
    /// Rows where `column` is null.
    pub fn is_null(column: impl Into<PlSmallStr>) -> Self {
        Self {
            column: column.into(),
            is_null: true,
        }
    }

    /// Rows where `column` is not null.
    pub fn is_not_null(column: impl Into<PlSmallStr>) -> Self {
        Self {
            column: column.into(),
            is_null: false,
        }
    }

    fn to_expr(&self) -> Expr {
        let c = col(self.column.clone());
        if self.is_null {
            c.is_null()
        } else {
            c.is_not_null()
        }
    }

    pub(crate) fn outcomes(&self, stats: &RowGroupStats) -> Outcomes {
        let n = stats.num_rows() as u64;
        let nulls = stats.column(&self.column).and_then(|s| s.null_count);
        let some_null = nulls.is_none_or(|c| c > 0);
        let some_valid = nulls.is_none_or(|c| c < n);
        Outcomes {
            can_be_true: if self.is_null { some_null } else { some_valid },
            can_be_false: if self.is_null { some_valid } else { some_null },
        }
    }
}

impl PredicatePushdown for NullPredicate {
    expr_predicate_impl!();
    fn columns(&self) -> Option<Vec<PlSmallStr>> {
        Some(vec![self.column.clone()])
    }
}
