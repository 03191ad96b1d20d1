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

/// "CPU model, N threads, M GiB", for benchmark reports.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let threads = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {threads} threads, {:.0} GiB", total_memory_gib())
}

/// Today's date as `date +%Y-%m-%d` prints it (empty if `date` cannot run).
pub fn today() -> String {
    std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Caps the address space of the child `cmd` starts at `bytes` (`RLIMIT_AS`): an allocation
/// past it fails in the child, which the child's allocator turns into an abort.
#[cfg(unix)]
pub fn limit_address_space(cmd: &mut std::process::Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the closure only calls setrlimit, which is
    // async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(unix))]
pub fn limit_address_space(_cmd: &mut std::process::Command, _bytes: u64) {}
