//! `sort(by).head(k)` (and `top_k`, `bottom_k`) over the source: the first k rows kept batch
//! by batch, and row groups none of whose rows can rank among the k rows held left unread.
//!
//! **Keeping k rows.** Each batch is sorted and cut to k rows by the decoding thread, with the
//! plan's own sort options (Polars' executors, compiled once per thread); the consumer does the
//! same to the rows it holds plus the batch. Under `maintain_order` the scan runs in file
//! order and every sort is stable, so among equal keys the earlier row wins, as in stock.
//!
//! **Skipping row groups.** When the first sort key is an integer, date or datetime column of
//! the files that reaches the sort unchanged, each row group's statistics bound the best key
//! any of its rows can have (its max for a descending sort, its min otherwise; null when
//! nulls sort first and it may hold one). Once k rows are held, a row group whose bound ranks
//! strictly after the k-th held key cannot contribute and is not read. Without
//! `maintain_order` the row groups are read in rounds, best bound first, so the k rows that
//! rule out the rest are found early; under `maintain_order`, or with a row index (which
//! numbers rows in file order), they are read in file order and skipped as the held k-th key
//! improves. A slice pushed into the scan (stock's `n_rows`) counts skipped rows, so nothing is
//! skipped then.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use polars::prelude::*;
use polars_adaptive_plan::AdaptiveSource;
use polars_streaming_adaptive::{MemoryGuard, MemoryManager, RowGroupFilter};

use crate::batch_exec::{BatchExec, BatchExecPool};
use crate::error::ExecError;

/// The first `k` rows of `sort_by_exprs(by, options)` over the row-local chain's output, of
/// which the plan keeps those from `offset` on.
#[derive(Clone)]
pub(crate) struct TopKPlan {
    pub offset: usize,
    /// Rows kept: the sort's slice offset plus its length.
    pub k: usize,
    pub by: Vec<Expr>,
    pub options: SortMultipleOptions,
    /// The first sort key when it is a file column whose statistics bound it (see the module).
    pub key: Option<PlSmallStr>,
    /// The schema of the rows sorted (the row-local chain's output).
    pub input_schema: SchemaRef,
}

impl TopKPlan {
    /// Sorts a frame and keeps its first k rows, compiled once per thread.
    pub(crate) fn compile(&self) -> BatchExecPool {
        let plan = self.clone();
        BatchExecPool::new(move || plan.sorted(0, plan.k))
    }

    /// The sort's answer from the rows held: sorted, from the offset on.
    pub(crate) fn answer(&self, held: DataFrame) -> PolarsResult<DataFrame> {
        self.sorted(self.offset, self.k - self.offset)?.run(held)
    }

    /// Sorts a frame and keeps `len` rows from `offset`.
    fn sorted(&self, offset: usize, len: usize) -> PolarsResult<BatchExec> {
        let (by, options) = (self.by.clone(), self.options.clone());
        BatchExec::from_lazy(self.input_schema.clone(), move |lf| {
            lf.sort_by_exprs(by, options)
                .slice(offset as i64, len as IdxSize)
        })
    }

    fn order(&self) -> KeyOrder {
        KeyOrder {
            descending: self.options.descending.first().copied().unwrap_or(false),
            nulls_last: self.options.nulls_last.first().copied().unwrap_or(false),
        }
    }
}

/// A value of the first sort key, as its physical integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Null,
    Value(i128),
}

impl Key {
    fn of(v: &AnyValue<'_>) -> Option<Self> {
        match v {
            AnyValue::Null => Some(Key::Null),
            v => v.extract::<i128>().map(Key::Value),
        }
    }
}

/// Where the first sort key puts a row.
#[derive(Debug, Clone, Copy)]
struct KeyOrder {
    descending: bool,
    nulls_last: bool,
}

