"""``polars_adaptive.sql`` answers like Python Polars' ``SQLContext`` over ``pl.scan_parquet``,
and refuses what is not a read of the tables it was given."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from conftest import STATEMENTS, UNSTREAMABLE, stock_sql, write_ticks
from polars.testing import assert_frame_equal

import polars_adaptive as pa


@pytest.fixture(scope="module")
def ticks(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_ticks(tmp_path_factory.mktemp("sql"), files=3, rows=5000, row_group_size=1000)


@pytest.mark.parametrize("budget", [None, 64 << 20])
@pytest.mark.parametrize("query", STATEMENTS)
def test_sql_answers_like_sqlcontext_over_scan_parquet(
    ticks: str, query: str, budget: int | None
) -> None:
    ours = pa.sql(query, {"ticks": ticks}, memory_budget=budget)
    assert_frame_equal(ours, stock_sql(ticks, query))


@pytest.mark.parametrize("query", UNSTREAMABLE)
def test_plans_that_do_not_stream_run_without_a_budget_and_are_refused_under_one(
    ticks: str, query: str
) -> None:
    assert_frame_equal(pa.sql(query, {"ticks": ticks}), stock_sql(ticks, query))
    with pytest.raises(pa.AdaptiveError, match="memory budget"):
        pa.sql(query, {"ticks": ticks}, memory_budget=64 << 20)


def test_tables_may_be_lists_of_sources_and_several(ticks: str, tmp_path: Path) -> None:
    parts = sorted(Path(ticks).parent.glob("part-*.parquet"))
    out = pa.sql(
        "SELECT COUNT(*) AS n FROM a WHERE id IN (SELECT id FROM b)",
        {"a": parts, "b": parts[1]},
    )
    assert out["n"].to_list() == [5000]


def test_show_tables_and_describe(ticks: str) -> None:
    tables = pa.sql("SHOW TABLES", {"ticks": ticks, "again": ticks})
    assert tables["name"].to_list() == ["again", "ticks"]
    columns = pa.sql("DESCRIBE ticks", {"ticks": ticks})
    assert columns["column_name"].to_list() == ["id", "symbol", "price", "qty", "ts", "venue"]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("DROP TABLE ticks", "only SELECT"),
        ("SELECT * FROM read_parquet('/etc/hosts')", "table function"),
        ("SELECT * FROM nope", "'nope' is not registered"),
        ("SELECT nope FROM ticks", "nope"),
        ("SELEC 1", "parse"),
        ("SELECT * FROM ticks ORDER BY price", "memory budget"),
    ],
)
def test_refusals_raise_adaptive_errors_naming_the_problem(
    ticks: str, query: str, says: str
) -> None:
    with pytest.raises(pa.AdaptiveError, match=says):
        pa.sql(query, {"ticks": ticks}, memory_budget=32 << 20)


def test_an_empty_result_keeps_its_schema(ticks: str) -> None:
    out = pa.sql("SELECT id, venue FROM ticks WHERE id < 0", {"ticks": ticks})
    assert out.height == 0
    assert out.schema == pl.Schema({"id": pl.Int64, "venue": pl.String})


def test_a_timestamp_literal_with_a_space_reads_as_python_polars_2_reads_it(ticks: str) -> None:
    query = "SELECT COUNT(*) AS n FROM ticks WHERE ts < CAST('{}' AS TIMESTAMP)"
    with_space = pa.sql(query.format("2023-11-14 22:15:00"), {"ticks": ticks})
    with_t = pa.sql(query.format("2023-11-14T22:15:00"), {"ticks": ticks})
    assert with_space["n"].to_list() == with_t["n"].to_list() == [100]
