//! Mutations of a valid Parquet file that aim at the structures a reader trusts: bits anywhere
//! or in the footer, truncations and cuts at structural boundaries, a lying footer length,
//! footer fields forged and re-serialized (row counts, value counts, sizes, offsets), and page
//! header fields forged in place (page sizes, value and row counts, level lengths).

use std::ops::Range;

use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader, ParquetMetaDataWriter};

/// Where a file's structures are.
#[derive(Debug)]
pub struct Layout {
    footer: Range<usize>,
    metadata: ParquetMetaData,
    /// Byte offsets of the structural boundaries: column chunk starts and ends, page headers.
    boundaries: Vec<usize>,
    /// Page headers: offset, and the forgeable i32 fields in them.
    headers: Vec<Vec<Field>>,
}

impl Layout {
    /// The layout of a readable file, or `None` when arrow-rs cannot parse its footer.
    pub fn of(bytes: &[u8]) -> Option<Self> {
        let len = bytes.len();
        let footer_len = u32::from_le_bytes(bytes.get(len - 8..len - 4)?.try_into().ok()?) as usize;
        let footer = (len - 8).checked_sub(footer_len)?..len - 8;
        let metadata = ParquetMetaDataReader::decode_metadata(&bytes[footer.clone()]).ok()?;
        let mut boundaries = vec![4, footer.start, len - 8, len - 4];
        let mut headers = Vec::new();
        for rg in metadata.row_groups() {
            for cc in rg.columns() {
                let (start, size) = cc.byte_range();
                let (start, end) = (start as usize, (start + size) as usize);
                boundaries.extend([start, end]);
                let mut at = start;
                while at < end.min(footer.start) {
                    let Some((fields, header_end, page_size)) = page_header(bytes, at) else {
                        break;
                    };
                    boundaries.extend([at, header_end]);
                    headers.push(fields);
                    at = header_end + page_size;
                }
            }
        }
        boundaries.retain(|&b| b < len);
        boundaries.sort_unstable();
        boundaries.dedup();
        Some(Self {
            footer,
            metadata,
            boundaries,
            headers,
        })
    }
}

/// An i32 field of a page header: which one, and where its varint lies.
#[derive(Debug, Clone)]
struct Field {
    name: &'static str,
    value: i64,
    span: Range<usize>,
}

/// A tiny seeded generator (SplitMix64): mutations must replay from their seed alone.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// A value a forger would write in place of `v`: off by one, scaled, zero, negative, huge.
fn lie(rng: &mut Rng, v: i64) -> i64 {
    rng.pick(&[
        0,
        1,
        -1,
        v - 1,
        v + 1,
        v.saturating_mul(2),
        v.saturating_mul(1000),
        i32::MAX as i64,
        i32::MIN as i64,
        1 << 24,
        1 << 30,
        1 << 40,
        i64::MAX,
    ])
}

/// Mutates `bytes` (a file of layout `layout`); returns what was done and the new bytes.
pub fn mutate(bytes: &[u8], layout: &Layout, rng: &mut Rng) -> (String, Vec<u8>) {
    loop {
        let kind = rng.below(8);
        if let Some(done) = match kind {
            0 => Some(flip_bits(bytes, 0..bytes.len(), rng)),
            1 => Some(flip_bits(bytes, layout.footer.clone(), rng)),
            2 => truncate(bytes, layout, rng),
            3 => cut(bytes, layout, rng),
            4 => Some(lie_footer_length(bytes, layout, rng)),
            5 | 6 => forge_footer(bytes, layout, rng),
            _ => forge_page_header(bytes, layout, rng),
        } {
            return done;
        }
    }
}

fn flip_bits(bytes: &[u8], range: Range<usize>, rng: &mut Rng) -> (String, Vec<u8>) {
    let mut out = bytes.to_vec();
    let n = 1 + rng.below(8);
    let mut at = Vec::new();
    for _ in 0..n {
        let i = range.start + rng.below(range.len().max(1));
        let bit = rng.below(8);
        out[i] ^= 1 << bit;
        at.push(format!("{i}.{bit}"));
    }
    (format!("flip bits {}", at.join(" ")), out)
}

fn truncate(bytes: &[u8], layout: &Layout, rng: &mut Rng) -> Option<(String, Vec<u8>)> {
    let at = rng.pick(&layout.boundaries) + rng.below(3);
    (at < bytes.len()).then(|| (format!("truncate at {at}"), bytes[..at].to_vec()))
}

