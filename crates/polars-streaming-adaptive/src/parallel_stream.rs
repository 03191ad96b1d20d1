//! `ParallelStreamReader`: many files read as one ordered stream of batches.
//!
//! A producer thread walks the files in order, opening at most `max_concurrent` at once, prunes
//! their row groups and cuts them into units, which it queues. A helper job per unit on Polars'
//! rayon pool decodes whichever unit is still queued, and so does the consumer while the batch it
//! needs next is not ready: a scan makes progress even when every pool thread is busy elsewhere
//! (or blocked in another scan's consumer). There are `in_flight` permits, each worth
//! `budget / in_flight` bytes. A unit takes as many as its cost needs (one, unless its pages are
//! huge; at most all of them, when it is decoded alone) before it is queued, and gives them back
//! once the consumer has moved past its batch. The consumer reorders results by sequence number:
//! output is file order, then row order, whatever order the threads finish in.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use polars::prelude::*;

use crate::adaptive_reader::concat_or_empty;
use crate::chunk_strategy::ChunkStrategy;
use crate::error::{catch_panic, AdaptiveError, AdaptiveResult};
use crate::file_scan::{Batch, BatchMap, FileScan, RowGroupFilter, ScanOptions, Unit};
use crate::memory_manager::{MemoryGuard, MemoryManager};
use crate::metrics::{ScanMetrics, ScanMetricsSnapshot};
use crate::mmap_reader::{ColumnThreads, MmapMode, MmapParquetReader};
use crate::paths::expand_paths;
use crate::predicate::PredicatePushdown;

/// Reads many Parquet files in parallel, in file order.
///
/// ```no_run
/// use polars::prelude::*;
/// use polars_streaming_adaptive::ParallelStreamReader;
///
/// fn main() -> PolarsResult<()> {
///     // Read all files in directory
///     let reader = ParallelStreamReader::from_glob("data/*.parquet")?
///         .with_max_concurrent(4);
///     // Collect all files into single DataFrame
///     let df = reader.collect_concatenated()?;
///     println!("Loaded {} rows from multiple files", df.height());
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct ParallelStreamReader {
    pub(crate) paths: Vec<PathBuf>,
    pub(crate) max_concurrent: usize,
    pub(crate) options: ScanOptions,
    pub(crate) row_limit: Option<usize>,
}

