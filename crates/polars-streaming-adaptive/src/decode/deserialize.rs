//! Polars' decoder over a column's chunks, from the file's bytes or from pages kept
//! decompressed, and the masks it is given.

use std::ops::Range;

use polars::prelude::*;
use polars_arrow::bitmap::{Bitmap, MutableBitmap};
use polars_buffer::Buffer;
use polars_parquet::parquet::compression::Compression;
use polars_parquet::parquet::read::{BasicDecompressor, PageMetaData, PageReader};
use polars_parquet::read::{ColumnChunkMetadata, Filter};

/// Polars' decoder over `chunks` (one per leaf). `shared`: the one chunk's bytes are pages
/// kept decompressed (`DecompressedChunk`), whatever codec the footer gives, of which the
/// first `shared` rows are read, the filter counting from their first.
pub(crate) fn deserialize(
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
pub(crate) fn mask_over(mask: &Bitmap, rows: &Range<usize>, over: &Range<usize>) -> Bitmap {
    if *rows == *over {
        return mask.clone();
    }
    let mut bits = MutableBitmap::with_capacity(over.len());
    bits.extend_constant(rows.start - over.start, false);
    bits.extend_from_bitmap(mask);
    bits.extend_constant(over.end - rows.end, false);
    bits.freeze()
}
