//! Generated datasets.

use polars::prelude::*;

pub const FILES: usize = 4;
const SYMBOLS: usize = 500;

/// Ticks: sorted timestamp, ~500 symbols, side BUY/SELL, price, volume, unsorted trade_id.
pub fn ticks(start: usize, n: usize) -> PolarsResult<DataFrame> {
    let idx = start as i64..(start + n) as i64;
    let mix = |i: i64| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    let symbols: Vec<String> = (0..SYMBOLS).map(|s| format!("S{s:03}")).collect();
    df!(
        "timestamp" => idx.clone().map(|i| 1_700_000_000_000i64 + i * 10).collect::<Vec<_>>(),
        "symbol" => idx.clone().map(|i| symbols[(mix(i) % SYMBOLS as u64) as usize].as_str()).collect::<Vec<_>>(),
        "side" => idx.clone().map(|i| if mix(i + 7) % 2 == 0 { "BUY" } else { "SELL" }).collect::<Vec<_>>(),
        "price" => idx.clone().map(|i| 100.0 + (mix(i + 3) % 10_000) as f64 / 100.0).collect::<Vec<_>>(),
        "volume" => idx.clone().map(|i| (mix(i + 5) % 1_000) as i64 + 1).collect::<Vec<_>>(),
        "trade_id" => idx.map(|i| mix(i + 11) as i64).collect::<Vec<_>>(),
    )?
    .lazy()
    .with_column(col("timestamp").cast(DataType::Datetime(TimeUnit::Milliseconds, None)))
    .collect()
}
