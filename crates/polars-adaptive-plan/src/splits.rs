//! Splits: a dataset cut into pieces of row groups, for engines that run one task per piece
//! (Ray Data, through the Python package).
//!
//! Planning reads every footer once (in parallel), prunes row groups by statistics with the
//! query's predicate, and packs the survivors, in file then row-group order, into splits of
//! about `target_bytes` of decoded data: consecutive row groups of a large file, or several
//! small files. A split never cuts a row group. Each split then runs the whole scan (bloom
//! filters, page index, filter-first decode, the exact filter) on its row groups alone:
//! [`ScanAdaptiveExt::scan_split`](crate::ScanAdaptiveExt::scan_split).
//!
//! A split records each file's length and modification time: a file changed or removed after
//! planning is an error naming it, never a read of other rows than the plan counted.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use polars::prelude::*;
use polars_streaming_adaptive::{
    expand_paths, ExprPredicate, MmapMode, MmapParquetReader, PredicatePushdown, RowGroupFilter,
};
use rayon::prelude::*;

use crate::error::PlanError;

/// Row groups `row_groups` of one file, as planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitPart {
    pub path: PathBuf,
    pub row_groups: Range<usize>,
    /// The file's length when planned.
    pub file_len: u64,
    /// The file's modification time when planned, in nanoseconds since the Unix epoch.
    pub modified_ns: Option<u64>,
}

/// One piece of a dataset: row-group ranges of one or more files, in dataset order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Position among the dataset's splits: their answers concatenate in this order.
    pub seq: usize,
    pub parts: Vec<SplitPart>,
    /// Row of the dataset (all files, in order, before any filter) the first row group starts at.
    pub first_row: u64,
    /// Rows of the split's row groups, before any filter.
    pub rows: u64,
    /// Compressed bytes of the planned columns' chunks.
    pub compressed_bytes: u64,
    /// Estimated decoded bytes of the planned columns.
    pub decoded_bytes: u64,
}

impl Split {
    /// The split's files, in order.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self.parts.iter().map(|p| p.path.clone()).collect();
        // Row groups a predicate ruled out leave one file in several parts.
        paths.dedup();
        paths
    }

    /// Whether row group `rg` of `path` belongs to the split.
    pub fn contains(&self, path: &Path, rg: usize) -> bool {
        self.parts
            .iter()
            .any(|p| p.row_groups.contains(&rg) && p.path == path)
    }

    /// Fails, naming the file, when a file changed or went away since planning.
    pub fn ensure_unchanged(&self) -> PolarsResult<()> {
        for part in &self.parts {
            let stale = |detail: String| PlanError::SplitStale {
                path: part.path.clone(),
                detail,
            };
            let md = std::fs::metadata(&part.path).map_err(|e| stale(e.to_string()))?;
            let modified = md.modified().ok().and_then(nanos);
            if md.len() != part.file_len || modified != part.modified_ns {
                return Err(stale(format!(
                    "length {} -> {}, modified {:?} -> {:?} (ns since the epoch)",
                    part.file_len,
                    md.len(),
                    part.modified_ns,
                    modified
                ))
                .into());
            }
        }
        Ok(())
    }
}

/// How [`plan_splits`] cuts a dataset.
///
/// ```
/// use polars::prelude::*;
/// use polars_adaptive_plan::SplitOptions;
/// let options = SplitOptions::default()
///     .with_target_bytes(64 << 20)
///     .with_predicate(col("id").gt(lit(10)))
///     .with_columns(["id", "v"]);
/// assert_eq!(options.target_bytes, 64 << 20);
/// ```
#[derive(Debug, Clone)]
pub struct SplitOptions {
    /// Decoded bytes (of the planned columns) a split holds at most, unless one row group
    /// alone is larger. Default 128 MiB, Ray Data's target block size.
    pub target_bytes: u64,
    /// Row groups whose statistics rule it out are left out of every split.
    pub predicate: Option<Expr>,
    /// The columns a split's scan reads (all when `None`): they size the splits.
    pub columns: Option<Vec<PlSmallStr>>,
    /// Prune by statistics (with a predicate).
    pub use_statistics: bool,
    pub mmap_mode: MmapMode,
    /// Row groups the query can need at all (a top-k's, from statistics); the others are
    /// left out of every split.
    pub row_groups: Option<RowGroupFilter>,
}

impl Default for SplitOptions {
    fn default() -> Self {
        Self {
            target_bytes: 128 << 20,
            predicate: None,
            columns: None,
            use_statistics: true,
            mmap_mode: MmapMode::Auto,
            row_groups: None,
        }
    }
}

impl SplitOptions {
    pub fn with_target_bytes(mut self, bytes: u64) -> Self {
        self.target_bytes = bytes.max(1);
        self
    }

    pub fn with_predicate(mut self, predicate: Expr) -> Self {
        self.predicate = Some(predicate);
        self
    }

