//! A file's footer: the magic bytes, the footer parsed by polars-parquet and checked against
//! the file's length, the schema it decodes to, where each row group's rows start, and the
//! statistics read from it by arrow-rs when pruning first asks for them.

use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use parquet::file::metadata::{
    ParquetMetaData, ParquetMetaDataOptions, ParquetMetaDataReader, ParquetStatisticsPolicy,
};
use polars::prelude::*;
use polars_arrow::datatypes::ArrowSchemaRef;
use polars_buffer::Buffer;
use polars_parquet::read::FileMetadata;

use crate::error::{catch_panic, AdaptiveError, AdaptiveResult};
use crate::file::exact_flags::exactness_flags;
use crate::file::statistics::{
    flat_chunk, repeats_null_counts, row_group_stats, writes_exact_bounds, Exactness, RowGroupStats,
};

const MAGIC: &[u8; 4] = b"PAR1";

const ENCRYPTED_MAGIC: &[u8; 4] = b"PARE";

/// A footer parsed and checked: its metadata, its bytes (without the length and magic), the
/// schemas it decodes to and, once asked for, its statistics. Shared by the readers of one
/// unchanged file through a [`FooterCache`](crate::FooterCache).
pub(crate) struct Footer {
    pub(crate) metadata: Arc<FileMetadata>,
    /// Copied even from a mapping: the parsed metadata keeps slices of it.
    pub(crate) bytes: Buffer<u8>,
    /// The length of the file it was read from: its column chunks were checked against it.
    pub(crate) file_len: usize,
    pub(crate) arrow_schema: ArrowSchemaRef,
    /// The Polars schema the file decodes to: the one stock `scan_parquet` gives.
    pub(crate) schema: SchemaRef,
    /// Prefix sums of the rows of the row groups (see `row_group_starts`).
    pub(crate) row_group_starts: Vec<usize>,
    /// The statistics as the footer states them (`read_statistics`), parsed on first use.
    statistics: OnceLock<Arc<FooterStatistics>>,
}

impl Footer {
    /// Fails unless a file of `len` bytes can hold a Parquet header and footer: checked before
    /// the file is mapped or read.
    pub(crate) fn check_length(path: &Path, len: u64) -> AdaptiveResult<()> {
        if len < 12 {
            return Err(AdaptiveError::NotParquet {
                path: path.to_path_buf(),
                reason: format!("{len} bytes is shorter than the Parquet header and footer"),
            });
        }
        Ok(())
    }

    /// The footer's bytes (without its length and magic) of `path`, a file of `len` bytes (at
    /// least 12, `check_length`) whose byte ranges `read` returns, once its magic bytes and
    /// length are checked.
    pub(crate) fn read_bytes(
        path: &Path,
        len: usize,
        read: impl Fn(Range<usize>) -> AdaptiveResult<Buffer<u8>>,
    ) -> AdaptiveResult<Buffer<u8>> {
        let not_parquet = |reason: String| AdaptiveError::NotParquet {
            path: path.to_path_buf(),
            reason,
        };
        let tail = read(len - 8..len)?;
        if tail[4..] == ENCRYPTED_MAGIC[..] {
            return Err(not_parquet(
                "the footer is encrypted (PARE); encrypted files are not supported".into(),
            ));
        }
        if read(0..4)?[..] != MAGIC[..] || tail[4..] != MAGIC[..] {
            return Err(not_parquet("missing the PAR1 magic bytes".into()));
        }
        let footer_len = u32::from_le_bytes(tail[..4].try_into().unwrap()) as usize;
        let footer_start = (len - 8).checked_sub(footer_len).ok_or_else(|| {
            invalid(
                path,
                format!("the footer claims {footer_len} bytes, the file has {len}"),
            )
        })?;
        // Copied even from a mapping: the parsed metadata keeps slices of it.
        read(footer_start..len - 8)
    }

    /// Parses `bytes`, the footer of `path` (a file of `len` bytes), and checks it against the
    /// file's length.
    pub(crate) fn parse(path: &Path, len: usize, bytes: Buffer<u8>) -> AdaptiveResult<Self> {
        let metadata = catch_panic(
            || {
                polars_parquet::parquet::read::deserialize_metadata(bytes.clone())
                    .map_err(|e| invalid(path, e.to_string()))
            },
            |msg| invalid(path, format!("footer parser panicked: {msg}")),
        )?;
        validate_layout(&metadata, len as u64).map_err(|e| invalid(path, e))?;
        let (arrow_schema, schema) = catch_panic(
            || {
                let arrow = polars_parquet::arrow::read::infer_schema(&metadata)
                    .map_err(|e| invalid(path, e.to_string()))?;
                let schema = Schema::from_arrow_schema(&arrow);
                Ok((Arc::new(arrow), Arc::new(schema)))
            },
            |msg| invalid(path, format!("schema inference panicked: {msg}")),
        )?;
        Ok(Self {
            row_group_starts: row_group_starts(&metadata),
            metadata: Arc::new(metadata),
            bytes,
            file_len: len,
            arrow_schema,
            schema,
            statistics: OnceLock::new(),
        })
    }

    /// The statistics as the footer states them, read by arrow-rs on first use (see
    /// `read_statistics`).
    pub(crate) fn statistics(&self) -> &Arc<FooterStatistics> {
        self.statistics
            .get_or_init(|| Arc::new(read_statistics(&self.bytes, &self.metadata, &self.schema)))
    }
}

fn invalid(path: &Path, reason: String) -> AdaptiveError {
    AdaptiveError::InvalidMetadata {
        path: path.to_path_buf(),
        reason,
    }
}

