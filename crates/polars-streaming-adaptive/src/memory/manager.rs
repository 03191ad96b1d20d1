//! `MemoryManager`: how much memory the reader may use (the smallest of an explicit budget, the
//! container's cgroup limit and the machine's available memory) and how much it has in flight.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const MIB: usize = 1 << 20;

#[derive(Debug, Default)]
struct Usage {
    current: AtomicUsize,
    peak: AtomicUsize,
}

/// Tracks decoded bytes in flight against a limit. Cloning shares the counters.
///
/// ```
/// use polars_streaming_adaptive::MemoryManager;
/// let mm = MemoryManager::new().with_budget(64 << 20);
/// let guard = mm.track_usage(10 << 20);
/// assert_eq!(mm.current_usage(), 10);
/// assert!(!mm.can_allocate(60 << 20));
/// drop(guard);
/// assert_eq!(mm.current_usage(), 0);
/// assert_eq!(mm.peak_usage_bytes(), 10 << 20);
/// ```
#[derive(Debug, Clone)]
pub struct MemoryManager {
    budget: Option<usize>,
    usage: Arc<Usage>,
}

impl Default for MemoryManager {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryManager {
    /// A manager limited by the cgroup and the machine only.
    pub fn new() -> Self {
        Self {
            budget: None,
            usage: Arc::default(),
        }
    }

    /// Adds an explicit budget in bytes; the smaller of it and what the system allows applies.
    pub fn with_budget(mut self, bytes: usize) -> Self {
        self.budget = Some(bytes);
        self
    }

    /// The explicit budget in bytes, if one was set.
    pub fn budget(&self) -> Option<usize> {
        self.budget
    }

