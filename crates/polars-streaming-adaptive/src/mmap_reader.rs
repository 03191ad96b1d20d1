//! `MmapParquetReader`: one Parquet file mapped into memory, its footer parsed once, its row
//! groups decoded by Polars' own Parquet decoder (see docs/ARCHITECTURE.md for why).

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use memmap2::{Mmap, UncheckedAdvice};
use polars::prelude::*;
use polars_arrow::bitmap::{Bitmap, MutableBitmap};
use polars_arrow::datatypes::ArrowSchemaRef;
use polars_buffer::Buffer;
use polars_io::predicates::{ColumnPredicateExpr, ColumnPredicates, SpecializedColumnPredicate};
use polars_parquet::parquet::compression::Compression;
use polars_parquet::parquet::page::CompressedPage;
use polars_parquet::parquet::read::{BasicDecompressor, PageMetaData, PageReader};
use polars_parquet::parquet::schema::types::PhysicalType;
use polars_parquet::read::{
    ColumnChunkMetadata, FileMetadata, Filter, PredicateFilter, PrimitiveLogicalType,
};
use polars_parquet_format::Encoding;

use crate::decompressed::{decompress_chunk, DecompressedChunk};
use crate::error::{catch_panic, AdaptiveError, AdaptiveResult};
use crate::statistics::{row_group_stats, RowGroupStats};

const MAGIC: &[u8; 4] = b"PAR1";
const ENCRYPTED_MAGIC: &[u8; 4] = b"PARE";

/// One leaf's column chunk and its bytes (see `MmapParquetReader::chunks`).
type ChunkBytes<'a> = (&'a ColumnChunkMetadata, Buffer<u8>);

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

/// How a reader gets at a file's bytes.
///
/// A mapped file that shrinks under the reader, or whose pages cannot be read back (an I/O
/// error on a network or FUSE filesystem), makes the next touch of a lost page raise SIGBUS,
/// which no error handling can catch. Positioned reads (`pread`) turn both into errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MmapMode {
    /// Maps files on local filesystems; reads files on network and FUSE filesystems (NFS,
    /// SMB/CIFS, Ceph, AFS, 9p, Lustre, GlusterFS, FUSE mounts) with positioned reads.
    #[default]
    Auto,
    /// Always maps.
    Always,
    /// Never maps: each column chunk is read into memory of its own.
    Never,
}

impl MmapMode {
    fn maps(self, file: &File) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => !on_network_filesystem(file),
        }
    }
}

/// Whether `file` lives on a filesystem where a mapped page can fail to read back.
#[cfg(target_os = "linux")]
fn on_network_filesystem(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // Magic numbers from linux/magic.h and the filesystems' own sources.
    const REMOTE: [u32; 12] = [
        0x6969,      // NFS
        0x517B,      // SMB
        0xFF53_4D42, // CIFS
        0xFE53_4D42, // SMB2
        0x0102_1997, // 9p
        0x00C3_6400, // Ceph
        0x5346_414F, // AFS
        0x6B41_4653, // kAFS
        0x0BD0_0BD0, // Lustre
        0x7375_7245, // Coda
        0x6573_5546, // FUSE (GlusterFS, sshfs, s3fs, ...)
        0x0116_1970, // GFS2
    ];
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `fstatfs` fills the struct on success (return 0), and it is read only then.
    let ok = unsafe { libc::fstatfs(file.as_raw_fd(), st.as_mut_ptr()) } == 0;
    // SAFETY: initialised by the successful call above.
    ok && REMOTE.contains(&(unsafe { st.assume_init() }.f_type as u32))
}

#[cfg(not(target_os = "linux"))]
fn on_network_filesystem(_file: &File) -> bool {
    false
}

/// Reads `len` bytes at `offset` of `file` without moving a cursor shared between threads.
fn read_at(file: &File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    #[cfg(unix)]
    std::os::unix::fs::FileExt::read_exact_at(file, &mut buf, offset)?;
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < len {
            let n = std::os::windows::fs::FileExt::seek_read(
                file,
                &mut buf[done..],
                offset + done as u64,
            )?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
    }
    Ok(buf)
}

/// Where a reader's bytes come from.
enum Source {
    /// The file mapped read-only; `bytes` is the whole mapping as a buffer Polars can slice.
    Mapped { map: Arc<Mmap>, bytes: Buffer<u8> },
    /// Positioned reads of each byte range into memory of its own.
    Read,
}

impl Source {
    /// Maps `range` of a mapped file into the page table in one call, rather than one page
    /// fault per page as the decoder reads it. Only for chunks decoded whole: a masked decode
    /// or a unit inside a row group skips pages, which must then stay untouched (they would
    /// count in the process's RSS). Best effort (Linux 5.14+).
    fn populate(&self, range: Range<usize>) {
        #[cfg(target_os = "linux")]
        if let Self::Mapped { map, .. } = self {
            let _ = map.advise_range(memmap2::Advice::PopulateRead, range.start, range.len());
        }
        #[cfg(not(target_os = "linux"))]
        let _ = range;
    }

    /// Bytes `range` of the file. From a mapping they are a slice of it unless `owned`: what
    /// outlives the read must not point into the mapping, which faults (SIGBUS) once the file
    /// is truncated.
    fn bytes(&self, file: &File, range: Range<usize>, owned: bool) -> std::io::Result<Buffer<u8>> {
        Ok(match self {
            Self::Mapped { bytes, .. } if owned => Buffer::from(bytes[range].to_vec()),
            Self::Mapped { bytes, .. } => bytes.clone().sliced(range),
            Self::Read => Buffer::from(read_at(file, range.start as u64, range.len())?),
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
    source: Source,
    metadata: Arc<FileMetadata>,
    arrow_schema: ArrowSchemaRef,
    schema: SchemaRef,
    /// The footer's bytes, for the statistics read on first use.
    footer: Buffer<u8>,
    /// The footer as arrow-rs reads it (statistics, page index locations) and the typed
    /// statistics: a second parse of the footer, done when something first asks for them (a
    /// scan without predicate, top-k or aggregate never does).
    statistics: std::sync::OnceLock<FooterStatistics>,
    /// Prefix sums of the rows of the row groups (see `row_group_starts`).
    row_group_starts: Vec<usize>,
    /// Per (row group, schema column), the page-header check of its chunks: what their pages
    /// hold, or why the headers are refused. It covers the pages of the rows read so far and
    /// is extended when a read needs more (see `checked_pages`).
    page_checks: Vec<PageCheck>,
    /// Per (row group, schema column), its chunk's pages decompressed once for the units that
    /// share them (`PageReuse::Keep`): `Some(None)` where that failed, so the units decode
    /// from the file's bytes. Emptied when the row group's last unit is read (`release`).
    decompressed: Vec<std::sync::Mutex<KeptPages>>,
}

impl std::fmt::Debug for MmapParquetReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapParquetReader")
            .field("path", &self.path)
            .field("len", &self.stamp.len)
            .field("mapped", &matches!(self.source, Source::Mapped { .. }))
            .field("row_groups", &self.metadata.row_groups.len())
            .field("rows", &self.metadata.num_rows)
            .finish_non_exhaustive()
    }
}

impl MmapParquetReader {
    /// Opens and maps `path` ([`MmapMode::Auto`]), then parses and validates its footer.
    pub fn new(path: impl AsRef<Path>) -> PolarsResult<Self> {
        Ok(Self::open(path.as_ref(), MmapMode::Auto)?)
    }

    /// Opens `path`, mapped or not as `mode` says, then parses and validates its footer.
    pub fn with_mode(path: impl AsRef<Path>, mode: MmapMode) -> PolarsResult<Self> {
        Ok(Self::open(path.as_ref(), mode)?)
    }

