//! `ExprPredicate`: any boolean Polars expression as a [`PredicatePushdown`]. The parts of the
//! expression the pruner understands decide which row groups are skipped; the whole expression,
//! evaluated by Polars, decides which rows are kept. This is what the lazy source receives from
//! the optimizer's predicate pushdown.
//!
//! Understood (on a plain column against literals, the literal on either side, casts of literals
//! folded): `= != < <= > >=`, `is_between`, `is_in` with a literal list, `is_null`,
//! `is_not_null`, `is_nan`, `is_not_nan`, `str.starts_with`, and `and`, `or`, `not` of those.
//! Anything else is "unknown": it may be true and may be false in every row group, which never
//! prunes on its own (an `and` with a known part still prunes on that part).

use std::sync::Arc;

use polars::prelude::*;

use crate::file::statistics::{ColumnStats, RowGroupStats};
use crate::prune::column::{ColumnFilterPredicate, NullPredicate};
use crate::prune::predicate::{comparison_outcomes, CmpOp, Outcomes, PredicatePushdown};

/// A Polars expression as a row filter that prunes with what its statistics can tell.
///
/// ```
/// use polars::prelude::*;
/// use polars_streaming_adaptive::ExprPredicate;
///
/// let p = ExprPredicate::new(col("price").gt(lit(100.0)).and(col("symbol").str().starts_with(lit("A"))));
/// assert!(p.prunes());
/// ```
#[derive(Debug, Clone)]
pub struct ExprPredicate {
    expr: Expr,
    prune: Arc<Prune>,
    columns: Vec<PlSmallStr>,
    bloom_filters: bool,
    page_index: bool,
}

impl ExprPredicate {
    /// Keeps the rows where `expr` is true (null counts as not true, as in `filter`).
    pub fn new(expr: Expr) -> Self {
        let prune = Arc::new(Prune::from_expr(&expr));
        let mut columns: Vec<PlSmallStr> = Vec::new();
        for c in polars_plan::utils::expr_to_leaf_column_names(&expr) {
            if !columns.contains(&c) {
                columns.push(c);
            }
        }
        Self {
            expr,
            prune,
            columns,
            bloom_filters: true,
            page_index: true,
        }
    }

    /// With `false`, statistics are never used: no row group is skipped.
    pub fn with_statistics(mut self, use_statistics: bool) -> Self {
        if !use_statistics {
            self.prune = Arc::new(Prune::Unknown);
        }
        self
    }

    /// With `false`, bloom filters are never probed.
    pub fn with_bloom_filters(mut self, use_bloom_filters: bool) -> Self {
        self.bloom_filters = use_bloom_filters;
        self
    }

    /// With `false`, the page index is never read: every page of a row group is read.
    pub fn with_page_index(mut self, use_page_index: bool) -> Self {
        self.page_index = use_page_index;
        self
    }

    /// Whether any part of the expression can skip row groups.
    pub fn prunes(&self) -> bool {
        self.prune.prunes()
    }

    /// The forms the pruner recognised, e.g. `["cmp", "is_in"]`, in expression order (for
    /// reports and tests).
    pub fn pruning_forms(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        self.prune.forms(&mut out);
        out
    }
}

impl PredicatePushdown for ExprPredicate {
    fn should_skip_row_group(&self, stats: &RowGroupStats) -> bool {
        !self.prune.outcomes(stats).can_be_true
    }
    fn should_skip_row_group_negated(&self, stats: &RowGroupStats) -> bool {
        !self.prune.outcomes(stats).can_be_false
    }
    fn apply(&self, df: DataFrame) -> PolarsResult<DataFrame> {
        df.lazy().filter(self.expr.clone()).collect()
    }
    fn expr(&self) -> Option<Expr> {
        Some(self.expr.clone())
    }
    /// Not with statistics switched off (`with_statistics(false)`).
    fn use_file_indexes(&self) -> bool {
        self.prunes()
    }
    fn use_bloom_filters(&self) -> bool {
        self.prunes() && self.bloom_filters
    }
    fn use_page_index(&self) -> bool {
        self.prunes() && self.page_index
    }
    fn columns(&self) -> Option<Vec<PlSmallStr>> {
        Some(self.columns.clone())
    }
}

/// What the pruner understood of an expression.
#[derive(Debug, Clone)]
enum Prune {
    Cmp {
        column: PlSmallStr,
        op: CmpOp,
        value: Scalar,
    },
    In(ColumnFilterPredicate),
    Null(NullPredicate),
    Nan {
        column: PlSmallStr,
        is_nan: bool,
    },
    StartsWith {
        column: PlSmallStr,
        prefix: String,
    },
    And(Vec<Prune>),
    Or(Vec<Prune>),
    Not(Box<Prune>),
    Unknown,
}

impl Prune {
    fn from_expr(e: &Expr) -> Prune {
        Self::convert(e).unwrap_or(Prune::Unknown)
    }

