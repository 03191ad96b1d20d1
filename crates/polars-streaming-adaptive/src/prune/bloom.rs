//! Bloom-filter pruning: a row group is skipped when, for one equality the predicate requires
//! (`col = literal` or `col.is_in(literals)` in its top-level conjunction), the column chunk's
//! split block bloom filter rules out every value.
//!
//! A split block bloom filter (Parquet's `BloomFilter.md`) holds the xxHash64 of each value's
//! plain encoding; a probe reads one 32-byte block of the bitset in place, so a probe touches
//! one page of a mapped file, not the whole filter. A value is hashed as the file stores it: the literal is first cast (strictly) to the column's Polars dtype, then
//! written as its physical type does (4 little-endian bytes for INT32 columns: 8- to 32-bit
//! integers of either sign and dates; 8 for INT64: 64-bit integers and datetimes; the bytes of
//! BYTE_ARRAY strings and binaries; decimals as their unscaled integer, in 4 or 8 little-endian
//! bytes for INT32/INT64 columns and big-endian two's complement of the column's width for
//! FIXED_LEN_BYTE_ARRAY ones). Other types (floats, whose `=` matches `-0.0` and `0.0` with
//! different bits; decimals stored as BYTE_ARRAY, whose width writers choose; times, which
//! Polars rescales on read) are not probed. A filter
//! that is absent, cannot be read or uses another algorithm, hash or compression keeps the row
//! group.

use polars::prelude::*;
use polars_buffer::Buffer;
use polars_parquet::parquet::schema::types::PhysicalType;
use twox_hash::XxHash64;

use crate::file::reader::MmapParquetReader;
use crate::prune::expr_predicate::{column_of, list_of, scalar_of};

/// The equalities of one predicate that bloom filters can rule out, for one file.
#[derive(Debug)]
pub(crate) struct BloomProbe {
    terms: Vec<Term>,
}

/// `column` must equal one of the values whose hashes are `hashes` for a row to be kept.
#[derive(Debug)]
struct Term {
    column: usize,
    hashes: Vec<u64>,
}

impl BloomProbe {
    /// The probes `expr` allows on `reader`'s columns; `None` when it has none.
    pub(crate) fn new(expr: &Expr, reader: &MmapParquetReader) -> Option<Self> {
        let mut terms = Vec::new();
        collect_terms(expr, reader, &mut terms);
        (!terms.is_empty()).then_some(Self { terms })
    }

    /// Whether a bloom filter of row group `rg` proves that no row passes.
    pub(crate) fn rules_out(&self, reader: &MmapParquetReader, rg: usize) -> bool {
        self.terms.iter().any(|t| {
            load_filter(reader, rg, t.column)
                .is_some_and(|filter| !t.hashes.iter().any(|&h| filter.may_contain(h)))
        })
    }
}

/// The split block bloom filter of schema column `c` in row group `rg`, if the writer stored one
/// the format defines and it lies inside the file. Unreadable filters are `None`: they keep the
/// row group.
fn load_filter(reader: &MmapParquetReader, rg: usize, c: usize) -> Option<SplitBlockFilter> {
    let name = reader.schema().get_at_index(c)?.0;
    let md = reader.metadata().row_groups.get(rg)?;
    let mut leaves = md.columns_under_root_iter(name)?;
    let leaf = leaves.next()?;
    let start = u64::try_from(leaf.bloom_filter_offset()?).ok()?;
    // Writers that omit the length: the header (a few bytes) and the bitset after it are read
    // from what is left of the file.
    let len = match leaf.bloom_filter_length() {
        Some(len) => u64::try_from(len).ok()?,
        None => reader.file_len().checked_sub(start)?,
    };
    parse_filter(reader.optional_bytes(start..start.checked_add(len)?)?)
}

/// Adds the probe-able equalities of the conjunction `e` (an `or` or `not` adds none).
fn collect_terms(e: &Expr, reader: &MmapParquetReader, out: &mut Vec<Term>) {
    match e {
        Expr::BinaryExpr { left, op, right } => match op {
            Operator::And | Operator::LogicalAnd => {
                collect_terms(left, reader, out);
                collect_terms(right, reader, out);
            }
            Operator::Eq => {
                let pair = match (column_of(left), scalar_of(right)) {
                    (Some(c), Some(v)) => Some((c, v)),
                    _ => column_of(right).zip(scalar_of(left)),
                };
                if let Some((column, value)) = pair {
                    let values =
                        Series::from_any_values(PlSmallStr::EMPTY, &[value.value().clone()], true);
                    out.extend(values.ok().and_then(|v| term(reader, &column, &v, false)));
                }
            }
            _ => {}
        },
        Expr::Function {
            input,
            function: FunctionExpr::Boolean(BooleanFunction::IsIn { nulls_equal }),
        } => {
            let column = input.first().and_then(column_of);
            let values = input.get(1).and_then(list_of);
            if let (Some(column), Some(values)) = (column, values) {
                out.extend(term(reader, &column, &values, *nulls_equal));
            }
        }
        _ => {}
    }
}

