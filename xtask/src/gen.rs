//! `cargo xtask gen`: the benchmark datasets, written with the `parquet` crate.
//!
//! - `ticks/`: the Polarway streaming guide's tick schema. The timestamp is sorted, about 500
//!   symbols, side BUY/SELL, price, volume, and trade_id unsorted and high-cardinality. Files
//!   have page-level statistics (page indexes) and bloom filters on trade_id and symbol.
//! - `pyarrow/`: the PyArrow streaming post's (group, id, row) data: groups × ids × rows.
//! - `giant/`: two row groups of about 1 GiB decoded each (four 8-byte columns).
//! - `giant-polars/`: the same rows written by Polars' own `ParquetWriter` with its default
//!   statistics (bounds unflagged, as Polars users' files are), `d` of few values with nulls
//!   (dictionary-encoded: the footer repeats its null counts on every page).
//! - `small/`: many small files (1,000 files of 10k rows by default).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use indicatif::{ProgressBar, ProgressStyle};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

pub const SYMBOLS: usize = 500;
const BATCH: usize = 1 << 20;

/// What `gen` writes.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub rows: usize,
    pub files: usize,
    pub out: PathBuf,
    /// Rows of each of the two giant row groups.
    pub giant_row_group_rows: usize,
    pub small_files: usize,
    pub small_file_rows: usize,
    /// groups × ids × rows of the PyArrow-post dataset.
    pub post: (usize, usize, usize),
}

impl GenOptions {
    pub fn full(rows: usize, files: usize, out: PathBuf) -> Self {
        Self {
            rows,
            files,
            out,
            // 4 columns × 8 bytes × 2^25 rows = 1 GiB per row group.
            giant_row_group_rows: 1 << 25,
            small_files: 1_000,
            small_file_rows: 10_000,
            post: (1_000, 100, 50),
        }
    }

    pub fn quick(rows: usize, out: PathBuf) -> Self {
        Self {
            rows,
            files: 4,
            out,
            giant_row_group_rows: 1 << 21,
            small_files: 100,
            small_file_rows: 10_000,
            post: (200, 50, 20),
        }
    }
}

fn mix(i: u64, salt: u64) -> u64 {
    (i ^ salt.wrapping_mul(0xA24B_AED4_963E_E407)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} rows, {eta} left")
            .unwrap()
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn props(row_group_rows: usize, bloom: &[&str]) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_compression(Compression::ZSTD(ZstdLevel::default()));
    for column in bloom {
        b = b.set_column_bloom_filter_enabled(ColumnPath::from(*column), true);
    }
    b.build()
}

pub fn tick_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("symbol", DataType::Utf8, false),
        Field::new("side", DataType::Utf8, false),
        Field::new("price", DataType::Float64, false),
        Field::new("volume", DataType::Int64, false),
        Field::new("trade_id", DataType::Int64, false),
    ]))
}

/// The first tick timestamp; ticks are 10 ms apart.
pub const T0: i64 = 1_700_000_000_000;

fn ticks_batch(start: usize, n: usize, symbols: &[String]) -> Result<RecordBatch> {
    let idx = (start as u64)..(start + n) as u64;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from_iter_values(
            idx.clone().map(|i| T0 + i as i64 * 10),
        )),
        Arc::new(StringArray::from_iter_values(idx.clone().map(|i| {
            symbols[(mix(i, 1) % SYMBOLS as u64) as usize].as_str()
        }))),
        Arc::new(StringArray::from_iter_values(idx.clone().map(|i| {
            if mix(i, 2).is_multiple_of(2) {
                "BUY"
            } else {
                "SELL"
            }
        }))),
        Arc::new(Float64Array::from_iter_values(
            idx.clone()
                .map(|i| 100.0 + (mix(i, 3) % 10_000) as f64 / 100.0),
        )),
        Arc::new(Int64Array::from_iter_values(
            idx.clone().map(|i| (mix(i, 4) % 1_000) as i64 + 1),
        )),
        Arc::new(Int64Array::from_iter_values(
            idx.map(|i| (mix(i, 5) >> 1) as i64),
        )),
    ];
    Ok(RecordBatch::try_new(tick_schema(), columns)?)
}

fn symbols() -> Vec<String> {
    (0..SYMBOLS).map(|s| format!("S{s:03}")).collect()
}