impl ParallelStreamReader {
    /// Reads `paths` in this order.
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Self {
            paths,
            max_concurrent: polars_core::runtime::RAYON.current_num_threads().max(1),
            options: ScanOptions::default(),
            row_limit: None,
        }
    }

    /// Reads the files a glob (or directory) names, sorted by path.
    pub fn from_glob(pattern: &str) -> PolarsResult<Self> {
        Ok(Self::new(expand_paths(Path::new(pattern))?))
    }

    /// Keeps at most `max` files open (mapped, footer parsed) at once.
    pub fn with_max_concurrent(mut self, max: usize) -> Self {
        self.max_concurrent = max.max(1);
        self
    }

    /// Keeps only rows passing `predicate`, skipping row groups it rules out; and-ed with any
    /// predicate already set.
    pub fn with_predicate(mut self, predicate: impl PredicatePushdown + 'static) -> Self {
        self.options.add_predicate(Arc::new(predicate));
        self
    }

    /// Returns only `columns`, in this order.
    pub fn with_projection<S: Into<PlSmallStr>>(
        mut self,
        columns: impl IntoIterator<Item = S>,
    ) -> Self {
        self.options.projection = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Reads only the first `rows` rows of the files (all of them for `None`), counted before
    /// the predicate as stock's `n_rows` counts them: no unit past them is decoded.
    pub fn with_row_limit(mut self, rows: Option<usize>) -> Self {
        self.row_limit = rows;
        self
    }

    /// Caps decoded bytes in flight, over all threads, at `bytes`.
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.options.memory = self.options.memory.with_budget(bytes);
        self
    }

    /// Sizes batches with `strategy`.
    pub fn with_chunk_strategy(mut self, strategy: Arc<dyn ChunkStrategy>) -> Self {
        self.options.strategy = strategy;
        self
    }

    /// Adds a first column `row_index.name` numbering the rows of all files from
    /// `row_index.offset`, counted before any filter (stock Polars' `row_index`).
    pub fn with_row_index(mut self, row_index: Option<RowIndex>) -> Self {
        self.options.row_index = row_index;
        self
    }

    /// Adds a last column `name` holding each row's file path (stock `include_file_paths`).
    pub fn with_include_file_paths(mut self, name: Option<PlSmallStr>) -> Self {
        self.options.file_path_column = name;
        self
    }

    /// Maps the files, or reads them, as `mode` says (default [`MmapMode::Auto`]).
    pub fn with_mmap_mode(mut self, mode: MmapMode) -> Self {
        self.options.mmap_mode = mode;
        self
    }

    /// Counts batches in flight with `memory` (shared with the caller, who may track more).
    pub fn with_memory_manager(mut self, memory: MemoryManager) -> Self {
        self.options.memory = memory;
        self
    }

    /// Runs `map` on every batch on the thread that decoded it (a worker of Polars' pool, or
    /// the consumer), so that per-batch work runs in parallel with decoding; the batches
    /// [`Self::batches`] yields are its outputs, in the same order. An error of `map` ends the
    /// stream like a decode error.
    pub fn with_batch_map(mut self, map: BatchMap) -> Self {
        self.options.map = Some(map);
        self
    }

    /// Reads only the row groups `filter` accepts; the others are left out without a trace
    /// in the metrics (a caller that answers them from statistics counts them itself).
    pub fn with_row_group_filter(mut self, filter: RowGroupFilter) -> Self {
        self.options.row_groups = Some(filter);
        self
    }

    /// Counts into `metrics`, e.g. a handle the caller keeps to read after the scan.
    pub fn with_metrics(mut self, metrics: Arc<ScanMetrics>) -> Self {
        self.options.metrics = metrics;
        self
    }

    /// The schema of this reader's output for files of schema `file`: the row index, the
    /// file's columns (or the projection), the file path.
    pub fn output_schema(&self, file: &Schema) -> Schema {
        let full = self.options.full_schema(file);
        match &self.options.projection {
            Some(cols) => cols
                .iter()
                .filter_map(|c| full.get(c).map(|d| (c.clone(), d.clone())))
                .collect(),
            None => full,
        }
    }

    /// The files, in output order.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// What the reader has done so far.
    pub fn metrics(&self) -> ScanMetricsSnapshot {
        self.options.metrics.snapshot()
    }

    /// Batches of all files, in file order then row order. Every file must have the first
    /// file's schema. A batch counts against the budget until the next call to `next`.
    pub fn batches(self) -> ParallelBatches {
        ParallelBatches {
            events: Events::start(self, true),
        }
    }

    /// The units of this read, in output order, for a caller that decodes them on threads
    /// of its own (the streaming engine, through `polars-adaptive-plan`'s unit source). They
    /// are cut to the size `batches` gives them; the caller bounds how many are in flight.
    pub fn units(self) -> ReadUnits {
        let (_, budget) = permits_and_budget(&self.options);
        ReadUnits {
            walk: Walk::new(self, true, budget),
            failed: false,
        }
    }

    /// One frame per file, in path order. Files may differ in schema.
    pub fn collect_parallel(self) -> PolarsResult<Vec<DataFrame>> {
        let mut frames: Vec<(Vec<DataFrame>, DataFrame)> = Vec::new();
        let mut events = Events::start(self, false);
        while let Some(event) = events.next_event() {
            match event? {
                Event::File { empty } => frames.push((Vec::new(), empty)),
                Event::Batch { df, .. } => frames.last_mut().unwrap().0.push(df),
            }
        }
        frames
            .into_iter()
            .map(|(dfs, empty)| concat_or_empty(dfs, || empty))
            .collect()
    }

    /// All files in one frame, in path order.
    pub fn collect_concatenated(self) -> PolarsResult<DataFrame> {
        let mut dfs = Vec::new();
        let mut empty = None;
        let mut events = Events::start(self, true);
        while let Some(event) = events.next_event() {
            match event? {
                Event::File { empty: e } => {
                    empty.get_or_insert(e);
                }
                Event::Batch { df, .. } => dfs.push(df),
            }
        }
        concat_or_empty(dfs, || empty.unwrap_or_default())
    }
}

/// Iterator over the batches of a [`ParallelStreamReader`].
#[derive(Debug)]
pub struct ParallelBatches {
    events: Events,
}

