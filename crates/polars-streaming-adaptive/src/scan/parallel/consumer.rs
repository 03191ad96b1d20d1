//! The consumer's end of a parallel read: events in sequence order, permits handed back, the
//! window of units ahead of it, and queued units decoded on its own thread while it waits.

use std::collections::BTreeMap;
use std::sync::Arc;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use polars::prelude::*;

use super::producer::{Flow, Producer};
use super::task::{Event, Message, Sequenced, Task};
use super::threads::spawn_producer;
use super::ParallelStreamReader;
use crate::error::{catch_panic, AdaptiveError};
use crate::memory::manager::MemoryGuard;
use crate::scan::options::ScanOptions;

/// The consumer's end: reorders events, hands permits back, and, on a thread of Polars' pool,
/// decodes queued units itself while the one it needs next is not ready.
///
/// **Architecture invariant:** the consumer never sleeps while a unit of its own scan waits in
/// the queue. It may run on a thread of Polars' pool (the in-memory engine runs the inputs of
/// a join or a union there), and the pool's helper jobs may all be queued behind it; sleeping
/// would then deadlock a pool of one or two threads. Sleeping is safe only when every issued
/// unit is already running on some thread, or not yet issued by the producer, which is a
/// thread of its own.
#[derive(Debug)]
pub(super) struct Events {
    results: Receiver<Sequenced>,
    /// Units not yet taken by any thread; disconnected once the producer is done.
    work: Receiver<Task>,
    work_open: bool,
    permits: Sender<()>,
    pending: BTreeMap<u64, Sequenced>,
    next_seq: u64,
    /// Permits of the message handed out last, given back at the next call.
    holding: usize,
    /// Places in the window of units queued ahead of the consumer (see `UnitWindow`).
    window: UnitWindow,
    /// Whether the message handed out last holds a place in the window.
    holding_unit: bool,
    pub(super) held: Option<MemoryGuard>,
    done: bool,
}

impl Events {
    pub(super) fn start(reader: ParallelStreamReader, same_schema: bool) -> Self {
        let threads = polars_core::runtime::RAYON.current_num_threads();
        let (in_flight, budget) = permits_and_budget(&reader.options);
        let (results_tx, results) = bounded(in_flight);
        let (work_tx, work) = unbounded();
        let (permits, permits_rx) = bounded(in_flight);
        for _ in 0..in_flight {
            permits.send(()).unwrap();
        }
        let (window, places) = UnitWindow::new(threads + 1, in_flight);
        let helpers = work.clone();
        // Never on Polars' compute pool: the producer waits for permits.
        let spawned = spawn_producer("adaptive-producer", move || {
            let mut producer = Producer {
                results: results_tx,
                work: work_tx,
                helpers,
                permits: permits_rx,
                places,
                in_flight,
                budget,
                seq: 0,
                activity: Arc::default(),
            };
            // A panic here (a chunk strategy's, a predicate's pruning) must reach the
            // consumer as an error after the batches before it, never as the stream's end.
            let outcome = catch_panic(
                || producer.run(reader, same_schema),
                |msg| AdaptiveError::Internal(format!("the scan's producer panicked: {msg}")),
            );
            match outcome {
                Ok(Flow::Finished) => {
                    producer.send(Ok(Message::End));
                }
                Ok(Flow::Stopped) => {}
                Err(e) => {
                    producer.send(Err(e.into()));
                }
            }
        });
        spawned.expect("failed to spawn the scan's producer thread");
        Self {
            results,
            work,
            work_open: true,
            permits,
            pending: BTreeMap::new(),
            next_seq: 0,
            holding: 0,
            window,
            holding_unit: false,
            held: None,
            done: false,
        }
    }