    fn convert(e: &Expr) -> Option<Prune> {
        match e {
            Expr::BinaryExpr { left, op, right } => match op {
                Operator::And | Operator::LogicalAnd => Some(Prune::And(vec![
                    Self::from_expr(left),
                    Self::from_expr(right),
                ])),
                Operator::Or | Operator::LogicalOr => Some(Prune::Or(vec![
                    Self::from_expr(left),
                    Self::from_expr(right),
                ])),
                _ => {
                    let op = cmp_op(*op)?;
                    if let (Some(column), Some(value)) = (column_of(left), scalar_of(right)) {
                        Some(Prune::Cmp { column, op, value })
                    } else {
                        let (value, column) = (scalar_of(left)?, column_of(right)?);
                        Some(Prune::Cmp {
                            column,
                            op: flipped(op),
                            value,
                        })
                    }
                }
            },
            Expr::Function { input, function } => Self::convert_function(input, function),
            _ => None,
        }
    }

    fn convert_function(input: &[Expr], function: &FunctionExpr) -> Option<Prune> {
        let column = || column_of(input.first()?);
        match function {
            FunctionExpr::Boolean(b) => match b {
                BooleanFunction::Not => Some(Prune::Not(Box::new(Self::from_expr(input.first()?)))),
                BooleanFunction::IsNull => Some(Prune::Null(NullPredicate::is_null(column()?))),
                BooleanFunction::IsNotNull => {
                    Some(Prune::Null(NullPredicate::is_not_null(column()?)))
                }
                BooleanFunction::IsNan | BooleanFunction::IsNotNan => Some(Prune::Nan {
                    column: column()?,
                    is_nan: matches!(b, BooleanFunction::IsNan),
                }),
                BooleanFunction::IsBetween { closed } => {
                    let (column, lower, upper) = (
                        column()?,
                        scalar_of(input.get(1)?)?,
                        scalar_of(input.get(2)?)?,
                    );
                    let (lo, hi) = match closed {
                        ClosedInterval::Both => (CmpOp::GtEq, CmpOp::LtEq),
                        ClosedInterval::Left => (CmpOp::GtEq, CmpOp::Lt),
                        ClosedInterval::Right => (CmpOp::Gt, CmpOp::LtEq),
                        ClosedInterval::None => (CmpOp::Gt, CmpOp::Lt),
                    };
                    Some(Prune::And(vec![
                        Prune::Cmp {
                            column: column.clone(),
                            op: lo,
                            value: lower,
                        },
                        Prune::Cmp {
                            column,
                            op: hi,
                            value: upper,
                        },
                    ]))
                }
                BooleanFunction::IsIn { nulls_equal } => {
                    let values = list_of(input.get(1)?)?;
                    // With `nulls_equal`, a null in the list matches null rows, which the
                    // value-by-value bounds check does not see.
                    if *nulls_equal && values.null_count() > 0 {
                        return None;
                    }
                    Some(Prune::In(ColumnFilterPredicate::from_series(
                        column()?,
                        values,
                    )))
                }
                _ => None,
            },
            FunctionExpr::StringExpr(StringFunction::StartsWith) => {
                let prefix = scalar_of(input.get(1)?)?;
                let prefix = prefix.value().extract_str()?.to_string();
                Some(Prune::StartsWith {
                    column: column()?,
                    prefix,
                })
            }
            _ => None,
        }
    }

    fn outcomes(&self, stats: &RowGroupStats) -> Outcomes {
        let n = stats.num_rows();
        match self {
            Prune::Cmp { column, op, value } => {
                comparison_outcomes(stats.column(column), n, *op, value)
            }
            Prune::In(p) => p.outcomes(stats),
            Prune::Null(p) => p.outcomes(stats),
            Prune::Nan { column, is_nan } => nan_outcomes(stats.column(column), n, *is_nan),
            Prune::StartsWith { column, prefix } => {
                starts_with_outcomes(stats.column(column), n, prefix)
            }
            Prune::And(ps) => ps
                .iter()
                .fold(Outcomes::ALWAYS_TRUE, |acc, p| acc.and(p.outcomes(stats))),
            Prune::Or(ps) => ps
                .iter()
                .fold(Outcomes::ALWAYS_FALSE, |acc, p| acc.or(p.outcomes(stats))),
            Prune::Not(p) => {
                let o = p.outcomes(stats);
                Outcomes {
                    can_be_true: o.can_be_false,
                    can_be_false: o.can_be_true,
                }
            }
            Prune::Unknown => Outcomes::UNKNOWN,
        }
    }

    fn prunes(&self) -> bool {
        match self {
            Prune::Unknown => false,
            Prune::And(ps) => ps.iter().any(Prune::prunes),
            Prune::Or(ps) => ps.iter().all(Prune::prunes),
            Prune::Not(p) => p.prunes(),
            _ => true,
        }
    }

