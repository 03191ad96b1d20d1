//! Global aggregates answered from footer statistics.
//!
//! A plan whose root is a global `select` of `min(col)`, `max(col)`, `len()`, `count(col)` and
//! `null_count(col)` (the counts possibly cast to a 64-bit integer, as SQL's `COUNT` is)
//! straight over a `scan_adaptive` without a predicate or slice needs no row of a row group
//! whose statistics give each of those exactly: the row count, the null count, and a min/max
//! that is a value of the column. Those row groups are answered from the footer; the others
//! are decoded as usual; the two partial answers are combined (min of mins, max of maxes, sum
//! of counts).
//!
//! **Exactness** (docs/decisions.md, "Bounds taken as exact"): a min/max is used when the
//! statistics reader marks it a value (`ColumnStats::min_is_exact`): flagged exact, or an
//! unflagged fixed-width bound from a writer known to write values; it drops untrustworthy
//! ones (unsigned values compared signed, deprecated fields, units the file does not state).
//! A string bound a writer truncated is decoded; so are float bounds that are NaN or zero. A
//! null count is used when exact (`ColumnStats::null_count_is_exact`; a writer's repeated
//! counts are divided by the chunk's pages first); an absent one is unknown: `count` then
//! decodes, and so does a min/max with neither a value nor a null count equal to the row
//! count.

use std::path::PathBuf;
use std::sync::Arc;

use polars::prelude::*;
use polars_adaptive_plan::AdaptiveSource;
use polars_streaming_adaptive::{RowGroupFilter, RowGroupStats};

/// One aggregate of the `select`.
#[derive(Debug, Clone)]
enum Stat {
    Min(PlSmallStr),
    Max(PlSmallStr),
    Len,
    /// Non-null values of a column.
    Count(PlSmallStr),
    /// Nulls of a column.
    NullCount(PlSmallStr),
}

/// The row groups answered from statistics and their per-row-group values.
pub(crate) struct StatsAnswer {
    stats: Vec<Stat>,
    schema: SchemaRef,
    /// One row per answered row group, a column per aggregate.
    answered: DataFrame,
    /// Answered (file, row group) pairs, which the scan leaves out.
    skip: Arc<PlHashSet<(PathBuf, usize)>>,
}

impl StatsAnswer {
    /// The statistics answer for a `select` of `exprs` (output `schema`) over `source`, when
    /// every expression is a supported aggregate of a column of the files and some row group
    /// can be answered; `None` otherwise (the plan then runs as usual).
    pub(crate) fn try_new(
        exprs: &[Expr],
        schema: &SchemaRef,
        source: &AdaptiveSource,
    ) -> Option<Self> {
        if !source.args().use_statistics {
            return None;
        }
        let file_schema = source.file_schema();
        let stats: Vec<Stat> = exprs
            .iter()
            .map(|e| stat_of(e, file_schema))
            .collect::<Option<_>>()?;
        let mut rows: Vec<Vec<AnyValue<'static>>> = vec![Vec::new(); stats.len()];
        let mut skip = PlHashSet::default();
        for path in source.paths() {
            // A file that does not open is left to the scan, which reports it.
            let reader = source.open_reader(path).ok()?;
            for rg in (0..reader.num_row_groups()).filter(|&rg| source.selects(path, rg)) {
                let values: Option<Vec<_>> = stats
                    .iter()
                    .map(|s| value(s, reader.row_group_statistics(rg), file_schema))
                    .collect();
                if let Some(values) = values {
                    for (column, v) in rows.iter_mut().zip(values) {
                        column.push(v);
                    }
                    skip.insert((path.clone(), rg));
                }
            }
        }
        if skip.is_empty() {
            return None;
        }
        let columns = stats
            .iter()
            .zip(rows)
            .zip(schema.iter_names())
            .map(|((s, values), name)| {
                let dtype = partial_dtype(s, file_schema);
                Series::from_any_values_and_dtype(name.clone(), &values, &dtype, true)
                    .map(Column::from)
            })
            .collect::<PolarsResult<Vec<_>>>()
            .ok()?;
        let answered = DataFrame::new(skip.len(), columns).ok()?;
        Some(Self {
            stats,
            schema: schema.clone(),
            answered,
            skip: Arc::new(skip),
        })
    }

    /// Row groups answered from statistics.
    pub(crate) fn row_groups(&self) -> usize {
        self.skip.len()
    }

    /// The row groups the scan still reads.
    pub(crate) fn filter(&self) -> RowGroupFilter {
        let skip = self.skip.clone();
        RowGroupFilter(Arc::new(move |path, rg| {
            !skip.contains(&(path.to_path_buf(), rg))
        }))
    }

