//! `MmapParquetReader`: one Parquet file mapped into memory, its footer parsed once, its row
//! groups decoded by Polars' own Parquet decoder (see docs/ARCHITECTURE.md for why).

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use memmap2::{Mmap, UncheckedAdvice};
use polars::prelude::*;
use polars_arrow::datatypes::ArrowSchemaRef;
use polars_buffer::Buffer;
use polars_parquet::read::{FileMetadata, Filter};

use crate::error::{catch_panic, AdaptiveError, AdaptiveResult};
use crate::statistics::{row_group_stats, RowGroupStats};

const MAGIC: &[u8; 4] = b"PAR1";
const ENCRYPTED_MAGIC: &[u8; 4] = b"PARE";

/// Length and modification time of a file when it was mapped. A mapped file that shrinks
/// makes reads of its lost pages fault (SIGBUS), so both are checked before every read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    fn of(file: &File, path: &Path) -> AdaptiveResult<Self> {
        let md = file.metadata().map_err(|e| AdaptiveError::io(path, e))?;
        Ok(Self {
            len: md.len(),
            modified: md.modified().ok(),
        })
    }
}

/// Owner of the mapping handed to Polars' decoder: decoded arrays may keep slices of it alive.
struct MapOwner(Arc<Mmap>);

impl AsRef<[u8]> for MapOwner {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

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
    path: PathBuf,
    file: File,
    stamp: FileStamp,
    map: Arc<Mmap>,
    bytes: Buffer<u8>,
    metadata: Arc<FileMetadata>,
    arrow_schema: ArrowSchemaRef,
    schema: SchemaRef,
    stats: Vec<RowGroupStats>,
    stats_unavailable: Option<String>,
    /// Prefix sums of the rows of the row groups (see `row_group_starts`).
    row_group_starts: Vec<usize>,
}

impl std::fmt::Debug for MmapParquetReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapParquetReader")
            .field("path", &self.path)
            .field("len", &self.stamp.len)
            .field("row_groups", &self.metadata.row_groups.len())
            .field("rows", &self.metadata.num_rows)
            .finish_non_exhaustive()
    }
}

impl MmapParquetReader {
    /// Opens and maps `path`, then parses and validates its footer.
    pub fn new(path: impl AsRef<Path>) -> PolarsResult<Self> {
        Ok(Self::open(path.as_ref())?)
    }

    pub(crate) fn open(path: &Path) -> AdaptiveResult<Self> {
        let file = File::open(path).map_err(|e| AdaptiveError::io(path, e))?;
        let stamp = FileStamp::of(&file, path)?;
        let not_parquet = |reason: String| AdaptiveError::NotParquet {
            path: path.to_path_buf(),
            reason,
        };
        if stamp.len < 12 {
            return Err(not_parquet(format!(
                "{} bytes is shorter than the Parquet header and footer",
                stamp.len
            )));
        }
        // SAFETY: the mapping is read-only. Another process may still truncate the file while it
        // is mapped; reads of the lost pages would then raise SIGBUS. `ensure_unchanged` checks
        // the length and modification time before every decode, which narrows that window to
        // the decode itself (docs/ARCHITECTURE.md, "Mapped files").
        let map = unsafe { Mmap::map(&file) }.map_err(|e| AdaptiveError::io(path, e))?;
        let map = Arc::new(map);
        let len = map.len();
        let tail = &map[len - 4..];
        if tail == ENCRYPTED_MAGIC {
            return Err(not_parquet(
                "the footer is encrypted (PARE); encrypted files are not supported".into(),
            ));
        }
        if &map[..4] != MAGIC || tail != MAGIC {
            return Err(not_parquet("missing the PAR1 magic bytes".into()));
        }
        let bytes = Buffer::from_owner(MapOwner(map.clone()));
        let invalid = |reason: String| AdaptiveError::InvalidMetadata {
            path: path.to_path_buf(),
            reason,
        };
        let metadata = catch_panic(
            || {
                polars_parquet::read::read_metadata(&mut std::io::Cursor::new(&map[..]))
                    .map_err(|e| invalid(e.to_string()))
            },
            |msg| invalid(msg),
        )?;
        validate_layout(&metadata, len as u64).map_err(invalid)?;
        let (arrow_schema, schema) = catch_panic(
            || {
                let arrow = polars_parquet::arrow::read::infer_schema(&metadata)
                    .map_err(|e| invalid(e.to_string()))?;
                let schema = Schema::from_arrow_schema(&arrow);
                Ok((arrow, Arc::new(schema)))
            },
            |msg| invalid(msg),
        )?;
        let (stats, stats_unavailable) = read_statistics(&map, &metadata, &schema);
        let row_group_starts = row_group_starts(&metadata);
        Ok(Self {
            path: path.to_path_buf(),
            file,
            stamp,
            map,
            bytes,
            metadata: Arc::new(metadata),
            arrow_schema: Arc::new(arrow_schema),
            schema,
            stats,
            stats_unavailable,
            row_group_starts,
        })
    }

    /// The file this reader maps.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of row groups in the footer.
    pub fn num_row_groups(&self) -> usize {
        self.metadata.row_groups.len()
    }