impl Iterator for ParallelBatches {
    type Item = PolarsResult<DataFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.events.next_event()? {
                Ok(Event::File { .. }) => continue,
                Ok(Event::Batch { df, guard }) => {
                    self.events.held = Some(guard);
                    return Some(Ok(df));
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[derive(Debug)]
enum Event {
    /// A file was opened; `empty` is its output schema, for files that yield no rows.
    File { empty: DataFrame },
    /// A batch of the file opened last.
    Batch { df: DataFrame, guard: MemoryGuard },
}

/// What travels from the producer and the decoding threads to the consumer.
#[derive(Debug)]
enum Message {
    Event(Event),
    /// The producer walked every file: nothing follows. A stream that ends without it was cut
    /// short, and says so.
    End,
}

/// A message, its place in the output order, and the permits it holds.
#[derive(Debug)]
struct Sequenced {
    seq: u64,
    permits: usize,
    /// Whether it is a unit's batch, which holds a place in the window of units.
    unit: bool,
    message: PolarsResult<Message>,
}

/// One unit to decode, queued by the producer and run by whichever thread takes it first: a
/// helper job on Polars' pool or the consumer itself.
#[derive(Debug)]
struct Task {
    seq: u64,
    permits: usize,
    scan: Arc<(FileScan, FileSlot)>,
    unit: Unit,
    options: ScanOptions,
    activity: Arc<Activity>,
}

/// What the threads of one read are doing, for `Task::run` to decide whether a unit's
/// columns are worth decoding in parallel.
#[derive(Debug, Default)]
struct Activity {
    /// The producer has queued the read's last unit.
    walked: AtomicBool,
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
    fn run(self, queue: &Receiver<Task>, deliver: impl FnOnce(Sequenced)) {
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
fn decode(scan: &FileScan, unit: Unit, options: &ScanOptions) -> PolarsResult<Batch> {
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

/// The units of one read, in output order (see [`ParallelStreamReader::units`]).
pub struct ReadUnits {
    walk: Walk<()>,
    failed: bool,
}

impl std::fmt::Debug for ReadUnits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadUnits")
    }
}

impl Iterator for ReadUnits {
    type Item = PolarsResult<ReadUnit>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed {
            // As on the producer thread, a panic (a chunk strategy's, a predicate's pruning)
            // is an error after the units before it, never the end of the read.
            let step = catch_panic(
                || self.walk.next(|_| Some(())),
                |msg| AdaptiveError::Internal(format!("planning the scan's units panicked: {msg}")),
            );
            match step {
                Ok(None) => return None,
                Ok(Some(Step::File(_))) => continue,
                Ok(Some(Step::Unit(scan, unit))) => {
                    let options = self.walk.options.clone();
                    return Some(Ok(ReadUnit {
                        scan,
                        unit,
                        options,
                    }));
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e.into()));
                }
            }
        }
        None
    }
}

/// One unit of a read: rows of one row group, decoded by [`ReadUnit::decode`] on any thread.
pub struct ReadUnit {
    scan: Arc<(FileScan, ())>,
    unit: Unit,
    options: ScanOptions,
}

impl std::fmt::Debug for ReadUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadUnit")
            .field("unit", &self.unit)
            .finish()
    }
}

impl ReadUnit {
    /// The unit's rows that pass the predicate, with the read's columns.
    pub fn decode(self) -> PolarsResult<DataFrame> {
        decode(&self.scan.0, self.unit, &self.options).map(|b| b.df)
    }
}

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
struct Events {
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
    held: Option<MemoryGuard>,
    done: bool,
}

