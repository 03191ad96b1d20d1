//! The exactness flags of each column chunk's statistics as the footer states them
//! (`is_min_value_exact`, `is_max_value_exact`: true, false, or absent). arrow-rs 60.1's
//! footer decoding keeps them only for byte arrays (an absent one read as false) and builds the
//! statistics of booleans, integers and floats as exact whatever they say; polars-parquet keeps
//! them where it does not expose them. A walk of the footer's
//! thrift with polars-parquet-format's compact protocol reads them and skips everything else
//! (its own `skip` reads binary fields as UTF-8 strings, which statistics' bytes are not).

use polars_parquet_format::thrift::protocol::{TCompactInputProtocol, TInputProtocol, TType};
use polars_parquet_format::thrift::{
    Error as ThriftError, ProtocolError, ProtocolErrorKind, Result as ThriftResult,
};

/// How deep a footer's structs and lists may nest before the walk gives up (the footer's
/// own schema nests four levels; a forged one must not exhaust the stack).
const MAX_DEPTH: u8 = 32;

/// A chunk's flags for its min and its max: `Some(true)` exact, `Some(false)` not, `None`
/// not stated (as Polars' writer leaves them).
pub(crate) type ExactFlags = (Option<bool>, Option<bool>);

/// Per row group, per column chunk in the footer's order, its statistics' exactness flags
/// (both `None` for a chunk without statistics); `None` when the footer does not parse.
pub(crate) fn exactness_flags(footer: &[u8]) -> Option<Vec<Vec<ExactFlags>>> {
    let mut cursor = std::io::Cursor::new(footer);
    // The protocol counts what it would allocate: a list element as 8 bytes, a field header
    // as 2, each at least one byte on the wire, so a well-formed footer stays within 8 times
    // its length, and a forged length allocates no more.
    let mut protocol = TCompactInputProtocol::new(&mut cursor, footer.len().saturating_mul(8));
    let mut row_groups = Vec::new();
    // FileMetaData: 4: list<RowGroup> row_groups.
    fields(&mut protocol, |p, id, ty| match (id, ty) {
        (4, TType::List) => list(p, |p| {
            row_groups.push(row_group(p)?);
            Ok(())
        }),
        _ => skip(p, ty, MAX_DEPTH),
    })
    .ok()?;
    Some(row_groups)
}

/// RowGroup: 1: list<ColumnChunk> columns.
fn row_group<P: TInputProtocol>(p: &mut P) -> ThriftResult<Vec<ExactFlags>> {
    let mut chunks = Vec::new();
    fields(p, |p, id, ty| match (id, ty) {
        (1, TType::List) => list(p, |p| {
            chunks.push(column_chunk(p)?);
            Ok(())
        }),
        _ => skip(p, ty, MAX_DEPTH),
    })?;
    Ok(chunks)
}

/// ColumnChunk: 3: ColumnMetaData meta_data; ColumnMetaData: 12: Statistics statistics;
/// Statistics: 7: bool is_max_value_exact, 8: bool is_min_value_exact.
fn column_chunk<P: TInputProtocol>(p: &mut P) -> ThriftResult<ExactFlags> {
    let (mut min, mut max) = (None, None);
    fields(p, |p, id, ty| match (id, ty) {
        (3, TType::Struct) => fields(p, |p, id, ty| match (id, ty) {
            (12, TType::Struct) => fields(p, |p, id, ty| match (id, ty) {
                (7, TType::Bool) => p.read_bool().map(|b| max = Some(b)),
                (8, TType::Bool) => p.read_bool().map(|b| min = Some(b)),
                _ => skip(p, ty, MAX_DEPTH),
            }),
            _ => skip(p, ty, MAX_DEPTH),
        }),
        _ => skip(p, ty, MAX_DEPTH),
    })?;
    Ok((min, max))
}

