//! The SQL front end answers like polars-sql over stock `scan_parquet` on the same files, and
//! refuses what is not a read of registered tables with an error that names the problem.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use polars_adaptive::prelude::*;
use polars_adaptive::testing::{same_frame, same_frame_aggregated, write_ticks};
use polars_adaptive_sql::testing::stock_sql;
use polars_adaptive_sql::{QueryOptions, SqlEngine, SqlError, StatementKind};

/// Three files of 5 000 ticks in row groups of 1 000 rows, written by Polars, with nulls.
fn ticks(dir: &Path) -> PathBuf {
    write_ticks(dir, 3, 5_000, 1_000)
}

/// How an answer is compared with stock's.
#[derive(Clone, Copy)]
enum Compare {
    /// Same rows in the same order, floats bit for bit.
    Exact,
    /// Same order, float aggregates within rounding (sums follow the batching).
    Aggregated,
    /// Aggregated, in no defined order: both sorted by these columns first.
    Unordered(&'static [&'static str]),
}

/// Statements, how their answers compare, and whether they stream within a budget (the others
/// must be refused under one, naming the budget).
const QUERIES: &[(&str, Compare, bool)] = &[
    ("SELECT * FROM ticks", Compare::Exact, true),
    (
        "SELECT id, price FROM ticks WHERE qty > 250",
        Compare::Exact,
        true,
    ),
    (
        "SELECT * FROM ticks WHERE symbol = 'MSFT' AND price BETWEEN 120 AND 150",
        Compare::Exact,
        true,
    ),
    (
        "SELECT id, venue FROM ticks WHERE symbol IN ('AAPL', 'NVDA') OR qty IS NULL",
        Compare::Exact,
        true,
    ),
    (
        "SELECT id FROM ticks WHERE venue LIKE 'XN%' AND id >= 7000",
        Compare::Exact,
        true,
    ),
    (
        "SELECT id, price * qty AS notional FROM ticks WHERE NOT (price < 150) AND id < 12000",
        Compare::Exact,
        true,
    ),
    (
        "SELECT symbol, SUM(qty) AS q, AVG(price) AS p, MIN(ts) AS first, MAX(ts) AS last, \
         COUNT(*) AS n, COUNT(qty) AS nq FROM ticks GROUP BY symbol ORDER BY symbol",
        Compare::Aggregated,
        true,
    ),
    (
        "SELECT MIN(id) AS lo, MAX(id) AS hi, COUNT(*) AS n FROM ticks",
        Compare::Exact,
        true,
    ),
    (
        "SELECT MAX(ts) AS hi, MIN(price) AS lo FROM ticks WHERE id < 100",
        Compare::Exact,
        true,
    ),
    (
        "SELECT * FROM ticks ORDER BY price DESC, id LIMIT 10",
        Compare::Exact,
        true,
    ),
    ("SELECT id, symbol FROM ticks LIMIT 5", Compare::Exact, true),
    (
        "SELECT COUNT(*) AS n FROM ticks WHERE symbol = 'GOOG'",
        Compare::Exact,
        true,
    ),
    (
        "SELECT symbol, venue, COUNT(DISTINCT qty) AS k FROM ticks GROUP BY symbol, venue \
         ORDER BY symbol, venue",
        Compare::Exact,
        true,
    ),
    (
        "WITH big AS (SELECT symbol, qty FROM ticks WHERE qty > 400) \
         SELECT symbol, COUNT(*) AS n FROM big GROUP BY symbol ORDER BY n DESC, symbol",
        Compare::Exact,
        true,
    ),
    (
        "SELECT DISTINCT symbol FROM ticks ORDER BY symbol",
        Compare::Exact,
        true,
    ),
    (
        "SELECT DISTINCT venue, symbol FROM ticks WHERE qty > 100 ORDER BY venue, symbol",
        Compare::Exact,
        true,
    ),
    // A full sort needs every row: refused under a budget.
    (
        "SELECT id, price FROM ticks ORDER BY price, id",
        Compare::Exact,
        false,
    ),
    (
        "SELECT symbol, SUM(price * qty) / SUM(qty) AS vwap FROM ticks GROUP BY symbol",
        Compare::Unordered(&["symbol"]),
        true,
    ),
    ("SELECT * FROM ticks WHERE id < 0", Compare::Exact, true),
];

