//! Hot paths of the plan and execution layers, on seeded data written at start-up: the VWAP
//! query through `scan_adaptive` (`collect`, `collect_adaptive`) and stock `scan_parquet`, and
//! the streaming aggregation's partial-aggregate merging under many small batches.
//!
//! `cargo bench --bench exec` (ids `scan/...` and `agg/...`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use polars::prelude::*;
use polars_adaptive::prelude::*;

const ROWS: usize = 1_000_000;

fn ticks() -> DataFrame {
    let mix = |i: u64, s: u64| (i ^ s).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
    let symbols: Vec<String> = (0..500).map(|s| format!("S{s:03}")).collect();
    df!(
        "symbol" => (0..ROWS as u64).map(|i| symbols[(mix(i, 1) % 500) as usize].as_str()).collect::<Vec<_>>(),
        "side" => (0..ROWS as u64).map(|i| if mix(i, 2) % 2 == 0 { "BUY" } else { "SELL" }).collect::<Vec<_>>(),
        "price" => (0..ROWS as u64).map(|i| 100.0 + (mix(i, 3) % 10_000) as f64 / 100.0).collect::<Vec<_>>(),
        "volume" => (0..ROWS as u64).map(|i| (mix(i, 4) % 1_000) as i64 + 1).collect::<Vec<_>>(),
    )
    .unwrap()
}

fn vwap(lf: LazyFrame) -> LazyFrame {
    lf.filter(col("side").eq(lit("BUY")))
        .group_by([col("symbol")])
        .agg([((col("price") * col("volume")).sum() / col("volume").sum()).alias("vwap")])
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ticks.parquet");
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .with_row_group_size(Some(128 * 1024))
        .finish(&mut ticks())
        .unwrap();
    let adaptive = |args: ScanArgsAdaptive| vwap(LazyFrame::scan_adaptive(&path, args).unwrap());

    let mut group = c.benchmark_group("scan");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(20);
    group.bench_function("adaptive/vwap", |b| {
        b.iter(|| {
            adaptive(ScanArgsAdaptive::default())
                .collect_adaptive()
                .unwrap()
        })
    });
    group.bench_function("adaptive/vwap/collect", |b| {
        b.iter(|| adaptive(ScanArgsAdaptive::default()).collect().unwrap())
    });
    group.bench_function("stock/vwap", |b| {
        b.iter(|| {
            vwap(
                LazyFrame::scan_parquet(
                    PlRefPath::try_from_path(&path).unwrap(),
                    Default::default(),
                )
                .unwrap(),
            )
            .collect()
            .unwrap()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("agg");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);
    group.bench_function("partial_merge/batches_of_8192", |b| {
        let args = ScanArgsAdaptive::default().with_chunk_policy(ChunkPolicy::Rows(8192));
        b.iter(|| adaptive(args.clone()).collect_adaptive().unwrap())
    });
    // The same rows in 8 Ki-row pages: a batch of 8192 rows then decompresses its own page
    // only (above, each batch decompresses its row group's one ~1 MiB page again), so the
    // difference between the two ids below over their batch counts (128 vs 8) is the fixed
    // cost of a batch in the reader and the execution layer.
    let paged = dir.path().join("ticks-paged.parquet");
    ParquetWriter::new(std::fs::File::create(&paged).unwrap())
        .with_row_group_size(Some(128 * 1024))
        .with_data_page_size(Some(64 * 1024))
        .finish(&mut ticks())
        .unwrap();
    let paged_vwap = |rows: usize| {
        let args = ScanArgsAdaptive::default().with_chunk_policy(ChunkPolicy::Rows(rows));
        vwap(LazyFrame::scan_adaptive(&paged, args).unwrap())
    };
    group.bench_function("per_batch/small_pages/batches_of_8192", |b| {
        b.iter(|| paged_vwap(8192).collect_adaptive().unwrap())
    });
    group.bench_function("per_batch/small_pages/row_groups_whole", |b| {
        b.iter(|| paged_vwap(128 * 1024).collect_adaptive().unwrap())
    });
    group.finish();
}

criterion_group!(exec, benches);
criterion_main!(exec);
