//! Tests of the reader's page checks and kept pages against files arrow-rs writes.

use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use parquet::file::properties::WriterProperties;
use polars::prelude::*;
use polars_arrow::bitmap::Bitmap;

use crate::error::AdaptiveError;
use crate::file::footer_cache::FooterCache;
use crate::file::read::{ColumnThreads, PageReuse};
use crate::file::reader::MmapParquetReader;
use crate::file::source::MmapMode;

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
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
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
    let chunk = MmapParquetReader::new(&path)
        .unwrap()
        .footer
        .metadata
        .row_groups[0]
        .parquet_columns()[0]
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
        let chunk_len = reader.footer.metadata.row_groups[0].parquet_columns()[c].byte_range();
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

/// A string column handed out as categoricals: units whose pages are all dictionary-encoded
/// decode the codes alone (`dictionary_encoded`) under one mapping, units reaching plain
/// pages past arrow-rs' fallback stay strings; all of them, masked or not, with kept pages or
/// without, hold the strings a plain read holds.
#[test]
fn categorical_units_hold_the_strings_of_dictionary_and_fallback_pages() {
    use crate::decode::categorical::CategoricalColumns;

    let rows = 4_000i64;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fallback.parquet");
    // 97 strings repeat until row 2,000, then every string is new: the dictionary outgrows
    // its 1 KiB and the pages after it are plain.
    let text = |i: i64| match i < 2_000 {
        true => format!("v{}", i * 7 % 97),
        false => format!("value-{i}"),
    };
    let props = WriterProperties::builder()
        .set_dictionary_page_size_limit(1024)
        .set_data_page_row_count_limit(100)
        .set_write_batch_size(100)
        .build();
    write_arrow(&path, id_and_text(rows, text), props);

    let plain = MmapParquetReader::new(&path).unwrap();
    let mut reader = MmapParquetReader::new(&path).unwrap();
    let cats = CategoricalColumns::new(["s"]);
    reader.set_categorical(Some(cats.clone()));
    let whole = plain.read_row_group(0).unwrap();
    let pages = reader.checked_pages(0, 1, rows as usize).unwrap();
    let plain_from = pages.flat.as_ref().unwrap().1[0].end;
    assert!((1_000..4_000).contains(&plain_from), "{plain_from}");
    assert!(pages.dictionary_encoded(&(0..plain_from)));
    assert!(!pages.dictionary_encoded(&(plain_from - 1..plain_from + 1)));
    assert!(!pages.dictionary_encoded(&(0..rows as usize)));

    let every_third =
        |range: &Range<usize>| Bitmap::from_iter((0..range.len()).map(|i| i % 3 == 0));
    for range in [
        0..plain_from,
        150..plain_from - 10,
        0..rows as usize,
        plain_from - 50..plain_from + 50,
        plain_from..rows as usize,
    ] {
        for reuse in [PageReuse::Existing, PageReuse::Keep(range.len())] {
            let unit = reader
                .decode(0, range.clone(), &[0, 1], ColumnThreads::One, reuse)
                .unwrap();
            let masked = reader
                .decode_masked(
                    0,
                    range.clone(),
                    &every_third(&range),
                    &[0, 1],
                    ColumnThreads::One,
                    reuse,
                )
                .unwrap();
            for (df, step) in [(unit, 1), (masked, 3)] {
                let s = df.column("s").unwrap();
                let dtype = match pages.dictionary_encoded(&range) {
                    true => cats.dtype(),
                    false => DataType::String,
                };
                assert_eq!(s.dtype(), &dtype, "{range:?}");
                let expected = whole
                    .column("s")
                    .unwrap()
                    .slice(range.start as i64, range.len())
                    .as_materialized_series()
                    .gather_every(step, 0)
                    .unwrap();
                let got = s.cast(&DataType::String).unwrap();
                assert!(
                    got.as_materialized_series().equals_missing(&expected),
                    "{range:?} every {step}"
                );
            }
        }
    }
}

/// Whether two readers share one parsed footer.
fn same_footer(a: &MmapParquetReader, b: &MmapParquetReader) -> bool {
    std::ptr::eq(a.metadata(), b.metadata())
}

/// A reader of `path` taking its footer from `cache`.
fn cached(path: &Path, cache: &FooterCache) -> MmapParquetReader {
    MmapParquetReader::with_footer_cache(path, MmapMode::Auto, cache).unwrap()
}

/// `a.parquet` in `dir`: `rows` rows of `id_and_text`.
fn small_file(dir: &Path, rows: i64) -> std::path::PathBuf {
    let path = dir.join("a.parquet");
    write_arrow(
        &path,
        id_and_text(rows, |i| format!("v{i}")),
        Default::default(),
    );
    path
}

#[test]
fn a_footer_cache_parses_an_unchanged_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_file(dir.path(), 100);
    let cache = FooterCache::default();
    let open = || cached(&path, &cache);
    let (first, second) = (open(), open());
    assert!(same_footer(&first, &second));
    assert_eq!(cache.len(), 1);
    // Without the cache, every reader parses its own.
    assert!(!same_footer(
        &first,
        &MmapParquetReader::new(&path).unwrap()
    ));
    assert_eq!(second.read_row_group(0).unwrap().height(), 100);
}

/// A scan queried once must not hold every file's parsed footer to its end: the cache keeps
/// a footer parsed only once a second reader asks for it.
#[test]
fn a_footer_cache_keeps_a_footer_parsed_from_its_second_read_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_file(dir.path(), 100);
    let cache = FooterCache::default();
    let open = || cached(&path, &cache);
    let first = Arc::downgrade(&open().footer);
    assert!(first.upgrade().is_none(), "kept parsed after one read");
    assert_eq!(cache.len(), 1, "the footer's bytes are held");
    let second = Arc::downgrade(&open().footer);
    let third = open();
    assert!(second
        .upgrade()
        .is_some_and(|kept| Arc::ptr_eq(&kept, &third.footer)));
    assert_eq!(third.read_row_group(0).unwrap().height(), 100);
}

/// The cache only saves the parse: each read reads the footer's bytes, and a file rewritten
/// since (other rows, the same length, the same schema) is read as it is now.
#[test]
fn a_file_rewritten_under_a_footer_cache_is_read_as_it_is_now() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.parquet");
    let write = |offset: i64| {
        let columns: Vec<(&str, ArrayRef)> = vec![(
            "id",
            Arc::new(Int64Array::from_iter_values(offset..offset + 100)),
        )];
        write_arrow(&path, columns, Default::default());
    };
    let cache = FooterCache::default();
    let open = || cached(&path, &cache);
    write(0);
    let before = open();
    let len = before.file_len();
    write(1000);
    let after = open();
    assert_eq!(after.file_len(), len, "the rewrite keeps the file's length");
    assert!(!same_footer(&before, &after));
    let ids = after.read_row_group(0).unwrap();
    let expected = df!("id" => (1000..1100i64).collect::<Vec<_>>()).unwrap();
    assert_eq!(ids, expected);
    let min = after
        .row_group_statistics(0)
        .column("id")
        .unwrap()
        .min()
        .cloned();
    assert_eq!(min.map(|s| s.value().clone()), Some(AnyValue::Int64(1000)));
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_full_footer_cache_keeps_nothing_more_and_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_file(dir.path(), 10);
    let cache = FooterCache::with_max_bytes(0);
    let reader = cached(&path, &cache);
    assert!(cache.is_empty());
    assert_eq!(reader.read_row_group(0).unwrap().height(), 10);
}