/// Where each row group's rows start in the file, and (last) the file's row count, counted as
/// stock Polars counts them: a file whose footer says 0 rows is skipped whatever its row groups
/// say (polars-stream's multi-scan, "skip read (0 rows)";
/// data/repeated_no_annotation.parquet says 0 for the file and 6 for its row group), and
/// otherwise every row group is read as its own count says, even when the footer's file count
/// is smaller (found by `cargo xtask fuzz`: a flipped bit in that count lost rows here).
fn row_group_starts(metadata: &FileMetadata) -> Vec<usize> {
    let mut starts = Vec::with_capacity(metadata.row_groups.len() + 1);
    let mut at = 0usize;
    starts.push(at);
    for rg in &metadata.row_groups {
        if metadata.num_rows > 0 {
            at = at.saturating_add(rg.num_rows());
        }
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

/// The footer's statistics as arrow-rs reads them, a second parse of the footer's bytes: the
/// compact form polars-parquet keeps drops the deprecated `min`/`max` (old writers' only
/// bounds), the NaN counts and whether a bound is exact (docs/decisions.md, "The footer is
/// parsed twice"). A footer arrow-rs rejects but Polars reads still reads: it only loses
/// pruning.
#[derive(Debug, Clone)]
pub(crate) struct FooterStatistics {
    /// Per row group; unknown for every column when the footer's statistics could not be read.
    pub(crate) row_groups: Vec<RowGroupStats>,
    /// Why they could not be read.
    pub(crate) unavailable: Option<String>,
    /// The whole footer as arrow-rs reads it: page index locations.
    pub(crate) parquet: Option<Arc<ParquetMetaData>>,
}

impl FooterStatistics {
    /// Whether a null count waits for `divide_repeated_null_counts`, which reads the file.
    pub(crate) fn repeats_null_counts(&self) -> bool {
        self.row_groups
            .iter()
            .any(|rg| rg.columns.values().any(|c| c.nulls_per_data_page.is_some()))
    }
}

/// Reads the statistics with arrow-rs from the footer's bytes (`footer`, without its length and
/// magic), typed by `schema`; unknown for every row group where arrow-rs cannot read them.
pub(crate) fn read_statistics(
    footer: &[u8],
    metadata: &FileMetadata,
    schema: &Schema,
) -> FooterStatistics {
    let unknown = |why: String| FooterStatistics {
        row_groups: metadata
            .row_groups
            .iter()
            .enumerate()
            .map(|(i, rg)| RowGroupStats::unknown(i, rg.num_rows()))
            .collect(),
        unavailable: Some(why),
        parquet: None,
    };
    // Neither the pages' encoding counts nor the size statistics (byte and level histograms)
    // serve pruning: skipping them cuts the parse, which a pruned read pays for every file.
    let options = ParquetMetaDataOptions::new()
        .with_encoding_stats_policy(ParquetStatisticsPolicy::SkipAll)
        .with_size_stats_policy(ParquetStatisticsPolicy::SkipAll);
    let parsed = std::panic::catch_unwind(|| {
        ParquetMetaDataReader::decode_metadata_with_options(footer, Some(&options))
    });
    match parsed {
        Ok(Ok(pq)) if pq.num_row_groups() == metadata.row_groups.len() => {
            let exact_writer = writes_exact_bounds(metadata.created_by.as_deref());
            let flags = (!exact_writer).then(|| exactness_flags(footer)).flatten();
            let repeated_null_counts = repeats_null_counts(metadata.created_by.as_deref());
            let stats = pq
                .row_groups()
                .iter()
                .enumerate()
                .map(|(i, rg)| {
                    let flags = flags.as_ref().and_then(|f| f.get(i)).map(Vec::as_slice);
                    let exactness = Exactness {
                        flags,
                        exact_writer,
                        repeated_null_counts,
                    };
                    row_group_stats(i, rg, schema, exactness)
                })
                .collect();
            FooterStatistics {
                row_groups: stats,
                unavailable: None,
                parquet: Some(Arc::new(pq)),
            }
        }
        Ok(Ok(_)) => unknown("row group counts disagree".into()),
        Ok(Err(e)) => unknown(e.to_string()),
        Err(_) => unknown("statistics reader panicked".into()),
    }
}

/// Makes exact the null counts a writer repeated on each data page of a dictionary chunk
/// (`ColumnStats::nulls_per_data_page`): the footer's count divided by the chunk's data pages,
/// which its offset index lists (bytes read by `offset_index`; Polars' writer always writes
/// one, next to the footer). A count the pages do not divide, or a chunk without a readable
/// offset index, stays unknown.
pub(crate) fn divide_repeated_null_counts(
    statistics: &mut FooterStatistics,
    offset_index: impl Fn(Range<u64>) -> Option<Buffer<u8>>,
) {
    use parquet::file::page_index::index_reader::decode_offset_index;

    let Some(pq) = statistics.parquet.clone() else {
        return;
    };
    for (rg, pq_rg) in statistics.row_groups.iter_mut().zip(pq.row_groups()) {
        let rows = rg.num_rows as u64;
        for (name, stats) in rg.columns.iter_mut() {
            let Some(repeated) = stats.nulls_per_data_page else {
                continue;
            };
            let pages = flat_chunk(pq_rg, name)
                .and_then(|chunk| offset_index(chunk.offset_index_range()?))
                .and_then(|bytes| decode_offset_index(&bytes).ok())
                .map(|index| index.page_locations().len() as u64)
                .filter(|&k| k > 0);
            let Some(k) = pages else { continue };
            if repeated % k == 0 && repeated / k <= rows {
                stats.null_count = Some(repeated / k);
                stats.nulls_per_data_page = None;
            }
        }
    }
}
