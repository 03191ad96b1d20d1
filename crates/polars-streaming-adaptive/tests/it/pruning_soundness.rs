//! Randomized, seeded: a row group the pruner skips never holds a row the predicate keeps, and
//! the filtered read equals Polars filtering the whole data.

use crate::common;

use std::cell::Cell;
use std::sync::Arc;

use polars::prelude::*;
use polars_streaming_adaptive::IntoLiteral;
use polars_streaming_adaptive::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

/// The columns `i`, `f` and `s`, of one length.
type Columns = (Vec<Option<i32>>, Vec<Option<f64>>, Vec<Option<String>>);

fn column_values() -> impl Strategy<Value = Columns> {
    (0usize..120).prop_flat_map(|n| {
        let float = prop_oneof![
            Just(f64::NAN),
            Just(-0.0),
            Just(0.0),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            (-5i32..5).prop_map(f64::from),
        ];
        (
            prop::collection::vec(prop::option::weighted(0.8, -20i32..20), n),
            prop::collection::vec(prop::option::weighted(0.8, float), n),
            prop::collection::vec(prop::option::weighted(0.8, "[a-cé]{0,3}"), n),
        )
    })
}

#[derive(Debug, Clone)]
enum Pred {
    Cmp(&'static str, CmpOp, i32),
    Range(&'static str, i32, i32),
    In(&'static str, Vec<i32>),
    Null(&'static str, bool),
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
    Not(Box<Pred>),
}

fn op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(CmpOp::ALL.to_vec())
}

fn pred() -> impl Strategy<Value = Pred> {
    let column = prop::sample::select(vec!["i", "f", "s"]);
    let leaf = prop_oneof![
        (column.clone(), op(), -22i32..22).prop_map(|(c, o, v)| Pred::Cmp(c, o, v)),
        (column.clone(), -22i32..22, 0i32..10).prop_map(|(c, lo, w)| Pred::Range(c, lo, lo + w)),
        (column.clone(), prop::collection::vec(-22i32..22, 0..4)).prop_map(|(c, v)| Pred::In(c, v)),
        (column, any::<bool>()).prop_map(|(c, n)| Pred::Null(c, n)),
    ];
    leaf.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Pred::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Pred::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Pred::Not(Box::new(a))),
        ]
    })
}

/// The literal `v` in the column's own type (strings: letters from the same alphabet).
fn literal(column: &str, v: i32) -> Scalar {
    match column {
        "i" => v.into_literal(),
        "f" => (v as f64 / 4.0).into_literal(),
        _ => ["", "a", "ab", "b", "ba", "c", "é", "aé"][v.rem_euclid(8) as usize].into_literal(),
    }
}

fn build(p: &Pred) -> Arc<dyn PredicatePushdown> {
    match p {
        Pred::Cmp(c, o, v) => Arc::new(ComparisonPredicate::new(*c, *o, literal(c, *v))),
        Pred::Range(c, lo, hi) => {
            Arc::new(RangePredicate::new(*c, literal(c, *lo), literal(c, *hi)))
        }
        Pred::In(c, vs) => {
            let values: Vec<AnyValue<'static>> =
                vs.iter().map(|v| literal(c, *v).value().clone()).collect();
            let dtype = literal(c, 0).dtype().clone();
            let s = Series::from_any_values_and_dtype("".into(), &values, &dtype, true).unwrap();
            Arc::new(ColumnFilterPredicate::from_series(*c, s))
        }
        Pred::Null(c, true) => Arc::new(NullPredicate::is_null(*c)),
        Pred::Null(c, false) => Arc::new(NullPredicate::is_not_null(*c)),
        Pred::And(a, b) => Arc::new(AndPredicate::new(vec![build(a), build(b)])),
        Pred::Or(a, b) => Arc::new(OrPredicate::new(vec![build(a), build(b)])),
        Pred::Not(a) => Arc::new(NotPredicate::new(build(a))),
    }
}

