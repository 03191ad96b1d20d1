"""``sql``: one statement run split by split on Ray, its partial answers merged."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
import pyarrow as pa
import ray

from polars_adaptive import _native
from polars_adaptive._batches import to_frame
from polars_adaptive._scan import Source, source_paths
from polars_adaptive._splits import Split
from polars_adaptive.ray._tasks import TASK_ENV, kill_once

PARTITION = "__pa_partition"
"""The column the partial rows are shuffled by: a hash of their group keys."""

SQL_SPLIT_BYTES = 512 << 20
"""Decoded bytes per split of ``sql``: a task's fixed cost (Ray's dispatch, planning the
statement again, opening its files; 13-20 ms measured, docs/scale-out.md) stays near 5 % of
its decoding at this size, while Ray Data's 128 MiB blocks would make it a fifth. Partial
answers are small, so a task's output does not grow with it."""

DRIVER_MERGE_ROWS = 1_000_000
"""Partial rows merged on the driver at most, unless ``num_partitions`` asks for a shuffle."""


def sql(
    query: str,
    tables: Mapping[str, Source],
    *,
    num_partitions: int | None = None,
    memory_budget: int | None = None,
    target_split_bytes: int = SQL_SPLIT_BYTES,
    _fault_marker: str | None = None,
) -> pl.DataFrame:
    """Run one SQL statement over one Parquet table on Ray, one task per split.

    The statement is planned once on the driver by the SQL front end (the dialect of
    ``pl.SQLContext``), and its table is cut into splits with the predicate the plan pushes
    into the scan (row groups ruled out by statistics are never sent). Each task runs the
    plan on its split: an aggregation's partial state, a top-k's rows, the first rows of a
    ``LIMIT``, or the rows of a row-wise query. The partial answers are merged on the driver;
    an aggregation by keys with no defined order and many groups is merged through Ray's
    shuffle first (``groupby(partition).map_groups``), one partition of groups per task.
    The answer equals ``pl.SQLContext`` over ``pl.scan_parquet`` on the same files.

    Parameters
    ----------
    query
        One ``SELECT`` over one table.
    tables
        Table name → a file, a directory, a glob, or a list of them.
    num_partitions
        Shuffle the partial aggregation into this many partitions (``1``: merge on the
        driver). By default partial answers of more than 1,000,000 rows are shuffled into as
        many partitions as the cluster has CPUs.
    memory_budget
        Bytes each task's scan may hold.
    target_split_bytes
        Decoded bytes of the statement's columns per split (and so per task); 512 MiB by
        default (see ``docs/scale-out.md``).

    Raises
    ------
    AdaptiveError
        A statement that does not plan, that reads several tables, or that needs its whole
        input at once (a join, a full ``ORDER BY`` without ``LIMIT``, a window).

    Examples
    --------
    >>> import polars_adaptive.ray as par  # doctest: +SKIP
    >>> par.sql("SELECT symbol, AVG(price) AS p FROM ticks GROUP BY symbol", {"ticks": "ticks/"})  # doctest: +SKIP
    """
    paths = {name: source_paths(source) for name, source in tables.items()}
    table, keys, native_splits = _native.sql_plan_splits(
        query, paths, target_split_bytes=target_split_bytes
    )
    splits = [Split.from_native(s) for s in native_splits]
    shuffle = keys is not None and num_partitions != 1
    partitions = _partitions(num_partitions) if shuffle else 1
    task = _partial_task.options(num_returns=2, runtime_env=TASK_ENV)
    pairs = [
        task.remote(
            query,
            table,
            s,
            keys if shuffle else None,
            partitions,
            memory_budget,
            _fault_marker,
        )
        for s in splits
    ]
    tables_refs = [t for t, _ in pairs]
    rows = sum(ray.get([n for _, n in pairs]))
    if shuffle and (num_partitions is not None or rows > DRIVER_MERGE_ROWS):
        merged = (
            ray.data.from_arrow_refs(tables_refs)
            .groupby(PARTITION)
            .map_groups(
                _compact_group,
                fn_args=(query, paths),
                batch_format="pyarrow",
                runtime_env=TASK_ENV,
            )
        )
        partials = list(ray.get(merged.to_arrow_refs()))
    else:
        partials = ray.get(tables_refs)
    batch = _native.sql_merge(query, paths, [_without_partition(t) for t in partials])
    return to_frame(batch)


def _partitions(num_partitions: int | None) -> int:
    if num_partitions is not None:
        if num_partitions < 1:
            msg = f"num_partitions must be at least 1, not {num_partitions}"
            raise ValueError(msg)
        return num_partitions
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _without_partition(t: pa.Table) -> pa.Table:
    return t.drop_columns([PARTITION]) if PARTITION in t.column_names else t


@ray.remote(max_retries=3)
def _partial_task(
    query: str,
    table: str,
    split: Split,
    keys: list[str] | None,
    partitions: int,
    memory_budget: int | None,
    fault_marker: str | None,
) -> tuple[pa.Table, int]:
    """One split's partial answer, as Arrow, with its partition by group when shuffled."""
    batch = _native.sql_partial(query, table, split.native(), memory_budget=memory_budget)
    kill_once(fault_marker)
    # Partial states stay in Arrow as Rust Polars wrote them; Python Polars only hashes keys.
    table = pa.table(batch)
    if keys is not None:
        hashed = pl.DataFrame(table.select(keys)).select(
            (pl.struct(keys).hash(seed=0) % partitions).cast(pl.Int64).alias(PARTITION)
        )
        table = table.append_column(PARTITION, hashed.to_arrow()[PARTITION])
    return table, table.num_rows


def _compact_group(group: pa.Table, query: str, paths: dict[str, list[str]]) -> pa.Table:
    """One shuffle partition's partial rows merged: one row per group."""
    batch = _native.sql_merge(query, paths, [_without_partition(group)], compact_only=True)
    return pa.table(batch)
