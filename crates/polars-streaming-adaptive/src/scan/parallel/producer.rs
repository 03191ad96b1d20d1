//! The producer thread of a parallel read: it takes a place in the window and permits for each
//! unit the walk yields, queues it with a helper job on Polars' pool, and sends file events.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender};
use polars::prelude::*;

use super::task::{Activity, Event, FileSlot, Message, Sequenced, Task};
use super::walk::{Step, Walk};
use super::ParallelStreamReader;
use crate::error::AdaptiveResult;
use crate::scan::file_scan::{FileScan, Unit};
use crate::scan::options::ScanOptions;

/// Whether the producer walked every file or stopped early (the consumer left, or an error
/// was sent).
pub(super) enum Flow {
    Finished,
    Stopped,
}

pub(super) struct Producer {
    pub(super) results: Sender<Sequenced>,
    pub(super) work: Sender<Task>,
    /// The queue's other end, for the helper jobs spawned on the pool.
    pub(super) helpers: Receiver<Task>,
    pub(super) permits: Receiver<()>,
    /// Places in the window of units ahead of the consumer, taken before permits.
    pub(super) places: Receiver<()>,
    pub(super) in_flight: usize,
    /// Bytes one permit is worth.
    pub(super) budget: usize,
    pub(super) seq: u64,
    /// Shared with every task (see `Task::run`).
    pub(super) activity: Arc<Activity>,
}

impl Producer {
    /// Sends `event` under the next sequence number, once a permit is free. `false` when the
    /// consumer is gone.
    pub(super) fn send(&mut self, message: PolarsResult<Message>) -> bool {
        if self.permits.recv().is_err() {
            return false;
        }
        let seq = self.seq;
        self.seq += 1;
        let next = Sequenced {
            seq,
            permits: 1,
            unit: false,
            message,
        };
        self.results.send(next).is_ok()
    }

    pub(super) fn run(
        &mut self,
        reader: ParallelStreamReader,
        same_schema: bool,
    ) -> AdaptiveResult<Flow> {
        let max_concurrent = reader.max_concurrent;
        let (slot_tx, slot_rx) = bounded(max_concurrent);
        for _ in 0..max_concurrent {
            slot_tx.send(()).unwrap();
        }
        let mut walk = Walk::new(reader, same_schema, self.budget);
        let open_slot = |wait: bool| {
            match wait {
                true => slot_rx.recv().ok(),
                false => slot_rx.try_recv().ok(),
            }
            .map(|()| FileSlot(slot_tx.clone()))
        };
        loop {
            let sent = match walk.next(open_slot)? {
                None => {
                    self.activity.walked.store(true, Ordering::Release);
                    return Ok(Flow::Finished);
                }
                Some(Step::File(scan)) => self.send(Ok(Message::Event(Event::File {
                    empty: scan.0.empty(),
                }))),
                Some(Step::Unit(scan, unit)) => self.queue(scan, unit, &walk.options),
            };
            if !sent {
                return Ok(Flow::Stopped);
            }
        }
    }

    /// Queues `unit` once it has a place in the window and its permits. `false` when the
    /// consumer is gone.
    fn queue(
        &mut self,
        scan: Arc<(FileScan, FileSlot)>,
        unit: Unit,
        options: &ScanOptions,
    ) -> bool {
        if self.places.recv().is_err() {
            return false;
        }
        let permits = unit
            .cost
            .div_ceil(self.budget.max(1))
            .clamp(1, self.in_flight);
        for _ in 0..permits {
            if self.permits.recv().is_err() {
                return false;
            }
        }
        let task = Task {
            seq: self.seq,
            permits,
            scan,
            unit,
            options: options.clone(),
            activity: self.activity.clone(),
        };
        self.seq += 1;
        if self.work.send(task).is_err() {
            return false;
        }
        // One helper per unit: it runs whichever unit is still queued when it starts, or
        // nothing when the consumer took them all.
        let (queue, results) = (self.helpers.clone(), self.results.clone());
        polars_core::runtime::RAYON.spawn(move || {
            if let Ok(task) = queue.try_recv() {
                task.run(&queue, |next| {
                    let _ = results.send(next);
                });
            }
        });
        true
    }
}
