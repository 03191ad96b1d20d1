"""scan_adaptive's options, sources, metrics, explain and the predicate bridge."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl
import pyarrow as pa_arrow
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import polars_adaptive as pa
from polars_adaptive import _native
from polars_adaptive._batches import to_frame
from polars_adaptive._predicate import predicate_json


@pytest.fixture
def parts(tmp_path: Path) -> list[Path]:
    """Three files of 4 row groups of 25 rows, ids ascending."""
    paths = []
    for i in range(3):
        df = pl.DataFrame(
            {
                "id": pl.int_range(i * 100, (i + 1) * 100, eager=True),
                "sym": [f"S{j % 7}" for j in range(100)],
                "px": [float(j) / 3 for j in range(100)],
            }
        )
        path = tmp_path / f"part-{i}.parquet"
        df.write_parquet(path, row_group_size=25)
        paths.append(path)
    return paths


def test_a_directory_a_glob_and_a_list_read_the_files_in_scan_parquets_order(
    parts: list[Path],
) -> None:
    expected = pl.scan_parquet(parts).collect()
    folder = parts[0].parent
    assert_frame_equal(pa.scan_adaptive(folder).collect(), expected)
    assert_frame_equal(pa.scan_adaptive(str(folder / "part-*.parquet")).collect(), expected)
    assert_frame_equal(pa.scan_adaptive(parts).collect(), expected)
    reversed_ = list(reversed(parts))
    assert_frame_equal(
        pa.scan_adaptive(reversed_).collect(), pl.scan_parquet(reversed_).collect()
    )


def test_files_rewritten_after_scan_adaptive_are_read_as_they_are_at_collect(
    parts: list[Path],
) -> None:
    # The scan keeps the footers it parsed for its later queries; a file rewritten in
    # between, here with other ids, is read as it is now.
    lf = pa.scan_adaptive(parts).filter(pl.col("id") >= 150)
    first = lf.collect()
    for i, path in enumerate(parts):
        shifted = pl.read_parquet(path).with_columns(pl.col("id") + 1000 * (i + 1))
        shifted.write_parquet(path, row_group_size=25)
    assert_frame_equal(lf.collect(), pl.scan_parquet(parts).filter(pl.col("id") >= 150).collect())
    assert lf.collect().height != first.height


def test_metrics_count_the_row_groups_statistics_pruned(parts: list[Path]) -> None:
    metrics = pa.ScanMetrics()
    out = pa.scan_adaptive(parts, metrics=metrics).filter(pl.col("id") == 130).collect()
    assert out["id"].to_list() == [130]
    snap = metrics.snapshot()
    assert snap["row_groups_total"] == 12
    # Only the row group holding 125..149 is read.
    assert snap["row_groups_pruned"] == 11
    assert snap["rows_decoded"] == 25


def test_an_unknown_predicate_form_is_filtered_in_python_and_prunes_nothing(
    parts: list[Path],
) -> None:
    metrics = pa.ScanMetrics()
    predicate = (pl.col("id") + 1) == 131
    out = pa.scan_adaptive(parts, metrics=metrics).filter(predicate).collect()
    assert out["id"].to_list() == [130]
    assert metrics.snapshot()["row_groups_pruned"] == 0


def test_the_understood_conjunct_prunes_while_the_rest_is_filtered_in_python(
    parts: list[Path],
) -> None:
    metrics = pa.ScanMetrics()
    predicate = (pl.col("id") >= 250) & pl.col("sym").str.contains("3")
    lf = pa.scan_adaptive(parts, metrics=metrics).filter(predicate).select("id")
    expected = pl.scan_parquet(parts).filter(predicate).select("id").collect()
    assert_frame_equal(lf.collect(), expected)
    assert metrics.snapshot()["row_groups_pruned"] == 10


def test_bloom_filters_skip_row_groups_of_a_pyarrow_file(tmp_path: Path) -> None:
    path = tmp_path / "bloom.parquet"
    # Every row group spans the same range of names, so only the bloom filter can rule one out.
    names = [f"n{(i * 7919) % 1000:04d}" for i in range(4000)]
    table = pa_arrow.table({"name": names, "i": list(range(4000))})
    pq.write_table(
        table,
        path,
        row_group_size=1000,
        bloom_filter_options={"name": {"ndv": 1000, "fpp": 0.01}},
    )
    metrics = pa.ScanMetrics()
    got = pa.scan_adaptive(path, metrics=metrics).filter(pl.col("name") == "zzz").collect()
    assert got.height == 0
    snap = metrics.snapshot()
    assert snap["row_groups_skipped_by_bloom_filter"] + snap["row_groups_pruned"] == 4
    assert snap["rows_decoded"] == 0


def test_a_count_without_columns_counts_every_row(parts: list[Path]) -> None:
    assert pa.scan_adaptive(parts).select(pl.len()).collect().item() == 300
    assert pa.scan_adaptive(parts).filter(pl.col("px") > 10).select(pl.len()).collect().item() == (
        pl.scan_parquet(parts).filter(pl.col("px") > 10).select(pl.len()).collect().item()
    )


def test_head_without_a_filter_stops_reading(parts: list[Path]) -> None:
    metrics = pa.ScanMetrics()
    out = pa.scan_adaptive(parts, metrics=metrics).head(5).collect()
    assert out["id"].to_list() == [0, 1, 2, 3, 4]
    assert metrics.snapshot()["rows_decoded"] < 300


def test_explain_names_the_scan(parts: list[Path]) -> None:
    plan = pa.scan_adaptive(parts).filter(pl.col("id") > 5).explain()
    assert "PYTHON" in plan
    if pl.__version__.startswith("2"):
        assert "ADAPTIVE PARQUET" in plan


def test_row_index_and_file_paths_match_scan_parquet(parts: list[Path]) -> None:
    kwargs = {"row_index_name": "n", "row_index_offset": 10, "include_file_paths": "f"}
    expected = pl.scan_parquet(parts, **kwargs).filter(pl.col("id") > 250).collect()  # type: ignore[arg-type]
    got = pa.scan_adaptive(parts, **kwargs).filter(pl.col("id") > 250).collect()  # type: ignore[arg-type]
    assert_frame_equal(got, expected)


def _pushed(expr: pl.Expr) -> tuple[str | None, bool]:
    text = predicate_json(expr)
    assert text is not None
    return _native.pushed_predicate(text)


@pytest.mark.parametrize(
    "expr",
    [
        pl.col("a") > 5,
        pl.col("a") == pl.lit(3, pl.Int16),
        pl.col("a").is_between(1, 3, closed="left"),
        pl.col("a").is_in([1, 2, None]),
        pl.col("s").is_in(["x", "y"]),
        pl.col("s").str.starts_with("ab"),
        pl.col("f").is_nan() | pl.col("f").is_null(),
        ~pl.col("a").is_not_null(),
        pl.col("d") < dt.date(2020, 1, 2),
        pl.col("t") >= dt.datetime(2020, 1, 2, 3, tzinfo=dt.timezone.utc),
        pl.col("e") == dt.timedelta(seconds=3),
        (pl.col("a") != 1) & (pl.col("b") <= 2.5),
    ],
)
def test_the_parser_reads_the_forms_the_pruner_knows(expr: pl.Expr) -> None:
    pushed, complete = _pushed(expr)
    assert complete, pushed
    assert pushed is not None


@pytest.mark.parametrize(
    "expr",
    [
        (pl.col("a") + 1) > 5,
        pl.col("s").str.contains("a"),
        pl.when(pl.col("a") > 1).then(True).otherwise(False),
        pl.col("a") == float("nan"),
        pl.col("a") == 2**70,
        pl.col("a").is_in([1.0, float("inf")]),
        pl.col("d") < pl.date(2020, 1, 2),  # a function call, not a literal
    ],
)
def test_forms_the_parser_does_not_know_are_left_to_python(expr: pl.Expr) -> None:
    pushed, complete = _pushed(expr)
    assert not complete
    assert pushed is None


def test_an_unknown_json_shape_degrades_to_residual_only() -> None:
    # What a future Polars might write: a new node beside a known one.
    known = json.loads(predicate_json(pl.col("a") > 5) or "")
    future = {"BinaryExpr": {"left": known, "op": "And", "right": {"Frobnicate": [1, 2]}}}
    pushed, complete = _native.pushed_predicate(json.dumps(future))
    assert not complete
    assert pushed is not None and "5" in pushed
    assert _native.pushed_predicate("not json") == (None, False)
    assert _native.pushed_predicate('{"Column": "a", "extra": 1}') == (None, False)


def test_csv_and_ndjson_sinks_write_what_scan_parquet_would(parts: list[Path], tmp_path: Path) -> None:
    query = lambda lf: lf.filter(pl.col("sym") == "S2").select("id", "px")  # noqa: E731
    for sink, read in [("sink_csv", pl.read_csv), ("sink_ndjson", pl.read_ndjson)]:
        ours, stock = tmp_path / f"ours.{sink}", tmp_path / f"stock.{sink}"
        getattr(query(pa.scan_adaptive(parts)), sink)(ours)
        getattr(query(pl.scan_parquet(parts)), sink)(stock)
        assert_frame_equal(read(ours), read(stock))


def test_a_filter_stock_prunes_wrongly_is_answered_as_polars_evaluates_it(tmp_path: Path) -> None:
    # Python Polars 2.1.0's scan_parquet evaluates `a + 1` on an Int8 max of 127 as -128 and
    # prunes the row group holding 0; Polars itself, without pushdown, keeps 0.
    path = tmp_path / "i8.parquet"
    pl.DataFrame({"a": [0, 127]}, schema={"a": pl.Int8}).write_parquet(path)
    predicate = (pl.col("a") + 1) > 0
    reference = pl.scan_parquet(path).filter(predicate).collect(
        optimizations=pl.QueryOptFlags(predicate_pushdown=False)
    )
    assert reference["a"].to_list() == [0]
    assert_frame_equal(pa.scan_adaptive(path).filter(predicate).collect(), reference)


def test_a_scan_of_no_rows_has_stock_dtypes(tmp_path: Path) -> None:
    # The schema frame and empty results cross as one empty Arrow batch built from the fields.
    path = tmp_path / "dtypes.parquet"
    pl.DataFrame(
        {
            "i8": pl.Series([1], dtype=pl.Int8),
            "u64": pl.Series([1], dtype=pl.UInt64),
            "f32": pl.Series([1.5], dtype=pl.Float32),
            "b": [True],
            "s": ["x"],
            "bin": [b"x"],
            "d": [dt.date(2024, 1, 1)],
            "ts": pl.Series([dt.datetime(2024, 1, 1)], dtype=pl.Datetime("us", "UTC")),
            "dur": pl.Series([dt.timedelta(seconds=1)], dtype=pl.Duration("ms")),
            "t": [dt.time(1, 2, 3)],
            "dec": pl.Series(["1.25"], dtype=pl.String).cast(pl.Decimal(10, 2)),
            "li": [[1, 2]],
            "st": [{"a": 1, "b": "y"}],
            "cat": pl.Series(["c"], dtype=pl.Categorical),
        }
    ).write_parquet(path)
    ours = pa.scan_adaptive(path)
    stock = pl.scan_parquet(path)
    assert ours.collect_schema() == stock.collect_schema()
    empty = pl.col("i8") < 0
    assert_frame_equal(ours.filter(empty).collect(), stock.filter(empty).collect())


def _resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_an_equalitys_constant_column_crosses_as_one_shared_buffer(tmp_path: Path) -> None:
    # The scan repeats an equality's literal as a constant column; written out per batch it
    # would be 16 bytes a row of string views, 61 MiB for these 4 M rows held by the result.
    n = 4_000_000
    path = tmp_path / "constant.parquet"
    pl.DataFrame({"side": ["BUY"] * n, "v": pl.int_range(n, eager=True)}).write_parquet(
        path, row_group_size=2**18
    )
    query = pa.scan_adaptive(path).filter(pl.col("side") == "BUY").select("side")
    query.head(10).collect()  # the module's first-use allocations, outside the measure
    before = _resident_mib()
    ours = query.collect()
    grown = _resident_mib() - before
    assert ours.n_chunks() > 10
    stock = pl.scan_parquet(path).filter(pl.col("side") == "BUY").select("side").collect()
    assert_frame_equal(ours, stock)
    assert grown < 20, f"the result's constant column took {grown:.0f} MiB"


def test_units_smaller_than_min_rows_are_stacked_and_none_is_cut(parts: list[Path]) -> None:
    # Python Polars' batch size reaches the scan as `min_rows`: small units (small files,
    # small row groups) are stacked until they reach it; a unit is never cut.
    spec = _native.ScanSpec([str(p) for p in parts])
    units = [to_frame(b) for b in spec.open()]
    stacked = [to_frame(b) for b in spec.open(min_rows=60)]

    def ends(frames: list[pl.DataFrame]) -> set[int]:
        out, total = set(), 0
        for f in frames:
            total += f.height
            out.add(total)
        return out

    assert len(units) > len(stacked) > 1
    assert all(f.height >= 60 for f in stacked[:-1])
    assert ends(stacked) <= ends(units)
    assert_frame_equal(pl.concat(stacked), pl.concat(units))
    assert_frame_equal(pl.concat(stacked), pl.read_parquet(parts))