    pub(crate) fn open(path: &Path, mode: MmapMode) -> AdaptiveResult<Self> {
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
        let source = if mode.maps(&file) {
            // SAFETY: the mapping is read-only. Another process may still truncate the file
            // while it is mapped; reads of the lost pages would then raise SIGBUS.
            // `ensure_unchanged` checks the length and modification time before every decode,
            // which narrows that window to the decode itself, and nothing that outlives a read
            // points into the mapping (`Source::bytes`, docs/ARCHITECTURE.md "Mapped files").
            let map = unsafe { Mmap::map(&file) }.map_err(|e| AdaptiveError::io(path, e))?;
            let map = Arc::new(map);
            let bytes = Buffer::from_owner(MapOwner(map.clone()));
            Source::Mapped { map, bytes }
        } else {
            Source::Read
        };
        let len = stamp.len as usize;
        let read = |range: Range<usize>| {
            source
                .bytes(&file, range, true)
                .map_err(|e| AdaptiveError::io(path, e))
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
        let invalid = |reason: String| AdaptiveError::InvalidMetadata {
            path: path.to_path_buf(),
            reason,
        };
        let footer_len = u32::from_le_bytes(tail[..4].try_into().unwrap()) as usize;
        let footer_start = (len - 8).checked_sub(footer_len).ok_or_else(|| {
            invalid(format!(
                "the footer claims {footer_len} bytes, the file has {len}"
            ))
        })?;
        // Copied even from a mapping: the parsed metadata keeps slices of it.
        let footer = read(footer_start..len - 8)?;
        let metadata = catch_panic(
            || {
                polars_parquet::parquet::read::deserialize_metadata(footer.clone())
                    .map_err(|e| invalid(e.to_string()))
            },
            |msg| invalid(format!("footer parser panicked: {msg}")),
        )?;
        validate_layout(&metadata, len as u64).map_err(invalid)?;
        let (arrow_schema, schema) = catch_panic(
            || {
                let arrow = polars_parquet::arrow::read::infer_schema(&metadata)
                    .map_err(|e| invalid(e.to_string()))?;
                let schema = Schema::from_arrow_schema(&arrow);
                Ok((arrow, Arc::new(schema)))
            },
            |msg| invalid(format!("schema inference panicked: {msg}")),
        )?;
        let row_group_starts = row_group_starts(&metadata);
        let page_checks = (0..metadata.row_groups.len() * schema.len())
            .map(|_| Default::default())
            .collect();
        let decompressed = (0..metadata.row_groups.len() * schema.len())
            .map(|_| Default::default())
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            stamp,
            source,
            metadata: Arc::new(metadata),
            arrow_schema: Arc::new(arrow_schema),
            schema,
            footer,
            statistics: std::sync::OnceLock::new(),
            row_group_starts,
            page_checks,
            decompressed,
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

    /// Number of rows in the file: the rows its row groups hold, or none when the footer's own
    /// count is 0 (as stock reads it).
    pub fn total_rows(&self) -> usize {
        *self.row_group_starts.last().unwrap()
    }

    /// Rows of the file before row group `i`.
    pub fn row_group_first_row(&self, i: usize) -> usize {
        self.row_group_starts[i]
    }

    /// Rows of row group `i` that belong to the file: the footer's count for the row group, or 0
    /// when the footer's count for the file is 0 (see `row_group_starts`).
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
        &self.statistics()[i]
    }

    /// Statistics of every row group.
    pub fn statistics(&self) -> &[RowGroupStats] {
        &self.footer_statistics().0
    }

    /// Why the footer's statistics could not be read, when they could not. Reading still works;
    /// pruning keeps every row group.
    pub fn statistics_unavailable(&self) -> Option<&str> {
        self.footer_statistics().1.as_deref()
    }

    fn footer_statistics(&self) -> &FooterStatistics {
        self.statistics
            .get_or_init(|| read_statistics(&self.footer, &self.metadata, &self.schema))
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
        Ok(self.decode(
            i,
            0..self.checked_rg(i)?,
            &all,
            ColumnThreads::Split,
            PageReuse::Existing,
        )?)
    }

    /// Decodes the named columns of row group `i`, in the order given.
    pub fn read_row_group_projected(&self, i: usize, columns: &[&str]) -> PolarsResult<DataFrame> {
        let indices = columns
            .iter()
            .map(|c| self.column_index(c))
            .collect::<AdaptiveResult<Vec<_>>>()?;
        Ok(self.decode(
            i,
            0..self.checked_rg(i)?,
            &indices,
            ColumnThreads::Split,
            PageReuse::Existing,
        )?)
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

    /// `decode` of every column of `columns` on Polars' pool, in `columns`' order. Each idle
    /// thread takes the next column, the largest chunks (uncompressed, dictionary included)
    /// first, so that the heaviest column is not left for last: rayon's halving split of six
    /// columns put P2's two dictionary-heavy ones (3 ms each) on one thread behind others. For
    /// a unit alone on the pool only (`ColumnThreads::LargestFirst`): among other units,
    /// rayon's split measured faster (the decode-only read, 0.70 s against 0.76 s).
    fn decode_heaviest_first(
        &self,
        rg: usize,
        columns: &[usize],
        decode: impl Fn(&usize) -> AdaptiveResult<Column> + Sync,
    ) -> AdaptiveResult<Vec<Column>> {
        use rayon::prelude::*;
        use std::sync::atomic::{AtomicUsize, Ordering};

        let mut order: Vec<usize> = (0..columns.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.uncompressed_bytes(rg, columns[i])));
        let next = AtomicUsize::new(0);
        let done: Vec<std::sync::OnceLock<AdaptiveResult<Column>>> =
            columns.iter().map(|_| Default::default()).collect();
        let threads = polars_core::runtime::RAYON.current_num_threads();
        polars_core::runtime::RAYON.install(|| {
            (0..threads.min(columns.len()))
                .into_par_iter()
                .with_max_len(1)
                .for_each(|_| {
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let _ = done[i].set(decode(&columns[i]));
                    }
                })
        });
        done.into_iter()
            .map(|d| d.into_inner().expect("every column was taken by a worker"))
            .collect()
    }

    /// The uncompressed bytes of schema column `c`'s chunks in row group `rg`, from the footer
    /// (dictionary pages included); 0 when the row group lacks the column.
    fn uncompressed_bytes(&self, rg: usize, c: usize) -> usize {
        let name = self.schema.get_at_index(c).unwrap().0;
        self.metadata.row_groups[rg]
            .columns_under_root_iter(name)
            .map(|it| it.map(|m| m.uncompressed_size().max(0) as usize).sum())
            .unwrap_or(0)
    }