/// Reads a struct, handing each field's id and type to `field`, which reads or skips it.
fn fields<P: TInputProtocol>(
    p: &mut P,
    mut field: impl FnMut(&mut P, i16, TType) -> ThriftResult<()>,
) -> ThriftResult<()> {
    p.read_struct_begin()?;
    loop {
        let ident = p.read_field_begin()?;
        if ident.field_type == TType::Stop {
            break;
        }
        field(p, ident.id.unwrap_or(0), ident.field_type)?;
        p.read_field_end()?;
    }
    p.read_struct_end()
}

/// Reads a list of structs, each by `element`.
fn list<P: TInputProtocol>(
    p: &mut P,
    mut element: impl FnMut(&mut P) -> ThriftResult<()>,
) -> ThriftResult<()> {
    let ident = p.read_list_begin()?;
    if ident.element_type != TType::Struct {
        for _ in 0..ident.size {
            skip(p, ident.element_type, MAX_DEPTH)?;
        }
    } else {
        for _ in 0..ident.size {
            element(p)?;
        }
    }
    p.read_list_end()
}

/// Skips a value of type `ty`, reading binary fields as bytes, at most `depth` levels deep.
fn skip<P: TInputProtocol>(p: &mut P, ty: TType, depth: u8) -> ThriftResult<()> {
    let Some(depth) = depth.checked_sub(1) else {
        return Err(ThriftError::Protocol(ProtocolError {
            kind: ProtocolErrorKind::DepthLimit,
            message: "the footer nests too deep".into(),
        }));
    };
    match ty {
        TType::String => p.read_bytes().map(drop),
        TType::Struct => fields(p, |p, _, ty| skip(p, ty, depth)),
        TType::List => {
            let ident = p.read_list_begin()?;
            for _ in 0..ident.size {
                skip(p, ident.element_type, depth)?;
            }
            p.read_list_end()
        }
        TType::Set => {
            let ident = p.read_set_begin()?;
            for _ in 0..ident.size {
                skip(p, ident.element_type, depth)?;
            }
            p.read_set_end()
        }
        TType::Map => {
            let ident = p.read_map_begin()?;
            if let (Some(key), Some(value)) = (ident.key_type, ident.value_type) {
                for _ in 0..ident.size {
                    skip(p, key, depth)?;
                    skip(p, value, depth)?;
                }
            }
            p.read_map_end()
        }
        _ => p.skip(ty),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use parquet::file::properties::WriterProperties;

    use super::*;

    /// The footer of a file arrow-rs writes with `props`: two row groups of an integer and a
    /// string column.
    fn footer(props: WriterProperties) -> Vec<u8> {
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("i", Arc::new(Int64Array::from_iter_values(0..10))),
            (
                "s",
                Arc::new(StringArray::from_iter_values(
                    (0..10).map(|i| format!("value-{i}")),
                )),
            ),
        ];
        let batch = arrow::record_batch::RecordBatch::try_from_iter(columns).unwrap();
        let mut out = Vec::new();
        let mut w =
            parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let len = out.len();
        let footer_len = u32::from_le_bytes(out[len - 8..len - 4].try_into().unwrap()) as usize;
        out[len - 8 - footer_len..len - 8].to_vec()
    }

    #[test]
    fn flags_are_read_per_row_group_and_chunk_as_the_writer_stated_them() {
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(5))
            .set_statistics_truncate_length(Some(3))
            .build();
        // The fields after the row groups (key-value metadata, `created_by`) are read too.
        let flags = exactness_flags(&footer(props)).unwrap();
        // Integers exact; strings cut to 3 bytes are not.
        let row_group = vec![(Some(true), Some(true)), (Some(false), Some(false))];
        assert_eq!(flags, vec![row_group.clone(), row_group]);
    }

    #[test]
    fn a_footer_that_does_not_parse_has_no_flags() {
        let props = WriterProperties::builder().build();
        let footer = footer(props);
        assert_eq!(exactness_flags(&footer[..footer.len() / 2]), None);
    }
}