impl KeyOrder {
    /// How a row keyed `a` ranks against one keyed `b` (`Less`: `a` comes first).
    fn cmp(self, a: Key, b: Key) -> Ordering {
        let null_rank = if self.nulls_last {
            Ordering::Greater
        } else {
            Ordering::Less
        };
        match (a, b) {
            (Key::Null, Key::Null) => Ordering::Equal,
            (Key::Null, Key::Value(_)) => null_rank,
            (Key::Value(_), Key::Null) => null_rank.reverse(),
            (Key::Value(x), Key::Value(y)) if self.descending => y.cmp(&x),
            (Key::Value(x), Key::Value(y)) => x.cmp(&y),
        }
    }
}

/// A row group of the scan and the best-ranked key any of its rows can have (`None`: its
/// statistics do not say).
#[derive(Debug, Clone)]
struct Candidate {
    path: PathBuf,
    row_group: usize,
    rows: usize,
    best: Option<Key>,
}

/// The k-th key held so far and each row group's bound: what decides a skip, shared by the
/// consumer (which raises the bar) and the scan's producer (which asks before each row group).
struct Bar {
    order: KeyOrder,
    key: PlSmallStr,
    k: usize,
    bounds: PlHashMap<(PathBuf, usize), Option<Key>>,
    kth: Mutex<Option<Key>>,
    /// Row groups the scan was allowed to read.
    read: AtomicUsize,
}

impl Bar {
    /// Whether a row group bounded by `best` cannot rank among the k rows held.
    fn rules_out(&self, best: Option<Key>) -> bool {
        let kth = *self.kth.lock().unwrap_or_else(|e| e.into_inner());
        match (best, kth) {
            (Some(best), Some(kth)) => self.order.cmp(best, kth) == Ordering::Greater,
            _ => false,
        }
    }

    /// Whether the scan reads row group `rg` of `path` (counting the ones it reads).
    fn admit(&self, path: &std::path::Path, rg: usize) -> bool {
        let best = self
            .bounds
            .get(&(path.to_path_buf(), rg))
            .copied()
            .flatten();
        let read = !self.rules_out(best);
        if read {
            self.read.fetch_add(1, AtomicOrdering::Relaxed);
        }
        read
    }
}

/// Row groups of a top-k's scan skipped by their statistics, read in one or more rounds.
pub(crate) struct Skipping {
    bar: Arc<Bar>,
    /// The row groups with rows: best bound first (unknown bounds before every known one)
    /// when in rounds, else in file order.
    candidates: Vec<Candidate>,
    /// The source's files, in its order.
    paths: Vec<PathBuf>,
    /// Candidates handed to a round so far.
    next: usize,
    round_size: usize,
    in_rounds: bool,
}

