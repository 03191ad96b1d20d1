//! What a difftest case is: a dataset and a query, both plain data (serialisable, so a
//! shrunk failure can be saved and replayed), and the proptest strategies that generate them.
//!
//! Values are stored as raw integers and mapped to each column's dtype when the files are
//! written, so shrinking a value towards 0 shrinks it in every dtype.

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// Column dtypes the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    Bool,
    Str,
    Bin,
    Date,
    DatetimeMs,
    DatetimeUs,
    DatetimeNsUtc,
    DurationUs,
    Decimal,
}

pub const KINDS: [Kind; 19] = [
    Kind::I8,
    Kind::I16,
    Kind::I32,
    Kind::I64,
    Kind::U8,
    Kind::U16,
    Kind::U32,
    Kind::U64,
    Kind::F32,
    Kind::F64,
    Kind::Bool,
    Kind::Str,
    Kind::Bin,
    Kind::Date,
    Kind::DatetimeMs,
    Kind::DatetimeUs,
    Kind::DatetimeNsUtc,
    Kind::DurationUs,
    Kind::Decimal,
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnSpec {
    pub kind: Kind,
    pub values: Vec<Option<i64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Writer {
    /// Polars' own writer.
    Polars,
    /// The `parquet` crate's ArrowWriter, with page indexes and bloom filters.
    ArrowRs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Codec {
    Uncompressed,
    Snappy,
    Zstd,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetSpec {
    pub columns: Vec<ColumnSpec>,
    pub row_group_size: usize,
    pub statistics: bool,
    pub codec: Codec,
    pub dictionary: bool,
    pub small_pages: bool,
    pub files: usize,
    pub writer: Writer,
    /// The arrow-rs writer cuts string and binary statistics to 2 bytes (flagged inexact);
    /// absent in cases saved before it existed.
    #[serde(default)]
    pub truncated_statistics: bool,
    /// Polars-written footers name a writer nobody knows and give the extremes of each
    /// fixed-width type as bounds (`build::plant_lies`); absent in cases saved before it
    /// existed.
    #[serde(default)]
    pub planted_lies: bool,
}

impl DatasetSpec {
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.values.len())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

/// Filter predicates: every form the pruner understands, and some it does not.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Pred {
    Cmp {
        col: usize,
        op: Cmp,
        value: i64,
        literal_left: bool,
    },
    Between {
        col: usize,
        lo: i64,
        hi: i64,
    },
    IsIn {
        col: usize,
        values: Vec<i64>,
    },
    IsNull {
        col: usize,
        negated: bool,
    },
    IsNan {
        col: usize,
        negated: bool,
    },
    StartsWith {
        col: usize,
        prefix: i64,
    },
    /// `col * 2 > value` (casts to f64): arithmetic the pruner cannot use.
    Arithmetic {
        col: usize,
        value: i64,
    },
    /// `str.len_bytes() > value`: a string function the pruner cannot use.
    StrLen {
        col: usize,
        value: i64,
    },
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
    Not(Box<Pred>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Agg {
    Sum,
    Min,
    Max,
    Mean,
    Count,
    Len,
    First,
    Last,
    NUnique,
    NullCount,
}

/// What comes after the filters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Tail {
    None,
    Head(usize),
    Slice(usize, usize),
    GroupBy {
        keys: Vec<usize>,
        aggs: Vec<(Agg, usize)>,
    },
    SortHead {
        by: usize,
        descending: bool,
        n: usize,
    },
    /// `top_k(n, by)` (`largest`) or `bottom_k(n, by)`, ties broken by every other column:
    /// a sort without `maintain_order` whose answer is still one set of rows.
    TopK {
        by: usize,
        largest: bool,
        n: usize,
    },
    /// `min`, `max` and `count` of every column and `len()`: a global `select` footer
    /// statistics may answer, straight over the scan (the query's filters, derived column and
    /// projection are dropped).
    Summary,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuerySpec {
    pub filters: Vec<Pred>,
    /// `with_columns(col * 2 as "derived")` on this column.
    pub derive: Option<usize>,
    /// Columns kept, by index (before the tail).
    pub project: Option<Vec<usize>>,
    pub tail: Tail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    pub data: DatasetSpec,
    pub query: QuerySpec,
}

fn raw() -> impl Strategy<Value = i64> {
    prop_oneof![4 => -20i64..20, 1 => any::<i64>(), 1 => -100_000i64..100_000]
}

/// A column of 120 values; the dataset keeps its first `rows`. The row count is a plain
/// integer of the dataset, so shrinking halves it directly (a length chosen first and shared
/// through `prop_flat_map` does not shrink well).
fn column() -> impl Strategy<Value = ColumnSpec> {
    let kind = prop::sample::select(KINDS.to_vec());
    // Null densities 0, 10, 50 and 100 %.
    let null_pct = prop::sample::select(vec![0u32, 10, 50, 100]);
    let order = 0..3u8;
    let values = prop::collection::vec((0u32..100, raw()), MAX_ROWS);
    (kind, null_pct, order, values).prop_map(|(kind, null_pct, order, raw_values)| {
        let mut values: Vec<Option<i64>> = raw_values
            .into_iter()
            .map(|(r, v)| (r >= null_pct).then_some(v))
            .collect();
        // Value orders: sorted, clustered (sorted in runs of 16), random.
        match order {
            0 => values.sort(),
            1 => values.chunks_mut(16).for_each(|c| c.sort()),
            _ => {}
        }
        ColumnSpec { kind, values }
    })
}

const MAX_ROWS: usize = 120;

fn dataset() -> impl Strategy<Value = DatasetSpec> {
    // `rows` last: proptest shrinks a tuple's fields in order, so the row count is shrunk
    // once the values and the layout are as simple as they get.
    (
        prop::collection::vec(column(), 1..5),
        prop::sample::select(vec![1usize, 2, 7, 50, 100_000]),
        any::<bool>(),
        prop::sample::select(vec![Codec::Uncompressed, Codec::Snappy, Codec::Zstd]),
        any::<bool>(),
        any::<bool>(),
        1usize..5,
        prop::sample::select(vec![Writer::Polars, Writer::ArrowRs]),
        any::<bool>(),
        0..=MAX_ROWS,
    )
        .prop_map(
            |(
                mut columns,
                row_group_size,
                statistics,
                codec,
                dictionary,
                small_pages,
                files,
                writer,
                cut_or_lie,
                rows,
            )| {
                // One draw for both, so adding planted lies left every other field's draws as
                // they were (the planted-bug tests' cases among them): arrow-rs files have
                // their string statistics cut, Polars' (whose writer cuts none) get lies.
                let (truncated_statistics, planted_lies) = match writer {
                    Writer::ArrowRs => (cut_or_lie, false),
                    Writer::Polars => (false, cut_or_lie),
                };
                columns.iter_mut().for_each(|c| c.values.truncate(rows));
                DatasetSpec {
                    columns,
                    row_group_size,
                    statistics,
                    codec,
                    dictionary,
                    small_pages,
                    files,
                    writer,
                    truncated_statistics,
                    planted_lies,
                }
            },
        )
}

fn pred() -> impl Strategy<Value = Pred> {
    let col = 0usize..4;
    let op = prop::sample::select(vec![
        Cmp::Eq,
        Cmp::NotEq,
        Cmp::Lt,
        Cmp::LtEq,
        Cmp::Gt,
        Cmp::GtEq,
    ]);
    let leaf = prop_oneof![
        4 => (col.clone(), op, raw(), any::<bool>()).prop_map(|(col, op, value, literal_left)| Pred::Cmp { col, op, value, literal_left }),
        1 => (col.clone(), raw(), raw()).prop_map(|(col, lo, hi)| Pred::Between { col, lo, hi }),
        1 => (col.clone(), prop::collection::vec(raw(), 0..4)).prop_map(|(col, values)| Pred::IsIn { col, values }),
        1 => (col.clone(), any::<bool>()).prop_map(|(col, negated)| Pred::IsNull { col, negated }),
        1 => (col.clone(), any::<bool>()).prop_map(|(col, negated)| Pred::IsNan { col, negated }),
        1 => (col.clone(), raw()).prop_map(|(col, prefix)| Pred::StartsWith { col, prefix }),
        1 => (col.clone(), raw()).prop_map(|(col, value)| Pred::Arithmetic { col, value }),
        1 => (col, raw()).prop_map(|(col, value)| Pred::StrLen { col, value }),
    ];
    leaf.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Pred::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Pred::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Pred::Not(Box::new(a))),
        ]
    })
}

fn tail() -> impl Strategy<Value = Tail> {
    let agg = prop::sample::select(vec![
        Agg::Sum,
        Agg::Min,
        Agg::Max,
        Agg::Mean,
        Agg::Count,
        Agg::Len,
        Agg::First,
        Agg::Last,
        Agg::NUnique,
        Agg::NullCount,
    ]);
    prop_oneof![
        3 => Just(Tail::None),
        1 => (0usize..60).prop_map(Tail::Head),
        1 => (0usize..60, 0usize..40).prop_map(|(o, n)| Tail::Slice(o, n)),
        2 => (prop::collection::vec(0usize..4, 0..3), prop::collection::vec((agg, 0usize..4), 1..4))
            .prop_map(|(keys, aggs)| Tail::GroupBy { keys, aggs }),
        1 => (0usize..4, any::<bool>(), 0usize..30).prop_map(|(by, descending, n)| Tail::SortHead { by, descending, n }),
        1 => (0usize..4, any::<bool>(), 0usize..30).prop_map(|(by, largest, n)| Tail::TopK { by, largest, n }),
        2 => Just(Tail::Summary),
    ]
}

fn query() -> impl Strategy<Value = QuerySpec> {
    (
        prop::collection::vec(pred(), 0..3),
        prop::option::weighted(0.2, 0usize..4),
        prop::option::weighted(0.3, prop::collection::vec(0usize..4, 1..4)),
        tail(),
    )
        .prop_map(|(filters, derive, project, tail)| match tail {
            Tail::Summary => QuerySpec {
                filters: Vec::new(),
                derive: None,
                project: None,
                tail,
            },
            _ => QuerySpec {
                filters,
                derive,
                project,
                tail,
            },
        })
}

/// The query first: it shrinks before the dataset, whose row count shrinks last.
pub fn case() -> impl Strategy<Value = Case> {
    (query(), dataset()).prop_map(|(query, data)| Case { data, query })
}
