//! Counters of what a scan decided and did, readable while it runs and after.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of a scan, shared by its threads.
#[derive(Debug, Default)]
pub struct ScanMetrics {
    files_total: AtomicU64,
    files_pruned: AtomicU64,
    row_groups_total: AtomicU64,
    row_groups_pruned: AtomicU64,
    row_groups_filtered_by_decoder: AtomicU64,
    row_groups_skipped_by_bloom_filter: AtomicU64,
    row_groups_answered_from_statistics: AtomicU64,
    row_groups_skipped_by_top_k: AtomicU64,
    pages_skipped_by_page_index: AtomicU64,
    rows_decoded: AtomicU64,
    bytes_decoded: AtomicU64,
    rows_output: AtomicU64,
    batches: AtomicU64,
    min_batch_rows: AtomicU64,
    max_batch_rows: AtomicU64,
    max_batch_bytes: AtomicU64,
    memory_peak_bytes: AtomicU64,
    predicates_unprunable: AtomicU64,
}

/// A copy of [`ScanMetrics`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanMetricsSnapshot {
    /// Files opened.
    pub files_total: u64,
    /// Files whose every row group was skipped from statistics.
    pub files_pruned: u64,
    /// Row groups in the opened files.
    pub row_groups_total: u64,
    /// Row groups skipped from their statistics.
    pub row_groups_pruned: u64,
    /// Row groups whose predicate columns Polars' decoder filtered while decoding them
    /// (column predicates, tested once per dictionary entry).
    pub row_groups_filtered_by_decoder: u64,
    /// Row groups skipped because a column's bloom filter ruled out every value of an
    /// equality (not counted in `row_groups_pruned`, which counts statistics).
    pub row_groups_skipped_by_bloom_filter: u64,
    /// Row groups a global aggregation took from footer statistics instead of decoding.
    pub row_groups_answered_from_statistics: u64,
    /// Row groups a `sort(..).head(k)` left unread: their statistics showed no row of them
    /// could rank among the k rows already held.
    pub row_groups_skipped_by_top_k: u64,
    /// Pages of a predicate's column whose page-index statistics ruled out every row: their
    /// rows are not read in any column.
    pub pages_skipped_by_page_index: u64,
    /// Rows decoded (before the predicate's residual filter).
    pub rows_decoded: u64,
    /// Decoded bytes, as Polars estimates the decoded frames.
    pub bytes_decoded: u64,
    /// Rows produced after filtering.
    pub rows_output: u64,
    /// Decoded batches.
    pub batches: u64,
    /// Rows of the smallest and largest decoded batch.
    pub min_batch_rows: u64,
    pub max_batch_rows: u64,
    /// Decoded bytes of the largest batch.
    pub max_batch_bytes: u64,
    /// High-water mark of the decoded bytes the scan's memory manager tracked.
    pub memory_peak_bytes: u64,
    /// Scans whose predicate had no part the pruner could use (applied as a filter only).
    pub predicates_unprunable: u64,
}

impl ScanMetrics {
    pub(crate) fn add_file(&self, row_groups: usize) {
        self.files_total.fetch_add(1, Ordering::Relaxed);
        self.row_groups_total
            .fetch_add(row_groups as u64, Ordering::Relaxed);
    }