impl Skipping {
    /// The bounds of every row group of `source` with rows; `None` when the plan cannot skip
    /// (no usable key, statistics off, a slice pushed into the scan, or a file that does not
    /// open, which the scan then reports).
    pub(crate) fn try_new(
        plan: &TopKPlan,
        source: &AdaptiveSource,
        scan_limit: Option<usize>,
    ) -> Option<Self> {
        let key = plan.key.clone()?;
        let args = source.args();
        if !args.use_statistics || scan_limit.is_some() || plan.k == 0 {
            return None;
        }
        let dtype = source.file_schema().get(&key)?.clone();
        let order = plan.order();
        let mut candidates = Vec::new();
        for path in source.paths() {
            let reader = source.open_reader(path).ok()?;
            for rg in (0..reader.num_row_groups()).filter(|&rg| source.selects(path, rg)) {
                let rows = reader.row_group_num_rows(rg);
                if rows > 0 {
                    let stats = reader.row_group_statistics(rg);
                    candidates.push(Candidate {
                        path: path.clone(),
                        row_group: rg,
                        rows,
                        best: best_key(stats, &key, &dtype, order),
                    });
                }
            }
        }
        // Rounds reorder the row groups: not under `maintain_order` (ties go to the earlier
        // row) nor with a row index (rows are numbered per file read).
        let in_rounds = !plan.options.maintain_order && args.row_index.is_none();
        if in_rounds {
            candidates.sort_by(|a, b| match (a.best, b.best) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(a), Some(b)) => order.cmp(a, b),
            });
        }
        let bounds = candidates
            .iter()
            .map(|c| ((c.path.clone(), c.row_group), c.best))
            .collect();
        let bar = Bar {
            order,
            key,
            k: plan.k,
            bounds,
            kth: Mutex::new(None),
            read: AtomicUsize::new(0),
        };
        Some(Self {
            bar: Arc::new(bar),
            candidates,
            paths: source.paths().to_vec(),
            next: 0,
            round_size: polars_core::runtime::RAYON.current_num_threads().max(1),
            in_rounds,
        })
    }

    /// The next round: the files to open (all when `None`) and which of their row groups to
    /// read; `None` when every row group was read or ruled out. In file order there is one
    /// round, whose row groups are skipped as the bar rises.
    pub(crate) fn next_round(&mut self) -> Option<(Option<Vec<PathBuf>>, RowGroupFilter)> {
        if self.next == self.candidates.len() {
            return None;
        }
        if !self.in_rounds {
            self.next = self.candidates.len();
            let bar = self.bar.clone();
            let filter = move |path: &std::path::Path, rg: usize| bar.admit(path, rg);
            return Some((None, RowGroupFilter(Arc::new(filter))));
        }
        // Enough row groups for k rows and one per thread, then twice as many each round.
        let (mut rows, mut taken) = (0usize, PlHashSet::new());
        while self.next < self.candidates.len()
            && (taken.len() < self.round_size || rows < self.bar.k)
        {
            let c = &self.candidates[self.next];
            self.next += 1;
            if !self.bar.rules_out(c.best) {
                rows += c.rows;
                taken.insert((c.path.clone(), c.row_group));
            }
        }
        self.round_size *= 2;
        if taken.is_empty() {
            return None;
        }
        let paths = self
            .paths
            .iter()
            .filter(|p| taken.iter().any(|(t, _)| t == *p))
            .cloned()
            .collect();
        let bar = self.bar.clone();
        let filter = move |path: &std::path::Path, rg: usize| {
            taken.contains(&(path.to_path_buf(), rg)) && bar.admit(path, rg)
        };
        Some((Some(paths), RowGroupFilter(Arc::new(filter))))
    }

    /// Notes the rows held now, sorted and cut to k rows: the k-th key is the bar.
    fn hold(&self, held: &DataFrame) -> PolarsResult<()> {
        let bar = &self.bar;
        if held.height() < bar.k {
            return Ok(());
        }
        let kth = held.column(&bar.key)?.get(bar.k - 1)?;
        if let Some(kth) = Key::of(&kth) {
            *bar.kth.lock().unwrap_or_else(|e| e.into_inner()) = Some(kth);
        }
        Ok(())
    }

    /// Row groups left unread.
    pub(crate) fn skipped(&self) -> usize {
        self.candidates.len() - self.bar.read.load(AtomicOrdering::Relaxed)
    }
}