    /// Estimated decoded bytes of `columns` (schema indices) in row group `rg`.
    pub(crate) fn estimate_decoded_bytes(&self, rg: usize, columns: &[usize]) -> usize {
        let rows = self.metadata.row_groups[rg].num_rows();
        columns
            .iter()
            .map(|&c| {
                let dtype = self.schema.get_at_index(c).unwrap().1;
                estimate_column_bytes(dtype, rows, self.uncompressed_bytes(rg, c))
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
        threads: ColumnThreads,
        pages: PageReuse,
    ) -> AdaptiveResult<DataFrame> {
        self.decode_selected(rg, rows, None, columns, threads, pages)
    }

    /// Decodes the rows of `rows` (relative to the row group) whose bit in `mask` is set (one
    /// bit per row of `rows`), of `columns`. Flat columns are decoded through Polars' masked
    /// decoder, which skips pages without a selected row before decompressing them; nested
    /// ones are decoded by range and then filtered, as stock Polars does.
    pub(crate) fn decode_masked(
        &self,
        rg: usize,
        rows: Range<usize>,
        mask: &Bitmap,
        columns: &[usize],
        threads: ColumnThreads,
        pages: PageReuse,
    ) -> AdaptiveResult<DataFrame> {
        debug_assert_eq!(mask.len(), rows.len());
        self.decode_selected(rg, rows, Some(mask), columns, threads, pages)
    }

    fn decode_selected(
        &self,
        rg: usize,
        rows: Range<usize>,
        mask: Option<&Bitmap>,
        columns: &[usize],
        threads: ColumnThreads,
        pages: PageReuse,
    ) -> AdaptiveResult<DataFrame> {
        self.ensure_unchanged()?;
        let md = &self.metadata.row_groups[rg];
        let height = mask.map_or(rows.len(), |m| m.set_bits());
        // The masked decoder takes one bit per row of the chunk.
        let group_mask = mask.map(|m| mask_over(m, &rows, &(0..md.num_rows())));
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
            let decode_err = |reason: String| self.decode_error(rg, name, reason);
            // A unit inside a row group reads only part of the chunk.
            let whole =
                rows.len() == md.num_rows() && (group_mask.is_none() || field.dtype.is_nested());
            let shared = match whole {
                false => self.decompressed_chunk(rg, c, &rows, pages)?,
                true => None,
            };
            let Some(mut chunks) = self.chunks(rg, c, whole, rows.end)? else {
                return Ok(Column::full_null(
                    name.clone(),
                    height,
                    &DataType::from_arrow_field(field),
                ));
            };
            if let (Some(shared), [(_, bytes)]) = (&shared, &mut chunks[..]) {
                *bytes = shared.bytes.clone();
            }
            if !whole {
                if let (Some(start), [(_, bytes)]) = (
                    self.checked_pages(rg, c, rows.end)?.data_start(&rows),
                    &mut chunks[..],
                ) {
                    let start = shared.as_ref().map_or(start, |d| d.data_start);
                    *bytes = bytes.clone().sliced(start..bytes.len());
                }
            }
            let series = catch_panic(
                || {
                    // A whole row group is decoded without a filter, as stock Polars does: the
                    // ranged path of nested columns differs (and fails on some valid files).
                    let masked = group_mask.as_ref().filter(|_| !field.dtype.is_nested());
                    // Kept pages are read from their first row to the end of the unit's last
                    // page.
                    let filter = match (masked, &shared) {
                        (Some(_), Some(d)) => Some(Filter::Mask(mask_over(
                            mask.unwrap(),
                            &rows,
                            &d.window(rows.end),
                        ))),
                        (Some(m), None) => Some(Filter::Mask(m.clone())),
                        (None, Some(d)) => {
                            let first = d.rows.start;
                            Some(Filter::new_ranged(rows.start - first, rows.end - first))
                        }
                        (None, None) => (rows.len() != md.num_rows())
                            .then(|| Filter::new_ranged(rows.start, rows.end)),
                    };
                    let window = shared.as_ref().map(|d| d.window(rows.end).len());
                    let (arrays, _) = deserialize(chunks, window, field.clone(), filter)
                        .map_err(|e| decode_err(e.to_string()))?;
                    let series =
                        Series::try_from((field, arrays)).map_err(|e| decode_err(e.to_string()))?;
                    match (mask, masked) {
                        (Some(m), None) => series
                            .filter(&BooleanChunked::from_bitmap(PlSmallStr::EMPTY, m.clone()))
                            .map_err(|e| decode_err(e.to_string())),
                        _ => Ok(series),
                    }
                },
                |msg| decode_err(format!("decoder panicked: {msg}")),
            )?;
            if series.len() != height {
                return Err(decode_err(format!(
                    "decoded {} values where the row group holds {height} rows",
                    series.len()
                )));
            }
            Ok(series.into_column())
        };
        // One column has nothing to share.
        let threads = match columns.len() {
            0 | 1 => ColumnThreads::One,
            _ => threads,
        };
        let columns = match threads {
            ColumnThreads::One => columns.iter().map(decode_column).collect(),
            ColumnThreads::Split => {
                use rayon::prelude::*;
                polars_core::runtime::RAYON
                    .install(|| columns.par_iter().map(decode_column).collect())
            }
            ColumnThreads::LargestFirst => self.decode_heaviest_first(rg, columns, decode_column),
        }?;
        DataFrame::new(height, columns).map_err(|e| AdaptiveError::Internal(e.to_string()))
    }

    /// Decodes `columns` of the whole row group `rg`, each filtered while it is decoded by its
    /// own part of a predicate that is the conjunction of `predicates` (Polars'
    /// `Filter::Predicate`, as stock's Parquet source uses it: a dictionary-encoded page is
    /// tested once per dictionary entry, and the strings of rows it drops are never built).
    /// Returns the columns restricted to the rows every part keeps, and that mask over the row
    /// group. `None` where Polars' decoder does not take column predicates (a Float16 column in
    /// the row group, stock's guard) or a column is absent from the row group: the caller
    /// then decodes and evaluates as usual.
    pub(crate) fn decode_predicated(
        &self,
        rg: usize,
        columns: &[usize],
        predicates: &ColumnPredicates,
    ) -> AdaptiveResult<Option<(Vec<Column>, Bitmap)>> {
        self.ensure_unchanged()?;
        let md = &self.metadata.row_groups[rg];
        let float16 = md.parquet_columns().iter().any(|c| {
            matches!(
                c.descriptor().descriptor.primitive_type.logical_type,
                Some(PrimitiveLogicalType::Float16)
            )
        });
        if float16 {
            return Ok(None);
        }
        let mut decoded = Vec::with_capacity(columns.len());
        for &c in columns {
            let (name, field) = self.arrow_schema.get_at_index(c).unwrap();
            let dtype = DataType::from_arrow_field(field);
            let Some((part, specialized)) = predicates.predicates.get(name) else {
                return Ok(None);
            };
            let Some(chunks) = self.chunks(rg, c, true, md.num_rows())? else {
                return Ok(None);
            };
            // An equality keeps one value: Polars then skips building the column and we
            // repeat the literal, if it has the column's exact dtype.
            let constant = match specialized {
                Some(SpecializedColumnPredicate::Equal(v))
                    if !v.is_null() && v.dtype() == &dtype =>
                {
                    Some(v.clone())
                }
                _ => None,
            };
            let predicate = ColumnPredicateExpr::new(
                name.clone(),
                dtype.clone(),
                part.clone(),
                specialized.clone(),
            );
            let filter = Filter::Predicate(PredicateFilter {
                predicate: Arc::new(predicate),
                include_values: constant.is_none(),
            });
            let decode_err = |reason: String| self.decode_error(rg, name, reason);
            let (column, mask) = catch_panic(
                || {
                    let (arrays, mask) = polars_io::parquet::read::_internal::to_deserializer(
                        chunks,
                        field.clone(),
                        Some(filter),
                    )
                    .map_err(|e| decode_err(e.to_string()))?;
                    let column = match &constant {
                        Some(v) => Column::new_scalar(name.clone(), v.clone(), mask.set_bits()),
                        None => Series::try_from((field, arrays))
                            .map_err(|e| decode_err(e.to_string()))?
                            .into_column(),
                    };
                    Ok((column, mask))
                },
                |msg| decode_err(format!("decoder panicked: {msg}")),
            )?;
            if mask.len() != md.num_rows() || column.len() != mask.set_bits() {
                return Err(decode_err(format!(
                    "the predicate kept {} values and {} of {} rows; the row group holds {} rows",
                    column.len(),
                    mask.set_bits(),
                    mask.len(),
                    md.num_rows()
                )));
            }
            decoded.push((column, mask));
        }
        let all = decoded
            .iter()
            .map(|(_, mask)| mask.clone())
            .reduce(|a, b| &a & &b)
            .unwrap_or_else(|| Bitmap::new_with_value(true, md.num_rows()));
        let all_rows = BooleanChunked::from_bitmap(PlSmallStr::EMPTY, all.clone());
        let columns = decoded
            .into_iter()
            .map(|(column, mask)| {
                if mask.set_bits() == all.set_bits() {
                    return Ok(column);
                }
                // Of the rows this column kept, those every other column kept too.
                let kept = BooleanChunked::from_bitmap(PlSmallStr::EMPTY, mask);
                column.filter(&all_rows.filter(&kept)?)
            })
            .collect::<PolarsResult<Vec<_>>>()
            .map_err(|e| AdaptiveError::Internal(e.to_string()))?;
        Ok(Some((columns, all)))
    }

    /// The bytes of column `c`'s chunks in row group `rg` (one per leaf), after checking their
    /// page headers; `None` when the row group lacks the column. `whole`: the caller decodes
    /// the whole chunk, so its pages are faulted in at once.
    fn chunks(
        &self,
        rg: usize,
        c: usize,
        whole: bool,
        until: usize,
    ) -> AdaptiveResult<Option<Vec<ChunkBytes<'_>>>> {
        let pages = self.checked_pages(rg, c, until)?;
        let name = self.schema.get_at_index(c).unwrap().0;
        let Some(chunks) = self.metadata.row_groups[rg].columns_under_root_iter(name) else {
            return Ok(None);
        };
        chunks
            .map(|m| {
                let r = m.byte_range();
                // A slice of the mapping: Polars' decoders copy every value out of the pages
                // (pinned for every dtype family by
                // `a_frame_outlives_the_truncation_of_its_mapped_file`).
                let mut range = r.start as usize..r.end as usize;
                if let Some(len) = pages.checked_len {
                    range.end = range.start + len;
                }
                if whole {
                    self.source.populate(range.clone());
                }
                let bytes = self.source.bytes(&self.file, range, false).map_err(|e| {
                    self.decode_error(rg, name, format!("reading the column chunk: {e}"))
                })?;
                Ok((m, bytes))
            })
            .collect::<AdaptiveResult<_>>()
            .map(Some)
    }

