//! `MmapParquetReader`: one Parquet file opened, mapped or read (`source`), its footer parsed
//! and checked once (`footer`), its statistics read on first use; what it is, what it holds and
//! what decoding it costs. Its row groups are decoded by `read` and `predicated`, with page
//! checks and decompressed pages kept in `page_cache`.

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use parquet::file::metadata::ParquetMetaData;
use polars::prelude::*;
use polars_arrow::datatypes::ArrowSchemaRef;
use polars_buffer::Buffer;
use polars_parquet::parquet::schema::types::PhysicalType;
use polars_parquet::read::FileMetadata;

use crate::decode::categorical::CategoricalColumns;
use crate::decode::decompressed::KeptPages;
use crate::decode::pages::PageCheck;
use crate::error::{AdaptiveError, AdaptiveResult};
use crate::file::footer::{divide_repeated_null_counts, Footer, FooterStatistics};
use crate::file::footer_cache::FooterCache;
use crate::file::source::{FileStamp, MmapMode, Source};
use crate::file::statistics::RowGroupStats;

/// A memory-mapped Parquet file: footer metadata, schema, statistics and row-group decoding.
///
/// ```no_run
/// use polars_streaming_adaptive::MmapParquetReader;
/// # fn main() -> polars::prelude::PolarsResult<()> {
/// let reader = MmapParquetReader::new("trades.parquet")?;
/// println!("{} rows in {} row groups", reader.total_rows(), reader.num_row_groups());
/// let first = reader.read_row_group(0)?;
/// # Ok(()) }
/// ```
pub struct MmapParquetReader {
    pub(super) path: PathBuf,
    pub(super) file: File,
    pub(super) stamp: FileStamp,
    pub(super) source: Source,
    /// The footer parsed (metadata, schemas, row group starts), shared with the other readers
    /// of the file through a `FooterCache`.
    pub(super) footer: Arc<Footer>,
    /// The footer as arrow-rs reads it (statistics, page index locations) and the typed
    /// statistics: a second parse of the footer, done when something first asks for them (a
    /// scan without predicate, top-k or aggregate never does), then the null counts only the
    /// file's offset index makes exact (`divide_repeated_null_counts`).
    pub(super) statistics: OnceLock<Arc<FooterStatistics>>,
    /// Per (row group, schema column), the page-header check of its chunks: what their pages
    /// hold, or why the headers are refused. It covers the pages of the rows read so far and
    /// is extended when a read needs more (see `checked_pages`).
    pub(super) page_checks: Vec<PageCheck>,
    /// Per (row group, schema column), its chunk's pages decompressed once for the units that
    /// share them (`PageReuse::Keep`): `Some(None)` where that failed, so the units decode
    /// from the file's bytes. Emptied when the row group's last unit is read (`release`).
    pub(super) decompressed: Vec<Mutex<KeptPages>>,
    /// String columns decoded as dictionary codes (`CategoricalColumns`).
    pub(super) categorical: Option<CategoricalColumns>,
}

impl std::fmt::Debug for MmapParquetReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapParquetReader")
            .field("path", &self.path)
            .field("len", &self.stamp.len)
            .field("mapped", &self.source.is_mapped())
            .field("row_groups", &self.footer.metadata.row_groups.len())
            .field("rows", &self.footer.metadata.num_rows)
            .finish_non_exhaustive()
    }
}

impl MmapParquetReader {
    /// Opens and maps `path` ([`MmapMode::Auto`]), then parses and validates its footer.
    pub fn new(path: impl AsRef<Path>) -> PolarsResult<Self> {
        Ok(Self::open(path.as_ref(), MmapMode::Auto, None)?)
    }

    /// Opens `path`, mapped or not as `mode` says, then parses and validates its footer.
    pub fn with_mode(path: impl AsRef<Path>, mode: MmapMode) -> PolarsResult<Self> {
        Ok(Self::open(path.as_ref(), mode, None)?)
    }