    pub(super) fn next_event(&mut self) -> Option<PolarsResult<Event>> {
        self.held = None;
        for _ in 0..std::mem::take(&mut self.holding) {
            let _ = self.permits.send(());
        }
        if std::mem::take(&mut self.holding_unit) {
            self.window.consumed();
        }
        if self.done {
            return None;
        }
        loop {
            if let Some(next) = self.pending.remove(&self.next_seq) {
                self.next_seq += 1;
                self.holding = next.permits;
                self.holding_unit = next.unit;
                return match next.message {
                    Ok(Message::Event(event)) => Some(Ok(event)),
                    Ok(Message::End) => {
                        self.done = true;
                        None
                    }
                    Err(e) => {
                        self.done = true;
                        Some(Err(e))
                    }
                };
            }
            // A finished unit comes first: the consumer decodes a queued unit itself only
            // when there is nothing to hand on.
            if let Ok(next) = self.results.try_recv() {
                self.pending.insert(next.seq, next);
                continue;
            }
            // Only a consumer on Polars' pool decodes units itself (see above); any other
            // thread waits, so that `POLARS_MAX_THREADS` threads decode, not one more.
            let helps =
                self.work_open && polars_core::runtime::RAYON.current_thread_index().is_some();
            let never = crossbeam_channel::never();
            let work = if helps { &self.work } else { &never };
            crossbeam_channel::select! {
                recv(self.results) -> msg => match msg {
                    Ok(next) => {
                        self.pending.insert(next.seq, next);
                    }
                    Err(_) => {
                        self.done = true;
                        return Some(Err(AdaptiveError::Internal(format!(
                            "the scan stopped before batch {} without an error",
                            self.next_seq
                        ))
                        .into()));
                    }
                },
                recv(work) -> task => match task {
                    Ok(task) => {
                        task.run(&self.work, |next| {
                            self.pending.insert(next.seq, next);
                        });
                    }
                    Err(_) => self.work_open = false,
                },
            }
        }
    }
}

/// How many units may be queued or decoded ahead of the consumer: one per thread and one more
/// at first, one more for every batch the consumer takes, up to the number of permits. A query
/// that stops after its first batches (`head` after a filter, which the scan does not see)
/// decodes as few units ahead as with one permit per thread; a full scan reaches the whole
/// window after a few batches. Each queued unit holds a place until the consumer has moved
/// past its batch; the producer takes a place before it takes permits, so waiting for one
/// never holds the other.
#[derive(Debug)]
pub(super) struct UnitWindow {
    places: Sender<()>,
    /// Places still to be added.
    growth: usize,
}

impl UnitWindow {
    pub(super) fn new(start: usize, most: usize) -> (Self, Receiver<()>) {
        let start = start.min(most);
        let (places, rx) = bounded(most);
        for _ in 0..start {
            places.send(()).unwrap();
        }
        let window = Self {
            places,
            growth: most - start,
        };
        (window, rx)
    }

    /// The consumer moved past a unit's batch: its place is free, and the window grows.
    fn consumed(&mut self) {
        let _ = self.places.send(());
        if self.growth > 0 {
            self.growth -= 1;
            let _ = self.places.send(());
        }
    }
}

/// Smallest share of the budget one permit is worth while there are more permits than
/// `threads + 1`: below it, more permits would only cut units smaller.
pub(super) const MIN_PERMIT_BYTES: usize = 8 << 20;

/// How many units may be in flight (queued, decoding, or decoded and waiting for their turn).
///
/// Results are handed out in sequence order and keep their permits until the consumer moves
/// past them, so a unit finished ahead of a slow one holds a permit while it waits. With one
/// permit per thread (plus the consumer's), a thread then has nothing to take until the slow
/// unit is done: on 2 threads the P1 profile kept 1.5 cores busy. Four units per thread keep
/// the pool busy behind a slow head (stock's Parquet source prefetches at least 16 row groups);
/// the permits split the budget, so the bound in bytes is unchanged, and a small budget keeps
/// fewer permits rather than cutting units below [`MIN_PERMIT_BYTES`].
pub(super) fn permit_count(threads: usize, budget: usize) -> usize {
    let least = threads + 1;
    (budget / MIN_PERMIT_BYTES).clamp(least, 4 * threads + 2)
}

/// The permits of a read on Polars' pool and the bytes each is worth, which is also the size
/// units are cut to.
pub(super) fn permits_and_budget(options: &ScanOptions) -> (usize, usize) {
    let threads = polars_core::runtime::RAYON.current_num_threads();
    let limit = options.memory.limit_bytes();
    let permits = permit_count(threads, limit);
    (permits, limit / permits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_grow_with_threads_and_never_shrink_units_below_the_floor() {
        let gib = 1 << 30;
        assert_eq!(permit_count(2, gib), 10);
        assert_eq!(permit_count(1, gib), 6);
        // A budget too small for more permits keeps one per thread and the consumer's.
        assert_eq!(permit_count(2, 16 << 20), 3);
        assert_eq!(permit_count(2, 0), 3);
        assert_eq!(permit_count(2, 40 << 20), 5);
    }
}
