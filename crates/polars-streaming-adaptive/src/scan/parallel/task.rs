//! What travels between the threads of a parallel read: a queued unit (`Task`), run by whichever
//! thread takes it first (a helper job on Polars' pool or the consumer), and the messages the
//! producer and the tasks send the consumer in sequence order.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use polars::prelude::*;

use crate::error::{catch_panic, AdaptiveError};
use crate::file::read::ColumnThreads;
use crate::memory::manager::MemoryGuard;
use crate::scan::file_scan::{Batch, FileScan, Unit};
use crate::scan::options::ScanOptions;

/// What the consumer receives: a file opened, or a batch of it.
#[derive(Debug)]
pub(super) enum Event {
    /// A file was opened; `empty` is its output schema, for files that yield no rows.
    File { empty: DataFrame },
    /// A batch of the file opened last.
    Batch { df: DataFrame, guard: MemoryGuard },
}

/// What travels from the producer and the decoding threads to the consumer.
#[derive(Debug)]
pub(super) enum Message {
    Event(Event),
    /// The producer walked every file: nothing follows. A stream that ends without it was cut
    /// short, and says so.
    End,
}

/// A message, its place in the output order, and the permits it holds.
#[derive(Debug)]
pub(super) struct Sequenced {
    pub(super) seq: u64,
    pub(super) permits: usize,
    /// Whether it is a unit's batch, which holds a place in the window of units.
    pub(super) unit: bool,
    pub(super) message: PolarsResult<Message>,
}

/// Returns a file slot when the last unit of its file is done.
#[derive(Debug)]
pub(super) struct FileSlot(pub(super) Sender<()>);

impl Drop for FileSlot {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// One unit to decode, queued by the producer and run by whichever thread takes it first: a
/// helper job on Polars' pool or the consumer itself.
#[derive(Debug)]
pub(super) struct Task {
    pub(super) seq: u64,
    pub(super) permits: usize,
    pub(super) scan: Arc<(FileScan, FileSlot)>,
    pub(super) unit: Unit,
    pub(super) options: ScanOptions,
    pub(super) activity: Arc<Activity>,
}

/// What the threads of one read are doing, for `Task::run` to decide whether a unit's
/// columns are worth decoding in parallel.
#[derive(Debug, Default)]
pub(super) struct Activity {
    /// The producer has queued the read's last unit.
    pub(super) walked: AtomicBool,
    /// Units being decoded.
    decoding: AtomicUsize,
}

impl Task {
    /// Decodes the unit, and runs the read's batch map on it.
    ///
    /// With a batch map (the execution layer's per-batch work, which consumes the unit on this
    /// thread) the unit's columns are decoded in parallel only when no other unit waits in
    /// `queue` and either none is being decoded (a read of one unit: P2) or the producer has
    /// queued them all (the last units of a read). Otherwise whole units keep the pool busy,
    /// and a thread waiting for a column another thread stole may itself steal a whole unit's
    /// helper job, holding back the unit the ordered stream needs next: P1 with columns always
    /// in parallel took 1.30 s and 2,121 ms of CPU against 0.92 s and 1,821 ms (`perf stat -r
    /// 4`). Without a batch map the batch goes to the consumer whole, and columns in parallel
    /// were the faster choice: P1's decode-only read took 0.67 s and 1,289 ms of CPU against
    /// 0.91 s and 1,716 ms, with 168 k page faults against 302 k. A unit alone on the pool
    /// (none waiting, none being decoded) has each thread take its next largest column
    /// (`ColumnThreads::LargestFirst`, P2).
    ///
    /// The outcome goes to `deliver` before the task lets go of its file: the task may hold
    /// the file's last reference, and unmapping a file whose pages the read touched took P2
    /// 0.6 ms, which the consumer need not wait for.
    pub(super) fn run(self, queue: &Receiver<Task>, deliver: impl FnOnce(Sequenced)) {
        let Self {
            seq,
            permits,
            scan,
            mut unit,
            options,
            activity,
        } = self;
        let others = activity.decoding.fetch_add(1, Ordering::AcqRel);
        let alone = queue.is_empty() && others == 0;
        let split =
            options.map.is_none() || (queue.is_empty() && activity.walked.load(Ordering::Acquire));
        unit.column_threads = match (alone, split) {
            (true, _) => ColumnThreads::LargestFirst,
            (false, true) => ColumnThreads::Split,
            (false, false) => ColumnThreads::One,
        };
        let event = decode(&scan.0, unit, &options).map(|b| {
            Message::Event(Event::Batch {
                df: b.df,
                guard: b.guard,
            })
        });
        activity.decoding.fetch_sub(1, Ordering::AcqRel);
        deliver(Sequenced {
            seq,
            permits,
            unit: true,
            message: event,
        });
        drop(scan);
    }
}

/// Decodes `unit` of `scan` and runs the options' map on it; a panic in either is an error.
pub(super) fn decode(scan: &FileScan, unit: Unit, options: &ScanOptions) -> PolarsResult<Batch> {
    let panicked = |msg| AdaptiveError::Decode {
        path: scan.reader.path().to_path_buf(),
        row_group: unit.row_group,
        column: "<batch>".into(),
        reason: msg,
    };
    let read = catch_panic(|| scan.read(unit, options), panicked).map_err(PolarsError::from);
    read.and_then(|b| match &options.map {
        Some(map) => {
            let df = catch_panic(|| Ok(map.0(b.df)), panicked)??;
            Ok(Batch { df, ..b })
        }
        None => Ok(b),
    })
}
