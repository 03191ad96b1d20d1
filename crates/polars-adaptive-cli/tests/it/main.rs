//! The `polars-adaptive` command, run as a user runs it.

use std::process::Command;

use polars::prelude::*;
use polars_adaptive::testing::{same_frame, write_ticks};

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_polars-adaptive"))
}

/// Runs `command`, which must succeed, and returns its standard output.
fn stdout_of(command: &mut Command) -> String {
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn query_writes_csv_ndjson_parquet_and_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let glob = write_ticks(dir.path(), 2, 2_000, 500);
    let table = format!("ticks={}", glob.display());
    let sql =
        "SELECT symbol, COUNT(*) AS n, SUM(qty) AS q FROM ticks GROUP BY symbol ORDER BY symbol";
    let expected = polars_adaptive_sql::testing::stock_sql("ticks", &glob, sql).unwrap();

    let csv = stdout_of(cli().args(["query", sql, "--table", &table, "--format", "csv"]));
    assert_eq!(csv.lines().count(), expected.height() + 1);
    assert!(csv.starts_with("symbol,n,q\n"), "{csv}");

    let parquet = dir.path().join("out.parquet");
    stdout_of(
        cli()
            .args([
                "query", sql, "--table", &table, "--format", "parquet", "--output",
            ])
            .arg(&parquet)
            .args(["--memory-budget", "64MiB"]),
    );
    let written = LazyFrame::scan_parquet(
        PlRefPath::try_from_path(&parquet).unwrap(),
        Default::default(),
    )
    .unwrap()
    .collect()
    .unwrap();
    same_frame(&written, &expected).unwrap();

    let ndjson = stdout_of(cli().args(["query", sql, "--table", &table, "--format", "ndjson"]));
    assert_eq!(ndjson.lines().count(), expected.height());

    let tables = stdout_of(cli().args(["query", "SHOW TABLES", "--table", &table]));
    assert!(tables.contains("ticks"), "{tables}");
}

#[test]
fn query_errors_exit_non_zero_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let glob = write_ticks(dir.path(), 1, 100, 100);
    let table = format!("ticks={}", glob.display());
    for (sql, says) in [
        ("SELECT * FROM nope", "'nope' is not registered"),
        ("DROP TABLE ticks", "only SELECT"),
        ("SELECT * FROM read_parquet('x')", "table function"),
    ] {
        let out = cli()
            .args(["query", sql, "--table", &table])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{sql}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("error: ") && stderr.contains(says),
            "{sql}: {stderr}"
        );
    }
    let out = cli()
        .args(["query", "SELECT 1", "--table", "t=/nonexistent/*.parquet"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("table 't'"));
}

#[test]
fn serve_prints_its_address_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let glob = write_ticks(dir.path(), 1, 1_000, 100);
    let mut child = cli()
        .args(["serve", "--listen", "127.0.0.1:0", "--table"])
        .arg(format!("ticks={}", glob.display()))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    assert!(line.contains("grpc://127.0.0.1:"), "{line}");
    let kill = Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