/// The row groups a top-k over unfiltered rows can need, from statistics alone, before any
/// row is read (for planning splits): once row groups holding at least k rows all rank at or
/// above a bar (their worst keys), a row group whose best key ranks below the bar holds none
/// of the k rows, whatever breaks ties. `None` when nothing is known to be left out.
pub(crate) fn needed_row_groups(
    plan: &TopKPlan,
    source: &AdaptiveSource,
) -> Option<RowGroupFilter> {
    let key = plan.key.clone()?;
    if !source.args().use_statistics || plan.k == 0 {
        return None;
    }
    let dtype = source.file_schema().get(&key)?.clone();
    let order = plan.order();
    // The worst key a row can have is the best one in the reversed order.
    let reversed = KeyOrder {
        descending: !order.descending,
        nulls_last: !order.nulls_last,
    };
    let mut groups = Vec::new();
    for path in source.paths() {
        let reader = source.open_reader(path).ok()?;
        for rg in (0..reader.num_row_groups()).filter(|&rg| source.selects(path, rg)) {
            let stats = reader.row_group_statistics(rg);
            groups.push((
                (path.clone(), rg),
                reader.row_group_num_rows(rg),
                best_key(stats, &key, &dtype, order),
                best_key(stats, &key, &dtype, reversed),
            ));
        }
    }
    let mut known: Vec<(usize, Key)> = groups
        .iter()
        .filter_map(|(_, rows, _, worst)| worst.map(|w| (*rows, w)))
        .collect();
    known.sort_by(|a, b| order.cmp(a.1, b.1));
    let mut rows = 0;
    let bar = known.into_iter().find_map(|(n, worst)| {
        rows += n;
        (rows >= plan.k).then_some(worst)
    })?;
    let needed: PlHashSet<(PathBuf, usize)> = groups
        .into_iter()
        .filter(|(_, _, best, _)| best.is_none_or(|b| order.cmp(b, bar) != Ordering::Greater))
        .map(|(at, ..)| at)
        .collect();
    Some(RowGroupFilter(Arc::new(move |path, rg| {
        needed.contains(&(path.to_path_buf(), rg))
    })))
}

/// The best-ranked key a row of a row group can have, from its statistics.
fn best_key(
    stats: &polars_streaming_adaptive::RowGroupStats,
    key: &str,
    dtype: &DataType,
    order: KeyOrder,
) -> Option<Key> {
    let column = stats.column(key)?;
    let nulls = column.null_count();
    if !order.nulls_last && nulls != Some(0) {
        return Some(Key::Null);
    }
    let bound = match order.descending {
        true => column.max(),
        false => column.min(),
    };
    match bound {
        Some(v) if v.dtype() == dtype => Key::of(v.value()),
        // Every row is null.
        None if nulls == Some(stats.num_rows() as u64) => Some(Key::Null),
        _ => None,
    }
}

/// The rows a top-k holds on the consumer: at most k, sorted, counted against its share of
/// the budget.
pub(crate) struct Held {
    exec: Arc<BatchExecPool>,
    k: usize,
    rows: Option<DataFrame>,
    memory: MemoryManager,
    guard: Option<MemoryGuard>,
    limit: Option<usize>,
}

impl Held {
    pub(crate) fn new(
        exec: Arc<BatchExecPool>,
        k: usize,
        memory: MemoryManager,
        limit: Option<usize>,
    ) -> Self {
        Self {
            exec,
            k,
            rows: None,
            memory,
            guard: None,
            limit,
        }
    }

    /// Adds a batch (already cut to k rows by its decoding thread).
    pub(crate) fn add(
        &mut self,
        batch: DataFrame,
        skipping: Option<&Skipping>,
    ) -> PolarsResult<()> {
        if batch.height() == 0 {
            return Ok(());
        }
        let both = match self.rows.take() {
            Some(mut held) => {
                held.vstack_mut_owned(batch)?;
                held
            }
            None => batch,
        };
        let held = if both.height() >= self.k {
            self.exec.run(both)?
        } else {
            both
        };
        self.guard = None;
        let guard = self.memory.track_usage(held.estimated_size());
        if let Some(limit) = self.limit.filter(|&l| guard.bytes() > l) {
            return Err(ExecError::SliceTooLarge {
                rows: self.k,
                bytes: guard.bytes(),
                limit,
            }
            .into());
        }
        self.guard = Some(guard);
        if let Some(s) = skipping {
            s.hold(&held)?;
        }
        self.rows = Some(held);
        Ok(())
    }

    /// The rows held, or `empty` when none.
    pub(crate) fn finish(self, empty: DataFrame) -> DataFrame {
        self.rows.unwrap_or(empty)
    }
}
