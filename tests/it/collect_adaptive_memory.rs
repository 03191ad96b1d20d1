//! With a memory budget, tracked decoded batches in flight plus aggregation state stay within
//! it, and an aggregation whose state cannot fit fails clearly instead of growing.

use crate::common::{same_frame_aggregated, stock, write, Layout};
use polars::prelude::*;
use polars_adaptive::prelude::*;

fn ticks(dir: &std::path::Path, files: usize, rows: usize) -> std::path::PathBuf {
    for f in 0..files {
        let start = f * rows;
        let mix = |i: usize, s: u64| ((i as u64) ^ s).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 30;
        let mut df = df!(
            "trade_id" => (start..start + rows).map(|i| i as i64).collect::<Vec<_>>(),
            "symbol" => (start..start + rows).map(|i| format!("S{:03}", mix(i, 1) % 500)).collect::<Vec<_>>(),
            "side" => (start..start + rows).map(|i| if mix(i, 2) % 2 == 0 { "BUY" } else { "SELL" }).collect::<Vec<_>>(),
            "price" => (start..start + rows).map(|i| 100.0 + (mix(i, 3) % 10_000) as f64 / 100.0).collect::<Vec<_>>(),
            "volume" => (start..start + rows).map(|i| (mix(i, 4) % 1_000) as i64 + 1).collect::<Vec<_>>(),
        )
        .unwrap();
        let layout = Layout {
            row_group_size: 200_000,
            ..Layout::default()
        };
        write(&mut df, &dir.join(format!("{f}.parquet")), layout);
    }
    dir.join("*.parquet")
}

fn vwap(lf: LazyFrame) -> LazyFrame {
    lf.filter(col("side").eq(lit("BUY")))
        .group_by([col("symbol")])
        .agg([((col("price") * col("volume")).sum() / col("volume").sum()).alias("vwap")])
        .sort(["symbol"], SortMultipleOptions::default())
}

#[test]
fn batches_in_flight_plus_aggregation_state_stay_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let target = ticks(dir.path(), 3, 400_000);
    let budget = 8 << 20;
    let args = ScanArgsAdaptive::default().with_memory_budget(budget);
    let ours = vwap(LazyFrame::scan_adaptive(&target, args.clone()).unwrap())
        .collect_adaptive()
        .unwrap();
    same_frame_aggregated(&ours, &vwap(stock(&target)).collect().unwrap()).unwrap();
    let m = args.metrics();
    assert!(m.batches > 10, "{m}");
    assert!(
        m.memory_peak_bytes > 0 && m.memory_peak_bytes <= budget as u64,
        "{m}"
    );
}

#[test]
fn aggregation_state_larger_than_its_share_of_the_budget_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let target = ticks(dir.path(), 1, 400_000);
    // One group per row: the state grows with the input, far past 1 MiB / 4.
    let err = LazyFrame::scan_adaptive(
        &target,
        ScanArgsAdaptive::default().with_memory_budget(1 << 20),
    )
    .unwrap()
    .group_by([col("trade_id")])
    .agg([col("price").sum()])
    .collect_adaptive()
    .unwrap_err();
    assert!(err.to_string().contains("aggregation state"), "{err}");
}