    fn decode_error(&self, rg: usize, column: &str, reason: String) -> AdaptiveError {
        AdaptiveError::Decode {
            path: self.path.clone(),
            row_group: rg,
            column: column.to_string(),
            reason,
        }
    }

    /// The Parquet physical type of schema column `c`, when it is a flat column (one leaf).
    pub(crate) fn physical_type(&self, c: usize) -> Option<PhysicalType> {
        let name = self.schema.get_at_index(c)?.0;
        let rg = self.metadata.row_groups.first()?;
        let mut leaves = rg.columns_under_root_iter(name)?;
        let leaf = leaves.next()?;
        if leaves.next().is_some() {
            return None;
        }
        Some(leaf.descriptor().descriptor.primitive_type.physical_type)
    }

    /// The split block bloom filter of schema column `c` in row group `rg`, if the writer
    /// stored one the format defines and it lies inside the file. Unreadable filters are
    /// `None`: they keep the row group.
    pub(crate) fn bloom_filter(
        &self,
        rg: usize,
        c: usize,
    ) -> Option<crate::bloom::SplitBlockFilter> {
        let name = self.schema.get_at_index(c)?.0;
        let md = self.metadata.row_groups.get(rg)?;
        let mut leaves = md.columns_under_root_iter(name)?;
        let leaf = leaves.next()?;
        let start = usize::try_from(leaf.bloom_filter_offset()?).ok()?;
        let file_len = usize::try_from(self.stamp.len).ok()?;
        // Writers that omit the length: the header (a few bytes) and the bitset after it are
        // read from what is left of the file.
        let len = match leaf.bloom_filter_length() {
            Some(len) => usize::try_from(len).ok()?,
            None => file_len.checked_sub(start)?,
        };
        let end = start.checked_add(len)?;
        if end > file_len || self.ensure_unchanged().is_err() {
            return None;
        }
        let bytes = self.source.bytes(&self.file, start..end, false).ok()?;
        crate::bloom::parse_filter(bytes)
    }

    /// The row ranges of row group `rg` whose pages of column `c` may hold a row the
    /// predicate keeps (`skip` says, from one page's statistics, that none can), merged, and
    /// the number of pages skipped; from the chunk's column and offset indexes. `None` when
    /// the chunk has no usable page index: every row is read.
    pub(crate) fn page_ranges(
        &self,
        rg: usize,
        c: usize,
        skip: impl Fn(&RowGroupStats) -> bool,
    ) -> Option<(Vec<Range<usize>>, usize)> {
        let (name, dtype) = self.schema.get_at_index(c)?;
        let pq = self.footer_statistics().2.as_ref()?;
        let pq_rg = pq.row_groups().get(rg)?;
        // A flat column: one leaf named like the column.
        let chunk = pq_rg
            .columns()
            .iter()
            .find(|chunk| chunk.column_descr().path().parts() == [name.to_string()])?;
        let file_len = self.stamp.len;
        let read = |range: std::ops::Range<u64>| {
            if range.end > file_len || self.ensure_unchanged().is_err() {
                return None;
            }
            let range = usize::try_from(range.start).ok()?..usize::try_from(range.end).ok()?;
            self.source.bytes(&self.file, range, false).ok()
        };
        let column_index = read(chunk.column_index_range()?)?;
        let offset_index = read(chunk.offset_index_range()?)?;
        let rows = self.row_group_num_rows(rg);
        let pages = crate::statistics::page_stats(
            chunk,
            name,
            dtype,
            rg,
            rows,
            column_index.as_ref(),
            offset_index.as_ref(),
        )?;
        let mut ranges: Vec<Range<usize>> = Vec::new();
        let mut skipped = 0;
        for (range, stats) in pages {
            if skip(&stats) {
                skipped += 1;
                continue;
            }
            match ranges.last_mut() {
                Some(last) if last.end == range.start => last.end = range.end,
                _ => ranges.push(range),
            }
        }
        Some((ranges, skipped))
    }

    /// The file's Arrow schema, as Polars' decoder reads it.
    pub(crate) fn arrow_schema(&self) -> &ArrowSchemaRef {
        &self.arrow_schema
    }

    /// What reading part of row group `rg` holds besides the values, summed over `columns`
    /// (see `PageCosts`). Errors where the page headers contradict the footer.
    ///
    /// The first time, the columns' page headers are checked in parallel: jobs on Polars' pool
    /// take the other columns while this thread checks the first (a row group's headers of six
    /// columns took P2's producer 0.85 ms). This thread then finds each column checked, waits
    /// for a check another thread is running, or checks one no job has started: the lock of
    /// `checked_pages`' cell is held only while checking, so it never waits for a job still
    /// queued. Every column is checked before
    /// returning, even after an error, so a job that starts later finds its check done and never
    /// reads the mapping after the read is over (the file may be rewritten by then).
    pub(crate) fn page_costs(
        self: &Arc<Self>,
        rg: usize,
        columns: &[usize],
        until: usize,
    ) -> AdaptiveResult<PageCosts> {
        for &c in columns.iter().skip(1) {
            if !self.pages_checked(rg, c, until) {
                let reader = self.clone();
                polars_core::runtime::RAYON.spawn(move || {
                    let _ = reader.checked_pages(rg, c, until);
                });
            }
        }
        let checked: Vec<AdaptiveResult<Arc<ChunkPages>>> = columns
            .iter()
            .map(|&c| self.checked_pages(rg, c, until))
            .collect();
        checked
            .into_iter()
            .collect::<AdaptiveResult<_>>()
            .map(PageCosts)
    }