/// Writes rows `rows` to `path` in batches of at most `BATCH` rows made by `batch(start, n)`,
/// counting them on `bar`.
fn write_file(
    path: &Path,
    schema: Arc<Schema>,
    props: WriterProperties,
    rows: std::ops::Range<usize>,
    bar: &ProgressBar,
    batch: impl Fn(usize, usize) -> Result<RecordBatch>,
) -> Result<()> {
    let mut w = ArrowWriter::try_new(std::fs::File::create(path)?, schema, Some(props))?;
    let mut at = rows.start;
    while at < rows.end {
        let n = BATCH.min(rows.end - at);
        w.write(&batch(at, n)?)?;
        at += n;
        bar.inc(n as u64);
    }
    w.close()?;
    Ok(())
}

/// A trade id present in the tick data (row `row`'s).
pub fn trade_id_of(row: usize) -> i64 {
    (mix(row as u64, 5) >> 1) as i64
}

pub fn ticks(opts: &GenOptions) -> Result<PathBuf> {
    let dir = opts.out.join("ticks");
    std::fs::create_dir_all(&dir)?;
    let symbols = symbols();
    let per_file = opts.rows.div_ceil(opts.files);
    let bar = progress(opts.rows as u64, "ticks");
    for f in 0..opts.files {
        write_file(
            &dir.join(format!("part-{f:03}.parquet")),
            tick_schema(),
            props(1 << 20, &["trade_id", "symbol"]),
            f * per_file..((f + 1) * per_file).min(opts.rows),
            &bar,
            |at, n| ticks_batch(at, n, &symbols),
        )?;
    }
    bar.finish();
    Ok(dir)
}

fn int_schema(names: &[&str]) -> Arc<Schema> {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Int64, false))
            .collect::<Vec<_>>(),
    ))
}

/// The PyArrow post's data: every (group, id) pair has `rows` rows; rows are interleaved so
/// that ids of a group appear in a pseudo-random order.
pub fn post(opts: &GenOptions) -> Result<PathBuf> {
    let dir = opts.out.join("pyarrow");
    std::fs::create_dir_all(&dir)?;
    let (groups, ids, rows) = opts.post;
    let total = groups * ids * rows;
    let schema = int_schema(&["group", "id", "row"]);
    let bar = progress(total as u64, "pyarrow");
    let pair = |i: u64| mix(i, 7) % (groups * ids) as u64;
    write_file(
        &dir.join("part-000.parquet"),
        schema.clone(),
        props(1 << 20, &[]),
        0..total,
        &bar,
        |at, n| {
            let k = (at as u64)..(at + n) as u64;
            let columns: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values(
                    k.clone().map(|i| (pair(i) / ids as u64) as i64),
                )),
                Arc::new(Int64Array::from_iter_values(
                    k.clone().map(|i| (pair(i) % ids as u64) as i64),
                )),
                Arc::new(Int64Array::from_iter_values(k.map(|i| i as i64))),
            ];
            Ok(RecordBatch::try_new(schema.clone(), columns)?)
        },
    )?;
    bar.finish();
    Ok(dir)
}

/// Two row groups of `giant_row_group_rows` rows of four 8-byte columns.
pub fn giant(opts: &GenOptions) -> Result<PathBuf> {
    let dir = opts.out.join("giant");
    std::fs::create_dir_all(&dir)?;
    let rows = 2 * opts.giant_row_group_rows;
    let schema = int_schema(&["a", "b", "c", "d"]);
    let bar = progress(rows as u64, "giant");
    write_file(
        &dir.join("giant.parquet"),
        schema.clone(),
        props(opts.giant_row_group_rows, &[]),
        0..rows,
        &bar,
        |at, n| {
            let k = (at as u64)..(at + n) as u64;
            let columns: Vec<ArrayRef> = (0..4)
                .map(|c| {
                    Arc::new(Int64Array::from_iter_values(
                        k.clone().map(|i| mix(i, 10 + c) as i64),
                    )) as ArrayRef
                })
                .collect();
            Ok(RecordBatch::try_new(schema.clone(), columns)?)
        },
    )?;
    bar.finish();
    Ok(dir)
}