#[test]
fn skipped_row_groups_never_hold_rows_the_predicate_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.parquet");
    let mut runner = TestRunner::new(Config {
        cases: 300,
        rng_seed: RngSeed::Fixed(0x5eed),
        failure_persistence: None,
        ..Config::default()
    });
    let (skipped, checked) = (Cell::new(0usize), Cell::new(0usize));
    let skipped_by_expr = Cell::new(0usize);
    runner
        .run(
            &(column_values(), pred(), 1usize..40),
            |((i, f, s), p, rg_size)| {
                let n = i.len();
                let mut df = DataFrame::new(
                    n,
                    vec![
                        Column::new("i".into(), i),
                        Column::new("f".into(), f),
                        Column::new("s".into(), s),
                    ],
                )
                .unwrap();
                common::write_parquet(&mut df, &path, rg_size);
                let predicate = build(&p);
                // The same predicate as the lazy source receives it: one Polars expression.
                let from_expr = ExprPredicate::new(predicate.expr().unwrap());
                let file = MmapParquetReader::new(&path).unwrap();
                for rg in 0..file.num_row_groups() {
                    checked.set(checked.get() + 1);
                    if from_expr.should_skip_row_group(file.row_group_statistics(rg)) {
                        skipped_by_expr.set(skipped_by_expr.get() + 1);
                        let rows = from_expr.apply(file.read_row_group(rg).unwrap()).unwrap();
                        prop_assert_eq!(
                            rows.height(),
                            0,
                            "row group {} skipped by the expression form of {:?}, which keeps {}",
                            rg,
                            p,
                            rows
                        );
                    }
                    if predicate.should_skip_row_group(file.row_group_statistics(rg)) {
                        skipped.set(skipped.get() + 1);
                        let rows = predicate.apply(file.read_row_group(rg).unwrap()).unwrap();
                        prop_assert_eq!(
                            rows.height(),
                            0,
                            "row group {} skipped but {:?} keeps {}",
                            rg,
                            p,
                            rows
                        );
                    }
                }
                let expected = predicate.apply(df.clone()).unwrap();
                let mut reader = AdaptiveStreamingReader::new(&path).unwrap();
                reader.with_predicate(predicate);
                let ours = reader.collect().unwrap();
                prop_assert!(
                    common::same_frame(&ours, &expected).is_ok(),
                    "{:?}: {:?}",
                    p,
                    common::same_frame(&ours, &expected)
                );
                Ok(())
            },
        )
        .unwrap();
    let (skipped, checked) = (skipped.get(), checked.get());
    let skipped_by_expr = skipped_by_expr.get();
    eprintln!(
        "{checked} row groups checked, {skipped} skipped, {skipped_by_expr} by the expression form"
    );
    assert!(
        skipped_by_expr > checked / 10,
        "the expression form must prune too: {skipped_by_expr} of {checked}"
    );
    assert!(
        skipped > checked / 10,
        "the test must exercise pruning: {skipped} of {checked}"
    );
}

/// Borrowed [`Columns`].
type ColumnSlices<'a> = (&'a [Option<i32>], &'a [Option<f64>], &'a [Option<String>]);

/// Writes `i`, `f`, `s` with arrow-rs: page statistics and a page index, pages of 4 rows.
fn write_with_page_index(path: &std::path::Path, (i, f, s): ColumnSlices, rg_size: usize) {
    use arrow::array::{ArrayRef, Float64Array, Int32Array, StringArray};
    use parquet::file::properties::{EnabledStatistics, WriterProperties};

    let columns: Vec<(&str, ArrayRef)> = vec![
        ("i", Arc::new(Int32Array::from(i.to_vec()))),
        ("f", Arc::new(Float64Array::from(f.to_vec()))),
        ("s", Arc::new(StringArray::from(s.to_vec()))),
    ];
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(rg_size))
        .set_data_page_row_count_limit(4)
        .set_write_batch_size(4)
        .set_statistics_enabled(EnabledStatistics::Page)
        .build();
    common::write_arrow_rs(path, columns, props);
}

/// Randomized, seeded, as above, for the page index: `i` sorted in half the cases (so its
/// pages are narrow), every predicate form and nesting, row groups of 1 to 60 rows in pages of
/// 4; the filtered read equals Polars filtering the whole data, whatever pages it skipped.
#[test]
fn skipped_pages_never_hold_rows_the_predicate_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.parquet");
    let mut runner = TestRunner::new(Config {
        cases: 300,
        rng_seed: RngSeed::Fixed(0x9a6e),
        failure_persistence: None,
        ..Config::default()
    });
    let (pages_skipped, cases_with_skips) = (Cell::new(0u64), Cell::new(0usize));
    runner
        .run(
            &(column_values(), pred(), 1usize..60, any::<bool>()),
            |((mut i, f, s), p, rg_size, sorted)| {
                if sorted {
                    i.sort();
                }
                write_with_page_index(&path, (&i, &f, &s), rg_size);
                let n = i.len();
                let df = DataFrame::new(
                    n,
                    vec![
                        Column::new("i".into(), i),
                        Column::new("f".into(), f),
                        Column::new("s".into(), s),
                    ],
                )
                .unwrap();
                let expr = build(&p).expr().unwrap();
                let expected = df.lazy().filter(expr.clone()).collect().unwrap();
                let metrics = Arc::new(ScanMetrics::default());
                let ours = ParallelStreamReader::new(vec![path.clone()])
                    .with_predicate(ExprPredicate::new(expr.clone()))
                    .with_metrics(metrics.clone())
                    .collect_concatenated()
                    .unwrap();
                let skipped = metrics.snapshot().pages_skipped_by_page_index;
                pages_skipped.set(pages_skipped.get() + skipped);
                cases_with_skips.set(cases_with_skips.get() + usize::from(skipped > 0));
                prop_assert!(
                    common::same_frame(&ours, &expected).is_ok(),
                    "{}: {:?} ({} pages skipped)",
                    expr,
                    common::same_frame(&ours, &expected),
                    skipped
                );
                Ok(())
            },
        )
        .unwrap();
    let (pages, cases) = (pages_skipped.get(), cases_with_skips.get());
    eprintln!("{pages} pages skipped in {cases} of 300 cases");
    assert!(
        cases > 30,
        "the test must exercise the page index: {cases} cases"
    );
}
