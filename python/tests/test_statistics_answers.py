"""Aggregates answered from footer statistics (``MIN``/``MAX``/``COUNT`` through ``pa.sql``) on
files written by the writers Python users have: Python Polars (1.x names itself "Polars" and
repeats a dictionary chunk's null count on every data page; 2.x does not) and PyArrow. Each
answer equals ``pl.SQLContext`` over ``pl.scan_parquet``, and the counters show which row groups
the footer answered (docs/decisions.md, "Bounds taken as exact")."""

from __future__ import annotations

import tempfile
from pathlib import Path

import hypothesis.strategies as st
import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from polars.testing import assert_frame_equal
from test_differential import _write, datasets
from test_sql_differential import stock_or_refused

import polars_adaptive as pa

ROWS = 10_000
ROW_GROUP = 2_500


def _frame() -> pl.DataFrame:
    """Numeric and temporal columns with nulls in every row group, few distinct values (so
    writers dictionary-encode them), and floats without NaN or zero (whose bounds are values)."""
    i = pl.int_range(ROWS, eager=True).alias("i")
    columns = {
        "i64": i % 97 - 40,
        "i32": (i % 13).cast(pl.Int32),
        "u16": (i % 300).cast(pl.UInt16),
        "f64": (i % 11).cast(pl.Float64) + 0.5,
        "day": pl.select(pl.date(2020, 1, 1) + pl.duration(days=i % 50)).to_series(),
        "ts": pl.select(pl.datetime(2020, 1, 1) + pl.duration(minutes=i % 70)).to_series(),
    }
    # Nulls at a different phase in each column, in every row group.
    with_nulls = {
        name: pl.select(pl.when(i % 7 != k).then(values)).to_series().alias(name)
        for k, (name, values) in enumerate(columns.items())
    }
    return pl.DataFrame(with_nulls)


def _written(df: pl.DataFrame, directory: Path, writer: str) -> str:
    path = directory / f"{writer}.parquet"
    if writer == "polars":
        # Pages of 4 KiB: several data pages per chunk, so a 1.x footer repeats its counts.
        df.write_parquet(path, row_group_size=ROW_GROUP, data_page_size=4096, statistics=True)
    else:
        pq.write_table(df.to_arrow(), path, row_group_size=ROW_GROUP, data_page_size=4096)
    return str(path)


def _aggregates(columns: list[str]) -> str:
    """``MIN``, ``MAX``, ``COUNT`` of every column and ``COUNT(*)``: the statement answered
    from statistics."""
    each = (
        f'MIN("{c}") AS "{c}_lo", MAX("{c}") AS "{c}_hi", COUNT("{c}") AS "{c}_n"' for c in columns
    )
    return f"SELECT {', '.join(each)}, COUNT(*) AS n FROM t"


@pytest.mark.parametrize("writer", ["polars", "pyarrow"])
def test_min_max_count_of_numeric_and_temporal_columns_come_from_the_footer(
    writer: str, tmp_path: Path
) -> None:
    df = _frame()
    path = _written(df, tmp_path, writer)
    created_by = pq.ParquetFile(path).metadata.created_by
    query = _aggregates(df.columns)
    metrics = pa.ScanMetrics()
    got = pa.sql(query, {"t": path}, metrics=metrics)
    expected = pl.SQLContext({"t": pl.scan_parquet(path)}).execute(query).collect()
    assert_frame_equal(got, expected)
    snapshot = metrics.snapshot()
    assert snapshot["row_groups_answered_from_statistics"] == ROWS // ROW_GROUP, (
        created_by,
        snapshot,
    )
    assert snapshot["rows_decoded"] == 0, (created_by, snapshot)


def test_a_repeated_null_count_is_divided_by_the_chunk_pages(tmp_path: Path) -> None:
    """Python Polars 1.x records a dictionary chunk's nulls once per data page; the count is
    divided by the pages of the chunk's offset index. Python Polars 2.x writes the true count
    (then the footer's count is the answer as it stands)."""
    df = _frame().select("i32")
    path = _written(df, tmp_path, "polars")
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(0)
    true_nulls = df["i32"][:ROW_GROUP].null_count()
    if pq.ParquetFile(path).metadata.created_by == "Polars":
        assert chunk.statistics.null_count > true_nulls  # the footer's count, repeated
    else:
        assert chunk.statistics.null_count == true_nulls
    metrics = pa.ScanMetrics()
    query = 'SELECT COUNT("i32") AS k FROM t'
    got = pa.sql(query, {"t": path}, metrics=metrics)
    assert got["k"].to_list() == [ROWS - df["i32"].null_count()]
    assert metrics.snapshot()["row_groups_answered_from_statistics"] == ROWS // ROW_GROUP


@settings(max_examples=100)
@given(data=st.data())
def test_global_aggregates_of_generated_files_equal_sqlcontext(data: st.DataObject) -> None:
    """Generated data, both writers, several row groups and files: ``MIN``/``MAX``/``COUNT`` of
    every column, the shape answered from statistics where they are exact."""
    df = data.draw(datasets(), label="data")
    writer = data.draw(st.sampled_from(["polars", "pyarrow"]), label="writer")
    files = data.draw(st.integers(1, 3), label="files")
    rows = data.draw(st.sampled_from([3, 10, 1000]), label="row_group_size")
    query = _aggregates(df.columns)
    with tempfile.TemporaryDirectory() as tmp:
        paths = _write(df, Path(tmp), writer, files, rows)
        expected = stock_or_refused(query, paths)
        if expected is not None:
            assert_frame_equal(pa.sql(query, {"t": paths}), expected)

