//! What a scan reads, shared by every file of it (`ScanOptions`), and the hooks a caller plugs
//! in: which row groups to read (`RowGroupFilter`) and work run on each batch (`BatchMap`).

use std::sync::{Arc, Mutex};

use polars::prelude::*;

use crate::decode::categorical::CategoricalColumns;
use crate::decode::compiled::CompiledExpr;
use crate::file::footer_cache::FooterCache;
use crate::file::source::MmapMode;
use crate::memory::chunk_strategy::{ChunkPolicy, ChunkStrategy};
use crate::memory::manager::MemoryManager;
use crate::metrics::ScanMetrics;
use crate::prune::combine::AndPredicate;
use crate::prune::predicate::PredicatePushdown;

/// What a scan reads, shared by every file of it.
#[derive(Debug, Clone)]
pub(crate) struct ScanOptions {
    pub projection: Option<Vec<PlSmallStr>>,
    pub predicate: Option<Arc<dyn PredicatePushdown>>,
    pub strategy: Arc<dyn ChunkStrategy>,
    pub memory: MemoryManager,
    pub metrics: Arc<ScanMetrics>,
    /// A column numbering the rows of the whole scan (before filtering), put first.
    pub row_index: Option<RowIndex>,
    /// A column holding each row's file path, put last.
    pub file_path_column: Option<PlSmallStr>,
    /// Whether files are mapped or read.
    pub mmap_mode: MmapMode,
    /// Footers parsed by earlier reads of the same files.
    pub footers: Option<FooterCache>,
    /// Run on each batch by the thread that decoded it (see `ParallelStreamReader`).
    pub map: Option<BatchMap>,
    /// Row groups to read; the others are left out (not pruned: the caller answers them).
    pub row_groups: Option<RowGroupFilter>,
    /// The predicate compiled for each schema of its input met so far: files of one scan
    /// share it (compiling costs a plan, about 0.3 ms).
    pub compiled: CompiledCache,
    /// String columns handed out as categoricals where dictionary-encoded (see
    /// `decoded_categorical`).
    pub categorical: Option<CategoricalColumns>,
}

/// See `ScanOptions::compiled`.
#[derive(Clone, Default)]
pub(crate) struct CompiledCache(Arc<Mutex<Vec<CompiledFor>>>);

/// A schema and the filter compiled for it; `None` where it does not compile.
type CompiledFor = (Schema, Option<CompiledExpr>);

impl std::fmt::Debug for CompiledCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompiledCache")
    }
}

impl CompiledCache {
    /// `expr` compiled as a filter of frames of `schema` (see `CompiledExpr::try_new_filter`).
    pub(crate) fn filter(&self, expr: Expr, schema: &Schema) -> Option<CompiledExpr> {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, compiled)) = cache.iter().find(|(s, _)| s == schema) {
            return compiled.clone();
        }
        let compiled = CompiledExpr::try_new_filter(expr, schema).ok().flatten();
        cache.push((schema.clone(), compiled.clone()));
        compiled
    }
}

/// Which row groups of which file a scan reads: `(file, row group) -> read it?`.
// The closure's type written out, as users see it in the docs, rather than behind an alias.
#[allow(clippy::type_complexity)]
#[derive(Clone)]
pub struct RowGroupFilter(pub Arc<dyn Fn(&std::path::Path, usize) -> bool + Send + Sync>);

impl std::fmt::Debug for RowGroupFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowGroupFilter")
    }
}

/// Work run on every batch right after it is decoded, by the thread that decoded it; the
/// consumer receives its output, still in file then row order.
#[derive(Clone)]
pub struct BatchMap(pub Arc<dyn Fn(DataFrame) -> PolarsResult<DataFrame> + Send + Sync>);

impl std::fmt::Debug for BatchMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchMap")
    }
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            projection: None,
            predicate: None,
            strategy: ChunkPolicy::Auto.strategy(),
            memory: MemoryManager::new(),
            metrics: Arc::default(),
            row_index: None,
            file_path_column: None,
            mmap_mode: MmapMode::Auto,
            footers: None,
            map: None,
            row_groups: None,
            compiled: CompiledCache::default(),
            categorical: None,
        }
    }
}

impl ScanOptions {
    /// Adds `predicate`, and-ed with any predicate already set.
    pub fn add_predicate(&mut self, predicate: Arc<dyn PredicatePushdown>) {
        self.predicate = Some(match self.predicate.take() {
            None => predicate,
            Some(prev) => Arc::new(AndPredicate::new(vec![prev, predicate])),
        });
    }

    /// The columns of `categorical` decoded as categoricals: those the predicate does not
    /// read, as it evaluates strings; none when the predicate does not say which it reads.
    pub(crate) fn decoded_categorical(&self) -> Option<CategoricalColumns> {
        let cats = self.categorical.as_ref()?;
        let read = match &self.predicate {
            None => Vec::new(),
            Some(p) => p.columns()?,
        };
        Some(cats.retain(|c| !read.contains(c)))
    }

    /// Columns the scan adds to the file's own, with their dtypes and whether they go first.
    fn virtual_columns(&self) -> impl Iterator<Item = (&PlSmallStr, DataType, bool)> {
        let index = self.row_index.iter().map(|r| (&r.name, IDX_DTYPE, true));
        let path = self
            .file_path_column
            .iter()
            .map(|n| (n, DataType::String, false));
        index.chain(path)
    }

    pub(crate) fn is_virtual(&self, name: &str) -> bool {
        self.virtual_columns().any(|(n, _, _)| n == name)
    }

    /// The scan's schema for files of schema `file`: the row index, the file's columns, the
    /// file path.
    pub fn full_schema(&self, file: &Schema) -> Schema {
        let first = self.virtual_columns().filter(|v| v.2);
        let last = self.virtual_columns().filter(|v| !v.2);
        let virtuals = |it: &mut dyn Iterator<Item = (&PlSmallStr, DataType, bool)>| {
            it.map(|(n, d, _)| (n.clone(), d)).collect::<Vec<_>>()
        };
        let mut out = Schema::with_capacity(file.len() + 2);
        out.extend(virtuals(&mut { first }));
        out.extend(file.iter().map(|(n, d)| (n.clone(), d.clone())));
        out.extend(virtuals(&mut { last }));
        out
    }
}
