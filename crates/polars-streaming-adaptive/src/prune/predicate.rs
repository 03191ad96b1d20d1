//! Row filters that also decide, from footer statistics, which row groups cannot hold a row
//! they keep: `PredicatePushdown`, comparison semantics, and the literals predicates take. The
//! built-in predicates are in `column` (one column) and `combine` (and, or, not).
//!
//! Pruning follows Polars' three-valued logic: a row is kept when the predicate is *true*; null
//! is neither true nor false. Each predicate therefore answers two questions per row group, "can
//! any row be true?" (else skip it) and "can any row be false?" (what `NOT` needs), and answers
//! "yes" whenever it does not know. Comparisons between statistics and literals are made by
//! Polars itself, so casts and orderings (NaN, strings, mixed integer widths) are Polars'.

use std::fmt::Debug;
use std::sync::Arc;

use polars::prelude::*;

use crate::file::statistics::{ColumnStats, RowGroupStats};

/// A row filter that can skip row groups from their statistics.
///
/// Implementations must be sound: `should_skip_row_group` may return `true` only when no row of
/// the row group makes the predicate true. Returning `false` is always allowed.
pub trait PredicatePushdown: Send + Sync + Debug {
    /// Whether no row of the row group can pass this predicate.
    fn should_skip_row_group(&self, stats: &RowGroupStats) -> bool;

    /// Keeps the rows of `df` for which the predicate is true.
    fn apply(&self, df: DataFrame) -> PolarsResult<DataFrame>;

    /// Whether no row of the row group can make this predicate *false*; what
    /// [`NotPredicate`] skips on. The default, `false`, never skips.
    fn should_skip_row_group_negated(&self, _stats: &RowGroupStats) -> bool {
        false
    }

    /// The predicate as a Polars expression, when it has one; [`OrPredicate`] and
    /// [`NotPredicate`] need it from their children. Readers evaluate it instead of `apply`
    /// when it is given together with [`columns`](Self::columns): they decode those columns
    /// first and the others only for the rows it keeps. It must keep exactly the rows `apply`
    /// keeps.
    fn expr(&self) -> Option<Expr> {
        None
    }

    /// The columns `apply` reads; `None` means it may read any column.
    fn columns(&self) -> Option<Vec<PlSmallStr>> {
        None
    }

    /// Whether readers may also skip row groups whose bloom filters rule out every value an
    /// equality of [`expr`](Self::expr) needs (`col = literal`, `col.is_in(literals)` in its
    /// top-level conjunction). Default: whenever `expr` is given.
    fn use_file_indexes(&self) -> bool {
        self.expr().is_some()
    }

    /// Whether readers may skip row groups by bloom filters (see `use_file_indexes`).
    fn use_bloom_filters(&self) -> bool {
        self.use_file_indexes()
    }

    /// Whether readers may skip pages by the page index: pages whose statistics rule out
    /// the predicate of one column are read in no column. Default: `use_file_indexes`.
    fn use_page_index(&self) -> bool {
        self.use_file_indexes()
    }
}

/// A shared predicate is a predicate, so one tree can serve several readers.
impl<P: PredicatePushdown + ?Sized> PredicatePushdown for Arc<P> {
    fn should_skip_row_group(&self, stats: &RowGroupStats) -> bool {
        (**self).should_skip_row_group(stats)
    }
    fn apply(&self, df: DataFrame) -> PolarsResult<DataFrame> {
        (**self).apply(df)
    }
    fn should_skip_row_group_negated(&self, stats: &RowGroupStats) -> bool {
        (**self).should_skip_row_group_negated(stats)
    }
    fn expr(&self) -> Option<Expr> {
        (**self).expr()
    }
    fn columns(&self) -> Option<Vec<PlSmallStr>> {
        (**self).columns()
    }
    fn use_file_indexes(&self) -> bool {
        (**self).use_file_indexes()
    }
    fn use_bloom_filters(&self) -> bool {
        (**self).use_bloom_filters()
    }
    fn use_page_index(&self) -> bool {
        (**self).use_page_index()
    }
}