    /// [`MmapParquetReader::with_mode`], taking the footer from `cache` when it holds the one
    /// the file has now, and keeping it there otherwise.
    pub fn with_footer_cache(
        path: impl AsRef<Path>,
        mode: MmapMode,
        cache: &FooterCache,
    ) -> PolarsResult<Self> {
        Ok(Self::open(path.as_ref(), mode, Some(cache))?)
    }

    pub(crate) fn open(
        path: &Path,
        mode: MmapMode,
        cache: Option<&FooterCache>,
    ) -> AdaptiveResult<Self> {
        let file = File::open(path).map_err(|e| AdaptiveError::io(path, e))?;
        let stamp = FileStamp::of(&file, path)?;
        Footer::check_length(path, stamp.len)?;
        let source = Source::new(&file, mode, path)?;
        let read = |range: Range<usize>| {
            source
                .bytes(&file, range, true)
                .map_err(|e| AdaptiveError::io(path, e))
        };
        let len = stamp.len as usize;
        let bytes = Footer::read_bytes(path, len, read)?;
        let footer = match cache {
            Some(cache) => cache.footer(path, len, bytes)?,
            None => Arc::new(Footer::parse(path, len, bytes)?),
        };
        let cells = footer.metadata.row_groups.len() * footer.schema.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            stamp,
            source,
            footer,
            statistics: OnceLock::new(),
            page_checks: (0..cells).map(|_| Default::default()).collect(),
            decompressed: (0..cells).map(|_| Default::default()).collect(),
            categorical: None,
        })
    }

    /// Decodes the string columns of `categorical` as its categoricals where their pages are
    /// dictionary-encoded.
    pub(crate) fn set_categorical(&mut self, categorical: Option<CategoricalColumns>) {
        self.categorical = categorical;
    }

    /// The mapping column `c` (a schema index) is decoded under, when it is a string column
    /// of `categorical`.
    pub(super) fn categorical_of(&self, c: usize) -> Option<&CategoricalColumns> {
        let (name, dtype) = self.footer.schema.get_at_index(c).unwrap();
        self.categorical
            .as_ref()
            .filter(|cats| dtype == &DataType::String && cats.contains(name))
    }

    /// The file this reader maps.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of row groups in the footer.
    pub fn num_row_groups(&self) -> usize {
        self.footer.metadata.row_groups.len()
    }

    /// Number of rows in the file: the rows its row groups hold, or none when the footer's own
    /// count is 0 (as stock reads it).
    pub fn total_rows(&self) -> usize {
        *self.footer.row_group_starts.last().unwrap()
    }

    /// Rows of the file before row group `i`.
    pub fn row_group_first_row(&self, i: usize) -> usize {
        self.footer.row_group_starts[i]
    }

    /// Rows of row group `i` that belong to the file: the footer's count for the row group, or 0
    /// when the footer's count for the file is 0 (see `row_group_starts`).
    pub fn row_group_num_rows(&self, i: usize) -> usize {
        self.footer.row_group_starts[i + 1] - self.footer.row_group_starts[i]
    }

    /// The Polars schema the file decodes to: the one stock `scan_parquet` gives.
    pub fn schema(&self) -> &SchemaRef {
        &self.footer.schema
    }

    /// Statistics of row group `i`; unknown for every column when the footer's statistics
    /// could not be read (see [`MmapParquetReader::statistics_unavailable`]).
    pub fn row_group_statistics(&self, i: usize) -> &RowGroupStats {
        &self.statistics()[i]
    }

    /// Statistics of every row group.
    pub fn statistics(&self) -> &[RowGroupStats] {
        &self.footer_statistics().row_groups
    }

    /// Why the footer's statistics could not be read, when they could not. Reading still works;
    /// pruning keeps every row group.
    pub fn statistics_unavailable(&self) -> Option<&str> {
        self.footer_statistics().unavailable.as_deref()
    }

    fn footer_statistics(&self) -> &FooterStatistics {
        self.statistics.get_or_init(|| {
            let stated = self.footer.statistics();
            if !stated.repeats_null_counts() {
                return stated.clone();
            }
            // Made exact from this file's bytes, so never kept in the shared footer.
            let mut statistics = FooterStatistics::clone(stated);
            divide_repeated_null_counts(&mut statistics, |r| self.optional_bytes(r));
            Arc::new(statistics)
        })
    }

    /// Decoded size of one row over all columns, in bytes, estimated from the footer's column
    /// chunk sizes and the columns' dtypes.
    pub fn estimate_row_size(&self) -> usize {
        self.estimate_file_bytes()
            .div_ceil(self.total_rows().max(1))
    }

    /// Whether decoding the whole file would fit in `available_mb` MiB.
    pub fn can_fit_in_memory(&self, available_mb: usize) -> bool {
        self.estimate_file_bytes() <= available_mb.saturating_mul(1 << 20)
    }

    /// Estimated decoded bytes of every column of every row group.
    fn estimate_file_bytes(&self) -> usize {
        let all: Vec<usize> = (0..self.footer.schema.len()).collect();
        (0..self.num_row_groups())
            .map(|rg| self.estimate_decoded_bytes(rg, &all))
            .sum()
    }

    pub(super) fn checked_rg(&self, i: usize) -> AdaptiveResult<usize> {
        if i >= self.num_row_groups() {
            return Err(AdaptiveError::InvalidMetadata {
                path: self.path.clone(),
                reason: format!(
                    "row group {i} requested, the file has {}",
                    self.num_row_groups()
                ),
            });
        }
        Ok(self.row_group_num_rows(i))
    }

    /// Position of `name` in the schema, or an error naming the file and its columns.
    pub(crate) fn column_index(&self, name: &str) -> AdaptiveResult<usize> {
        self.footer
            .schema
            .index_of(name)
            .ok_or_else(|| AdaptiveError::ColumnNotFound {
                path: self.path.clone(),
                column: name.to_string(),
                available: format!("{:?}", self.footer.schema.iter_names().collect::<Vec<_>>()),
            })
    }

    /// The uncompressed bytes of schema column `c`'s chunks in row group `rg`, from the footer
    /// (dictionary pages included); 0 when the row group lacks the column.
    pub(super) fn uncompressed_bytes(&self, rg: usize, c: usize) -> usize {
        let name = self.footer.schema.get_at_index(c).unwrap().0;
        self.footer.metadata.row_groups[rg]
            .columns_under_root_iter(name)
            .map(|it| it.map(|m| m.uncompressed_size().max(0) as usize).sum())
            .unwrap_or(0)
    }

    /// Estimated decoded bytes of `columns` (schema indices) in row group `rg`.
    pub(crate) fn estimate_decoded_bytes(&self, rg: usize, columns: &[usize]) -> usize {
        let rows = self.footer.metadata.row_groups[rg].num_rows();
        columns
            .iter()
            .map(|&c| {
                let dtype = self.footer.schema.get_at_index(c).unwrap().1;
                estimate_column_bytes(dtype, rows, self.uncompressed_bytes(rg, c))
            })
            .sum()
    }

    /// The file's length when it was opened.
    pub fn file_len(&self) -> u64 {
        self.stamp.len
    }

    /// The file's modification time when it was opened, where the filesystem keeps one.
    pub fn modified(&self) -> Option<std::time::SystemTime> {
        self.stamp.modified
    }

    /// Compressed and estimated decoded bytes of `columns` (all when `None`) in row group
    /// `rg`, from the footer: what reading them costs on disk and holds in memory.
    pub fn row_group_bytes(&self, rg: usize, columns: Option<&[PlSmallStr]>) -> (u64, u64) {
        let indices: Vec<usize> = match columns {
            None => (0..self.footer.schema.len()).collect(),
            Some(names) => names
                .iter()
                .filter_map(|n| self.footer.schema.index_of(n))
                .collect(),
        };
        let compressed = indices
            .iter()
            .map(|&c| {
                let name = self.footer.schema.get_at_index(c).unwrap().0;
                self.footer.metadata.row_groups[rg]
                    .columns_under_root_iter(name)
                    .map(|it| it.map(|m| m.compressed_size().max(0) as u64).sum())
                    .unwrap_or(0)
            })
            .sum();
        let decoded = self.estimate_decoded_bytes(rg, &indices) as u64;
        (compressed, decoded)
    }

    /// Fails when the file's length or modification time changed since it was mapped.
    pub(crate) fn ensure_unchanged(&self) -> AdaptiveResult<()> {
        let now = FileStamp::of(&self.file, &self.path)?;
        if now != self.stamp {
            return Err(AdaptiveError::FileChanged {
                path: self.path.clone(),
                detail: format!(
                    "length {} -> {}, modified {:?} -> {:?}",
                    self.stamp.len, now.len, self.stamp.modified, now.modified
                ),
            });
        }
        Ok(())
    }

    pub(super) fn decode_error(&self, rg: usize, column: &str, reason: String) -> AdaptiveError {
        AdaptiveError::Decode {
            path: self.path.clone(),
            row_group: rg,
            column: column.to_string(),
            reason,
        }
    }

    /// The Parquet physical type of schema column `c`, when it is a flat column (one leaf).
    pub(crate) fn physical_type(&self, c: usize) -> Option<PhysicalType> {
        let name = self.footer.schema.get_at_index(c)?.0;
        let rg = self.footer.metadata.row_groups.first()?;
        let mut leaves = rg.columns_under_root_iter(name)?;
        let leaf = leaves.next()?;
        if leaves.next().is_some() {
            return None;
        }
        Some(leaf.descriptor().descriptor.primitive_type.physical_type)
    }

    /// The file's Arrow schema, as Polars' decoder reads it.
    pub(crate) fn arrow_schema(&self) -> &ArrowSchemaRef {
        &self.footer.arrow_schema
    }

    /// The footer as polars-parquet parsed it.
    pub(crate) fn metadata(&self) -> &FileMetadata {
        &self.footer.metadata
    }

    /// The footer as arrow-rs parses it (page index locations), when it could.
    pub(crate) fn parquet_metadata(&self) -> Option<&ParquetMetaData> {
        self.footer_statistics().parquet.as_deref()
    }

    /// Bytes `range` of the file (a slice of the mapping when mapped), for structures a read can
    /// go without (bloom filters, page indexes): `None` when the range does not lie inside the
    /// file, the file changed since it was opened, or reading fails.
    pub(crate) fn optional_bytes(&self, range: Range<u64>) -> Option<Buffer<u8>> {
        if range.start > range.end || range.end > self.stamp.len || self.ensure_unchanged().is_err()
        {
            return None;
        }
        let range = usize::try_from(range.start).ok()?..usize::try_from(range.end).ok()?;
        self.source.bytes(&self.file, range, false).ok()
    }
}

/// Decoded bytes of one column chunk: exact for fixed-width dtypes; for variable-width ones the
/// uncompressed page bytes plus Polars' 16-byte views (an over-estimate when dictionary-encoded
/// values share their buffer, which the adaptive strategy then corrects from measurements).
fn estimate_column_bytes(dtype: &DataType, rows: usize, uncompressed: usize) -> usize {
    let validity = rows.div_ceil(8);
    let width = match dtype {
        DataType::Boolean => return validity * 2,
        DataType::Null => return 0,
        DataType::Int8 | DataType::UInt8 => 1,
        DataType::Int16 | DataType::UInt16 => 2,
        DataType::Int32 | DataType::UInt32 | DataType::Float32 | DataType::Date => 4,
        DataType::Categorical(_, _) | DataType::Enum(_, _) => 4,
        DataType::Int64
        | DataType::UInt64
        | DataType::Float64
        | DataType::Datetime(_, _)
        | DataType::Duration(_)
        | DataType::Time => 8,
        DataType::Int128 | DataType::UInt128 | DataType::Decimal(_, _) => 16,
        DataType::String | DataType::Binary => return rows * 16 + uncompressed + validity,
        _ => return uncompressed + rows * 8 + validity,
    };
    rows * width + validity
}