    /// The cell holding `check_pages`' outcome for schema column `c` in row group `rg`.
    fn page_cell(&self, rg: usize, c: usize) -> &PageCheck {
        &self.page_checks[rg * self.schema.len() + c]
    }

    /// The pages of schema column `c` in row group `rg` kept decompressed, locked.
    fn kept_pages(&self, rg: usize, c: usize) -> std::sync::MutexGuard<'_, KeptPages> {
        self.decompressed[rg * self.schema.len() + c]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// That cell, locked.
    fn page_check(&self, rg: usize, c: usize) -> std::sync::MutexGuard<'_, Option<CheckedPages>> {
        self.page_cell(rg, c)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the pages of schema column `c` in row group `rg` are checked as far as row
    /// `until` (or refused); `false` also while another thread checks them.
    fn pages_checked(&self, rg: usize, c: usize, until: usize) -> bool {
        self.page_cell(rg, c)
            .try_lock()
            .is_ok_and(|checked| checked.as_ref().is_some_and(|p| covers(p, until)))
    }

    /// `check_pages` over the chunks of schema column `c` in row group `rg`, as far as the
    /// page holding row `until - 1`: every unit of the row group asks again, and the check is
    /// redone only when a unit reads past the pages checked so far. A unit the page index
    /// narrowed to the first 100 K of a row group's 1 M rows thus checks 6 pages a column, not
    /// 52 (P2's producer spent 0.65 to 1.3 ms checking and faulting in all of them).
    fn checked_pages(&self, rg: usize, c: usize, until: usize) -> AdaptiveResult<Arc<ChunkPages>> {
        let name = self.schema.get_at_index(c).unwrap().0;
        let mut cell = self.page_check(rg, c);
        if !cell.as_ref().is_some_and(|p| covers(p, until)) {
            *cell = Some(self.check_chunks(rg, name, until).map(Arc::new));
        }
        let checked = cell.as_ref().unwrap().clone();
        checked.map_err(|reason| self.decode_error(rg, name, reason))
    }

    /// The pages of schema column `c` in row group `rg` holding `rows`, decompressed once
    /// (see `decompressed`), with the chunk's dictionary page: those kept for the row group's
    /// units, or (`PageReuse::Keep`) decompressed from the page holding `rows.start` to the end
    /// of the pages checked and kept. `None` where the pages are not kept (see
    /// `ChunkPages::kept_for`), no kept pages hold `rows`, or decompressing them failed: the
    /// unit then decodes from the file's bytes. Built under the cell's lock, so that a unit
    /// of the same chunk on another thread waits for the pages rather than decompressing them
    /// too (the builder is running, never queued).
    fn decompressed_chunk(
        &self,
        rg: usize,
        c: usize,
        rows: &Range<usize>,
        reuse: PageReuse,
    ) -> AdaptiveResult<Option<Arc<DecompressedChunk>>> {
        let pages = self.checked_pages(rg, c, rows.end)?;
        let keep = match reuse {
            PageReuse::Keep(unit_rows) => pages.kept_for(unit_rows),
            PageReuse::Existing => false,
        };
        let mut cell = self.kept_pages(rg, c);
        match &*cell {
            Some(Some(d)) if d.holds(rows) => return Ok(Some(d.clone())),
            // Failed before; or units behind the kept pages, which later units still read.
            Some(None) => return Ok(None),
            Some(Some(d)) if rows.start < d.rows.start => return Ok(None),
            _ if !keep => return Ok(None),
            _ => {}
        }
        let Some(chunks) = self.chunks(rg, c, false, rows.end)? else {
            return Ok(None);
        };
        let [(m, bytes)] = &chunks[..] else {
            return Ok(None);
        };
        let build = || decompress_chunk(m.compression(), bytes, rows.start, pages.extent);
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(build))
            .ok()
            .and_then(Result::ok)
            .filter(|d| d.holds(rows))
            .map(Arc::new);
        *cell = Some(built.clone());
        Ok(built)
    }

    fn check_chunks(&self, rg: usize, name: &str, until: usize) -> Result<ChunkPages, String> {
        let md = &self.metadata.row_groups[rg];
        let chunks: Vec<_> = md
            .columns_under_root_iter(name)
            .into_iter()
            .flatten()
            .collect();
        // Only a column of one flat chunk is checked in part, or read without its dictionary.
        let until = match chunks.len() {
            1 => until,
            _ => usize::MAX,
        };
        let (mut held, mut last) = (0usize, None);
        for m in &chunks {
            let r = m.byte_range();
            let bytes = self
                .source
                .bytes(&self.file, r.start as usize..r.end as usize, false)
                .map_err(|e| format!("reading the column chunk: {e}"))?;
            let check = || check_pages(m, md.num_rows(), &bytes, until);
            let pages = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check))
                .unwrap_or_else(|_| Err("the page header reader panicked".into()))?;
            held = held.saturating_add(pages.held);
            last = Some(pages);
        }
        Ok(match (chunks.len(), last) {
            (1, Some(pages)) => pages,
            _ => ChunkPages {
                rows: md.num_rows(),
                held,
                ..ChunkPages::default()
            },
        })
    }

    /// Drops the pages of `columns` of row group `rg` kept decompressed, and hands their
    /// mapped pages back to the kernel, once they are consumed, so the mapping does not keep
    /// the whole file resident (peak RSS counts every touched page of a mapping).
    pub(crate) fn release(&self, rg: usize, columns: &[usize]) {
        for &c in columns {
            *self.kept_pages(rg, c) = None;
        }
        let Source::Mapped { map, .. } = &self.source else {
            return;
        };
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
                        map.unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start)
                    };
                }
            }
        }
    }
}

/// A column's page check in one row group, or why its headers are refused.
type CheckedPages = Result<Arc<ChunkPages>, String>;

/// See `MmapParquetReader::decompressed`.
type KeptPages = Option<Option<Arc<DecompressedChunk>>>;

/// See `MmapParquetReader::page_checks`.
type PageCheck = std::sync::Mutex<Option<CheckedPages>>;

/// Whether a read of the rows before `until` may rely on `checked`: a refusal stands for
/// every read, since any read walks the pages it was found in.
fn covers(checked: &CheckedPages, until: usize) -> bool {
    checked.as_ref().map_or(true, |p| p.rows >= until)
}

/// What the page headers of a column's chunks in one row group say, as far as they were
/// checked.
#[derive(Debug, Clone, Default)]
struct ChunkPages {
    /// The rows of the pages checked: the row group's when every page was.
    rows: usize,
    /// The bytes of the chunk the check covers, when it stopped before the chunk's end: a
    /// decoder is given only those, so it never meets a header that was not checked.
    checked_len: Option<usize>,
    /// Their dictionary page and largest data page, decompressed: what decoding any of their
    /// rows holds at once besides the values.
    held: usize,
    /// All their pages, decompressed: what keeping them decompressed holds
    /// (`MmapParquetReader::decompressed_chunk`).
    extent: usize,
    /// Whether the chunk's pages are compressed.
    compressed: bool,
    /// The data pages checked.
    data_pages: usize,
    /// For a flat chunk: where its data pages start in the chunk's bytes (past the dictionary
    /// page), and the rows of its dictionary-encoded data pages.
    flat: Option<(usize, Vec<Range<usize>>)>,
}