    /// The limit in bytes: the smallest of the budget, the cgroup's free memory and the
    /// machine's available memory.
    pub fn limit_bytes(&self) -> usize {
        let system = system_available_bytes();
        let cgroup = cgroup_available_bytes(Path::new("/"));
        [self.budget, cgroup, Some(system)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(usize::MAX)
    }

    /// Memory still available to this reader, in MiB: the limit less what is tracked.
    pub fn available_memory(&self) -> usize {
        self.available_bytes() / MIB
    }

    /// [`MemoryManager::available_memory`] in bytes.
    pub fn available_bytes(&self) -> usize {
        self.limit_bytes()
            .saturating_sub(self.current_usage_bytes())
    }

    /// Tracked memory in MiB.
    pub fn current_usage(&self) -> usize {
        self.current_usage_bytes() / MIB
    }

    /// Tracked memory in bytes.
    pub fn current_usage_bytes(&self) -> usize {
        self.usage.current.load(Ordering::Relaxed)
    }

    /// The highest tracked memory seen, in bytes.
    pub fn peak_usage_bytes(&self) -> usize {
        self.usage.peak.load(Ordering::Relaxed)
    }

    /// Whether `bytes` more would stay within the limit.
    pub fn can_allocate(&self, bytes: usize) -> bool {
        self.current_usage_bytes().saturating_add(bytes) <= self.limit_bytes()
    }

    /// Counts `bytes` as in use until the returned guard is dropped.
    #[must_use = "the bytes are released when the guard is dropped"]
    pub fn track_usage(&self, bytes: usize) -> MemoryGuard {
        let now = self.usage.current.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.usage.peak.fetch_max(now, Ordering::Relaxed);
        MemoryGuard {
            usage: self.usage.clone(),
            bytes,
        }
    }
}

/// Bytes counted by a [`MemoryManager`] until dropped.
#[derive(Debug)]
pub struct MemoryGuard {
    usage: Arc<Usage>,
    bytes: usize,
}

impl MemoryGuard {
    /// The bytes this guard holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for MemoryGuard {
    fn drop(&mut self) {
        self.usage.current.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

fn system_available_bytes() -> usize {
    let Ok(mut sys) = sysinfo::System::new() else {
        return usize::MAX;
    };
    sys.refresh_memory();
    usize::try_from(sys.available_memory()).unwrap_or(usize::MAX)
}

/// Free memory under this process's cgroup limit (v2, else v1), read below `root` (`/` in
/// production, a fixture directory in tests). `None` when there is no limit.
pub(crate) fn cgroup_available_bytes(root: &Path) -> Option<usize> {
    let read = |p: &Path| std::fs::read_to_string(root.join(p.strip_prefix("/").unwrap_or(p))).ok();
    let own = read(Path::new("/proc/self/cgroup")).unwrap_or_default();
    // cgroup v2: a line "0::/path"; the limit is memory.max of that group (or of the namespace
    // root when the container sees itself as "/").
    if let Some(rel) = own.lines().find_map(|l| l.strip_prefix("0::")) {
        for dir in [format!("/sys/fs/cgroup{rel}"), "/sys/fs/cgroup".to_string()] {
            let dir = Path::new(&dir);
            if let Some(max) = read(&dir.join("memory.max")) {
                let max = max.trim();
                if max == "max" {
                    return None;
                }
                let max: usize = max.parse().ok()?;
                let used = read(&dir.join("memory.current"))
                    .and_then(|s| s.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                let stat = read(&dir.join("memory.stat")).unwrap_or_default();
                let reclaimable =
                    clean_page_cache(&stat, "file", &["file_dirty", "file_writeback"]);
                return Some(max.saturating_sub(used.saturating_sub(reclaimable)));
            }
        }
    }
    // cgroup v1: "N:memory:/path" (or a line listing memory among other controllers).
    let rel = own.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then_some(path)
    });
    let candidates = rel
        .map(|r| format!("/sys/fs/cgroup/memory{r}"))
        .into_iter()
        .chain(["/sys/fs/cgroup/memory".to_string()]);
    for dir in candidates {
        let dir = Path::new(&dir);
        if let Some(limit) = read(&dir.join("memory.limit_in_bytes")) {
            let limit: u64 = limit.trim().parse().ok()?;
            // v1 reports "no limit" as a huge page-aligned number.
            if limit >= (1u64 << 60) {
                return None;
            }
            let used = read(&dir.join("memory.usage_in_bytes"))
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(0);
            let stat = read(&dir.join("memory.stat")).unwrap_or_default();
            let reclaimable =
                clean_page_cache(&stat, "total_cache", &["total_dirty", "total_writeback"]);
            let used = used.saturating_sub(reclaimable as u64);
            return usize::try_from(limit.saturating_sub(used)).ok();
        }
    }
    None
}

/// Clean page cache in a cgroup's `memory.stat`: the `cache` counter less the `unclean` ones.
///
/// The group's usage counts the page cache, the pages of a mapped input file included, so
/// reading a large file would seem to use up the limit. Clean file pages are dropped by the
/// kernel before the group runs out of memory, so they are not counted as used.
fn clean_page_cache(stat: &str, cache: &str, unclean: &[&str]) -> usize {
    let value = |key: &str| {
        stat.lines()
            .find_map(|l| {
                l.strip_prefix(key)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse::<usize>()
                    .ok()
            })
            .unwrap_or(0)
    };
    unclean
        .iter()
        .fold(value(cache), |clean, key| clean.saturating_sub(value(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        dir
    }

    #[test]
    fn cgroup_v2_limit_less_usage_is_available() {
        let d = fixture(&[
            ("proc/self/cgroup", "0::/job\n"),
            ("sys/fs/cgroup/job/memory.max", "1073741824\n"),
            ("sys/fs/cgroup/job/memory.current", "73741824\n"),
        ]);
        assert_eq!(cgroup_available_bytes(d.path()), Some(1_000_000_000));
    }

    #[test]
    fn cgroup_v2_clean_page_cache_is_not_counted_as_used() {
        // 600 MB used, of which 500 MB page cache (a mapped input), 20 MB of it dirty.
        let d = fixture(&[
            ("proc/self/cgroup", "0::/job\n"),
            ("sys/fs/cgroup/job/memory.max", "1000000000\n"),
            ("sys/fs/cgroup/job/memory.current", "600000000\n"),
            (
                "sys/fs/cgroup/job/memory.stat",
                "anon 100000000\nfile 500000000\nfile_mapped 480000000\nfile_dirty 20000000\nfile_writeback 0\n",
            ),
        ]);
        assert_eq!(cgroup_available_bytes(d.path()), Some(880_000_000));
    }

    #[test]
    fn cgroup_v1_clean_page_cache_is_not_counted_as_used() {
        let d = fixture(&[
            ("proc/self/cgroup", "4:memory:/job\n"),
            ("sys/fs/cgroup/memory/job/memory.limit_in_bytes", "1000000000\n"),
            ("sys/fs/cgroup/memory/job/memory.usage_in_bytes", "600000000\n"),
            (
                "sys/fs/cgroup/memory/job/memory.stat",
                "cache 1\nrss 2\ntotal_cache 500000000\ntotal_rss 100000000\ntotal_dirty 20000000\n",
            ),
        ]);
        assert_eq!(cgroup_available_bytes(d.path()), Some(880_000_000));
    }

    #[test]
    fn cgroup_v2_max_means_no_limit() {
        let d = fixture(&[
            ("proc/self/cgroup", "0::/\n"),
            ("sys/fs/cgroup/memory.max", "max\n"),
        ]);
        assert_eq!(cgroup_available_bytes(d.path()), None);
    }

    #[test]
    fn cgroup_v1_limit_is_read_from_memory_controller() {
        let d = fixture(&[
            (
                "proc/self/cgroup",
                "5:cpu,cpuacct:/x\n4:memory:/docker/abc\n",
            ),
            (
                "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
                "536870912\n",
            ),
            (
                "sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes",
                "36870912\n",
            ),
        ]);
        assert_eq!(cgroup_available_bytes(d.path()), Some(500_000_000));
    }

    #[test]
    fn cgroup_v1_unlimited_sentinel_means_no_limit() {
        let d = fixture(&[
            ("proc/self/cgroup", "4:memory:/\n"),
            (
                "sys/fs/cgroup/memory/memory.limit_in_bytes",
                "9223372036854771712\n",
            ),
        ]);
        assert_eq!(cgroup_available_bytes(d.path()), None);
    }

    #[test]
    fn explicit_budget_caps_the_limit() {
        let mm = MemoryManager::new().with_budget(1 << 20);
        assert_eq!(mm.limit_bytes(), 1 << 20);
        assert_eq!(mm.available_memory(), 1);
    }
}