    /// Number of rows in the file, from the footer (the rows its row groups hold, never more
    /// than the file's own count).
    pub fn total_rows(&self) -> usize {
        *self.row_group_starts.last().unwrap()
    }

    /// Rows of the file before row group `i`.
    pub fn row_group_first_row(&self, i: usize) -> usize {
        self.row_group_starts[i]
    }

    /// Rows of row group `i` that belong to the file: the footer's count for the row group,
    /// clipped so that the row groups together never exceed the file's row count.
    pub fn row_group_num_rows(&self, i: usize) -> usize {
        self.row_group_starts[i + 1] - self.row_group_starts[i]
    }

    /// The Polars schema the file decodes to: the one stock `scan_parquet` gives.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Statistics of row group `i`; unknown for every column when the footer's statistics
    /// could not be read (see [`MmapParquetReader::statistics_unavailable`]).
    pub fn row_group_statistics(&self, i: usize) -> &RowGroupStats {
        &self.stats[i]
    }

    /// Statistics of every row group.
    pub fn statistics(&self) -> &[RowGroupStats] {
        &self.stats
    }

    /// Why the footer's statistics could not be read, when they could not. Reading still works;
    /// pruning keeps every row group.
    pub fn statistics_unavailable(&self) -> Option<&str> {
        self.stats_unavailable.as_deref()
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
        let all: Vec<usize> = (0..self.schema.len()).collect();
        (0..self.num_row_groups())
            .map(|rg| self.estimate_decoded_bytes(rg, &all))
            .sum()
    }

    /// Decodes row group `i` with every column.
    pub fn read_row_group(&self, i: usize) -> PolarsResult<DataFrame> {
        let all: Vec<usize> = (0..self.schema.len()).collect();
        Ok(self.decode(i, 0..self.checked_rg(i)?, &all)?)
    }

    /// Decodes the named columns of row group `i`, in the order given.
    pub fn read_row_group_projected(&self, i: usize, columns: &[&str]) -> PolarsResult<DataFrame> {
        let indices = columns
            .iter()
            .map(|c| self.column_index(c))
            .collect::<AdaptiveResult<Vec<_>>>()?;
        Ok(self.decode(i, 0..self.checked_rg(i)?, &indices)?)
    }

    fn checked_rg(&self, i: usize) -> AdaptiveResult<usize> {
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
        self.schema
            .index_of(name)
            .ok_or_else(|| AdaptiveError::ColumnNotFound {
                path: self.path.clone(),
                column: name.to_string(),
                available: format!("{:?}", self.schema.iter_names().collect::<Vec<_>>()),
            })
    }