/// The term "`column` is one of `values`", with the values encoded for the file; `None` when
/// the column's type is not probed or a value cannot be represented exactly.
fn term(
    reader: &MmapParquetReader,
    column: &str,
    values: &Series,
    nulls_equal: bool,
) -> Option<Term> {
    // A null in the list matches null rows, which bloom filters do not record.
    if nulls_equal && values.null_count() > 0 {
        return None;
    }
    let index = reader.schema().index_of(column)?;
    let dtype = reader.schema().get_at_index(index)?.1;
    // The encodings below for these dtypes only (a Time, say, is an INT64 too, rescaled).
    let decimal = matches!(dtype, DataType::Decimal(_, _));
    let probed = dtype.is_integer()
        || decimal
        || matches!(
            dtype,
            DataType::Date | DataType::Datetime(_, _) | DataType::String | DataType::Binary
        );
    if !probed {
        return None;
    }
    let physical = reader.physical_type(index)?;
    let values = values.strict_cast(dtype).ok()?;
    let values = values.to_physical_repr();
    let mut hashes = Vec::with_capacity(values.len());
    for v in values.iter() {
        let bytes = match (physical, v) {
            // `= null` and a null in the list (without `nulls_equal`) match no row.
            (_, AnyValue::Null) => continue,
            (PhysicalType::Int32, AnyValue::Int8(x)) => (x as i32).to_le_bytes().to_vec(),
            (PhysicalType::Int32, AnyValue::Int16(x)) => (x as i32).to_le_bytes().to_vec(),
            (PhysicalType::Int32, AnyValue::Int32(x)) => x.to_le_bytes().to_vec(),
            (PhysicalType::Int32, AnyValue::UInt8(x)) => (x as i32).to_le_bytes().to_vec(),
            (PhysicalType::Int32, AnyValue::UInt16(x)) => (x as i32).to_le_bytes().to_vec(),
            // Unsigned 32-bit values are stored with the same bits as INT32.
            (PhysicalType::Int32, AnyValue::UInt32(x)) => x.to_le_bytes().to_vec(),
            (PhysicalType::Int64, AnyValue::Int64(x)) => x.to_le_bytes().to_vec(),
            (PhysicalType::Int64, AnyValue::UInt64(x)) => x.to_le_bytes().to_vec(),
            (PhysicalType::ByteArray, AnyValue::String(s)) => s.as_bytes().to_vec(),
            (PhysicalType::ByteArray, AnyValue::Binary(b)) => b.to_vec(),
            // A decimal's unscaled value (its physical representation in Polars).
            (PhysicalType::Int32, AnyValue::Int128(x)) if decimal => {
                i32::try_from(x).ok()?.to_le_bytes().to_vec()
            }
            (PhysicalType::Int64, AnyValue::Int128(x)) if decimal => {
                i64::try_from(x).ok()?.to_le_bytes().to_vec()
            }
            (PhysicalType::FixedLenByteArray(width), AnyValue::Int128(x)) if decimal => {
                fixed_width_be(x, width)?
            }
            _ => return None,
        };
        hashes.push(XxHash64::oneshot(0, &bytes));
    }
    Some(Term {
        column: index,
        hashes,
    })
}

/// `x` as `width` bytes of big-endian two's complement; `None` when it does not fit (the bytes
/// dropped must be the sign extension of the ones kept).
fn fixed_width_be(x: i128, width: usize) -> Option<Vec<u8>> {
    let bytes = x.to_be_bytes();
    if width >= bytes.len() {
        let fill = if x < 0 { 0xFF } else { 0 };
        let mut out = vec![fill; width - bytes.len()];
        out.extend_from_slice(&bytes);
        return Some(out);
    }
    let (dropped, kept) = bytes.split_at(bytes.len() - width);
    let fill = if kept.first().is_some_and(|b| b & 0x80 != 0) {
        0xFF
    } else {
        0
    };
    dropped.iter().all(|&b| b == fill).then(|| kept.to_vec())
}

/// A split block bloom filter's bitset, read in place.
#[derive(Debug)]
struct SplitBlockFilter {
    bitset: Buffer<u8>,
}

/// The format's eight salts, one per 32-bit word of a block.
const SALT: [u32; 8] = [
    0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31,
];

impl SplitBlockFilter {
    /// Whether a value with xxHash64 `hash` may be in the set: the block chosen by the upper
    /// 32 bits has, in each word, the bit the lower 32 bits and that word's salt choose.
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        let blocks = (self.bitset.len() / 32) as u64;
        let block = (((hash >> 32) * blocks) >> 32) as usize * 32;
        let key = hash as u32;
        SALT.iter().enumerate().all(|(i, salt)| {
            let at = block + 4 * i;
            let word = u32::from_le_bytes(self.bitset[at..at + 4].try_into().unwrap());
            word & (1u32 << (key.wrapping_mul(*salt) >> 27)) != 0
        })
    }
}

/// Reads a split block bloom filter at `bytes` (the header, then the bitset); `None` unless it
/// is the one algorithm, hash and compression the format defines.
fn parse_filter(bytes: Buffer<u8>) -> Option<SplitBlockFilter> {
    use polars_parquet_format::thrift::protocol::TCompactInputProtocol;
    use polars_parquet_format::{
        BloomFilterAlgorithm, BloomFilterCompression, BloomFilterHash, BloomFilterHeader,
    };

    let mut cursor = std::io::Cursor::new(bytes.as_ref());
    // The header is a few bytes: no allocation from it.
    let mut protocol = TCompactInputProtocol::new(&mut cursor, 1 << 10);
    let header = BloomFilterHeader::read_from_in_protocol(&mut protocol).ok()?;
    let supported = matches!(header.algorithm, BloomFilterAlgorithm::BLOCK(_))
        && matches!(header.hash, BloomFilterHash::XXHASH(_))
        && matches!(header.compression, BloomFilterCompression::UNCOMPRESSED(_));
    let start = cursor.position() as usize;
    let len = usize::try_from(header.num_bytes).ok()?;
    // A bitset is whole 32-byte blocks.
    if !supported || len == 0 || len % 32 != 0 || start.checked_add(len)? > bytes.len() {
        return None;
    }
    Some(SplitBlockFilter {
        bitset: bytes.sliced(start..start + len),
    })
}
