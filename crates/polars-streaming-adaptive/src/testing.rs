//! Comparing answers with stock Polars, the reference of every answer polars-adaptive gives,
//! and finding the files to compare on. Used by every crate's tests and by `cargo xtask
//! difftest`.

use std::path::{Path, PathBuf};

use polars::prelude::*;

/// Every `.parquet` file below `dir`, sorted; unreadable folders are skipped.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Same schema, same rows in the same order, same nulls; floats compared bit for bit (so -0.0
/// differs from 0.0), every NaN equal to every NaN.
pub fn same_frame(ours: &DataFrame, stock: &DataFrame) -> Result<(), String> {
    compare(ours, stock, false)
}

/// As [`same_frame`], but floats within a relative 1e-9 (1e-5 for f32): for aggregated floats, whose
/// summation order follows the chunking.
pub fn same_frame_aggregated(ours: &DataFrame, stock: &DataFrame) -> Result<(), String> {
    compare(ours, stock, true)
}

fn compare(ours: &DataFrame, stock: &DataFrame, tolerant: bool) -> Result<(), String> {
    if ours.schema() != stock.schema() {
        return Err(format!(
            "schemas differ:\n ours  {:?}\n stock {:?}",
            ours.schema(),
            stock.schema()
        ));
    }
    if ours.height() != stock.height() {
        return Err(format!(
            "heights differ: {} vs {}",
            ours.height(),
            stock.height()
        ));
    }
    for (a, b) in ours.columns().iter().zip(stock.columns()) {
        let (a, b) = (a.as_materialized_series(), b.as_materialized_series());
        // f32 sums in another order differ in the 7th digit, f64 sums in the 15th.
        let tolerance = if a.dtype() == &DataType::Float32 {
            1e-5
        } else {
            1e-9
        };
        let equal = if a.dtype().is_float() && tolerant {
            float_values(a)
                .iter()
                .zip(float_values(b))
                .all(|(x, y)| match (x, y) {
                    (Some(x), Some(y)) if x.is_finite() && y.is_finite() => {
                        (x - y).abs() <= tolerance * x.abs().max(y.abs()).max(1.0)
                    }
                    (Some(x), Some(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                    (x, y) => x.is_none() && y.is_none(),
                })
        } else if a.dtype().is_float() {
            float_bits(a) == float_bits(b)
        } else {
            a.equals_missing(b)
        };
        if !equal {
            return Err(format!(
                "column '{}' differs:\n ours  {a}\n stock {b}",
                a.name()
            ));
        }
    }
    Ok(())
}

fn float_values(s: &Series) -> Vec<Option<f64>> {
    let s = s.cast(&DataType::Float64).unwrap();
    s.f64().unwrap().iter().collect()
}

fn float_bits(s: &Series) -> Vec<Option<u64>> {
    float_values(s)
        .into_iter()
        .map(|v| v.map(|v| if v.is_nan() { u64::MAX } else { v.to_bits() }))
        .collect()
}
