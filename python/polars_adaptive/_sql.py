"""SQL over Parquet tables through polars-adaptive's SQL front end."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from polars_adaptive import _native
from polars_adaptive._batches import to_frame
from polars_adaptive._scan import ScanMetrics, Source, source_paths


def sql(
    query: str,
    tables: Mapping[str, Source],
    *,
    memory_budget: int | None = None,
    metrics: ScanMetrics | None = None,
) -> pl.DataFrame:
    """Run one SQL statement over Parquet tables and return its result.

    The statement is planned by Polars' SQL engine (the dialect of ``pl.SQLContext``) over
    ``scan_adaptive`` sources and run batch by batch in Rust: ``MIN``/``MAX``/``COUNT`` come
    from footer statistics where the writer makes them exact, ``ORDER BY … LIMIT`` skips row
    groups that cannot reach the top, and ``GROUP BY`` aggregates as the scan streams. The
    answer equals ``pl.SQLContext`` over ``pl.scan_parquet`` on the same files.

    Only reads are accepted (``SELECT``/``WITH``, ``EXPLAIN``, ``SHOW TABLES``, ``DESCRIBE``);
    table functions such as ``read_parquet`` are refused, so only ``tables`` are read.

    Parameters
    ----------
    query
        One statement.
    tables
        Table name → a file, a directory, a glob, or a list of them (read as one table).
    memory_budget
        Bytes the query may hold. A plan that cannot stream within it (a full sort, a join)
        raises instead of running unbounded; without a budget such plans run in memory.
    metrics
        A :class:`ScanMetrics` handle that counts what the tables' scans did (row groups
        pruned, answered from statistics, rows decoded).

    Raises
    ------
    AdaptiveError
        A statement that does not parse or plan (unknown table or column, DDL, a table
        function), a file that cannot be read, or a plan too large for ``memory_budget``.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_adaptive as pa
    >>> pl.DataFrame({"s": ["a", "b", "a"], "x": [1, 2, 3]}).write_parquet("/tmp/doc_sql.parquet")
    >>> pa.sql("SELECT COUNT(*) AS n, MAX(x) AS hi FROM t WHERE s = 'a'", {"t": "/tmp/doc_sql.parquet"})
    shape: (1, 2)
    ┌─────┬─────┐
    │ n   ┆ hi  │
    │ --- ┆ --- │
    │ i64 ┆ i64 │
    ╞═════╪═════╡
    │ 2   ┆ 3   │
    └─────┴─────┘
    """
    paths = {name: source_paths(source) for name, source in tables.items()}
    native_metrics = None if metrics is None else metrics._native
    stream = _native.sql(query, paths, memory_budget=memory_budget, metrics=native_metrics)
    frames = [to_frame(batch) for batch in stream]
    if len(frames) == 1:
        return frames[0]
    return pl.concat(frames, how="vertical", rechunk=False)
