//! Hot paths of the I/O layer, on seeded data written once per run: opening a file (its footer,
//! and its statistics read a second time with arrow-rs), decoding one row group and evaluating a
//! pruning predicate against every row group's statistics.
//!
//! `cargo bench --bench io` (release profile; the ids are `io/footer/...`, `io/decode/...` and
//! `io/prune/...`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use polars::prelude::*;
use polars_adaptive::prelude::*;

const ROWS: usize = 1_000_000;
const ROW_GROUP: usize = 10_000;

/// A sorted key, a pseudo-random integer, a float and a low-cardinality string.
fn data() -> DataFrame {
    let mix = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17;
    df!(
        "key" => (0..ROWS as i64).collect::<Vec<_>>(),
        "value" => (0..ROWS as u64).map(|i| mix(i) as i64).collect::<Vec<_>>(),
        "price" => (0..ROWS as u64).map(|i| (mix(i + 1) % 10_000) as f64 / 100.0).collect::<Vec<_>>(),
        "symbol" => (0..ROWS as u64).map(|i| format!("S{:03}", mix(i + 2) % 500)).collect::<Vec<_>>(),
    )
    .unwrap()
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.parquet");
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .with_row_group_size(Some(ROW_GROUP))
        .with_statistics(StatisticsOptions::full())
        .finish(&mut data())
        .unwrap();

    // What a scan with a predicate pays per file for statistics beyond the footer Polars parses:
    // the difference between the two (docs/decisions.md, "The footer is parsed twice when something prunes").
    let mut group = c.benchmark_group("io/footer");
    group.bench_function("open", |b| {
        b.iter(|| black_box(MmapParquetReader::new(black_box(&path)).unwrap()))
    });
    group.bench_function("open_and_statistics", |b| {
        b.iter(|| {
            let reader = MmapParquetReader::new(black_box(&path)).unwrap();
            black_box(reader.statistics().len());
            reader
        })
    });
    group.finish();

    let reader = MmapParquetReader::new(&path).unwrap();
    let mut group = c.benchmark_group("io/decode");
    group.throughput(Throughput::Elements(ROW_GROUP as u64));
    group.bench_function("row_group/all_columns", |b| {
        b.iter(|| black_box(reader.read_row_group(black_box(7)).unwrap()))
    });
    group.bench_function("row_group/two_columns", |b| {
        b.iter(|| {
            black_box(
                reader
                    .read_row_group_projected(black_box(7), &["symbol", "price"])
                    .unwrap(),
            )
        })
    });
    group.finish();

    let stats: Vec<_> = (0..reader.num_row_groups())
        .map(|rg| reader.row_group_statistics(rg).clone())
        .collect();
    let narrow = AndPredicate::new(vec![
        std::sync::Arc::new(ComparisonPredicate::new("key", CmpOp::GtEq, 500_000i64)),
        std::sync::Arc::new(ColumnFilterPredicate::new("symbol", vec!["S001", "S002"])),
    ]);
    let mut group = c.benchmark_group("io/prune");
    group.throughput(Throughput::Elements(stats.len() as u64));
    group.bench_function("and_range_is_in", |b| {
        b.iter(|| {
            stats
                .iter()
                .filter(|s| narrow.should_skip_row_group(black_box(s)))
                .count()
        })
    });
    group.finish();
}

criterion_group!(io, benches);
criterion_main!(io);
