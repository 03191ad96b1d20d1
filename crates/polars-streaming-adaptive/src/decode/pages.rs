//! Page headers checked against the footer before Polars' decoder sizes buffers from them
//! (`check_pages`), and what a unit's pages hold besides its values (`PageCosts`): the
//! dictionary and the largest page, decompressed.

use std::ops::Range;
use std::sync::Arc;

use polars_buffer::Buffer;
use polars_parquet::parquet::compression::Compression;
use polars_parquet::parquet::page::CompressedPage;
use polars_parquet::parquet::read::PageReader;
use polars_parquet::read::ColumnChunkMetadata;
use polars_parquet_format::Encoding;

/// A column's page check in one row group, or why its headers are refused.
pub(crate) type CheckedPages = Result<Arc<ChunkPages>, String>;

/// See `MmapParquetReader::page_checks`: per (row group, column), its check once made.
pub(crate) type PageCheck = std::sync::Mutex<Option<CheckedPages>>;

/// What the page headers of a column's chunks in one row group say, as far as they were
/// checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChunkPages {
    /// The rows of the pages checked: the row group's when every page was.
    pub(crate) rows: usize,
    /// The bytes of the chunk the check covers, when it stopped before the chunk's end: a
    /// decoder is given only those, so it never meets a header that was not checked.
    pub(crate) checked_len: Option<usize>,
    /// Their dictionary page and largest data page, decompressed: what decoding any of their
    /// rows holds at once besides the values.
    pub(crate) held: usize,
    /// All their pages, decompressed: what keeping them decompressed holds
    /// (`MmapParquetReader::decompressed_chunk`).
    pub(crate) extent: usize,
    /// Whether the chunk's pages are compressed.
    pub(crate) compressed: bool,
    /// The data pages checked.
    pub(crate) data_pages: usize,
    /// For a flat chunk: where its data pages start in the chunk's bytes (past the dictionary
    /// page), and the rows of its dictionary-encoded data pages.
    pub(crate) flat: Option<(usize, Vec<Range<usize>>)>,
}

impl ChunkPages {
    /// Whether units of `rows` rows keep the chunk's pages decompressed once for each other:
    /// a flat chunk (a nested column spans several chunks, and is read whole) of compressed
    /// pages that hold more rows than a unit on average, so that several units would
    /// decompress each page (units larger than the pages gain little and would pay for the
    /// copy: P4's units, of more rows than its 20,480-row pages, took 1.12 → 1.38 s when
    /// every chunk was kept).
    pub(crate) fn kept_for(&self, rows: usize) -> bool {
        self.compressed && self.flat.is_some() && rows.saturating_mul(self.data_pages) < self.rows
    }

    /// Whether every row of `rows` lies in a dictionary-encoded data page, so that the
    /// dictionary's codes alone can be decoded (`CategoricalColumns`).
    pub(crate) fn dictionary_encoded(&self, rows: &Range<usize>) -> bool {
        let Some((start, dictionary_rows)) = &self.flat else {
            return false;
        };
        let covered: usize = dictionary_rows
            .iter()
            .map(|r| r.end.min(rows.end).saturating_sub(r.start.max(rows.start)))
            .sum();
        *start > 0 && covered == rows.len()
    }

    /// Where to start the chunk's bytes to decode `rows` without its dictionary page, when
    /// it has one and no data page holding any of `rows` is dictionary-encoded. Writers fall
    /// back from a dictionary that grew too large to plain pages (arrow-rs past 1 MiB: the
    /// benchmark's unique `timestamp` and `trade_id`), so a unit past the first pages would
    /// otherwise decompress and decode a dictionary it never looks up.
    pub(crate) fn data_start(&self, rows: &Range<usize>) -> Option<usize> {
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
pub(crate) fn check_pages(
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

/// What reading part of a row group holds besides its rows' values, over some of its columns
/// (their page checks).
#[derive(Debug)]
pub(crate) struct PageCosts(pub(crate) Vec<Arc<ChunkPages>>);

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
