//! Comparing answers with stock Polars, the reference of every answer polars-adaptive gives,
//! finding the files to compare on, and running a test in a child process. Used by every
//! crate's tests and by `cargo xtask difftest`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// As [`same_frame`], but floats within a relative 1e-9 (1e-5 for f32), and temporal values
/// within a few f64 ulps of their magnitude: for aggregated frames, whose float sums follow the
/// chunking. Polars computes a temporal `mean` (and `median`, `std`) in f64 and casts back, so
/// stock's own answer moves with the chunking too (pinned by
/// `stock_temporal_mean_depends_on_the_chunking`).
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
        let equal = if a.dtype().is_temporal() && tolerant {
            physical_values(a)
                .iter()
                .zip(physical_values(b))
                .all(|(x, y)| match (x, y) {
                    (Some(x), Some(y)) => {
                        let scale = x.unsigned_abs().max(y.unsigned_abs()) as f64;
                        x.abs_diff(y) as f64 <= 8.0 * f64::EPSILON * scale + 1.0
                    }
                    (x, y) => x.is_none() && y.is_none(),
                })
        } else if a.dtype().is_float() && tolerant {
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

fn physical_values(s: &Series) -> Vec<Option<i64>> {
    let s = s.to_physical_repr().cast(&DataType::Int64).unwrap();
    s.i64().unwrap().iter().collect()
}

fn float_bits(s: &Series) -> Vec<Option<u64>> {
    float_values(s)
        .into_iter()
        .map(|v| v.map(|v| if v.is_nan() { u64::MAX } else { v.to_bits() }))
        .collect()
}

/// This process's peak resident set size (VmHWM) in bytes, pages of mapped files included;
/// `None` where `/proc` is absent.
pub fn peak_rss_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib << 10)
}

/// Set in the environment of a test run by [`run_test_in_child`].
const CHILD_VAR: &str = "POLARS_ADAPTIVE_TEST_CHILD";

/// Whether this process is a child started by [`run_test_in_child`]. A test that could kill
/// its process (a SIGBUS) returns early unless it is.
pub fn in_child() -> bool {
    std::env::var_os(CHILD_VAR).is_some()
}

/// Runs the test `name` of the current test binary again in a child process with `env` set,
/// and panics if it fails, dies of a signal, runs no test, or has not finished after
/// `timeout`. For what must not be tried in the test's own process: a pool size other than
/// this process's (Polars fixes it per process), a hang, which must fail rather than stop the
/// run, and a signal, which must fail one test rather than kill all of them.
pub fn run_test_in_child(name: &str, env: &[(&str, &str)], timeout: Duration) {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1"])
        .envs(env.iter().copied())
        .env(CHILD_VAR, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
            assert!(
                status.success(),
                "{name} with {env:?} failed: {status}\n{out}"
            );
            // A name that matches no test would pass without running anything.
            assert!(out.contains("1 passed"), "{name} did not run:\n{out}");
            return;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} with {env:?} did not finish in {timeout:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Replaces every occurrence of `from` in the footer of the Parquet file `path` with `to`, of the
/// same length so that the footer's thrift stays well formed (a writer's name, a bound's bytes);
/// returns how many there were. For tests that plant what a writer never wrote.
pub fn patch_footer(path: &Path, from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len(), "a patch keeps the footer's length");
    let mut bytes = std::fs::read(path).unwrap();
    let len = bytes.len();
    let footer_len = u32::from_le_bytes(bytes[len - 8..len - 4].try_into().unwrap()) as usize;
    let footer = &mut bytes[len - 8 - footer_len..len - 8];
    let at: Vec<usize> = (0..=footer.len().saturating_sub(from.len()))
        .filter(|&i| footer[i..].starts_with(from))
        .collect();
    for &i in &at {
        footer[i..i + to.len()].copy_from_slice(to);
    }
    std::fs::write(path, bytes).unwrap();
    at.len()
}

/// `files` Parquet files of ticks written by Polars' writer (`part-0.parquet`, …), each of
/// `rows` rows in row groups of `row_group_rows`, with full statistics and nulls in `price`,
/// `qty` and `venue`: `id` (Int64, counting across files), `symbol` (one of five), `price`
/// (Float64), `qty` (Int32), `ts` (Datetime ms), `venue` (String). Returns the glob of the
/// files. Used by the SQL and Flight SQL tests.
pub fn write_ticks(dir: &Path, files: usize, rows: usize, row_group_rows: usize) -> PathBuf {
    let syms = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA"];
    let mix = |i: usize, s: u64| ((i as u64 ^ s).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33) as i64;
    for f in 0..files {
        let ids = f * rows..(f + 1) * rows;
        let mut df = df!(
            "id" => ids.clone().map(|i| i as i64).collect::<Vec<_>>(),
            "symbol" => ids.clone().map(|i| syms[mix(i, 1) as usize % 5]).collect::<Vec<_>>(),
            "price" => ids.clone().map(|i| (i % 17 != 3).then(|| 100.0 + (mix(i, 2) % 10_000) as f64 / 100.0)).collect::<Vec<_>>(),
            "qty" => ids.clone().map(|i| (i % 11 != 5).then(|| (mix(i, 3) % 500) as i32)).collect::<Vec<_>>(),
            "ts" => ids.clone().map(|i| 1_700_000_000_000i64 + i as i64 * 1_000).collect::<Vec<_>>(),
            "venue" => ids.map(|i| (i % 7 != 0).then_some(if i % 3 == 0 { "XNAS" } else { "ARCX" })).collect::<Vec<_>>(),
        )
        .and_then(|df| {
            df.lazy()
                .with_column(col("ts").cast(DataType::Datetime(TimeUnit::Milliseconds, None)))
                .collect()
        })
        .expect("the ticks frame");
        let file = std::fs::File::create(dir.join(format!("part-{f}.parquet")))
            .expect("a file in the test directory");
        ParquetWriter::new(file)
            .with_row_group_size(Some(row_group_rows))
            .with_statistics(StatisticsOptions::full())
            .finish(&mut df)
            .expect("writing the ticks");
    }
    dir.join("part-*.parquet")
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;

    use super::same_frame_aggregated;

    /// Why aggregated temporal values are compared within float precision: stock Polars' own
    /// mean of a datetime column changes with how the column is chunked.
    #[test]
    fn stock_temporal_mean_depends_on_the_chunking() {
        let ns: Vec<i64> = (0..23)
            .map(|i| 1_700_000_000_000_000_000 + i * 987_654_321_987 % 1_000_000_007)
            .collect();
        let whole = Series::new("t".into(), ns)
            .cast(&DataType::Datetime(
                TimeUnit::Nanoseconds,
                Some(TimeZone::UTC),
            ))
            .unwrap();
        let mut chunked = whole.slice(0, 3);
        for start in (3..23).step_by(3) {
            chunked.append(&whole.slice(start, 3)).unwrap();
        }
        let mean = |s: &Series| {
            let df = DataFrame::new(s.len(), vec![s.clone().into_column()]).unwrap();
            df.lazy().select([col("t").mean()]).collect().unwrap()
        };
        let (one, many) = (mean(&whole), mean(&chunked));
        assert_ne!(
            one.column("t").unwrap().get(0).unwrap(),
            many.column("t").unwrap().get(0).unwrap(),
            "stock's temporal mean no longer depends on the chunking: compare it exactly"
        );
        same_frame_aggregated(&one, &many).unwrap();
    }
}