    /// Counts a predicate the pruner could not use at all (it is still applied exactly).
    pub fn add_unprunable_predicate(&self) {
        self.predicates_unprunable.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_pruned_file(&self) {
        self.files_pruned.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_memory_peak(&self, bytes: usize) {
        self.memory_peak_bytes
            .fetch_max(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_row_group_filtered_by_decoder(&self) {
        self.row_groups_filtered_by_decoder
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_row_group_skipped_by_bloom_filter(&self) {
        self.row_groups_skipped_by_bloom_filter
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts row groups a caller answered from their statistics (the scan left them out).
    pub fn add_row_groups_answered_from_statistics(&self, n: usize) {
        self.row_groups_answered_from_statistics
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts row groups a top-k left unread (see `ScanMetricsSnapshot`).
    pub fn add_row_groups_skipped_by_top_k(&self, n: usize) {
        self.row_groups_skipped_by_top_k
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_pages_skipped_by_page_index(&self, n: usize) {
        self.pages_skipped_by_page_index
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_pruned_row_group(&self) {
        self.row_groups_pruned.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_batch(&self, rows: usize, bytes: usize, rows_output: usize) {
        let (rows, bytes) = (rows as u64, bytes as u64);
        self.rows_decoded.fetch_add(rows, Ordering::Relaxed);
        self.bytes_decoded.fetch_add(bytes, Ordering::Relaxed);
        self.rows_output
            .fetch_add(rows_output as u64, Ordering::Relaxed);
        if self.batches.fetch_add(1, Ordering::Relaxed) == 0 {
            self.min_batch_rows.store(rows, Ordering::Relaxed);
        } else {
            self.min_batch_rows.fetch_min(rows, Ordering::Relaxed);
        }
        self.max_batch_rows.fetch_max(rows, Ordering::Relaxed);
        self.max_batch_bytes.fetch_max(bytes, Ordering::Relaxed);
    }

    /// Adds the counters of another scan (a finished one, or one still running).
    pub fn absorb(&self, other: &ScanMetricsSnapshot) {
        let add = |a: &AtomicU64, v: u64| a.fetch_add(v, Ordering::Relaxed);
        add(&self.files_total, other.files_total);
        add(&self.files_pruned, other.files_pruned);
        add(&self.row_groups_total, other.row_groups_total);
        add(&self.row_groups_pruned, other.row_groups_pruned);
        add(
            &self.row_groups_filtered_by_decoder,
            other.row_groups_filtered_by_decoder,
        );
        add(
            &self.row_groups_skipped_by_bloom_filter,
            other.row_groups_skipped_by_bloom_filter,
        );
        add(
            &self.row_groups_answered_from_statistics,
            other.row_groups_answered_from_statistics,
        );
        add(
            &self.row_groups_skipped_by_top_k,
            other.row_groups_skipped_by_top_k,
        );
        add(
            &self.pages_skipped_by_page_index,
            other.pages_skipped_by_page_index,
        );
        add(&self.rows_decoded, other.rows_decoded);
        add(&self.bytes_decoded, other.bytes_decoded);
        add(&self.rows_output, other.rows_output);
        add(&self.predicates_unprunable, other.predicates_unprunable);
        if other.batches > 0 {
            if self.batches.fetch_add(other.batches, Ordering::Relaxed) == 0 {
                self.min_batch_rows
                    .store(other.min_batch_rows, Ordering::Relaxed);
            } else {
                self.min_batch_rows
                    .fetch_min(other.min_batch_rows, Ordering::Relaxed);
            }
        }
        self.max_batch_rows
            .fetch_max(other.max_batch_rows, Ordering::Relaxed);
        self.max_batch_bytes
            .fetch_max(other.max_batch_bytes, Ordering::Relaxed);
        self.memory_peak_bytes
            .fetch_max(other.memory_peak_bytes, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> ScanMetricsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ScanMetricsSnapshot {
            files_total: l(&self.files_total),
            files_pruned: l(&self.files_pruned),
            row_groups_total: l(&self.row_groups_total),
            row_groups_pruned: l(&self.row_groups_pruned),
            row_groups_filtered_by_decoder: l(&self.row_groups_filtered_by_decoder),
            row_groups_skipped_by_bloom_filter: l(&self.row_groups_skipped_by_bloom_filter),
            row_groups_answered_from_statistics: l(&self.row_groups_answered_from_statistics),
            row_groups_skipped_by_top_k: l(&self.row_groups_skipped_by_top_k),
            pages_skipped_by_page_index: l(&self.pages_skipped_by_page_index),
            rows_decoded: l(&self.rows_decoded),
            bytes_decoded: l(&self.bytes_decoded),
            rows_output: l(&self.rows_output),
            batches: l(&self.batches),
            min_batch_rows: l(&self.min_batch_rows),
            max_batch_rows: l(&self.max_batch_rows),
            max_batch_bytes: l(&self.max_batch_bytes),
            memory_peak_bytes: l(&self.memory_peak_bytes),
            predicates_unprunable: l(&self.predicates_unprunable),
        }
    }
}

impl std::fmt::Display for ScanMetricsSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "files {} ({} pruned), row groups {} ({} pruned, {} skipped by bloom filters, {} answered from statistics, {} skipped by top-k, {} filtered by the decoder; {} pages skipped by the page index), rows decoded {} -> output {}, {} MiB decoded in {} batches ({}..{} rows, largest {} MiB), tracked memory peak {} MiB, {} predicates not usable for pruning",
            self.files_total,
            self.files_pruned,
            self.row_groups_total,
            self.row_groups_pruned,
            self.row_groups_skipped_by_bloom_filter,
            self.row_groups_answered_from_statistics,
            self.row_groups_skipped_by_top_k,
            self.row_groups_filtered_by_decoder,
            self.pages_skipped_by_page_index,
            self.rows_decoded,
            self.rows_output,
            self.bytes_decoded >> 20,
            self.batches,
            self.min_batch_rows,
            self.max_batch_rows,
            self.max_batch_bytes >> 20,
            self.memory_peak_bytes >> 20,
            self.predicates_unprunable,
        )
    }
}
