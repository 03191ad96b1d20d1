//! Threads for work that blocks for a whole read (a scan's producer): from Polars' blocking
//! pool while it has room, otherwise threads of their own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Producers running on Polars' blocking pool now.
static POOLED: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` on a thread that may block until the read ends: one of Polars' blocking pool,
/// whose idle threads wait 10 s for more work (creating a thread took 0.35-0.7 ms of a
/// selective query, P2 from Python), while producers hold at most half of that pool, else a
/// new thread named `name`. Never Polars' compute pool. The half matters: a producer waits on
/// another (`BatchStream`'s on the reader's), and one queued behind a full pool would never
/// start (`POLARS_MAX_BLOCKING_THREAD_COUNT=1` hung a scan from Python).
///
/// ```
/// let (tx, rx) = std::sync::mpsc::channel();
/// polars_streaming_adaptive::spawn_producer("example", move || tx.send(42).unwrap())?;
/// assert_eq!(rx.recv().unwrap(), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn_producer(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    if POOLED.fetch_add(1, Ordering::SeqCst) < blocking_threads() / 2 {
        drop(polars_async::ASYNC.spawn_blocking(move || {
            let _slot = Slot;
            f()
        }));
        return Ok(());
    }
    POOLED.fetch_sub(1, Ordering::SeqCst);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
}

/// Gives the pool's place back however the producer ends.
struct Slot;

impl Drop for Slot {
    fn drop(&mut self) {
        POOLED.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The blocking pool's size as Polars 0.55.2 sets it (`polars-async`, `RuntimeManager::new`).
fn blocking_threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        std::env::var("POLARS_MAX_BLOCKING_THREAD_COUNT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(512)
    })
}
