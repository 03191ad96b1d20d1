//! The reference answer of a statement, for tests of the SQL front end and of its doors.

use std::path::Path;

use polars::prelude::*;
use polars::sql::SQLContext;

/// `sql` run by polars-sql over stock `scan_parquet` of `target` as table `table`, counts as
/// Int64: Python Polars' SQL returns them so (and the front end follows it), polars-sql 0.55.2
/// as UInt32 (no other UInt32 comes out of these statements).
pub fn stock_sql(table: &str, target: &Path, sql: &str) -> PolarsResult<DataFrame> {
    let mut ctx = SQLContext::new();
    let lf = LazyFrame::scan_parquet(
        PlRefPath::try_from_path(target)?,
        ScanArgsParquet::default(),
    )?;
    ctx.register(table, lf);
    let df = ctx.execute(sql)?.collect()?;
    let columns = df
        .columns()
        .iter()
        .map(|c| match c.dtype() {
            DataType::UInt32 => c.cast(&DataType::Int64),
            _ => Ok(c.clone()),
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    DataFrame::new(df.height(), columns)
}