/// Removes bytes between two boundaries before the footer, keeping the footer: every offset
/// after the cut now points elsewhere.
fn cut(bytes: &[u8], layout: &Layout, rng: &mut Rng) -> Option<(String, Vec<u8>)> {
    let inside: Vec<usize> = layout
        .boundaries
        .iter()
        .copied()
        .filter(|&b| b > 4 && b < layout.footer.start)
        .collect();
    if inside.is_empty() {
        return None;
    }
    let a = rng.pick(&inside);
    let b = (a + 1 + rng.below(4096)).min(layout.footer.start);
    let mut out = bytes[..a].to_vec();
    out.extend_from_slice(&bytes[b..]);
    Some((format!("cut {a}..{b}"), out))
}

fn lie_footer_length(bytes: &[u8], layout: &Layout, rng: &mut Rng) -> (String, Vec<u8>) {
    let len = bytes.len() as i64;
    let real = layout.footer.len() as i64;
    let claim = rng.pick(&[
        0,
        1,
        real - 1,
        real + 1,
        len - 8,
        len - 7,
        len,
        u32::MAX as i64,
    ]) as u32;
    let mut out = bytes.to_vec();
    let n = out.len();
    out[n - 8..n - 4].copy_from_slice(&claim.to_le_bytes());
    (format!("footer length {real} -> {claim}"), out)
}

/// Rewrites the footer with one field of one row group or column chunk changed.
fn forge_footer(bytes: &[u8], layout: &Layout, rng: &mut Rng) -> Option<(String, Vec<u8>)> {
    let md = layout.metadata.clone();
    let n_rg = md.num_row_groups();
    if n_rg == 0 {
        return None;
    }
    let (rg_i, field) = (rng.below(n_rg), rng.below(7));
    let mut builder = md.into_builder();
    let mut groups = builder.take_row_groups();
    let rg = groups[rg_i].clone();
    let col_i = rng.below(rg.num_columns().max(1));
    let (what, new_rg) = if field == 0 {
        let v = lie(rng, rg.num_rows());
        let rg = rg.into_builder().set_num_rows(v).build().ok()?;
        (format!("row group {rg_i} num_rows -> {v}"), rg)
    } else if field == 6 {
        // No change: the control, which must read exactly like the original.
        (format!("row group {rg_i} re-serialized unchanged"), rg)
    } else {
        let mut rgb = rg.into_builder();
        let mut cols = rgb.take_columns();
        let cc = cols.get(col_i)?.clone();
        let (name, old) = match field {
            1 => ("num_values", cc.num_values()),
            2 => ("total_compressed_size", cc.compressed_size()),
            3 => ("total_uncompressed_size", cc.uncompressed_size()),
            4 => ("data_page_offset", cc.data_page_offset()),
            _ => (
                "dictionary_page_offset",
                cc.dictionary_page_offset().unwrap_or(4),
            ),
        };
        let v = lie(rng, old);
        let b = cc.into_builder();
        let b = match field {
            1 => b.set_num_values(v),
            2 => b.set_total_compressed_size(v),
            3 => b.set_total_uncompressed_size(v),
            4 => b.set_data_page_offset(v),
            _ => b.set_dictionary_page_offset(Some(v)),
        };
        cols[col_i] = b.build().ok()?;
        let rg = rgb.set_column_metadata(cols).build().ok()?;
        (
            format!("row group {rg_i} column {col_i} {name} {old} -> {v}"),
            rg,
        )
    };
    groups[rg_i] = new_rg;
    let md = builder.set_row_groups(groups).build();
    let mut out = bytes[..layout.footer.start].to_vec();
    ParquetMetaDataWriter::new(&mut out, &md).finish().ok()?;
    Some((what, out))
}

