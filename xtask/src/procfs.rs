//! Figures the kernel reports in `/proc`: a process's peak RSS, the machine's memory.

/// The value of `key` (a `kB` line) in a `/proc` status-like file, in KiB.
fn kib(file: &str, key: &str) -> Option<u64> {
    std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
        l.strip_prefix(key)?
            .trim_start_matches(':')
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    })
}

/// This process's peak resident set size (VmHWM), in KiB; 0 where `/proc` is absent.
pub fn peak_rss_kib() -> u64 {
    polars_adaptive::testing::peak_rss_bytes().map_or(0, |b| (b >> 10) as u64)
}

/// The machine's memory (MemTotal), in GiB.
pub fn total_memory_gib() -> f64 {
    kib("/proc/meminfo", "MemTotal").map_or(0.0, |k| k as f64 / (1 << 20) as f64)
}