    pub fn with_columns<S: Into<PlSmallStr>>(
        mut self,
        columns: impl IntoIterator<Item = S>,
    ) -> Self {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    pub fn with_statistics(mut self, use_statistics: bool) -> Self {
        self.use_statistics = use_statistics;
        self
    }

    pub fn with_mmap_mode(mut self, mode: MmapMode) -> Self {
        self.mmap_mode = mode;
        self
    }

    pub fn with_row_groups(mut self, row_groups: RowGroupFilter) -> Self {
        self.row_groups = Some(row_groups);
        self
    }
}

/// What planning learned of one file.
struct Planned {
    path: PathBuf,
    file_len: u64,
    modified_ns: Option<u64>,
    rows: u64,
    /// Per surviving row group: index, first row in the file, rows, compressed and decoded bytes.
    row_groups: Vec<(usize, u64, u64, u64, u64)>,
    schema: SchemaRef,
}

/// Cuts the files of `targets` (files, directories or globs, in order, expanded as
/// `scan_adaptive` expands them) into splits. Every row group the predicate's statistics do not
/// rule out lands in exactly one split.
pub fn plan_splits(
    targets: &[impl AsRef<Path>],
    options: &SplitOptions,
) -> PolarsResult<Vec<Split>> {
    let mut paths = Vec::new();
    for target in targets {
        paths.extend(expand_paths(target.as_ref())?);
    }
    if paths.is_empty() {
        polars_bail!(ComputeError: "plan_splits: no source given");
    }
    let predicate = options
        .predicate
        .clone()
        .filter(|_| options.use_statistics)
        .map(ExprPredicate::new);
    // Footers are read on Polars' pool: planning a dataset of many files is bound by them.
    let files: Vec<Planned> = polars_core::runtime::RAYON.install(|| {
        paths
            .par_iter()
            .map(|path| plan_file(path, options, predicate.as_ref()))
            .collect::<PolarsResult<_>>()
    })?;
    check_columns(&files[0], options)?;
    for f in &files[1..] {
        if f.schema != files[0].schema {
            polars_bail!(SchemaMismatch:
                "plan_splits: {} has a schema different from the first file {}",
                f.path.display(), files[0].path.display());
        }
    }
    Ok(pack(files, options.target_bytes))
}

fn check_columns(first: &Planned, options: &SplitOptions) -> PolarsResult<()> {
    let mut named: Vec<PlSmallStr> = options.columns.clone().unwrap_or_default();
    if let Some(p) = &options.predicate {
        named.extend(ExprPredicate::new(p.clone()).columns().unwrap_or_default());
    }
    for c in named {
        if !first.schema.contains(&c) {
            polars_bail!(ColumnNotFound:
                "plan_splits: column {c:?} not found in {} (columns: {:?})",
                first.path.display(), first.schema.iter_names().collect::<Vec<_>>());
        }
    }
    Ok(())
}

fn plan_file(
    path: &Path,
    options: &SplitOptions,
    predicate: Option<&ExprPredicate>,
) -> PolarsResult<Planned> {
    let reader = MmapParquetReader::with_mode(path, options.mmap_mode)?;
    let wanted = |rg: usize| {
        options
            .row_groups
            .as_ref()
            .is_none_or(|RowGroupFilter(f)| f(path, rg))
    };
    let row_groups = (0..reader.num_row_groups())
        .filter(|&rg| wanted(rg))
        .filter(|&rg| {
            predicate.is_none_or(|p| !p.should_skip_row_group(reader.row_group_statistics(rg)))
        })
        .map(|rg| {
            let (compressed, decoded) = reader.row_group_bytes(rg, options.columns.as_deref());
            (
                rg,
                reader.row_group_first_row(rg) as u64,
                reader.row_group_num_rows(rg) as u64,
                compressed,
                decoded,
            )
        })
        .collect();
    Ok(Planned {
        path: path.to_path_buf(),
        file_len: reader.file_len(),
        modified_ns: reader.modified().and_then(nanos),
        rows: reader.total_rows() as u64,
        row_groups,
        schema: reader.schema().clone(),
    })
}

/// Consecutive surviving row groups packed into splits of at most `target` decoded bytes
/// (a larger row group is a split of its own).
fn pack(files: Vec<Planned>, target: u64) -> Vec<Split> {
    let mut splits: Vec<Split> = Vec::new();
    let mut open: Option<Split> = None;
    let mut file_start = 0u64;
    for file in files {
        for &(rg, first, rows, compressed, decoded) in &file.row_groups {
            if let Some(split) = open.take_if(|s| s.decoded_bytes + decoded > target) {
                splits.push(split);
            }
            let split = open.get_or_insert_with(|| Split {
                seq: splits.len(),
                parts: Vec::new(),
                first_row: file_start + first,
                rows: 0,
                compressed_bytes: 0,
                decoded_bytes: 0,
            });
            split.rows += rows;
            split.compressed_bytes += compressed;
            split.decoded_bytes += decoded;
            match split.parts.last_mut() {
                Some(p) if p.path == file.path && p.row_groups.end == rg => p.row_groups.end += 1,
                _ => split.parts.push(SplitPart {
                    path: file.path.clone(),
                    row_groups: rg..rg + 1,
                    file_len: file.file_len,
                    modified_ns: file.modified_ns,
                }),
            }
        }
        file_start += file.rows;
    }
    splits.extend(open);
    splits
}

fn nanos(t: SystemTime) -> Option<u64> {
    t.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_nanos()).ok())
}
