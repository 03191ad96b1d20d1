"""``scan_adaptive``: the adaptive Parquet scan as a Python Polars IO source."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator, Sequence
from typing import Literal, Union

import polars as pl
from polars.io.plugins import register_io_source

from polars_adaptive import _native
from polars_adaptive._batches import frames, to_frame
from polars_adaptive._predicate import push

Source = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]

_EXPLAIN = "explain_name" in inspect.signature(register_io_source).parameters


class ScanMetrics:
    """Counters of every query run on the scans this handle is given to.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_adaptive as pa
    >>> metrics = pa.ScanMetrics()
    >>> lf = pa.scan_adaptive("trades.parquet", metrics=metrics)  # doctest: +SKIP
    >>> lf.filter(pl.col("id") == 7).collect()  # doctest: +SKIP
    >>> metrics.snapshot()["row_groups_pruned"]  # doctest: +SKIP
    3
    """

    def __init__(self) -> None:
        self._native = _native.ScanMetrics()

    def snapshot(self) -> dict[str, int]:
        """The counters now: files and row groups read and pruned (by statistics, bloom
        filters, page index), rows and bytes decoded, batches, peak tracked memory."""
        return self._native.snapshot()

    def __repr__(self) -> str:
        return f"ScanMetrics({self.snapshot()})"


def source_paths(source: Source) -> list[str]:
    """``source`` as a list of path strings (files, directories or globs)."""
    if isinstance(source, (str, os.PathLike)):
        return [os.fspath(source)]
    paths = [os.fspath(s) for s in source]
    if not paths:
        msg = "scan_adaptive: `source` is an empty list"
        raise ValueError(msg)
    return paths


def scan_adaptive(
    source: Source,
    *,
    memory_budget: int | None = None,
    use_statistics: bool = True,
    use_bloom_filters: bool = True,
    use_page_index: bool = True,
    mmap_mode: Literal["auto", "always", "never"] = "auto",
    max_open_files: int | None = None,
    row_index_name: str | None = None,
    row_index_offset: int = 0,
    include_file_paths: str | None = None,
    metrics: ScanMetrics | None = None,
) -> pl.LazyFrame:
    """Lazily read Parquet files through polars-adaptive's reader.

    The answer is the one ``pl.scan_parquet`` gives on the same files: same rows, order,
    dtypes and nulls. Row groups are skipped from footer statistics, bloom filters and the
    page index; the predicate's columns are decoded first and the others only for the rows
    kept; batches are decoded in Rust, ahead of Polars, within ``memory_budget``.

    Parameters
    ----------
    source
        A file, a directory (its ``*.parquet`` files, sorted), a glob, or a list of them.
    memory_budget
        Bytes the scan's decoded batches may hold at once (default: the container's or
        machine's available memory).
    use_statistics, use_bloom_filters, use_page_index
        Which pruning to use.
    mmap_mode
        ``"auto"`` maps files on local filesystems and reads others with ``pread``;
        ``"never"`` for files others may truncate while they are read.
    max_open_files
        Files open at once.
    row_index_name, row_index_offset
        Add a row index column, as ``scan_parquet``'s ``row_index_name``/``_offset``.
    include_file_paths
        Add a column of each row's file path.
    metrics
        A :class:`ScanMetrics` to count into.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_adaptive as pa
    >>> pl.DataFrame({"id": [1, 2, 3], "v": ["a", "b", "c"]}).write_parquet("/tmp/doc.parquet")
    >>> pa.scan_adaptive("/tmp/doc.parquet").filter(pl.col("id") >= 2).collect()
    shape: (2, 2)
    ┌─────┬─────┐
    │ id  ┆ v   │
    │ --- ┆ --- │
    │ i64 ┆ str │
    ╞═════╪═════╡
    │ 2   ┆ b   │
    │ 3   ┆ c   │
    └─────┴─────┘
    """
    paths = source_paths(source)
    spec = _native.ScanSpec(
        paths,
        memory_budget=memory_budget,
        use_statistics=use_statistics,
        use_bloom_filters=use_bloom_filters,
        use_page_index=use_page_index,
        mmap_mode=mmap_mode,
        max_open_files=max_open_files,
        row_index_name=row_index_name,
        row_index_offset=row_index_offset,
        include_file_paths=include_file_paths,
        metrics=metrics._native if metrics is not None else None,
    )
    shown = paths[0] if len(paths) == 1 else f"{paths[0]} and {len(paths) - 1} more"
    return lazy_frame(spec, shown)


def lazy_frame(spec: _native.ScanSpec, shown: str) -> pl.LazyFrame:
    """``spec`` as a Python Polars IO source; ``shown`` names it in ``explain()``."""
    schema = to_frame(spec.empty()).schema

    def io_source(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        return _open(spec, with_columns, predicate, n_rows, batch_size)

    extra = {}
    if _EXPLAIN:
        extra = {"explain_name": "ADAPTIVE PARQUET", "explain_detail": shown}
    return register_io_source(io_source, schema=schema, is_pure=True, **extra)


def _open(
    spec: _native.ScanSpec,
    with_columns: list[str] | None,
    predicate: pl.Expr | None,
    n_rows: int | None,
    batch_size: int | None,
) -> Iterator[pl.DataFrame]:
    pushed = push(predicate, with_columns)
    # Without a residual the Rust scan applies `n_rows`; with one, Python does.
    limit = n_rows if pushed.residual is None else None
    # Polars' `batch_size` is a hint, taken as a minimum: each unit the scan decodes (a row
    # group, or the part of one the memory budget allows) crosses whole, and units smaller
    # than the hint (small files) are stacked first, so Python Polars handles few morsels and
    # a unit is never cut. docs/decisions.md, "Whole units cross into Python".
    stream = spec.open(
        columns=pushed.columns, predicate=pushed.json, n_rows=limit, min_rows=batch_size
    )
    if pushed.residual is None:
        return frames(stream)
    return frames(stream, residual=pushed.residual, columns=with_columns, n_rows=n_rows)