impl Events {
    fn start(reader: ParallelStreamReader, same_schema: bool) -> Self {
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
        // Named for profiles and debuggers; `std::thread::spawn` fails the same way.
        let producer_thread = std::thread::Builder::new().name("adaptive-producer".into());
        let spawned = producer_thread.spawn(move || {
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

    fn next_event(&mut self) -> Option<PolarsResult<Event>> {
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
struct UnitWindow {
    places: Sender<()>,
    /// Places still to be added.
    growth: usize,
}

impl UnitWindow {
    fn new(start: usize, most: usize) -> (Self, Receiver<()>) {
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
const MIN_PERMIT_BYTES: usize = 8 << 20;

/// How many units may be in flight (queued, decoding, or decoded and waiting for their turn).
///
/// Results are handed out in sequence order and keep their permits until the consumer moves
/// past them, so a unit finished ahead of a slow one holds a permit while it waits. With one
/// permit per thread (plus the consumer's), a thread then has nothing to take until the slow
/// unit is done: on 2 threads the P1 profile kept 1.5 cores busy. Four units per thread keep
/// the pool busy behind a slow head (stock's Parquet source prefetches at least 16 row groups);
/// the permits split the budget, so the bound in bytes is unchanged, and a small budget keeps
/// fewer permits rather than cutting units below [`MIN_PERMIT_BYTES`].
fn permit_count(threads: usize, budget: usize) -> usize {
    let least = threads + 1;
    (budget / MIN_PERMIT_BYTES).clamp(least, 4 * threads + 2)
}

/// The permits of a read on Polars' pool and the bytes each is worth, which is also the size
/// units are cut to.
fn permits_and_budget(options: &ScanOptions) -> (usize, usize) {
    let threads = polars_core::runtime::RAYON.current_num_threads();
    let limit = options.memory.limit_bytes();
    let permits = permit_count(threads, limit);
    (permits, limit / permits)
}

/// Returns a file slot when the last unit of its file is done.
#[derive(Debug)]
struct FileSlot(Sender<()>);

impl Drop for FileSlot {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Whether the producer walked every file or stopped early (the consumer left, or an error
/// was sent).
enum Flow {
    Finished,
    Stopped,
}

/// Walks the files in order, prunes their row groups and cuts what is kept into units: the
/// producer thread pulls from it, and so does [`ParallelStreamReader::units`]. `S` is held with
/// each open file until its last unit is dropped (the producer's file slot).
struct Walk<S> {
    paths: std::vec::IntoIter<PathBuf>,
    options: ScanOptions,
    same_schema: bool,
    first: Option<(PathBuf, SchemaRef)>,
    /// Rows of the files opened so far: where the next file's row index starts.
    rows_before: usize,
    /// Rows the row limit still allows.
    left: Option<usize>,
    /// Bytes a unit is cut to.
    budget: usize,
    file: Option<FileCursor<S>>,
    /// The next files, in path order, each with its slot, their footers read ahead.
    ahead: VecDeque<Ahead<S>>,
}

/// A file whose footer (and, under a predicate, statistics) a job on Polars' pool reads while
/// the walk is still on earlier files; the file holds its slot from then on.
struct Ahead<S> {
    path: PathBuf,
    slot: S,
    reader: Arc<Claimed<MmapParquetReader>>,
}

type Work<T> = Box<dyn FnOnce() -> AdaptiveResult<T> + Send>;

/// Work done once, by whichever thread comes first: its job on Polars' pool, or the thread
/// that needs the result. That thread then waits only for work another thread is running,
/// never for work still queued, so it may be a thread of the pool itself.
struct Claimed<T> {
    work: Mutex<Option<Work<T>>>,
    done: Receiver<AdaptiveResult<T>>,
    done_tx: Sender<AdaptiveResult<T>>,
}

impl<T: Send + 'static> Claimed<T> {
    fn spawn(work: impl FnOnce() -> AdaptiveResult<T> + Send + 'static) -> Arc<Self> {
        let (done_tx, done) = bounded(1);
        let this = Arc::new(Self {
            work: Mutex::new(Some(Box::new(work))),
            done,
            done_tx,
        });
        let job = this.clone();
        polars_core::runtime::RAYON.spawn(move || {
            if let Some(work) = job.claim() {
                let _ = job.done_tx.send(Self::run(work));
            }
        });
        this
    }

    fn claim(&self) -> Option<Work<T>> {
        self.work.lock().unwrap().take()
    }

    fn run(work: Work<T>) -> AdaptiveResult<T> {
        catch_panic(work, |msg| {
            AdaptiveError::Internal(format!("reading a footer ahead panicked: {msg}"))
        })
    }

    /// Makes sure the work no longer runs: it never starts if it has not, and a run already
    /// under way is waited for.
    fn cancel(&self) {
        if self.claim().is_none() {
            let _ = self.done.recv();
        }
    }

    /// The result, computed here when no thread has started the work yet.
    fn take(&self) -> AdaptiveResult<T> {
        match self.claim() {
            Some(work) => Self::run(work),
            None => self.done.recv().unwrap_or_else(|_| {
                Err(AdaptiveError::Internal(
                    "reading a footer ahead stopped without a result".into(),
                ))
            }),
        }
    }
}

/// Where a [`Walk`] is inside its current file.
struct FileCursor<S> {
    scan: Arc<(FileScan, S)>,
    /// The next row group to look at.
    next_rg: usize,
    rg: usize,
    /// Row ranges of `rg` still to cut, the first from `offset`.
    ranges: std::vec::IntoIter<std::ops::Range<usize>>,
    range: std::ops::Range<usize>,
    with_rows: usize,
    pruned: usize,
    /// Whether the page index narrowed `rg` (see `Unit::narrowed`).
    narrowed: bool,
}

enum Step<S> {
    /// A file was opened.
    File(Arc<(FileScan, S)>),
    /// A unit of the file opened last.
    Unit(Arc<(FileScan, S)>, Unit),
}

impl<S> Walk<S> {
    fn new(reader: ParallelStreamReader, same_schema: bool, budget: usize) -> Self {
        Self {
            paths: reader.paths.into_iter(),
            options: reader.options,
            same_schema,
            first: None,
            rows_before: 0,
            left: reader.row_limit,
            budget,
            file: None,
            ahead: VecDeque::new(),
        }
    }

    /// The next step. `open_slot(wait)` is called before each file is opened: `None` from it
    /// ends the walk when `wait`, and says that no slot is free now otherwise.
    fn next(&mut self, open_slot: impl Fn(bool) -> Option<S>) -> AdaptiveResult<Option<Step<S>>> {
        loop {
            if self.left == Some(0) {
                return Ok(None);
            }
            if let Some(cursor) = &mut self.file {
                if let Some(unit) = cursor.next_unit(&mut self.left, self.budget, &self.options)? {
                    return Ok(Some(Step::Unit(cursor.scan.clone(), unit)));
                }
                if cursor.with_rows > 0 && cursor.pruned == cursor.with_rows {
                    self.options.metrics.add_pruned_file();
                }
                self.file = None;
                continue;
            }
            self.read_ahead(&open_slot);
            let (path, slot, reader) = match self.ahead.pop_front() {
                Some(Ahead { path, slot, reader }) => {
                    let reader = reader.take()?;
                    (path, slot, reader)
                }
                None => {
                    let Some(path) = self.paths.next() else {
                        return Ok(None);
                    };
                    let Some(slot) = open_slot(true) else {
                        return Ok(None);
                    };
                    let reader = read_footer(&path, &self.options)?;
                    (path, slot, reader)
                }
            };
            let file = open(
                reader,
                &self.options,
                &mut self.first,
                self.same_schema,
                self.rows_before,
            )?;
            if self.same_schema && self.options.projection.is_none() {
                // Later files may hold the same columns in another order; their batches are
                // stacked with the first file's, so they are read in its order.
                let order = file.output_schema().iter_names().cloned().collect();
                self.options.projection = Some(order);
            }
            self.rows_before = self
                .rows_before
                .checked_add(file.reader.total_rows())
                .ok_or_else(|| AdaptiveError::InvalidMetadata {
                    path: path.clone(),
                    reason: "the files' row counts add up to more than fits a row number".into(),
                })?;
            let scan = Arc::new((file, slot));
            self.file = Some(FileCursor {
                scan: scan.clone(),
                next_rg: 0,
                rg: 0,
                ranges: Vec::new().into_iter(),
                range: 0..0,
                with_rows: 0,
                pruned: 0,
                narrowed: false,
            });
            return Ok(Some(Step::File(scan)));
        }
    }
}

/// A read that stops early (a row limit, a consumer gone) leaves no footer being read behind
/// it: the caller may rewrite the files once the read is over, and a mapped page read after
/// a truncation raises SIGBUS.
impl<S> Drop for Walk<S> {
    fn drop(&mut self) {
        for ahead in &self.ahead {
            ahead.reader.cancel();
        }
    }
}

impl<S> Walk<S> {
    /// Queues the footers of the next files on Polars' pool, one per pool thread at most and
    /// only into free slots. On local files a footer and its statistics cost a few tenths of a
    /// millisecond, which the walk would otherwise spend file after file before it reaches the
    /// first row group worth reading (P2 prunes four files before its one unit).
    fn read_ahead(&mut self, open_slot: &impl Fn(bool) -> Option<S>) {
        let depth = polars_core::runtime::RAYON.current_num_threads().max(1);
        while self.ahead.len() < depth && !self.paths.as_slice().is_empty() {
            let Some(slot) = open_slot(false) else {
                return;
            };
            let path = self.paths.next().unwrap();
            let (p, options) = (path.clone(), self.options.clone());
            let reader = Claimed::spawn(move || read_footer(&p, &options));
            self.ahead.push_back(Ahead { path, slot, reader });
        }
    }
}

impl<S> FileCursor<S> {
    /// The file's next unit, `None` after its last.
    fn next_unit(
        &mut self,
        left: &mut Option<usize>,
        budget: usize,
        options: &ScanOptions,
    ) -> AdaptiveResult<Option<Unit>> {
        loop {
            if self.range.is_empty() {
                if let Some(range) = self.ranges.next() {
                    self.range = range;
                    continue;
                }
                if !self.next_row_group(left, options) {
                    return Ok(None);
                }
                continue;
            }
            if *left == Some(0) {
                return Ok(None);
            }
            let mut unit = self.scan.0.next_unit(
                self.rg,
                self.range.start,
                self.range.end,
                budget,
                options,
            )?;
            unit.narrowed = self.narrowed;
            if let Some(left) = left {
                unit.rows = unit.rows.min(*left);
                *left -= unit.rows;
            }
            self.range.start += unit.rows;
            return Ok(Some(unit));
        }
    }

    /// Moves to the next row group with rows to read. `false` when there is none.
    fn next_row_group(&mut self, left: &mut Option<usize>, options: &ScanOptions) -> bool {
        let file = &self.scan.0;
        while self.next_rg < file.reader.num_row_groups() {
            let rg = self.next_rg;
            self.next_rg += 1;
            let rows = file.reader.row_group_num_rows(rg);
            if rows == 0 || !file.wanted(rg, options) {
                continue;
            }
            self.with_rows += 1;
            if *left == Some(0) {
                return false;
            }
            if !file.keep_row_group(rg, options) {
                self.pruned += 1;
                // Its rows count towards the limit, which is taken before the predicate.
                *left = left.map(|l| l.saturating_sub(rows));
                continue;
            }
            // The page index narrows the rows read; not under a row limit, which counts the
            // rows of skipped pages too.
            let ranges = match left {
                None => file.page_ranges(rg, options),
                Some(_) => None,
            };
            self.rg = rg;
            self.narrowed = ranges
                .as_ref()
                .is_some_and(|r| r.iter().map(|r| r.len()).sum::<usize>() * 2 <= rows);
            self.ranges = ranges
                .unwrap_or_else(|| std::iter::once(0..rows).collect())
                .into_iter();
            return true;
        }
        false
    }
}

struct Producer {
    results: Sender<Sequenced>,
    work: Sender<Task>,
    /// The queue's other end, for the helper jobs spawned on the pool.
    helpers: Receiver<Task>,
    permits: Receiver<()>,
    /// Places in the window of units ahead of the consumer, taken before permits.
    places: Receiver<()>,
    in_flight: usize,
    /// Bytes one permit is worth.
    budget: usize,
    seq: u64,
    /// Shared with every task (see `Task::run`).
    activity: Arc<Activity>,
}

impl Producer {
    /// Sends `event` under the next sequence number, once a permit is free. `false` when the
    /// consumer is gone.
    fn send(&mut self, message: PolarsResult<Message>) -> bool {
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

    fn run(&mut self, reader: ParallelStreamReader, same_schema: bool) -> AdaptiveResult<Flow> {
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

/// Opens `path` and parses its footer, and its statistics when a predicate will prune with
/// them.
fn read_footer(path: &Path, options: &ScanOptions) -> AdaptiveResult<MmapParquetReader> {
    let reader = MmapParquetReader::open(path, options.mmap_mode)?;
    if options.predicate.is_some() {
        reader.statistics();
    }
    Ok(reader)
}

fn open(
    reader: MmapParquetReader,
    options: &ScanOptions,
    first: &mut Option<(PathBuf, SchemaRef)>,
    same_schema: bool,
    first_row: usize,
) -> AdaptiveResult<FileScan> {
    let path = reader.path().to_path_buf();
    options.metrics.add_file(reader.num_row_groups());
    if same_schema {
        match first {
            None => *first = Some((path, reader.schema().clone())),
            Some((first_path, schema)) => {
                if let Some(detail) = schema_difference(schema, reader.schema()) {
                    return Err(AdaptiveError::SchemaMismatch {
                        path,
                        first: first_path.clone(),
                        detail,
                    });
                }
            }
        }
    }
    FileScan::new(Arc::new(reader), options, first_row)
}

/// The first difference between two files' schemas, in words. Columns are matched by name,
/// as stock Polars matches them, so the order may differ.
pub(crate) fn schema_difference(expected: &Schema, found: &Schema) -> Option<String> {
    for (name, dtype) in expected.iter() {
        match found.get(name) {
            None => return Some(format!("column '{name}' is missing")),
            Some(d) if d != dtype => {
                return Some(format!("column '{name}' has dtype {d}, expected {dtype}"));
            }
            _ => {}
        }
    }
    let extra: Vec<_> = found
        .iter_names()
        .filter(|n| !expected.contains(n))
        .collect();
    (!extra.is_empty()).then(|| format!("extra columns {extra:?}"))
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