impl ChunkPages {
    /// Whether units of `rows` rows keep the chunk's pages decompressed once for each other:
    /// a flat chunk (a nested column spans several chunks, and is read whole) of compressed
    /// pages that hold more rows than a unit on average, so that several units would
    /// decompress each page (units larger than the pages gain little and would pay for the
    /// copy: P4's units, of more rows than its 20,480-row pages, took 1.12 → 1.38 s when
    /// every chunk was kept).
    fn kept_for(&self, rows: usize) -> bool {
        self.compressed && self.flat.is_some() && rows.saturating_mul(self.data_pages) < self.rows
    }

    /// Where to start the chunk's bytes to decode `rows` without its dictionary page, when
    /// it has one and no data page holding any of `rows` is dictionary-encoded. Writers fall
    /// back from a dictionary that grew too large to plain pages (arrow-rs past 1 MiB: the
    /// benchmark's unique `timestamp` and `trade_id`), so a unit past the first pages would
    /// otherwise decompress and decode a dictionary it never looks up.
    fn data_start(&self, rows: &Range<usize>) -> Option<usize> {
        let (start, dictionary_rows) = self.flat.as_ref()?;
        let uses_dictionary = dictionary_rows
            .iter()
            .any(|r| r.start < rows.end && rows.start < r.end);
        (*start > 0 && !uses_dictionary).then_some(*start)
    }
}

/// Checks a column chunk's footer entry and page headers before anything is allocated from
/// them: a flat column holds one value per row (a nested one at least one), its data pages
/// hold at least the footer's values (Polars reads pages until it has seen that many, as here),
/// and no page decompresses to more than the chunk's total.
/// Polars' decoder sizes buffers from these counts, so a forged one would otherwise ask the
/// allocator for terabytes, which aborts rather than errs.
///
/// `held` is the dictionary page and the largest data page, decompressed; every batch of the
/// chunk that needs the dictionary decodes it again.
///
/// A flat chunk's walk stops once its pages hold `until` rows: Polars' decoder, given a range
/// or mask of rows, reads no page past the last one it needs, so a read of those rows meets
/// no other header when it is given only the bytes checked (`ChunkPages::checked_len`).
fn check_pages(
    m: &ColumnChunkMetadata,
    rows: usize,
    bytes: &Buffer<u8>,
    until: usize,
) -> Result<ChunkPages, String> {
    let Ok(values) = usize::try_from(m.num_values()) else {
        return Err(format!("the footer gives {} values", m.num_values()));
    };
    let flat = m.descriptor().descriptor.max_rep_level == 0;
    if values < rows || (flat && values != rows) {
        return Err(format!("the footer gives {values} values for {rows} rows"));
    }
    let chunk_total = usize::try_from(m.uncompressed_size()).unwrap_or(0);
    // The dictionary page first, as Polars' decoder reads it, to know where data pages start.
    let mut dictionary = PageReader::new(
        std::io::Cursor::new(bytes.clone()),
        m,
        Vec::new(),
        bytes.len(),
    );
    dictionary
        .read_dict()
        .map_err(|e| format!("dictionary page header: {e}"))?;
    let (cursor, scratch) = dictionary.into_inner();
    let data_start = usize::try_from(cursor.position()).unwrap_or(0);
    let dictionary_size = dictionary_size(&bytes[..data_start])?;
    if dictionary_size > chunk_total {
        return Err(format!(
            "the dictionary page header gives {dictionary_size} bytes decompressed, the footer {chunk_total} for the whole chunk"
        ));
    }
    let mut pages = PageReader::new(cursor, m, scratch, bytes.len());
    let (mut seen, mut largest, mut extent) = (0usize, 0usize, dictionary_size);
    let mut data_pages = 0usize;
    let mut dictionary_rows: Vec<Range<usize>> = Vec::new();
    let until = if flat { until } else { usize::MAX };
    let mut checked_len = None;
    while let Some(page) = pages.next() {
        let page = page.map_err(|e| format!("page header: {e}"))?;
        if let CompressedPage::Data(p) = page {
            let first = seen;
            seen = seen.saturating_add(p.num_values());
            let size = p.uncompressed_size();
            if size > chunk_total {
                return Err(format!(
                    "a page header gives {size} bytes decompressed, the footer {chunk_total} for the whole chunk"
                ));
            }
            largest = largest.max(size);
            extent = extent.saturating_add(size);
            data_pages += 1;
            let encoding = p.header().encoding();
            if matches!(
                encoding,
                Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY
            ) {
                match dictionary_rows.last_mut() {
                    Some(last) if last.end == first => last.end = seen,
                    _ => dictionary_rows.push(first..seen),
                }
            }
            if seen >= until && seen < values {
                checked_len = Some(pages.into_inner().0.position() as usize);
                break;
            }
        }
    }
    if checked_len.is_none() && seen < values {
        return Err(format!("the pages hold {seen} values, the footer {values}"));
    }
    Ok(ChunkPages {
        // In a flat chunk a page's values are its rows.
        rows: match checked_len {
            Some(_) => seen,
            None => rows,
        },
        checked_len,
        held: largest.saturating_add(dictionary_size),
        extent,
        compressed: m.compression() != Compression::Uncompressed,
        data_pages,
        flat: flat.then_some((data_start, dictionary_rows)),
    })
}

/// The decompressed size of the dictionary page whose header starts `header` (the bytes
/// before the first data page); 0 without one.
fn dictionary_size(header: &[u8]) -> Result<usize, String> {
    use polars_parquet_format::thrift::protocol::TCompactInputProtocol;
    use polars_parquet_format::PageHeader;

    if header.is_empty() {
        return Ok(0);
    }
    let mut cursor = std::io::Cursor::new(header);
    let mut protocol = TCompactInputProtocol::new(&mut cursor, header.len());
    let header = PageHeader::read_from_in_protocol(&mut protocol)
        .map_err(|e| format!("dictionary page header: {e}"))?;
    usize::try_from(header.uncompressed_page_size).map_err(|_| {
        format!(
            "the dictionary page header gives {} bytes decompressed",
            header.uncompressed_page_size
        )
    })
}

fn page_size() -> usize {
    // Every platform we build for has pages of at least 4 KiB; a larger page size only makes
    // `release` free less, never a page it must keep.
    4096
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

/// Whether the units of a row group decompress its pages each for itself or share them
/// decompressed once (`MmapParquetReader::decompressed_chunk`). A unit of a whole row group
/// has nothing to share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageReuse {
    /// Pages kept decompressed are used where they hold the unit's rows; Polars' decoder
    /// decompresses the others for the unit alone.
    Existing,
    /// As `Existing`, but a chunk kept for units of this many rows (`ChunkPages::kept_for`)
    /// without such pages has them decompressed from the unit's first row on, and kept for
    /// the units that follow until the row group's last is read: the unit's cost counts them
    /// (`PageCosts::kept`).
    Keep(usize),
}

/// What reading part of a row group holds besides its rows' values, over some of its columns
/// (their page checks).
#[derive(Debug)]
pub(crate) struct PageCosts(Vec<Arc<ChunkPages>>);

impl PageCosts {
    /// Each column's dictionary and largest data page, decompressed: what decoding any of
    /// their rows holds at once (`PageReuse::Existing`).
    pub fn held(&self) -> usize {
        self.0
            .iter()
            .fold(0usize, |sum, p| sum.saturating_add(p.held))
    }

    /// The same for units of `rows` rows that keep pages decompressed (`PageReuse::Keep`),
    /// where a column kept (`ChunkPages::kept_for`) counts its pages decompressed whole;
    /// `None` where no column would be kept.
    pub fn kept(&self, rows: usize) -> Option<usize> {
        self.0.iter().any(|p| p.kept_for(rows)).then(|| {
            self.0.iter().fold(0usize, |sum, p| {
                sum.saturating_add(match p.kept_for(rows) {
                    true => p.extent.max(p.held),
                    false => p.held,
                })
            })
        })
    }
}