/// Comparison operators of [`ComparisonPredicate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl CmpOp {
    /// Every operator.
    pub const ALL: [CmpOp; 6] = [
        CmpOp::Eq,
        CmpOp::NotEq,
        CmpOp::Lt,
        CmpOp::LtEq,
        CmpOp::Gt,
        CmpOp::GtEq,
    ];

    pub(crate) fn expr(self, lhs: Expr, rhs: Expr) -> Expr {
        match self {
            CmpOp::Eq => lhs.eq(rhs),
            CmpOp::NotEq => lhs.neq(rhs),
            CmpOp::Lt => lhs.lt(rhs),
            CmpOp::LtEq => lhs.lt_eq(rhs),
            CmpOp::Gt => lhs.gt(rhs),
            CmpOp::GtEq => lhs.gt_eq(rhs),
        }
    }
}

/// What the rows of a row group can make a predicate evaluate to (nulls aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcomes {
    pub can_be_true: bool,
    pub can_be_false: bool,
}

impl Outcomes {
    pub const UNKNOWN: Self = Self {
        can_be_true: true,
        can_be_false: true,
    };
    pub const NEITHER: Self = Self {
        can_be_true: false,
        can_be_false: false,
    };
    /// The identity of `and`.
    pub const ALWAYS_TRUE: Self = Self {
        can_be_true: true,
        can_be_false: false,
    };
    /// The identity of `or`.
    pub const ALWAYS_FALSE: Self = Self {
        can_be_true: false,
        can_be_false: true,
    };

    pub fn and(self, other: Self) -> Self {
        Self {
            can_be_true: self.can_be_true && other.can_be_true,
            can_be_false: self.can_be_false || other.can_be_false,
        }
    }

    pub fn or(self, other: Self) -> Self {
        Self {
            can_be_true: self.can_be_true || other.can_be_true,
            can_be_false: self.can_be_false && other.can_be_false,
        }
    }
}

/// `a op b` under Polars' comparison rules; `None` when Polars cannot tell (or refuses).
pub(crate) fn compare(a: &Scalar, op: CmpOp, b: &Scalar) -> Option<bool> {
    if let Some(order) = integer_order(a, b) {
        return Some(match op {
            CmpOp::Eq => order.is_eq(),
            CmpOp::NotEq => order.is_ne(),
            CmpOp::Lt => order.is_lt(),
            CmpOp::LtEq => order.is_le(),
            CmpOp::Gt => order.is_gt(),
            CmpOp::GtEq => order.is_ge(),
        });
    }
    compare_as_series(a, op, b)
}

/// `a op b` evaluated by Polars on two one-value Series.
fn compare_as_series(a: &Scalar, op: CmpOp, b: &Scalar) -> Option<bool> {
    let l = a.clone().into_series(PlSmallStr::EMPTY);
    let r = b.clone().into_series(PlSmallStr::EMPTY);
    let out = match op {
        CmpOp::Eq => l.equal(&r),
        CmpOp::NotEq => l.not_equal(&r),
        CmpOp::Lt => l.lt(&r),
        CmpOp::LtEq => l.lt_eq(&r),
        CmpOp::Gt => l.gt(&r),
        CmpOp::GtEq => l.gt_eq(&r),
    };
    out.ok()?.get(0)
}

/// The order of two non-null values of one integer or temporal dtype: the order of the
/// integers they are, which is what comparing them as Series gives. Without building two
/// Series: the pruner compares a few times per row group and per page, and that was a third of
/// the producer's time in P2.
fn integer_order(a: &Scalar, b: &Scalar) -> Option<std::cmp::Ordering> {
    let dtype = a.dtype();
    if dtype != b.dtype() || !(dtype.is_integer() || dtype.is_temporal()) {
        return None;
    }
    let (x, y) = (a.value().extract::<i128>()?, b.value().extract::<i128>()?);
    Some(x.cmp(&y))
}