    fn forms(&self, out: &mut Vec<&'static str>) {
        match self {
            Prune::Cmp { .. } => out.push("cmp"),
            Prune::In(_) => out.push("is_in"),
            Prune::Null(_) => out.push("is_null"),
            Prune::Nan { .. } => out.push("is_nan"),
            Prune::StartsWith { .. } => out.push("starts_with"),
            Prune::And(ps) | Prune::Or(ps) => ps.iter().for_each(|p| p.forms(out)),
            Prune::Not(p) => p.forms(out),
            Prune::Unknown => out.push("unknown"),
        }
    }
}

fn cmp_op(op: Operator) -> Option<CmpOp> {
    Some(match op {
        Operator::Eq => CmpOp::Eq,
        Operator::NotEq => CmpOp::NotEq,
        Operator::Lt => CmpOp::Lt,
        Operator::LtEq => CmpOp::LtEq,
        Operator::Gt => CmpOp::Gt,
        Operator::GtEq => CmpOp::GtEq,
        _ => return None,
    })
}

/// `a op b` as `b flipped(op) a`.
fn flipped(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::LtEq => CmpOp::GtEq,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::GtEq => CmpOp::LtEq,
        eq_or_ne => eq_or_ne,
    }
}

/// The column a plain column reference names. A cast column is not plain: its values are not
/// the ones the statistics describe.
pub(crate) fn column_of(e: &Expr) -> Option<PlSmallStr> {
    match e {
        Expr::Column(name) => Some(name.clone()),
        _ => None,
    }
}

/// A scalar literal, with a literal cast applied (strictly: a failing cast is not understood).
pub(crate) fn scalar_of(e: &Expr) -> Option<Scalar> {
    match e {
        Expr::Literal(lv) if lv.is_scalar() => {
            let av = lv.clone().materialize().to_any_value()?.into_static();
            Some(Scalar::new(av.dtype(), av))
        }
        Expr::Cast {
            expr,
            dtype: DataTypeExpr::Literal(dtype),
            ..
        } => {
            let value = scalar_of(expr)?;
            let s = value
                .into_series(PlSmallStr::EMPTY)
                .strict_cast(dtype)
                .ok()?;
            Some(Scalar::new(dtype.clone(), s.get(0).ok()?.into_static()))
        }
        Expr::Alias(inner, _) => scalar_of(inner),
        _ => None,
    }
}

/// The values of a literal list (`lit(series).implode()` or a list scalar).
pub(crate) fn list_of(e: &Expr) -> Option<Series> {
    match e {
        Expr::Literal(LiteralValue::Series(s)) => Some((**s).clone()),
        Expr::Literal(LiteralValue::Scalar(sc)) => match sc.value() {
            AnyValue::List(s) => Some(s.clone()),
            _ => None,
        },
        Expr::Agg(AggExpr::Implode { input, .. }) => list_of(input),
        // The optimizer names folded literals: `[17, 9999].alias("")`.
        Expr::Alias(inner, _) => list_of(inner),
        _ => None,
    }
}

/// `is_nan` (or `is_not_nan`): null rows give null, so they are neither.
fn nan_outcomes(stats: Option<&ColumnStats>, num_rows: usize, is_nan: bool) -> Outcomes {
    let Some(s) = stats.filter(|s| s.dtype.is_float()) else {
        return Outcomes::UNKNOWN;
    };
    let non_null = s.null_count.map(|c| (num_rows as u64).saturating_sub(c));
    let some_nan = s.may_contain_nan() && non_null != Some(0);
    let all_nan = matches!((s.nan_count, non_null), (Some(nan), Some(nn)) if nan == nn);
    let some_other = non_null != Some(0) && !all_nan;
    Outcomes {
        can_be_true: if is_nan { some_nan } else { some_other },
        can_be_false: if is_nan { some_other } else { some_nan },
    }
}

/// `str.starts_with(prefix)`. Strings with a given prefix form one contiguous run in byte order,
/// so the bounds (exact or truncated, they are still bounds) tell whether the run can overlap
/// the row group and whether every value lies inside it.
fn starts_with_outcomes(stats: Option<&ColumnStats>, num_rows: usize, prefix: &str) -> Outcomes {
    let Some(s) = stats.filter(|s| s.dtype == DataType::String) else {
        return Outcomes::UNKNOWN;
    };
    if s.null_count == Some(num_rows as u64) {
        return Outcomes::NEITHER;
    }
    let bound = |b: &Option<Scalar>| {
        b.as_ref()
            .and_then(|v| v.value().extract_str().map(String::from))
    };
    let (Some(min), Some(max)) = (bound(&s.min), bound(&s.max)) else {
        return Outcomes::UNKNOWN;
    };
    let below = max.as_str() < prefix;
    let above = min.as_str() > prefix && !min.starts_with(prefix);
    Outcomes {
        can_be_true: !below && !above,
        can_be_false: !(min.starts_with(prefix) && max.starts_with(prefix)),
    }
}
