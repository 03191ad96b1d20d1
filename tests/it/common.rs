//! Datasets and comparisons shared by the facade's integration tests. Stock Polars
//! (`scan_parquet` on the same files) is the reference for every answer.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use polars::prelude::*;

/// The shared parquet-testing corpus beside the project root, when it is there.
pub fn parquet_testing_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/parquet-testing");
    dir.is_dir().then_some(dir)
}

/// `n` rows starting at row `start` of a frame with a column of every kind the pruner meets:
/// a sorted key, integers of several widths, floats with NaN, -0.0 and infinities, strings
/// with non-ASCII and over-64-byte values, booleans, dates, datetimes, and nulls in most.
pub fn mixed(start: usize, n: usize) -> DataFrame {
    let mix = |i: usize, salt: u64| ((i as u64) ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
    let rows = start..start + n;
    let null_every = |i: usize, k: usize| i % k == 3;
    let floats = |i: usize| -> Option<f64> {
        match mix(i, 1) % 23 {
            0 => Some(f64::NAN),
            1 => Some(-0.0),
            2 => Some(0.0),
            3 => Some(f64::INFINITY),
            4 => Some(f64::NEG_INFINITY),
            5 => None,
            r => Some((r as f64 - 11.0) * 1.25),
        }
    };
    let words = [
        "alpha",
        "Beta",
        "ÄÖÜ",
        "日本語",
        "",
        "zeta",
        "alphabet",
        "αβγ",
    ];
    let long = "x".repeat(70);
    let strings: Vec<Option<String>> = rows
        .clone()
        .map(|i| match mix(i, 2) % 11 {
            0 => None,
            1 => Some(format!("{long}{}", i % 5)),
            r => Some(words[r as usize % words.len()].to_string()),
        })
        .collect();
    df!(
        "id" => rows.clone().map(|i| i as i64).collect::<Vec<_>>(),
        "i8" => rows.clone().map(|i| (!null_every(i, 17)).then(|| (mix(i, 3) % 200) as i32 as i8)).collect::<Vec<_>>(),
        "i16" => rows.clone().map(|i| (mix(i, 4) % 1000) as i16 - 500).collect::<Vec<_>>(),
        "i32" => rows.clone().map(|i| (!null_every(i, 7)).then(|| (mix(i, 5) % 100) as i32 - 50)).collect::<Vec<_>>(),
        "u8" => rows.clone().map(|i| (mix(i, 6) % 256) as u8).collect::<Vec<_>>(),
        "u32" => rows.clone().map(|i| (!null_every(i, 13)).then(|| (mix(i, 7) % 5000) as u32)).collect::<Vec<_>>(),
        "u64" => rows.clone().map(|i| mix(i, 8) << 20).collect::<Vec<_>>(),
        "f64" => rows.clone().map(floats).collect::<Vec<_>>(),
        "f32" => rows.clone().map(|i| floats(i + 7).map(|v| v as f32)).collect::<Vec<_>>(),
        "s" => strings,
        "b" => rows.clone().map(|i| (!null_every(i, 5)).then(|| mix(i, 9) % 3 == 0)).collect::<Vec<_>>(),
        "d" => rows.clone().map(|i| (!null_every(i, 11)).then(|| 18_000 + (i / 10) as i32)).collect::<Vec<_>>(),
        "ts" => rows.map(|i| 1_700_000_000_000i64 + (mix(i, 10) % 1_000_000) as i64).collect::<Vec<_>>(),
    )
    .unwrap()
    .lazy()
    .with_columns([
        col("d").cast(DataType::Date),
        col("ts").cast(DataType::Datetime(TimeUnit::Milliseconds, None)),
    ])
    .collect()
    .unwrap()
}

/// How a test file is written.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub row_group_size: usize,
    pub statistics: bool,
    pub compression: ParquetCompression,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            row_group_size: 100,
            statistics: true,
            compression: ParquetCompression::Zstd(None),
        }
    }
}

/// Files `part-0.parquet`, … of [`mixed`] rows, `sizes[f]` rows in file `f` (the ids continue
/// across files), in row groups of 100; returns their glob.
pub fn mixed_parts(dir: &Path, sizes: &[usize]) -> PathBuf {
    let mut start = 0;
    for (f, &rows) in sizes.iter().enumerate() {
        write(
            &mut mixed(start, rows),
            &dir.join(format!("part-{f}.parquet")),
            Layout::default(),
        );
        start += rows;
    }
    dir.join("*.parquet")
}

/// Writes `df` with Polars' writer.
pub fn write(df: &mut DataFrame, path: &Path, layout: Layout) {
    let stats = if layout.statistics {
        StatisticsOptions::full()
    } else {
        StatisticsOptions::empty()
    };
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .with_row_group_size(Some(layout.row_group_size))
        .with_statistics(stats)
        .with_compression(layout.compression)
        .finish(df)
        .unwrap();
}

/// Three files of 1.5 M rows (`id`, `f` in 0..125 by eighths, `s` with nulls, `b`) in row
/// groups of 100 000: about 88 MB decoded, past the 64 MiB below which `collect()` keeps the
/// batches' chunks.
pub fn large_files(dir: &Path) {
    let rows = 1_500_000;
    for f in 0..3 {
        let ids = (f * rows..(f + 1) * rows).map(|i| i as i64);
        let mut df = df!(
            "id" => ids.clone().collect::<Vec<_>>(),
            "f" => ids.clone().map(|i| (i % 1000) as f64 / 8.0).collect::<Vec<_>>(),
            "s" => ids.clone().map(|i| (i % 10 != 3).then(|| format!("s{}", i % 977))).collect::<Vec<_>>(),
            "b" => ids.map(|i| i % 3 == 0).collect::<Vec<_>>(),
        )
        .unwrap();
        let layout = Layout {
            row_group_size: 100_000,
            ..Layout::default()
        };
        write(&mut df, &dir.join(format!("{f}.parquet")), layout);
    }
}

/// Stock Polars' lazy scan of the same target.
pub fn stock(target: &Path) -> LazyFrame {
    LazyFrame::scan_parquet(
        PlRefPath::try_from_path(target).unwrap(),
        ScanArgsParquet::default(),
    )
    .unwrap()
}

#[allow(unused_imports)]
pub use polars_adaptive::testing::{
    patch_footer, run_test_in_child, same_frame, same_frame_aggregated,
};