/// What `column op value` can evaluate to over a chunk with statistics `stats`.
pub(crate) fn comparison_outcomes(
    stats: Option<&ColumnStats>,
    num_rows: usize,
    op: CmpOp,
    value: &Scalar,
) -> Outcomes {
    let Some(s) = stats else {
        return Outcomes::UNKNOWN;
    };
    if s.null_count == Some(num_rows as u64) {
        // Every comparison with null is null: no row is true or false.
        return Outcomes::NEITHER;
    }
    if value.is_null() {
        return Outcomes::UNKNOWN;
    }
    let (Some(min), Some(max)) = (&s.min, &s.max) else {
        return Outcomes::UNKNOWN;
    };
    // Unknown comparisons count as possible.
    let maybe = |a: &Scalar, op, b: &Scalar| compare(a, op, b).unwrap_or(true);
    let single = s.min_is_exact
        && s.max_is_exact
        && compare(min, CmpOp::Eq, value) == Some(true)
        && compare(max, CmpOp::Eq, value) == Some(true);
    let within = maybe(min, CmpOp::LtEq, value) && maybe(value, CmpOp::LtEq, max);
    let mut out = match op {
        CmpOp::Eq => Outcomes {
            can_be_true: within,
            can_be_false: !single,
        },
        CmpOp::NotEq => Outcomes {
            can_be_true: !single,
            can_be_false: within,
        },
        CmpOp::Lt => Outcomes {
            can_be_true: maybe(min, CmpOp::Lt, value),
            can_be_false: maybe(max, CmpOp::GtEq, value),
        },
        CmpOp::LtEq => Outcomes {
            can_be_true: maybe(min, CmpOp::LtEq, value),
            can_be_false: maybe(max, CmpOp::Gt, value),
        },
        CmpOp::Gt => Outcomes {
            can_be_true: maybe(max, CmpOp::Gt, value),
            can_be_false: maybe(min, CmpOp::LtEq, value),
        },
        CmpOp::GtEq => Outcomes {
            can_be_true: maybe(max, CmpOp::GtEq, value),
            can_be_false: maybe(min, CmpOp::Lt, value),
        },
    };
    if s.may_contain_nan() {
        // NaN sits outside [min, max]; ask Polars what NaN compares to.
        let nan = match s.dtype {
            DataType::Float32 => Scalar::new(DataType::Float32, AnyValue::Float32(f32::NAN)),
            _ => Scalar::new(DataType::Float64, AnyValue::Float64(f64::NAN)),
        };
        match compare(&nan, op, value) {
            Some(true) => out.can_be_true = true,
            Some(false) => out.can_be_false = true,
            None => out = Outcomes::UNKNOWN,
        }
    }
    out
}

/// Keeps the rows of `df` for which `predicate` is true.
pub(crate) fn filter_by(df: DataFrame, predicate: Expr) -> PolarsResult<DataFrame> {
    df.lazy().filter(predicate).collect()
}

/// Values a predicate compares with: Rust primitives, strings, dates and Polars scalars.
pub trait IntoLiteral {
    /// The value as a Polars scalar.
    fn into_literal(self) -> Scalar;
}

macro_rules! into_scalar_via_from {
    ($($t:ty),*) => {$(
        impl IntoLiteral for $t {
            fn into_literal(self) -> Scalar {
                Scalar::from(self)
            }
        }
    )*};
}
into_scalar_via_from!(
    bool,
    i8,
    i16,
    i32,
    i64,
    u8,
    u16,
    u32,
    u64,
    f32,
    f64,
    PlSmallStr,
    Vec<u8>
);

impl IntoLiteral for Scalar {
    fn into_literal(self) -> Scalar {
        self
    }
}

impl IntoLiteral for &str {
    fn into_literal(self) -> Scalar {
        Scalar::from(PlSmallStr::from_str(self))
    }
}