    /// The answer: the decoded row groups' answer `decoded` (one row, the `select`'s schema)
    /// combined with the answered ones.
    pub(crate) fn combine(self, decoded: DataFrame) -> PolarsResult<DataFrame> {
        let decoded = decoded.select(self.schema.iter_names().cloned())?;
        let mut both = self.answered;
        let decoded_columns = decoded
            .columns()
            .iter()
            .zip(both.columns())
            .map(|(c, a)| c.cast(a.dtype()))
            .collect::<PolarsResult<Vec<_>>>()?;
        both.vstack_mut_owned(DataFrame::new(decoded.height(), decoded_columns)?)?;
        let exprs: Vec<Expr> = self
            .stats
            .iter()
            .zip(self.schema.iter())
            .map(|(s, (name, dtype))| {
                let c = col(name.clone());
                let e = match s {
                    Stat::Min(_) => c.min(),
                    Stat::Max(_) => c.max(),
                    Stat::Len | Stat::Count(_) | Stat::NullCount(_) => c.sum(),
                };
                e.strict_cast(dtype.clone()).alias(name.clone())
            })
            .collect();
        both.lazy().select(exprs).collect()
    }
}

/// The aggregate `e` computes, if it is one answered from statistics.
fn stat_of(e: &Expr, schema: &Schema) -> Option<Stat> {
    let column = |input: &Expr| match input {
        Expr::Column(name) if schema.contains(name) => Some(name.clone()),
        _ => None,
    };
    // Strings and binary compare byte-wise in Polars and in the format; a bound the writer
    // truncated is not flagged exact and is decoded (`value`). Float bounds leave NaN out, as
    // Polars' `min` and `max` do; a zero bound is never exact (`ColumnStats::min_is_exact`).
    let exact_bounds = |name: &PlSmallStr| {
        let dtype = schema.get(name)?;
        (dtype.is_integer()
            || dtype.is_float()
            || matches!(
                dtype,
                DataType::Date | DataType::Datetime(_, _) | DataType::String | DataType::Binary
            ))
        .then_some(())
    };
    match e {
        Expr::Alias(inner, _) => stat_of(inner, schema),
        // SQL's COUNT is a count cast to Int64 (BIGINT); the answer is cast to the output dtype.
        Expr::Cast { expr, dtype, .. }
            if matches!(dtype.as_literal(), Some(DataType::Int64 | DataType::UInt64)) =>
        {
            match stat_of(expr, schema)? {
                s @ (Stat::Len | Stat::Count(_) | Stat::NullCount(_)) => Some(s),
                _ => None,
            }
        }
        Expr::Len => Some(Stat::Len),
        Expr::Agg(AggExpr::Min { input, .. }) => {
            let name = column(input)?;
            exact_bounds(&name)?;
            Some(Stat::Min(name))
        }
        Expr::Agg(AggExpr::Max { input, .. }) => {
            let name = column(input)?;
            exact_bounds(&name)?;
            Some(Stat::Max(name))
        }
        Expr::Agg(AggExpr::Count {
            input,
            include_nulls: false,
        }) => Some(Stat::Count(column(input)?)),
        Expr::Function {
            input,
            function: FunctionExpr::NullCount,
        } => match &input[..] {
            [input] => Some(Stat::NullCount(column(input)?)),
            _ => None,
        },
        _ => None,
    }
}

/// The dtype of a row group's value of `s`.
fn partial_dtype(s: &Stat, schema: &Schema) -> DataType {
    match s {
        Stat::Min(c) | Stat::Max(c) => schema.get(c).unwrap().clone(),
        Stat::Len | Stat::Count(_) | Stat::NullCount(_) => IDX_DTYPE,
    }
}

/// The exact value of `s` over one row group, from its statistics alone.
fn value(s: &Stat, stats: &RowGroupStats, schema: &Schema) -> Option<AnyValue<'static>> {
    let rows = stats.num_rows();
    let count = |n: usize| IdxSize::try_from(n).ok().map(AnyValue::from);
    let nulls = |c: &str| {
        let cs = stats.column(c)?;
        usize::try_from(cs.null_count().filter(|_| cs.null_count_is_exact())?).ok()
    };
    match s {
        Stat::Len => count(rows),
        Stat::Count(c) => count(rows.checked_sub(nulls(c)?)?),
        Stat::NullCount(c) => count(nulls(c)?),
        Stat::Min(c) | Stat::Max(c) => {
            if rows == 0 {
                return Some(AnyValue::Null);
            }
            let cs = stats.column(c)?;
            let (bound, exact) = match s {
                Stat::Min(_) => (cs.min(), cs.min_is_exact()),
                _ => (cs.max(), cs.max_is_exact()),
            };
            match bound {
                Some(v) if exact && v.dtype() == schema.get(c)? => {
                    Some(v.value().clone().into_static())
                }
                // No bound: exact only when every row is null.
                None if nulls(c) == Some(rows) => Some(AnyValue::Null),
                _ => None,
            }
        }
    }
}