    /// Estimated decoded bytes of `columns` (schema indices) in row group `rg`.
    pub(crate) fn estimate_decoded_bytes(&self, rg: usize, columns: &[usize]) -> usize {
        let md = &self.metadata.row_groups[rg];
        let rows = md.num_rows();
        columns
            .iter()
            .map(|&c| {
                let (name, dtype) = self.schema.get_at_index(c).unwrap();
                let uncompressed: usize = md
                    .columns_under_root_iter(name)
                    .map(|it| it.map(|m| m.uncompressed_size().max(0) as usize).sum())
                    .unwrap_or(0);
                estimate_column_bytes(dtype, rows, uncompressed)
            })
            .sum()
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

    /// Decodes rows `rows` (relative to the row group) of `columns` (schema indices) of row
    /// group `rg`, with Polars' decoder. Pages wholly outside `rows` are not decompressed.
    pub(crate) fn decode(
        &self,
        rg: usize,
        rows: Range<usize>,
        columns: &[usize],
    ) -> AdaptiveResult<DataFrame> {
        self.ensure_unchanged()?;
        let md = &self.metadata.row_groups[rg];
        let height = rows.len();
        if height == 0 {
            let schema: Schema = columns
                .iter()
                .map(|&c| self.schema.get_at_index(c).unwrap())
                .map(|(name, dtype)| (name.clone(), dtype.clone()))
                .collect();
            return Ok(DataFrame::empty_with_schema(&schema));
        }
        let decode_column = |&c: &usize| -> AdaptiveResult<Column> {
            let (name, field) = self.arrow_schema.get_at_index(c).unwrap();
            let decode_err = |reason: String| AdaptiveError::Decode {
                path: self.path.clone(),
                row_group: rg,
                column: name.to_string(),
                reason,
            };
            let Some(chunks) = md.columns_under_root_iter(name) else {
                return Ok(Column::full_null(
                    name.clone(),
                    height,
                    &DataType::from_arrow_field(field),
                ));
            };
            let chunks: Vec<_> = chunks
                .map(|m| {
                    let r = m.byte_range();
                    (
                        m,
                        self.bytes.clone().sliced(r.start as usize..r.end as usize),
                    )
                })
                .collect();
            let series = catch_panic(
                || {
                    // A whole row group is decoded without a filter, as stock Polars does: the
                    // ranged path of nested columns differs (and fails on some valid files).
                    let filter =
                        (height != md.num_rows()).then(|| Filter::new_ranged(rows.start, rows.end));
                    let (arrays, _) = polars_io::parquet::read::_internal::to_deserializer(
                        chunks,
                        field.clone(),
                        filter,
                    )
                    .map_err(|e| decode_err(e.to_string()))?;
                    Series::try_from((field, arrays)).map_err(|e| decode_err(e.to_string()))
                },
                |msg| decode_err(msg),
            )?;
            if series.len() != height {
                return Err(decode_err(format!(
                    "decoded {} values where the row group holds {height} rows",
                    series.len()
                )));
            }
            Ok(series.into_column())
        };
        let columns = if columns.len() > 1 {
            use rayon::prelude::*;
            polars_core::runtime::RAYON.install(|| columns.par_iter().map(decode_column).collect())
        } else {
            columns
                .iter()
                .map(decode_column)
                .collect::<AdaptiveResult<Vec<_>>>()
        }?;
        DataFrame::new(height, columns).map_err(|e| AdaptiveError::Internal(e.to_string()))
    }

    /// Hands the pages of `columns` of row group `rg` back to the kernel once they are
    /// consumed, so the mapping does not keep the whole file resident (peak RSS counts every
    /// touched page of a mapping).
    pub(crate) fn release(&self, rg: usize, columns: &[usize]) {
        let md = &self.metadata.row_groups[rg];
        let page = page_size();
        for &c in columns {
            let name = self.schema.get_at_index(c).unwrap().0;
            let Some(chunks) = md.columns_under_root_iter(name) else {
                continue;
            };
            for m in chunks {
                let r = m.byte_range();
                // Only whole pages inside the range: the neighbours may belong to columns
                // still being decoded on another thread.
                let start = (r.start as usize).next_multiple_of(page);
                let end = (r.end as usize) / page * page;
                if end > start {
                    // SAFETY: the mapping is a read-only shared file mapping. MADV_DONTNEED only
                    // drops its resident pages; later reads fault them in again from the file,
                    // so slices of the mapping held by decoded arrays stay valid.
                    let _ = unsafe {
                        self.map.unchecked_advise_range(
                            UncheckedAdvice::DontNeed,
                            start,
                            end - start,
                        )
                    };
                }
            }
        }
    }
}

fn page_size() -> usize {
    // Every platform we build for has pages of at least 4 KiB; a larger page size only makes
    // `release` free less, never a page it must keep.
    4096
}

/// Where each row group's rows start in the file, and (last) the file's row count. Stock
/// Polars reads a file's row count from the footer's `num_rows` and slices the row groups to
/// it, so a footer whose row groups claim more rows than the file
/// (data/repeated_no_annotation.parquet says 0 for the file and 6 for its row group) gives the
/// file's count. Clipping here keeps every reader path equal to stock.
fn row_group_starts(metadata: &FileMetadata) -> Vec<usize> {
    let mut starts = Vec::with_capacity(metadata.row_groups.len() + 1);
    let mut at = 0;
    starts.push(at);
    for rg in &metadata.row_groups {
        at += rg.num_rows().min(metadata.num_rows - at);
        starts.push(at);
    }
    starts
}

/// Checks that every column chunk lies inside the file, so decoding never slices out of bounds.
fn validate_layout(metadata: &FileMetadata, file_len: u64) -> Result<(), String> {
    for (i, rg) in metadata.row_groups.iter().enumerate() {
        for chunk in rg.parquet_columns() {
            let r = chunk.byte_range();
            if r.start > r.end || r.end > file_len {
                return Err(format!(
                    "row group {i}, column '{}': column chunk bytes {}..{} lie outside the file of {file_len} bytes",
                    chunk.descriptor().path_in_schema.join("."),
                    r.start,
                    r.end
                ));
            }
        }
    }
    Ok(())
}

/// Reads statistics with arrow-rs, which also reads page indexes and bloom filters. A footer
/// arrow-rs rejects but Polars reads still reads: it only loses pruning.
fn read_statistics(
    map: &Mmap,
    metadata: &FileMetadata,
    schema: &Schema,
) -> (Vec<RowGroupStats>, Option<String>) {
    let unknown = || {
        metadata
            .row_groups
            .iter()
            .enumerate()
            .map(|(i, rg)| RowGroupStats::unknown(i, rg.num_rows()))
            .collect()
    };
    let len = map.len();
    let footer_len = u32::from_le_bytes(map[len - 8..len - 4].try_into().unwrap()) as usize;
    let Some(start) = (len - 8).checked_sub(footer_len) else {
        return (unknown(), Some("footer length exceeds the file".into()));
    };
    let parsed = std::panic::catch_unwind(|| {
        parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&map[start..len - 8])
    });
    match parsed {
        Ok(Ok(pq)) if pq.num_row_groups() == metadata.row_groups.len() => {
            let stats = pq
                .row_groups()
                .iter()
                .enumerate()
                .map(|(i, rg)| row_group_stats(i, rg, schema))
                .collect();
            (stats, None)
        }
        Ok(Ok(_)) => (unknown(), Some("row group counts disagree".into())),
        Ok(Err(e)) => (unknown(), Some(e.to_string())),
        Err(_) => (unknown(), Some("statistics reader panicked".into())),
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