impl IntoLiteral for String {
    fn into_literal(self) -> Scalar {
        Scalar::from(PlSmallStr::from_string(self))
    }
}

impl IntoLiteral for AnyValue<'static> {
    fn into_literal(self) -> Scalar {
        Scalar::new(self.dtype(), self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The integer shortcut of `compare` answers as Polars' Series comparison does, for every
    /// integer width and temporal dtype, at the ends of each range; other pairs (mixed dtypes,
    /// nulls, floats) take the Series path.
    #[test]
    fn integer_comparisons_answer_like_polars_series() {
        let signed = [i64::MIN, -1, 0, 1, i64::MAX];
        let mut cases: Vec<(DataType, Vec<AnyValue<'static>>)> = vec![
            (
                DataType::Int8,
                signed
                    .iter()
                    .map(|&v| AnyValue::Int8(v.clamp(-128, 127) as i8))
                    .collect(),
            ),
            (
                DataType::Int16,
                signed
                    .iter()
                    .map(|&v| AnyValue::Int16(v.clamp(-32768, 32767) as i16))
                    .collect(),
            ),
            (
                DataType::Int32,
                signed
                    .iter()
                    .map(|&v| AnyValue::Int32(v.clamp(i32::MIN as i64, i32::MAX as i64) as i32))
                    .collect(),
            ),
            (
                DataType::Int64,
                signed.iter().map(|&v| AnyValue::Int64(v)).collect(),
            ),
            (
                DataType::UInt8,
                vec![
                    AnyValue::UInt8(0),
                    AnyValue::UInt8(1),
                    AnyValue::UInt8(u8::MAX),
                ],
            ),
            (
                DataType::UInt16,
                vec![AnyValue::UInt16(0), AnyValue::UInt16(u16::MAX)],
            ),
            (
                DataType::UInt32,
                vec![
                    AnyValue::UInt32(0),
                    AnyValue::UInt32(7),
                    AnyValue::UInt32(u32::MAX),
                ],
            ),
            (
                DataType::UInt64,
                vec![
                    AnyValue::UInt64(0),
                    AnyValue::UInt64(1 << 63),
                    AnyValue::UInt64(u64::MAX),
                ],
            ),
            (
                DataType::Date,
                vec![
                    AnyValue::Date(i32::MIN),
                    AnyValue::Date(0),
                    AnyValue::Date(19_000),
                ],
            ),
            (
                DataType::Time,
                vec![AnyValue::Time(0), AnyValue::Time(86_399_999_999_999)],
            ),
        ];
        for tu in [
            TimeUnit::Milliseconds,
            TimeUnit::Microseconds,
            TimeUnit::Nanoseconds,
        ] {
            cases.push((
                DataType::Datetime(tu, None),
                signed
                    .iter()
                    .map(|&v| AnyValue::Datetime(v, tu, None))
                    .collect(),
            ));
            cases.push((
                DataType::Duration(tu),
                signed.iter().map(|&v| AnyValue::Duration(v, tu)).collect(),
            ));
        }
        for (dtype, values) in &cases {
            for a in values {
                for b in values {
                    let (a, b) = (
                        Scalar::new(dtype.clone(), a.clone()),
                        Scalar::new(dtype.clone(), b.clone()),
                    );
                    assert!(integer_order(&a, &b).is_some(), "{dtype}");
                    for op in CmpOp::ALL {
                        assert_eq!(
                            compare(&a, op, &b),
                            compare_as_series(&a, op, &b),
                            "{a:?} {op:?} {b:?}"
                        );
                    }
                }
            }
        }
        let int = Scalar::new(DataType::Int64, AnyValue::Int64(1));
        for other in [
            Scalar::new(DataType::Int32, AnyValue::Int32(1)),
            Scalar::null(DataType::Int64),
            Scalar::new(DataType::Float64, AnyValue::Float64(1.0)),
        ] {
            assert!(integer_order(&int, &other).is_none(), "{other:?}");
        }
    }
}