/// Rewrites one i32 field of one page header (its varint may change length, shifting the rest).
fn forge_page_header(bytes: &[u8], layout: &Layout, rng: &mut Rng) -> Option<(String, Vec<u8>)> {
    if layout.headers.is_empty() {
        return None;
    }
    let fields = &layout.headers[rng.below(layout.headers.len())];
    if fields.is_empty() {
        return None;
    }
    let f = fields[rng.below(fields.len())].clone();
    let v = lie(rng, f.value).clamp(i32::MIN as i64, i32::MAX as i64);
    let mut out = bytes[..f.span.start].to_vec();
    out.extend(varint(zigzag(v)));
    out.extend_from_slice(&bytes[f.span.end..]);
    Some((
        format!(
            "page header at {} {} {} -> {v}",
            f.span.start, f.name, f.value
        ),
        out,
    ))
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// Parses the thrift compact-protocol page header at `at`: its forgeable fields, where it ends,
/// and the page's compressed size. `None` when the bytes are not a plausible header.
fn page_header(bytes: &[u8], at: usize) -> Option<(Vec<Field>, usize, usize)> {
    let mut r = Reader { bytes, at };
    let mut fields = Vec::new();
    let mut compressed = None;
    r.struct_fields(&mut |r, outer, id, ty| {
        // PageHeader: 2 uncompressed_page_size, 3 compressed_page_size; 5 DataPageHeader,
        // 7 DictionaryPageHeader, 8 DataPageHeaderV2.
        match (outer, id, ty) {
            (None, 2 | 3, 5) => {
                let (value, span) = r.i32_field()?;
                if id == 3 {
                    compressed = Some(value);
                }
                let name = if id == 2 {
                    "uncompressed_page_size"
                } else {
                    "compressed_page_size"
                };
                fields.push(Field { name, value, span });
                Some(true)
            }
            (Some(5 | 7 | 8), 1, 5) => {
                let (value, span) = r.i32_field()?;
                fields.push(Field {
                    name: "num_values",
                    value,
                    span,
                });
                Some(true)
            }
            (Some(8), 3 | 5 | 6, 5) => {
                let (value, span) = r.i32_field()?;
                let name = match id {
                    3 => "num_rows",
                    5 => "definition_levels_byte_length",
                    _ => "repetition_levels_byte_length",
                };
                fields.push(Field { name, value, span });
                Some(true)
            }
            _ => Some(false),
        }
    })?;
    let compressed = usize::try_from(compressed?).ok()?;
    Some((fields, r.at, compressed))
}

/// Walks thrift compact-protocol bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

type Visit<'v> = dyn FnMut(&mut Reader<'_>, Option<i16>, i16, u8) -> Option<bool> + 'v;

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn i32_field(&mut self) -> Option<(i64, Range<usize>)> {
        let start = self.at;
        let z = self.varint()?;
        let v = ((z >> 1) as i64) ^ -((z & 1) as i64);
        Some((v, start..self.at))
    }

    /// Reads a struct's fields up to its stop byte, calling `visit` for each of the top-level
    /// one and of its direct child structs: it returns whether it consumed the value.
    fn struct_fields(&mut self, visit: &mut Visit<'_>) -> Option<()> {
        self.fields(None, visit)
    }

    fn fields(&mut self, outer: Option<i16>, visit: &mut Visit<'_>) -> Option<()> {
        let mut last = 0i16;
        loop {
            let head = self.byte()?;
            if head == 0 {
                return Some(());
            }
            let ty = head & 0x0F;
            let delta = (head >> 4) as i16;
            let id = if delta == 0 {
                let z = self.varint()?;
                (((z >> 1) as i64) ^ -((z & 1) as i64)) as i16
            } else {
                last + delta
            };
            last = id;
            if visit(self, outer, id, ty)? {
                continue;
            }
            if ty == 12 && outer.is_none() {
                self.fields(Some(id), visit)?;
            } else {
                self.skip(ty)?;
            }
        }
    }

    fn skip(&mut self, ty: u8) -> Option<()> {
        match ty {
            1 | 2 => {}
            3 => {
                self.byte()?;
            }
            4..=6 => {
                self.varint()?;
            }
            7 => self.at += 8,
            8 => {
                let n = usize::try_from(self.varint()?).ok()?;
                self.at = self.at.checked_add(n)?;
            }
            9 | 10 => {
                let head = self.byte()?;
                let n = match head >> 4 {
                    15 => usize::try_from(self.varint()?).ok()?,
                    n => n as usize,
                };
                for _ in 0..n.min(1 << 20) {
                    self.skip(head & 0x0F)?;
                }
            }
            11 => {
                let n = usize::try_from(self.varint()?).ok()?;
                if n > 0 {
                    let kv = self.byte()?;
                    for _ in 0..n.min(1 << 20) {
                        self.skip(kv >> 4)?;
                        self.skip(kv & 0x0F)?;
                    }
                }
            }
            12 => self.fields(Some(-1), &mut |_, _, _, _| Some(false))?,
            _ => return None,
        }
        (self.at <= self.bytes.len()).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_through_the_reader() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            1 << 20,
            i32::MAX as i64,
            i32::MIN as i64,
        ] {
            let bytes = varint(zigzag(v));
            let mut r = Reader {
                bytes: &bytes,
                at: 0,
            };
            assert_eq!(r.i32_field().unwrap().0, v);
            assert_eq!(r.at, bytes.len());
        }
    }
}
