//! The walk over a parallel read's files, in order: at most `max_concurrent` open, footers (and
//! statistics) read ahead on Polars' pool, row groups pruned, the rows left cut into units.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{bounded, Receiver, Sender};
use polars::prelude::*;

use super::ParallelStreamReader;
use crate::error::{catch_panic, AdaptiveError, AdaptiveResult};
use crate::file::reader::MmapParquetReader;
use crate::scan::file_scan::{FileScan, Unit};
use crate::scan::options::ScanOptions;

/// Walks the files in order, prunes their row groups and cuts what is kept into units: the
/// producer thread pulls from it, and so does [`ParallelStreamReader::units`]. `S` is held with
/// each open file until its last unit is dropped (the producer's file slot).
pub(super) struct Walk<S> {
    paths: std::vec::IntoIter<PathBuf>,
    pub(super) options: ScanOptions,
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
pub(super) struct Ahead<S> {
    path: PathBuf,
    slot: S,
    reader: Arc<Claimed<MmapParquetReader>>,
}

pub(super) type Work<T> = Box<dyn FnOnce() -> AdaptiveResult<T> + Send>;

/// Work done once, by whichever thread comes first: its job on Polars' pool, or the thread
/// that needs the result. That thread then waits only for work another thread is running,
/// never for work still queued, so it may be a thread of the pool itself.
pub(super) struct Claimed<T> {
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
pub(super) struct FileCursor<S> {
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

pub(super) enum Step<S> {
    /// A file was opened.
    File(Arc<(FileScan, S)>),
    /// A unit of the file opened last.
    Unit(Arc<(FileScan, S)>, Unit),
}

impl<S> Walk<S> {
    pub(super) fn new(reader: ParallelStreamReader, same_schema: bool, budget: usize) -> Self {
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
    pub(super) fn next(
        &mut self,
        open_slot: impl Fn(bool) -> Option<S>,
    ) -> AdaptiveResult<Option<Step<S>>> {
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

/// Opens `path` and parses its footer, and its statistics when a predicate will prune with
/// them.
pub(super) fn read_footer(path: &Path, options: &ScanOptions) -> AdaptiveResult<MmapParquetReader> {
    let mut reader = MmapParquetReader::open(path, options.mmap_mode, options.footers.as_ref())?;
    reader.set_categorical(options.decoded_categorical());
    if options.predicate.is_some() {
        reader.statistics();
    }
    Ok(reader)
}

pub(super) fn open(
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
