//! The decode spike: Polars' own Parquet decoder against arrow-rs plus an Arrow C Data Interface
//! hand-over into Polars, on the same file. Each engine runs in its own child process so that
//! the peak RSS the OS reports (VmHWM) is that engine's alone.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use polars::prelude::*;
use polars_adaptive::prelude::*;

use xtask::data::ticks;

const ENGINES: [&str; 2] = ["polars", "arrow-rs"];
const RUNS: usize = 3;
/// One run of an engine: seconds and peak RSS (KiB).
type Run = (f64, u64);

pub fn run(rows: usize, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("spike.parquet");
    let mut df = ticks(0, rows)?;
    ParquetWriter::new(std::fs::File::create(&path)?)
        .with_row_group_size(Some(128 * 1024))
        .finish(&mut df)?;
    drop(df);
    println!(
        "file: {} ({rows} rows, {} MiB on disk)",
        path.display(),
        std::fs::metadata(&path)?.len() >> 20
    );
    let exe = std::env::current_exe()?;
    // Per engine: its (seconds, peak RSS KiB) runs and how its answer differed from stock's.
    let mut results: Vec<(&str, Vec<Run>, String)> = ENGINES
        .iter()
        .map(|e| (*e, Vec::new(), String::new()))
        .collect();
    // Engines alternate so that both see the same page cache and machine state.
    for _ in 0..RUNS {
        for (engine, runs, diff) in &mut results {
            let out = Command::new(&exe)
                .args(["spike-decode", "--child", engine])
                .arg(&path)
                .output()?;
            if !out.status.success() {
                bail!("{engine}: {}", String::from_utf8_lossy(&out.stderr));
            }
            let line = String::from_utf8(out.stdout)?;
            let mut fields = line.trim().splitn(3, ' ');
            let secs: f64 = fields.next().context("secs")?.parse()?;
            let hwm: u64 = fields.next().context("hwm")?.parse()?;
            *diff = fields.next().unwrap_or_default().to_string();
            runs.push((secs, hwm));
        }
    }
    println!("| engine | median time | rows/s | peak RSS | dtypes vs stock scan_parquet |");
    println!("| --- | --- | --- | --- | --- |");
    for (engine, mut runs, diff) in results {
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (secs, _) = runs[runs.len() / 2];
        let hwm = runs.iter().map(|r| r.1).max().unwrap_or(0);
        println!(
            "| {engine} | {secs:.3} s | {:.1} M | {} MiB | {diff} |",
            rows as f64 / secs / 1e6,
            hwm >> 10
        );
    }
    Ok(())
}

/// One decode of the whole file into a DataFrame; prints `secs peak_kib dtype-diff`.
pub fn child(engine: &str, path: &Path) -> Result<()> {
    let t = Instant::now();
    let df = match engine {
        "polars" => AdaptiveStreamingReader::new(path)?.collect()?,
        "arrow-rs" => arrow_rs_read(path)?,
        other => bail!("unknown engine {other}"),
    };
    let secs = t.elapsed().as_secs_f64();
    let hwm = xtask::procfs::peak_rss_kib();
    let stock = LazyFrame::scan_parquet(PlRefPath::try_from_path(path)?, Default::default())?
        .collect_schema()?;
    let diffs: Vec<String> = stock
        .iter()
        .filter_map(|(name, dtype)| {
            let ours = df.schema().get(name).cloned();
            (ours.as_ref() != Some(dtype)).then(|| format!("{name}: {ours:?} vs {dtype}"))
        })
        .collect();
    let diff = if diffs.is_empty() {
        "identical".to_string()
    } else {
        diffs.join("; ")
    };
    println!("{secs} {hwm} {diff}");
    Ok(())
}

fn arrow_rs_read(path: &Path) -> Result<DataFrame> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path)?)?
        .with_batch_size(128 * 1024)
        .build()?;
    let mut frames = Vec::new();
    for batch in reader {
        let batch = batch?;
        let columns = batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(f, a)| import(f.name(), a))
            .collect::<Result<Vec<_>>>()?;
        frames.push(DataFrame::new(batch.num_rows(), columns)?);
    }
    let mut frames = frames.into_iter();
    let mut out = frames.next().context("the file has no rows")?;
    for f in frames {
        out.vstack_mut_owned(f)?;
    }
    Ok(out)
}

/// Moves one arrow-rs array into Polars through the Arrow C Data Interface.
fn import(name: &str, array: &arrow::array::ArrayRef) -> Result<Column> {
    let (ffi_array, ffi_schema) = arrow::ffi::to_ffi(&array.to_data())?;
    // SAFETY: both structs are the Arrow C Data Interface's `ArrowArray` / `ArrowSchema`
    // (`#[repr(C)]`, same fields); ownership of the release callbacks moves with them.
    let (c_array, c_schema) = unsafe {
        (
            std::mem::transmute::<arrow::ffi::FFI_ArrowArray, polars_arrow::ffi::ArrowArray>(
                ffi_array,
            ),
            std::mem::transmute::<arrow::ffi::FFI_ArrowSchema, polars_arrow::ffi::ArrowSchema>(
                ffi_schema,
            ),
        )
    };
    // SAFETY: `c_schema` and `c_array` were just exported by arrow-rs and describe each other.
    let field = unsafe { polars_arrow::ffi::import_field_from_c(&c_schema)? };
    // SAFETY: as above; `field` was imported from the schema that describes `c_array`.
    let array = unsafe { polars_arrow::ffi::import_array_from_c(c_array, field.dtype.clone())? };
    Ok(Series::from_arrow(name.into(), array)?.into_column())
}
