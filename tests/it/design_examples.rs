//! The usage examples of the original design document (../shared/reference), run as written
//! there against generated files, with answers compared with stock Polars.
//!
//! The examples use relative paths, so this test binary works inside a temporary directory;
//! it holds one test so that changing the working directory races with nothing.

use std::sync::Arc;

use polars::prelude::*;
use polars_adaptive::prelude::*;

fn write(df: &mut DataFrame, path: &str, row_group_size: usize) {
    let file = std::fs::File::create(path).unwrap();
    ParquetWriter::new(file)
        .with_row_group_size(Some(row_group_size))
        .finish(df)
        .unwrap();
}

fn stock(path: &str) -> DataFrame {
    LazyFrame::scan_parquet(PlRefPath::new(path), ScanArgsParquet::default())
        .unwrap()
        .collect()
        .unwrap()
}

fn trades(n: usize, seed: usize) -> DataFrame {
    let symbols = ["AAPL", "MSFT", "GOOG", "AMZN"];
    df!(
        "symbol" => (0..n).map(|i| symbols[(i * 7 + seed) % 4]).collect::<Vec<_>>(),
        "close" => (0..n).map(|i| ((i * 13 + seed) % 1000) as f64 / 10.0).collect::<Vec<_>>(),
        "volume" => (0..n).map(|i| ((i * 31 + seed) % 500) as i64).collect::<Vec<_>>(),
        "level" => (0..n).map(|i| if i % 17 == 0 { "ERROR" } else { "INFO" }).collect::<Vec<_>>(),
    )
    .unwrap()
}

#[test]
fn design_document_examples_run_as_written_and_match_stock() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    std::fs::create_dir("data").unwrap();
    write(&mut trades(50_000, 0), "large_file.parquet", 8_000);
    write(&mut trades(20_000, 1), "trades.parquet", 5_000);
    for i in 0..3 {
        write(
            &mut trades(10_000, i),
            &format!("data/ohlc_{i}.parquet"),
            3_000,
        );
    }

    // Quick Start: basic streaming read.
    let reader = AdaptiveStreamingReader::new("large_file.parquet").unwrap();
    let df = reader.collect().unwrap();
    println!("Loaded {} rows", df.height());
    assert!(df.equals_missing(&stock("large_file.parquet")));

    // Quick Start: batch processing.
    let reader = AdaptiveStreamingReader::new("large_file.parquet").unwrap();
    let batches = reader.collect_batches_adaptive(None).unwrap();
    for (i, batch) in batches.iter().enumerate() {
        println!("Batch {}: {} rows", i, batch.height());
    }
    assert_eq!(batches.iter().map(|b| b.height()).sum::<usize>(), 50_000);

    // Quick Start: parallel multi-file processing.
    let reader = ParallelStreamReader::from_glob("data/*.parquet")
        .unwrap()
        .with_max_concurrent(4);
    let df = reader.collect_concatenated().unwrap();
    println!("Loaded {} rows from multiple files", df.height());
    let expected = concat(
        (0..3)
            .map(|i| stock(&format!("data/ohlc_{i}.parquet")).lazy())
            .collect::<Vec<_>>(),
        UnionArgs::default(),
    )
    .unwrap()
    .collect()
    .unwrap();
    assert!(df.equals_missing(&expected));

    // Quick Start: predicate pushdown.
    let mut reader = AdaptiveStreamingReader::new("trades.parquet").unwrap();
    let predicate = ColumnFilterPredicate::new("symbol", vec!["AAPL".to_string()]);
    reader.with_predicate(predicate);
    let df = reader.collect().unwrap();
    println!("Loaded {} AAPL rows", df.height());
    let expected = stock("trades.parquet")
        .lazy()
        .filter(col("symbol").eq(lit("AAPL")))
        .collect()
        .unwrap();
    assert!(df.equals_missing(&expected));

    // Use case 1, with `DataFrame::filter` taking a mask as Polars 0.55 does.
    let reader = AdaptiveStreamingReader::new("large_file.parquet").unwrap();
    let batches = reader.collect_batches_adaptive(Some(2048)).unwrap();
    let mut errors_found = 0;
    for batch in batches {
        let errors = batch
            .filter(&batch.column("level").unwrap().str().unwrap().equal("ERROR"))
            .unwrap();
        errors_found += errors.height();
    }
    assert_eq!(errors_found, (0..50_000).filter(|i| i % 17 == 0).count());

    // Use case 2, with `group_by` (the document's `groupby` left Polars long ago).
    let reader = ParallelStreamReader::from_glob("data/ohlc_*.parquet")
        .unwrap()
        .with_max_concurrent(8);
    let df = reader.collect_concatenated().unwrap();
    let stats = df
        .lazy()
        .group_by([col("symbol")])
        .agg([
            col("close").mean().alias("avg_close"),
            col("volume").sum().alias("total_volume"),
        ])
        .sort(["symbol"], Default::default())
        .collect()
        .unwrap();
    assert_eq!(stats.height(), 4);

    // Configuration: custom chunk strategy and memory limits.
    let strategy = AdaptiveChunkStrategy::new(
        1_000,     // min_chunk_size
        1_000_000, // max_chunk_size
        0.8,       // target_memory_ratio (80% of available)
    );
    let reader = AdaptiveStreamingReader::new("large_file.parquet")
        .unwrap()
        .with_chunk_strategy(Arc::new(strategy));
    let batches = reader.collect_batches_adaptive(Some(4096)).unwrap();
    assert_eq!(batches.iter().map(|b| b.height()).sum::<usize>(), 50_000);

    // MmapParquetReader and MemoryManager, as the API reference names them.
    let mmap = MmapParquetReader::new("large_file.parquet").unwrap();
    assert!(mmap.num_row_groups() > 1);
    assert_eq!(mmap.total_rows(), 50_000);
    assert!(mmap.can_fit_in_memory(1024));
    assert!(mmap.estimate_row_size() > 0);
    let first = mmap.read_row_group(0).unwrap();
    assert_eq!(first.height(), mmap.row_group_num_rows(0));
    let mm = MemoryManager::new();
    assert!(mm.available_memory() > 0);
    assert!(mm.can_allocate(1 << 20));
}