/// Polars' decoder over `chunks` (one per leaf). `shared`: the one chunk's bytes are pages
/// kept decompressed (`DecompressedChunk`), whatever codec the footer gives, of which the
/// first `shared` rows are read, the filter counting from their first.
fn deserialize(
    chunks: Vec<(&ColumnChunkMetadata, Buffer<u8>)>,
    shared: Option<usize>,
    field: polars_arrow::datatypes::Field,
    filter: Option<Filter>,
) -> PolarsResult<(Vec<Box<dyn polars_arrow::array::Array>>, Bitmap)> {
    let Some(rows) = shared else {
        return polars_io::parquet::read::_internal::to_deserializer(chunks, field, filter);
    };
    let (columns, types) = chunks
        .into_iter()
        .map(|(m, bytes)| {
            let descriptor = &m.descriptor().descriptor;
            let meta = PageMetaData::new(
                0,
                rows as i64,
                Compression::Uncompressed,
                descriptor.clone(),
            );
            let pages = PageReader::new_with_page_meta(
                std::io::Cursor::new(bytes),
                meta,
                Vec::new(),
                usize::MAX,
            );
            (
                BasicDecompressor::new(pages, Vec::new()),
                &descriptor.primitive_type,
            )
        })
        .unzip();
    polars_parquet::read::column_iter_to_arrays(columns, types, field, filter)
}

/// `mask` (one bit per row of `rows`) over the rows `over`, which hold `rows`.
fn mask_over(mask: &Bitmap, rows: &Range<usize>, over: &Range<usize>) -> Bitmap {
    if *rows == *over {
        return mask.clone();
    }
    let mut bits = MutableBitmap::with_capacity(over.len());
    bits.extend_constant(rows.start - over.start, false);
    bits.extend_from_bitmap(mask);
    bits.extend_constant(over.end - rows.end, false);
    bits.freeze()
}

/// How the columns of one unit share Polars' pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnThreads {
    /// One after another on the thread decoding the unit.
    One,
    /// rayon's halving split: threads busy with other units steal what they can.
    Split,
    /// Each thread takes the next column, the largest first: a unit alone on the pool.
    LargestFirst,
}

/// Reads statistics with arrow-rs from the footer's bytes (`footer`, without its length and
/// magic). A footer arrow-rs rejects but Polars reads still reads: it only loses pruning.
type FooterStatistics = (
    Vec<RowGroupStats>,
    Option<String>,
    Option<Arc<parquet::file::metadata::ParquetMetaData>>,
);