/// `giant`'s rows written by Polars' `ParquetWriter`, a row group at a time; `d` holds 1,000
/// distinct values and a null in every tenth row.
pub fn giant_polars(opts: &GenOptions) -> Result<PathBuf> {
    use polars::prelude::{
        Column, DataFrame, Int64Chunked, IntoColumn, NewChunkedArray, ParquetWriter,
    };

    let dir = opts.out.join("giant-polars");
    std::fs::create_dir_all(&dir)?;
    let rows = opts.giant_row_group_rows;
    let bar = progress(2 * rows as u64, "giant-polars");
    let file = std::fs::File::create(dir.join("giant.parquet"))?;
    let mut writer = None;
    for rg in 0..2u64 {
        let k = rg * rows as u64..(rg + 1) * rows as u64;
        let mut columns: Vec<Column> = (0..3)
            .map(|c| {
                Int64Chunked::from_iter_values(
                    ["a", "b", "c"][c as usize].into(),
                    k.clone().map(|i| mix(i, 10 + c) as i64),
                )
                .into_column()
            })
            .collect();
        let d: Int64Chunked = k
            .clone()
            .map(|i| (i % 10 != 0).then_some((mix(i, 13) % 1000) as i64))
            .collect();
        columns.push(d.with_name("d".into()).into_column());
        let df = DataFrame::new(rows, columns)?;
        let w = match &mut writer {
            Some(w) => w,
            None => writer.insert(
                ParquetWriter::new(file.try_clone()?)
                    .with_row_group_size(Some(rows))
                    .batched(df.schema())?,
            ),
        };
        w.write_batch(&df)?;
        bar.inc(rows as u64);
    }
    if let Some(w) = writer {
        w.finish()?;
    }
    bar.finish();
    Ok(dir)
}

/// Many small tick files.
pub fn small(opts: &GenOptions) -> Result<PathBuf> {
    let dir = opts.out.join("small");
    std::fs::create_dir_all(&dir)?;
    let symbols = symbols();
    let rows = opts.small_file_rows;
    let bar = progress((opts.small_files * rows) as u64, "small");
    for f in 0..opts.small_files {
        write_file(
            &dir.join(format!("part-{f:04}.parquet")),
            tick_schema(),
            props(1 << 20, &[]),
            f * rows..(f + 1) * rows,
            &bar,
            |at, n| ticks_batch(at, n, &symbols),
        )?;
    }
    bar.finish();
    Ok(dir)
}

/// Writes every dataset; returns their directories.
/// The datasets of `opts`, generated unless a stamp says they already are.
pub fn ensure(opts: &GenOptions) -> Result<Datasets> {
    let stamp = opts.out.join("GENERATED");
    let wanted = format!("{opts:?}");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        let data = Datasets::under(&opts.out);
        // Datasets added since the stamp was written.
        if !data.giant_polars.join("giant.parquet").exists() {
            giant_polars(opts)?;
        }
        return Ok(data);
    }
    let _ = std::fs::remove_dir_all(&opts.out);
    let data = all(opts)?;
    std::fs::write(&stamp, &wanted)?;
    Ok(data)
}

pub fn all(opts: &GenOptions) -> Result<Datasets> {
    Ok(Datasets {
        ticks: ticks(opts)?,
        post: post(opts)?,
        giant: giant(opts)?,
        giant_polars: giant_polars(opts)?,
        small: small(opts)?,
    })
}

#[derive(Debug, Clone)]
pub struct Datasets {
    pub ticks: PathBuf,
    pub post: PathBuf,
    pub giant: PathBuf,
    pub giant_polars: PathBuf,
    pub small: PathBuf,
}

impl Datasets {
    pub fn under(out: &Path) -> Self {
        Self {
            ticks: out.join("ticks"),
            post: out.join("pyarrow"),
            giant: out.join("giant"),
            giant_polars: out.join("giant-polars"),
            small: out.join("small"),
        }
    }
}

/// The layouts of the full-scan benchmark (`cargo xtask bench --layouts`): ticks as Polars
/// users' files are (Polars' `ParquetWriter`), in several row-group sizes, one layout with the
/// symbol strings plain (arrow-rs, dictionary off: Polars' writer has no such switch), and the
/// scale dataset, larger than this machine's memory once decoded.
#[derive(Debug, Clone)]
pub struct LayoutOptions {
    pub out: PathBuf,
    /// Files × rows of each small layout.
    pub files: usize,
    pub rows_per_file: usize,
    /// Files × rows of the scale dataset.
    pub scale_files: usize,
    pub scale_rows_per_file: usize,
}

