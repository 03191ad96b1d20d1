"""Splits and the Ray doors on a local Ray (two CPUs, one session for the whole run): answers
equal stock Polars (``pl.scan_parquet``, ``pl.SQLContext``) for split sizes from one row group
to whole files, a killed worker's task is retried with the same answer, and a file changed
after planning is an error naming it."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from conftest import STATEMENTS, UNSTREAMABLE, stock_sql, write_ticks
from polars.testing import assert_frame_equal

import polars_adaptive as pa

ray = pytest.importorskip("ray", reason="Ray is installed in the newest Polars' venv only")
rd = pytest.importorskip("ray.data")
par = pytest.importorskip("polars_adaptive.ray")

# Split sizes: one row group per split, a few row groups, whole files and more.
TARGETS = [1, 60_000, 1 << 40]


@pytest.fixture(scope="session", autouse=True)
def ray_session() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ctx = rd.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def ticks(tmp_path_factory: pytest.TempPathFactory) -> str:
    # 4 files of 5,000 rows in row groups of 1,000: 20 row groups.
    return write_ticks(tmp_path_factory.mktemp("ray_ticks"), 4, 5000, 1000)


def collect(ds: rd.Dataset) -> pl.DataFrame:
    """A dataset's rows in order, as Polars reads Arrow."""
    import pyarrow

    tables = [t for t in ray.get(ds.to_arrow_refs()) if t.num_rows > 0]
    if not tables:
        return pl.from_arrow(ds.schema().base_schema.empty_table())  # type: ignore[return-value]
    return pl.from_arrow(pyarrow.concat_tables(tables))  # type: ignore[return-value]


FILTERS = [
    None,
    pl.col("symbol") == "MSFT",
    (pl.col("qty") > 250) & pl.col("venue").is_not_null(),
    pl.col("id").is_between(4500, 12_345),
    pl.col("id") < 0,
    # Not understood by the predicate parser: applied whole to every batch.
    (pl.col("price") + 1) > 150,
]


def test_splits_pickle_and_scan_like_the_whole_dataset(ticks: str) -> None:
    predicate = pl.col("id").is_between(4500, 12_345)
    splits = pa.plan_splits(ticks, predicate=predicate, target_split_bytes=1)
    # Row groups 4..12 of 20 can hold ids in range.
    assert [s.first_row for s in splits] == [i * 1000 for i in range(4, 13)]
    assert all(pickle.loads(pickle.dumps(s)) == s for s in splits)
    ours = pl.concat([s.scan(["id", "price"], predicate) for s in splits])
    stock = pl.scan_parquet(ticks).filter(predicate).select("id", "price").collect()
    assert_frame_equal(ours, stock)
    batches = [b for s in splits for b in s.batches(["id"], predicate)]
    assert_frame_equal(pl.concat(batches), stock.select("id"))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("columns", [None, ["id", "price", "venue"]])
@pytest.mark.parametrize("predicate", FILTERS, ids=str)
def test_read_adaptive_equals_scan_parquet(
    ticks: str, target: int, columns: list[str] | None, predicate: pl.Expr | None
) -> None:
    ds = par.read_adaptive(ticks, columns=columns, filter=predicate, target_split_bytes=target)
    stock = pl.scan_parquet(ticks)
    if predicate is not None:
        stock = stock.filter(predicate)
    if columns is not None:
        stock = stock.select(columns)
    assert_frame_equal(collect(ds), stock.collect())


@pytest.mark.parametrize("predicate", FILTERS, ids=str)
def test_count_without_columns_is_right(ticks: str, predicate: pl.Expr | None) -> None:
    stock = pl.scan_parquet(ticks)
    if predicate is not None:
        stock = stock.filter(predicate)
    expected = stock.select(pl.len()).collect().item()
    ds = par.read_adaptive(ticks, columns=[], filter=predicate, target_split_bytes=60_000)
    assert ds.count() == expected
    assert par.read_adaptive(ticks, filter=predicate).count() == expected


def test_rays_own_filter_and_projection_reach_the_read(ticks: str) -> None:
    from ray.data.expressions import col

    ds = (
        par.read_adaptive(ticks, target_split_bytes=60_000)
        .filter(expr=(col("qty") > 250) & col("venue").is_not_null() & (col("symbol") != "AAPL"))
        .select_columns(["id", "qty"])
    )
    stock = (
        pl.scan_parquet(ticks)
        .filter((pl.col("qty") > 250) & pl.col("venue").is_not_null() & (pl.col("symbol") != "AAPL"))
        .select("id", "qty")
        .collect()
    )
    assert_frame_equal(collect(ds), stock)