fn read_statistics(footer: &[u8], metadata: &FileMetadata, schema: &Schema) -> FooterStatistics {
    let unknown = || {
        metadata
            .row_groups
            .iter()
            .enumerate()
            .map(|(i, rg)| RowGroupStats::unknown(i, rg.num_rows()))
            .collect()
    };
    use parquet::file::metadata::{
        ParquetMetaDataOptions, ParquetMetaDataReader, ParquetStatisticsPolicy,
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
            let stats = pq
                .row_groups()
                .iter()
                .enumerate()
                .map(|(i, rg)| row_group_stats(i, rg, schema))
                .collect();
            (stats, None, Some(Arc::new(pq)))
        }
        Ok(Ok(_)) => (unknown(), Some("row group counts disagree".into()), None),
        Ok(Err(e)) => (unknown(), Some(e.to_string()), None),
        Err(_) => (unknown(), Some("statistics reader panicked".into()), None),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use parquet::file::properties::WriterProperties;

    use super::*;

    /// An `id` column of `0..rows` and a string column `s` of `text(id)`.
    fn id_and_text(rows: i64, text: impl Fn(i64) -> String) -> Vec<(&'static str, ArrayRef)> {
        vec![
            ("id", Arc::new(Int64Array::from_iter_values(0..rows))),
            (
                "s",
                Arc::new(StringArray::from_iter_values((0..rows).map(text))),
            ),
        ]
    }

    /// Writes `columns` as one row group with arrow-rs and `props`.
    fn write_arrow(path: &Path, columns: Vec<(&str, ArrayRef)>, props: WriterProperties) {
        let batch = arrow::record_batch::RecordBatch::try_from_iter(columns).unwrap();
        let file = File::create(path).unwrap();
        let mut w =
            parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    /// A page no read reaches is never checked: damaged headers after the rows a unit needs
    /// fail a read of the whole row group (as they fail stock, which reads whole row groups)
    /// and not a read of the rows before them (docs/ARCHITECTURE.md, Known differences).
    #[test]
    fn damaged_pages_after_a_units_rows_fail_only_the_reads_that_reach_them() {
        let rows = 4_000i64;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pages.parquet");
        let columns: Vec<(&str, ArrayRef)> =
            vec![("id", Arc::new(Int64Array::from_iter_values(0..rows)))];
        // Plain pages of 100 rows, 800 bytes each: the chunk's last quarter is pages 30 to 39.
        let props = WriterProperties::builder()
            .set_dictionary_enabled(false)
            .set_data_page_row_count_limit(100)
            .set_write_batch_size(100)
            .build();
        write_arrow(&path, columns, props);
        let chunk = MmapParquetReader::new(&path).unwrap().metadata.row_groups[0].parquet_columns()
            [0]
        .byte_range();
        let mut bytes = std::fs::read(&path).unwrap();
        let damaged = (chunk.start + (chunk.end - chunk.start) * 3 / 4) as usize;
        bytes[damaged..chunk.end as usize].fill(0xFF);
        let path = dir.path().join("damaged.parquet");
        std::fs::write(&path, bytes).unwrap();

        let reader = MmapParquetReader::new(&path).unwrap();
        for range in [0..250, 1_000..2_900] {
            let unit = reader
                .decode(
                    0,
                    range.clone(),
                    &[0],
                    ColumnThreads::One,
                    PageReuse::Existing,
                )
                .unwrap();
            let ids: Vec<i64> = range.clone().map(|i| i as i64).collect();
            let expected = Column::new("id".into(), ids);
            assert!(unit.column("id").unwrap().equals(&expected), "{range:?}");
        }
        let whole = reader.decode(
            0,
            0..rows as usize,
            &[0],
            ColumnThreads::One,
            PageReuse::Existing,
        );
        assert!(
            matches!(
                &whole,
                Err(AdaptiveError::Decode { row_group: 0, column, .. }) if column == "id"
            ),
            "{whole:?}"
        );
    }

    #[test]
    fn page_checks_stop_at_the_pages_a_unit_reads_and_extend_for_later_units() {
        let rows = 4_000i64;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pages.parquet");
        let columns = id_and_text(rows, |i| format!("value-{}", i % 37));
        // Pages of 100 rows: 40 a column, the first after a dictionary page.
        let props = WriterProperties::builder()
            .set_data_page_row_count_limit(100)
            .set_write_batch_size(100)
            .build();
        write_arrow(&path, columns, props);

        // Read whole by another reader: this one's checks start empty.
        let whole = MmapParquetReader::new(&path)
            .unwrap()
            .read_row_group(0)
            .unwrap();
        let reader = MmapParquetReader::new(&path).unwrap();
        let checked = |c: usize| reader.page_check(0, c).clone().unwrap().unwrap();
        for c in 0..2 {
            let chunk_len = reader.metadata.row_groups[0].parquet_columns()[c].byte_range();
            let chunk_len = (chunk_len.end - chunk_len.start) as usize;
            let expected = |range: Range<usize>| {
                whole
                    .select_at_idx(c)
                    .unwrap()
                    .slice(range.start as i64, range.len())
            };
            for (range, pages_rows) in [(150..250, 300), (0..120, 300), (2_050..2_100, 2_100)] {
                let unit = reader
                    .decode(
                        0,
                        range.clone(),
                        &[c],
                        ColumnThreads::One,
                        PageReuse::Existing,
                    )
                    .unwrap();
                let column = unit.column(expected(range.clone()).name()).unwrap();
                assert!(column.equals(&expected(range.clone())), "{c} {range:?}");
                // Checked as far as the page holding the unit's last row, never back.
                let pages = checked(c);
                assert_eq!(pages.rows, pages_rows, "column {c}, rows {range:?}");
                assert!(pages.checked_len.unwrap() < chunk_len);
            }
            let held_in_part = checked(c).held;
            reader
                .decode(
                    0,
                    0..rows as usize,
                    &[c],
                    ColumnThreads::One,
                    PageReuse::Existing,
                )
                .unwrap();
            let pages = checked(c);
            assert_eq!((pages.rows, pages.checked_len), (rows as usize, None));
            assert!(pages.held >= held_in_part, "column {c}");
        }
    }

    /// arrow-rs falls back from a dictionary to plain pages once the dictionary outgrows its
    /// limit. A unit whose pages are all plain starts at the data pages and never decodes the
    /// dictionary; a unit touching a dictionary-encoded page keeps it; both read the rows a
    /// read of the whole row group has.
    #[test]
    fn a_unit_past_a_dictionary_fallback_skips_the_dictionary_page() {
        let rows = 4_000i64;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fallback.parquet");
        let columns = id_and_text(rows, |i| format!("value-{i}"));
        let props = WriterProperties::builder()
            .set_dictionary_page_size_limit(1024)
            .set_data_page_row_count_limit(100)
            .set_write_batch_size(100)
            .build();
        write_arrow(&path, columns, props);

        let reader = MmapParquetReader::new(&path).unwrap();
        let whole = reader.read_row_group(0).unwrap();
        for c in 0..2 {
            let pages = reader.checked_pages(0, c, rows as usize).unwrap();
            let (start, dictionary_rows) = pages.flat.clone().unwrap();
            let plain_from = dictionary_rows[0].end;
            assert!(start > 0, "column {c}: no dictionary page");
            assert_eq!(dictionary_rows.len(), 1, "column {c}: {dictionary_rows:?}");
            assert!(plain_from < rows as usize, "column {c}: no fallback");
            assert_eq!(
                pages.data_start(&(plain_from..plain_from + 150)),
                Some(start)
            );
            assert_eq!(pages.data_start(&(plain_from - 1..plain_from + 150)), None);
            for range in [
                plain_from..plain_from + 150,
                plain_from - 1..plain_from + 150,
            ] {
                let unit = reader
                    .decode(
                        0,
                        range.clone(),
                        &[c],
                        ColumnThreads::One,
                        PageReuse::Existing,
                    )
                    .unwrap();
                let expected = whole
                    .select_at_idx(c)
                    .unwrap()
                    .slice(range.start as i64, range.len());
                assert!(
                    unit.column(expected.name()).unwrap().equals(&expected),
                    "column {c}, rows {range:?}"
                );
            }
        }
    }

    /// Units that share a row group's pages decompressed once (`PageReuse::Keep`) decode the
    /// same values as units that decompress their own pages, for data pages v1 and v2 (whose
    /// levels are stored uncompressed), two codecs, dictionary pages with a fallback to plain
    /// ones, nulls, strings and NaN, by range and by mask; the pages are built once, and
    /// dropped with the row group.
    #[test]
    fn units_sharing_pages_decompressed_once_decode_like_units_decompressing_their_own() {
        use arrow::array::Float64Array;
        use parquet::basic::{Compression as Codec, ZstdLevel};
        use parquet::file::properties::WriterVersion;

        let rows = 3_000usize;
        let columns = || -> Vec<(&str, ArrayRef)> {
            vec![
                ("id", Arc::new(Int64Array::from_iter_values(0..rows as i64))),
                (
                    "s",
                    Arc::new(StringArray::from_iter((0..rows).map(|i| {
                        (i % 7 != 0).then(|| format!("value-{}", i % (1 + i / 1_000 * 500)))
                    }))),
                ),
                (
                    "x",
                    Arc::new(Float64Array::from_iter((0..rows).map(|i| {
                        (i % 5 != 0).then(|| {
                            if i % 11 == 0 {
                                f64::NAN
                            } else {
                                i as f64 / 4.0
                            }
                        })
                    }))),
                ),
            ]
        };
        let dir = tempfile::tempdir().unwrap();
        let codecs = [Codec::ZSTD(ZstdLevel::default()), Codec::SNAPPY];
        let versions = [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0];
        for (codec, version) in codecs.into_iter().flat_map(|c| versions.map(|v| (c, v))) {
            let path = dir.path().join(format!("{codec:?}-{version:?}.parquet"));
            let props = WriterProperties::builder()
                .set_compression(codec)
                .set_writer_version(version)
                .set_dictionary_page_size_limit(2048)
                .set_data_page_row_count_limit(128)
                .set_write_batch_size(128)
                .build();
            write_arrow(&path, columns(), props);
            let shared = MmapParquetReader::new(&path).unwrap();
            let own = MmapParquetReader::new(&path).unwrap();
            let case = format!("{codec:?}, {version:?}");
            let kept = |c: usize| {
                let cell = shared.kept_pages(0, c);
                cell.as_ref().map(|d| d.as_ref().map(|d| d.rows.clone()))
            };
            // Checked to the row group's end first, as `FileScan::next_unit` does; every chunk
            // is kept as for units of one row (`PageReuse::Keep(1)`), fewer than a page's.
            for c in 0..3 {
                shared.checked_pages(0, c, rows).unwrap();
            }
            // Units in order from row 650, of sizes that start and end inside pages, then
            // one behind the pages kept, which decompresses its own.
            let mut start = 650;
            let sizes = [1, 300, 77, 1_000, 129, 843, 0];
            for (i, len) in sizes.into_iter().enumerate() {
                let range = match len {
                    0 => 10..300,
                    _ => start..start + len,
                };
                start += len;
                // Every third row, from the unit's third.
                let mask = Bitmap::from_iter((0..len).map(|r| r % 3 == 2));
                for c in 0..3 {
                    let reads = [
                        shared.decode(
                            0,
                            range.clone(),
                            &[c],
                            ColumnThreads::One,
                            PageReuse::Keep(1),
                        ),
                        own.decode(
                            0,
                            range.clone(),
                            &[c],
                            ColumnThreads::One,
                            PageReuse::Existing,
                        ),
                        shared.decode_masked(
                            0,
                            range.clone(),
                            &mask,
                            &[c],
                            ColumnThreads::One,
                            PageReuse::Keep(1),
                        ),
                        own.decode_masked(
                            0,
                            range.clone(),
                            &mask,
                            &[c],
                            ColumnThreads::One,
                            PageReuse::Existing,
                        ),
                    ]
                    .map(Result::unwrap);
                    for pair in [&reads[..2], &reads[2..]] {
                        assert!(
                            pair[0].equals_missing(&pair[1]),
                            "{case}, column {c}, rows {range:?}: {:?} vs {:?}",
                            pair[0],
                            pair[1]
                        );
                    }
                    // The first unit kept them from its page on; the others found them.
                    let pages = kept(c)
                        .flatten()
                        .unwrap_or_else(|| panic!("{case}: none kept"));
                    assert!(
                        pages.start > 0 && pages.start <= 650 && pages.end == rows,
                        "{case}, column {c}: {pages:?} kept, unit {i}"
                    );
                }
            }
            assert_eq!(start, rows);
            shared.release(0, &[0, 1, 2]);
            assert!(
                (0..3).all(|c| kept(c).is_none()),
                "{case}: kept after release"
            );
        }
    }
}
