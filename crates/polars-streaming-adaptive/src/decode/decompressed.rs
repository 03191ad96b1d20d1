//! Column chunks decompressed once for the units of a row group that share them.
//!
//! Polars' decoder decompresses every page it reads, and the chunk's dictionary page, for the
//! one read it serves. A row group read in units of a few thousand rows (a small budget, or a
//! fixed batch size) therefore decompressed each page once per unit that touched it and the
//! dictionary once per unit: units of 8192 rows over pages of ~37 K rows decompressed every
//! page four or five times, and a chunk written as one 1 MiB page sixteen times.
//!
//! Instead the reader can decompress a chunk's pages once into a copy whose headers say that
//! the pages are stored uncompressed, and hand that copy to the decoder for every unit as a
//! chunk of codec `UNCOMPRESSED`: Polars' decoder then borrows each page from it without a copy.

use std::io::Cursor;
use std::sync::Arc;

use polars_buffer::Buffer;
use polars_parquet::parquet::compression::{decompress, Compression, DecompressionContext};
use polars_parquet_format::thrift::protocol::{TCompactInputProtocol, TCompactOutputProtocol};
use polars_parquet_format::{PageHeader, PageType};

/// A flat column chunk's dictionary page and its data pages from the one holding row
/// `first_row` on, as far as they were checked, decompressed, with rewritten headers.
#[derive(Debug)]
pub(crate) struct DecompressedChunk {
    /// The dictionary page, if any, then the data pages.
    pub bytes: Buffer<u8>,
    /// Where the data pages start in `bytes`.
    pub data_start: usize,
    /// The row group's rows the data pages hold.
    pub rows: std::ops::Range<usize>,
    /// The row group's row each data page ends at.
    page_ends: Vec<usize>,
}

impl DecompressedChunk {
    /// Whether the kept pages hold every row of `rows`.
    pub fn holds(&self, rows: &std::ops::Range<usize>) -> bool {
        self.rows.start <= rows.start && rows.end <= self.rows.end
    }

    /// The rows of the pages from the first kept to the one holding row `end - 1`: what a
    /// read of rows before `end` decodes, so that it neither walks nor masks the pages after.
    pub fn window(&self, end: usize) -> std::ops::Range<usize> {
        let i = self.page_ends.partition_point(|&e| e < end);
        self.rows.start..self.page_ends.get(i).copied().unwrap_or(self.rows.end)
    }
}

/// Decompresses the pages of `bytes` (a flat chunk's first bytes, ending at a page boundary)
/// that hold rows from `from_row` on, and the dictionary page, and writes each after a copy of
/// its header that gives the decompressed size as the page's size, without the page's
/// statistics (every read parses the headers before its rows again). `capacity`: the size of
/// the chunk's pages decompressed (`ChunkPages::extent`).
///
/// Errs on anything unexpected (a page type other than dictionary and data pages, sizes past
/// the bytes): the caller then decodes from the file's own bytes, so that Polars' decoder
/// reports the fault as it does for stock.
pub(crate) fn decompress_chunk(
    compression: Compression,
    bytes: &[u8],
    from_row: usize,
    capacity: usize,
) -> Result<DecompressedChunk, String> {
    let mut out = Vec::with_capacity(capacity);
    let mut context = DecompressionContext::Unset;
    let (mut at, mut data_start) = (0usize, None);
    // Rows of the data pages walked, and the first row of those kept.
    let (mut seen, mut first_row, mut page_ends) = (0usize, None, Vec::new());
    while at < bytes.len() {
        let mut cursor = Cursor::new(&bytes[at..]);
        let mut header = {
            let mut protocol = TCompactInputProtocol::new(&mut cursor, bytes.len() - at);
            PageHeader::read_from_in_protocol(&mut protocol).map_err(|e| e.to_string())?
        };
        let body_start = at + cursor.position() as usize;
        let stored = usize::try_from(header.compressed_page_size).map_err(|e| e.to_string())?;
        let size = usize::try_from(header.uncompressed_page_size).map_err(|e| e.to_string())?;
        let body = bytes
            .get(body_start..body_start.saturating_add(stored))
            .ok_or("a page runs past the chunk")?;
        // A flat chunk's data page holds one value per row.
        let page_rows = match (&header.data_page_header, &header.data_page_header_v2) {
            (Some(v1), _) => Some(v1.num_values),
            (_, Some(v2)) => Some(v2.num_rows),
            _ => None,
        }
        .map(|n| usize::try_from(n).map_err(|e| e.to_string()))
        .transpose()?;
        at = body_start.saturating_add(stored);
        if let Some(n) = page_rows {
            seen = seen.saturating_add(n);
            if seen <= from_row {
                continue;
            }
            first_row.get_or_insert(seen - n);
            page_ends.push(seen);
        }
        // Data pages v2 store their levels uncompressed before the values.
        let levels = match (header.type_, &mut header.data_page_header_v2) {
            (PageType::DICTIONARY_PAGE, _) if out.is_empty() && seen == 0 => 0,
            (PageType::DATA_PAGE, _) => 0,
            (PageType::DATA_PAGE_V2, Some(v2)) => {
                let levels = [
                    v2.definition_levels_byte_length,
                    v2.repetition_levels_byte_length,
                ]
                .into_iter()
                .try_fold(0usize, |sum, n| {
                    Some(sum.saturating_add(usize::try_from(n).ok()?))
                })
                .ok_or("negative level lengths")?;
                match v2.is_compressed.replace(false) {
                    Some(false) => size,
                    _ => levels,
                }
            }
            _ => return Err(format!("page type {:?}", header.type_)),
        };
        if header.type_ != PageType::DICTIONARY_PAGE && data_start.is_none() {
            data_start = Some(out.len());
        }
        if levels > size || levels > body.len() || (levels == size && body.len() != size) {
            return Err("page sizes disagree with the levels".into());
        }
        header.compressed_page_size = header.uncompressed_page_size;
        header.crc = None;
        if let Some(v1) = &mut header.data_page_header {
            v1.statistics = None;
        }
        if let Some(v2) = &mut header.data_page_header_v2 {
            v2.statistics = None;
        }
        header
            .write_to_out_protocol(&mut TCompactOutputProtocol::new(&mut out))
            .map_err(|e| e.to_string())?;
        let page = out.len();
        out.resize(page + size, 0);
        out[page..page + levels].copy_from_slice(&body[..levels]);
        if levels < size {
            decompress(
                compression,
                &body[levels..],
                &mut out[page + levels..],
                &mut context,
            )
            .map_err(|e| e.to_string())?;
        }
    }
    let first_row = first_row.unwrap_or(seen);
    Ok(DecompressedChunk {
        data_start: data_start.unwrap_or(out.len()),
        bytes: Buffer::from(out),
        rows: first_row..seen,
        page_ends,
    })
}

/// A chunk's pages kept decompressed for a row group's units: `None` before any unit asked,
/// `Some(None)` where decompressing them failed (see `MmapParquetReader::decompressed`).
pub(crate) type KeptPages = Option<Option<Arc<DecompressedChunk>>>;