def test_ray_filters_that_polars_would_answer_otherwise_stay_with_ray() -> None:
    import pyarrow
    from ray.data.expressions import col

    from polars_adaptive.ray._expr import to_polars

    schema = pyarrow.schema([("i", pyarrow.int64()), ("f", pyarrow.float64()), ("s", pyarrow.string())])
    assert to_polars((col("i") > 3) & (col("s") == "x"), schema) is not None
    assert to_polars(col("i").is_in([1, 2]), schema) is not None
    # NaN: PyArrow's NaN > 3 is false, Polars' true.
    assert to_polars(col("f") > 3, schema) is None
    # not_in keeps a null in PyArrow, drops it in Polars.
    assert to_polars(col("i").not_in([1, 2]), schema) is None
    assert to_polars(~col("i").is_in([1, 2]), schema) is None
    assert to_polars(col("missing") > 1, schema) is None


@pytest.mark.parametrize("target", [1, 1 << 40])
@pytest.mark.parametrize("query", STATEMENTS)
def test_ray_sql_equals_sqlcontext(ticks: str, target: int, query: str) -> None:
    ours = par.sql(query, {"ticks": ticks}, target_split_bytes=target)
    assert_frame_equal(ours, stock_sql(ticks, query))


MANY_GROUPS = (
    "SELECT id % 3001 AS g, SUM(qty) AS q, AVG(price) AS p, COUNT(*) AS n, MAX(venue) AS v "
    "FROM ticks GROUP BY g ORDER BY g"
)
FEW_GROUPS = (
    "SELECT symbol, venue, SUM(qty) AS q, MIN(ts) AS t, COUNT(qty) AS nq "
    "FROM ticks WHERE price > 110 GROUP BY symbol, venue ORDER BY symbol, venue NULLS FIRST"
)


@pytest.mark.parametrize("num_partitions", [None, 1, 3])
@pytest.mark.parametrize("query", [MANY_GROUPS, FEW_GROUPS])
def test_ray_sql_groups_merge_on_the_driver_or_through_the_shuffle(
    ticks: str, num_partitions: int | None, query: str
) -> None:
    ours = par.sql(query, {"ticks": ticks}, num_partitions=num_partitions, target_split_bytes=60_000)
    assert_frame_equal(ours, stock_sql(ticks, query))


def test_ray_sql_shuffles_by_itself_when_the_partial_rows_are_many(
    ticks: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import polars_adaptive.ray._sql as ray_sql

    shuffled = []
    from_arrow_refs = ray_sql.ray.data.from_arrow_refs

    def spy(refs: object) -> object:
        shuffled.append(refs)
        return from_arrow_refs(refs)

    # MANY_GROUPS has 3,001 groups per split: over this threshold, under the real one.
    monkeypatch.setattr(ray_sql, "DRIVER_MERGE_ROWS", 1000)
    monkeypatch.setattr(ray_sql.ray.data, "from_arrow_refs", spy)
    ours = par.sql(MANY_GROUPS, {"ticks": ticks}, target_split_bytes=60_000)
    assert len(shuffled) == 1
    assert_frame_equal(ours, stock_sql(ticks, MANY_GROUPS))
    shuffled.clear()
    par.sql(FEW_GROUPS, {"ticks": ticks}, target_split_bytes=60_000)
    assert shuffled == [], "few partial rows merge on the driver"


def test_ray_sql_refuses_plans_that_need_all_rows_at_once(ticks: str) -> None:
    with pytest.raises(pa.AdaptiveError, match="cannot run split by split"):
        par.sql(UNSTREAMABLE[0], {"ticks": ticks})


def test_a_killed_worker_is_retried_with_the_same_answer(ticks: str, tmp_path: Path) -> None:
    marker = tmp_path / "killed"
    ours = par.sql(FEW_GROUPS, {"ticks": ticks}, target_split_bytes=60_000, _fault_marker=str(marker))
    assert marker.exists(), "a task killed its worker"
    assert_frame_equal(ours, stock_sql(ticks, FEW_GROUPS))
    marker = tmp_path / "killed-read"
    ds = par.read_adaptive(ticks, filter=pl.col("qty") > 250, _fault_marker=str(marker))
    assert_frame_equal(collect(ds), pl.scan_parquet(ticks).filter(pl.col("qty") > 250).collect())
    assert marker.exists()


def test_a_file_changed_or_removed_after_planning_is_an_error_naming_it(tmp_path: Path) -> None:
    glob = write_ticks(tmp_path / "data", 3, 2000, 500)
    splits = pa.plan_splits(glob, target_split_bytes=1)
    ds = par.read_adaptive(glob, target_split_bytes=1)
    pl.DataFrame({"id": [1]}).write_parquet(tmp_path / "data" / "part-1.parquet")
    (tmp_path / "data" / "part-2.parquet").unlink()
    by_file = {Path(s.paths[0]).name: s for s in splits}
    with pytest.raises(pa.AdaptiveError, match=r"part-1\.parquet: changed since the splits"):
        by_file["part-1.parquet"].scan()
    with pytest.raises(pa.AdaptiveError, match=r"part-2\.parquet: changed since the splits"):
        by_file["part-2.parquet"].scan()
    untouched = by_file["part-0.parquet"]
    assert untouched.scan().height == untouched.rows
    with pytest.raises(Exception, match=r"part-[12]\.parquet: changed since the splits"):
        collect(ds)