impl LayoutOptions {
    /// 4 × 5 M rows each; the scale dataset 42 × 24 M rows (about 10.4 GB).
    pub fn full(out: PathBuf) -> Self {
        Self {
            out,
            files: 4,
            rows_per_file: 5_000_000,
            scale_files: 42,
            scale_rows_per_file: 24_000_000,
        }
    }

    pub fn quick(out: PathBuf) -> Self {
        Self {
            out,
            files: 4,
            rows_per_file: 500_000,
            scale_files: 4,
            scale_rows_per_file: 2_000_000,
        }
    }
}

/// How one layout is written.
#[derive(Debug, Clone, Copy)]
enum LayoutWriter {
    /// Polars' `ParquetWriter` with its defaults but the row-group size (`None`: its 512²).
    Polars(Option<usize>),
    /// arrow-rs with row groups of 2^20 rows and no dictionary encoding.
    ArrowRsPlain,
}

/// The layouts: (name, directory). Each is written unless its stamp says it already is.
pub fn layouts(opts: &LayoutOptions) -> Result<Vec<(&'static str, PathBuf)>> {
    let (small, scale) = (
        (opts.files, opts.rows_per_file),
        (opts.scale_files, opts.scale_rows_per_file),
    );
    let specs = [
        ("polars-rg512k", LayoutWriter::Polars(None), small),
        ("polars-rg128k", LayoutWriter::Polars(Some(1 << 17)), small),
        ("polars-rg1m", LayoutWriter::Polars(Some(1 << 20)), small),
        ("arrow-rs-plain", LayoutWriter::ArrowRsPlain, small),
        ("scale", LayoutWriter::Polars(None), scale),
    ];
    let mut out = Vec::new();
    for (name, writer, (files, rows)) in specs {
        let dir = opts.out.join(name);
        let stamp = dir.join("GENERATED");
        let wanted = format!("{writer:?} {files} × {rows}");
        if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
            write_layout(&dir, name, writer, files, rows)?;
            std::fs::write(&stamp, &wanted)?;
        }
        out.push((name, dir));
    }
    Ok(out)
}

/// Writes `files` files of `rows` ticks each, one file at a time, with progress.
fn write_layout(
    dir: &Path,
    name: &str,
    writer: LayoutWriter,
    files: usize,
    rows: usize,
) -> Result<()> {
    use polars::prelude::ParquetWriter;

    let bar = progress((files * rows) as u64, name);
    let symbols = symbols();
    for f in 0..files {
        let path = dir.join(format!("part-{f:03}.parquet"));
        let first = f * rows;
        match writer {
            LayoutWriter::Polars(row_group) => {
                // A file in pieces of 2^22 rows (a multiple of every row-group size here), so
                // the generator holds one piece at a time; the batched writer writes a row
                // group per call, so each piece goes in slices of a row group, cut where
                // `finish` of the whole file would cut.
                let row_group = row_group.unwrap_or(512 * 512);
                let file = std::fs::File::create(&path)?;
                let mut w = ParquetWriter::new(file)
                    .with_row_group_size(Some(row_group))
                    .batched(crate::data::ticks(0, 0)?.schema())?;
                let mut at = first;
                while at < first + rows {
                    let n = (1usize << 22).min(first + rows - at);
                    let df = crate::data::ticks(at, n)?;
                    for offset in (0..n).step_by(row_group) {
                        w.write_batch(&df.slice(offset as i64, row_group))?;
                    }
                    bar.inc(n as u64);
                    at += n;
                }
                w.finish()?;
            }
            LayoutWriter::ArrowRsPlain => {
                let props = WriterProperties::builder()
                    .set_max_row_group_row_count(Some(1 << 20))
                    .set_dictionary_enabled(false)
                    .set_statistics_enabled(EnabledStatistics::Page)
                    .set_compression(Compression::ZSTD(ZstdLevel::default()))
                    .build();
                write_file(
                    &path,
                    tick_schema(),
                    props,
                    first..first + rows,
                    &bar,
                    |at, n| ticks_batch(at, n, &symbols),
                )?;
            }
        }
    }
    bar.finish();
    Ok(())
}