fn engine(target: &Path, args: ScanArgsAdaptive) -> SqlEngine {
    SqlEngine::new().with_table("ticks", target, args).unwrap()
}

fn stock(target: &Path, sql: &str) -> DataFrame {
    stock_sql("ticks", target, sql).unwrap()
}

fn compare(ours: &DataFrame, theirs: &DataFrame, how: Compare) -> Result<(), String> {
    match how {
        Compare::Exact => same_frame(ours, theirs),
        Compare::Aggregated => same_frame_aggregated(ours, theirs),
        Compare::Unordered(keys) => {
            let sort = |df: &DataFrame| {
                df.sort(keys.to_vec(), SortMultipleOptions::default())
                    .map_err(|e| e.to_string())
            };
            same_frame_aggregated(&sort(ours)?, &sort(theirs)?)
        }
    }
}

#[test]
fn statements_answer_like_polars_sql_over_stock_scan_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let target = ticks(dir.path());
    let mut failures = Vec::new();
    for budget in [None, Some(64usize << 20)] {
        let engine = engine(&target, ScanArgsAdaptive::default());
        let options = match budget {
            Some(b) => QueryOptions::default().with_memory_budget(b),
            None => QueryOptions::default(),
        };
        for (sql, how, streams) in QUERIES {
            let theirs = stock(&target, sql);
            let query = engine.plan(sql, &options).unwrap();
            assert_eq!(query.schema().as_ref(), theirs.schema().as_ref(), "{sql}");
            if budget.is_some() && !streams {
                let err = query.collect().unwrap_err().to_string();
                if !err.contains("memory budget") {
                    failures.push(format!("{sql}: not refused under the budget: {err}"));
                }
                continue;
            }
            match query.clone().collect() {
                Ok(ours) => {
                    if let Err(e) = compare(&ours, &theirs, *how) {
                        failures.push(format!("{sql} (budget {budget:?}), collect: {e}"));
                    }
                }
                Err(e) => failures.push(format!("{sql} (budget {budget:?}), collect: {e}")),
            }
            let mut batches = Vec::new();
            let run = query.for_each_batch(
                |df| {
                    batches.push(df);
                    Ok(false)
                },
                std::num::NonZeroUsize::new(777),
            );
            if let Err(e) = run {
                failures.push(format!("{sql} (budget {budget:?}), batches: {e}"));
                continue;
            }
            assert!(!batches.is_empty(), "{sql}: no batch at all");
            let mut all = batches.remove(0);
            for b in &batches {
                all.vstack_mut(b).unwrap();
            }
            if let Err(e) = compare(&all, &theirs, *how) {
                failures.push(format!("{sql} (budget {budget:?}), batches: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn aggregates_come_from_statistics_on_polars_written_files() {
    let dir = tempfile::tempdir().unwrap();
    let target = ticks(dir.path());
    let args = ScanArgsAdaptive::default();
    let metrics = args.metrics.clone();
    let engine = engine(&target, args);
    let sql = "SELECT MIN(id) AS lo, MAX(id) AS hi, COUNT(*) AS n FROM ticks";
    let ours = engine
        .plan(sql, &QueryOptions::default())
        .unwrap()
        .collect()
        .unwrap();
    same_frame(&ours, &stock(&target, sql)).unwrap();
    let snap = metrics.snapshot();
    assert_eq!(snap.rows_decoded, 0, "{snap:?}");
    assert_eq!(snap.row_groups_answered_from_statistics, 15, "{snap:?}");
}

fn strings(df: &DataFrame, name: &str) -> Vec<String> {
    let column = df.column(name).unwrap();
    (0..column.len())
        .map(|i| column.get(i).unwrap().str_value().to_string())
        .collect()
}

#[test]
fn show_tables_and_describe_list_registered_tables() {
    let dir = tempfile::tempdir().unwrap();
    let target = ticks(dir.path());
    let engine = engine(&target, ScanArgsAdaptive::default())
        .with_table("again", &target, ScanArgsAdaptive::default())
        .unwrap();
    let tables = engine
        .plan("SHOW TABLES", &QueryOptions::default())
        .unwrap()
        .collect()
        .unwrap();
    let names = strings(&tables, "name");
    assert_eq!(names, ["again", "ticks"]);
    let query = engine
        .plan("DESCRIBE ticks", &QueryOptions::default())
        .unwrap();
    assert_eq!(query.kind(), &StatementKind::Describe("ticks".into()));
    let columns = query.collect().unwrap();
    let names = strings(&columns, "column_name");
    assert_eq!(names, ["id", "symbol", "price", "qty", "ts", "venue"]);
    let types = strings(&columns, "column_type");
    assert_eq!(
        types[4],
        DataType::Datetime(TimeUnit::Milliseconds, None).to_string()
    );
}

#[test]
fn each_statement_gets_its_own_context() {
    let dir = tempfile::tempdir().unwrap();
    let target = ticks(dir.path());
    let engine = engine(&target, ScanArgsAdaptive::default());
    // A derived table's alias is registered in the statement's context only.
    let sql = "SELECT COUNT(*) AS n FROM (SELECT id FROM ticks WHERE id < 10) AS few";
    let n = engine
        .plan(sql, &QueryOptions::default())
        .unwrap()
        .collect()
        .unwrap();
    assert_eq!(n.column("n").unwrap().get(0).unwrap(), AnyValue::Int64(10));
    let err = engine
        .plan("SELECT * FROM few", &QueryOptions::default())
        .unwrap_err();
    assert!(matches!(err, SqlError::UnknownTable { .. }), "{err}");
    assert!(
        err.to_string().contains("registered tables: ticks"),
        "{err}"
    );
}

#[test]
fn refusals_name_what_was_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let target = ticks(dir.path());
    let engine = engine(&target, ScanArgsAdaptive::default()).with_max_sql_bytes(1 << 20);
    let refused = |sql: &str| {
        engine
            .plan(sql, &QueryOptions::default())
            .and_then(|q| q.collect())
            .unwrap_err()
    };
    let err = refused("SELECT nope FROM ticks");
    assert!(
        err.is_client_error() && err.to_string().contains("nope"),
        "{err}"
    );
    let err = refused("SELECT * FROM read_parquet('x.parquet')");
    assert!(err.to_string().contains("table function"), "{err}");
    let err = refused("DROP TABLE ticks");
    assert!(err.to_string().contains("only SELECT"), "{err}");
    let err = refused("SELECT * FROM missing");
    assert!(
        err.to_string().contains("'missing' is not registered"),
        "{err}"
    );
    let long = format!("SELECT * FROM ticks WHERE {}", "id = 1 OR ".repeat(120_000));
    assert!(matches!(refused(&long), SqlError::TooLong { .. }));
    let err = refused("SELECT * FROM ticks WHERE");
    assert!(matches!(err, SqlError::Parse(_)), "{err}");
}

#[test]
fn a_plan_that_cannot_stream_under_a_budget_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = ticks(dir.path());
    let engine = engine(&target, ScanArgsAdaptive::default());
    let budget = QueryOptions::default().with_memory_budget(32 << 20);
    for sql in [
        "SELECT * FROM ticks ORDER BY price",
        "SELECT a.id FROM ticks a JOIN ticks b ON a.id = b.id",
    ] {
        let err = engine.plan(sql, &budget).unwrap().collect().unwrap_err();
        assert!(err.to_string().contains("memory budget"), "{sql}: {err}");
    }
    // Without a budget the same plans run in Polars' in-memory engine.
    let all = engine
        .plan(
            "SELECT * FROM ticks ORDER BY price",
            &QueryOptions::default(),
        )
        .unwrap()
        .collect()
        .unwrap();
    assert_eq!(all.height(), 15_000);
}

#[test]
fn a_table_that_cannot_be_opened_fails_at_registration() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-*.parquet");
    let err = SqlEngine::new()
        .with_table("t", &missing, ScanArgsAdaptive::default())
        .unwrap_err();
    assert!(err.to_string().starts_with("table 't':"), "{err}");
}
