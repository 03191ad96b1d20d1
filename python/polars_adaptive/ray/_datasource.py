"""``read_adaptive``: a Ray Data ``Datasource`` with one read task per split."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
import pyarrow as pa
from ray.data import Dataset, read_datasource
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from polars_adaptive._scan import Source
from polars_adaptive._splits import DEFAULT_SPLIT_BYTES, Split, plan_splits
from polars_adaptive.ray._expr import to_polars
from polars_adaptive.ray._tasks import TASK_ENV, kill_once


class AdaptiveDatasource(Datasource):
    """Parquet files read through polars-adaptive, one Ray read task per split.

    The splits are planned once, here, with ``columns`` and ``filter``; a projection or
    filter Ray pushes down later narrows what each task reads, never the planning. A Ray
    filter that cannot be written as a Polars expression is left to Ray.
    """

    def __init__(
        self,
        source: Source,
        *,
        columns: Sequence[str] | None = None,
        filter: pl.Expr | None = None,  # noqa: A002 - Ray's and Polars' name for it
        memory_budget: int | None = None,
        target_split_bytes: int = DEFAULT_SPLIT_BYTES,
        _fault_marker: str | None = None,
    ) -> None:
        super().__init__()
        self._splits = plan_splits(
            source,
            predicate=filter,
            columns=columns,
            target_split_bytes=target_split_bytes,
        )
        self._schema = _schema(source)
        self._columns = list(columns) if columns is not None else None
        self._filter = filter
        self._memory_budget = memory_budget
        self._projection_map: dict[str, str] | None = None
        self._fault_marker = _fault_marker

    @property
    def splits(self) -> list[Split]:
        """The splits planned, in order."""
        return list(self._splits)

    def get_name(self) -> str:
        return "AdaptiveParquet"

    def estimate_inmemory_data_size(self) -> int | None:
        return sum(s.decoded_bytes for s in self._splits)

    def supports_projection_pushdown(self) -> bool:
        return True

    def supports_predicate_pushdown(self) -> bool:
        return True

    def apply_predicate(self, predicate_expr: Any) -> AdaptiveDatasource:
        # Returning `self` tells Ray to keep its own filter.
        translated = to_polars(predicate_expr, self._schema)
        if translated is None:
            return self
        clone = super().apply_predicate(predicate_expr)
        assert isinstance(clone, AdaptiveDatasource)
        clone._filter = translated if self._filter is None else self._filter & translated
        return clone

    def _read_columns(self) -> list[str] | None:
        pushed = self._get_data_columns()
        if pushed is None:
            return self._columns
        if self._columns is None:
            return pushed
        return [c for c in self._columns if c in pushed]

    def get_read_tasks(
        self,
        parallelism: int,
        per_task_row_limit: int | None = None,
        data_context: Any = None,
    ) -> list[ReadTask]:
        del parallelism, data_context  # one task per split, planned in __init__
        columns = self._read_columns()
        names = columns if columns is not None else self._schema.names
        schema = pa.schema([self._schema.field(n) for n in names])
        exact_rows = self._filter is None
        if not self._splits:
            # Every row group ruled out: one task of no rows, so the dataset has a schema.
            empty = schema.empty_table()
            meta = BlockMetadata(num_rows=0, size_bytes=0, input_files=None, exec_stats=None)
            return [ReadTask(lambda: [empty], meta, schema=schema)]
        tasks = []
        for split in self._splits:
            meta = BlockMetadata(
                num_rows=split.rows if exact_rows else None,
                size_bytes=split.decoded_bytes,
                input_files=tuple(split.paths),
                exec_stats=None,
            )
            read = functools.partial(
                _read_split,
                split,
                columns,
                self._filter,
                self._memory_budget,
                self._fault_marker,
            )
            tasks.append(
                ReadTask(read, meta, schema=schema, per_task_row_limit=per_task_row_limit)
            )
        return tasks


def _schema(source: Source) -> pa.Schema:
    from polars_adaptive import scan_adaptive

    return _to_arrow(scan_adaptive(source).head(0).collect()).schema


def _to_arrow(df: pl.DataFrame) -> pa.Table:
    # Plain (large) strings rather than views: what Ray's own operators expect everywhere.
    return df.to_arrow(compat_level=pl.CompatLevel.oldest())


def _read_split(
    split: Split,
    columns: list[str] | None,
    predicate: pl.Expr | None,
    memory_budget: int | None,
    fault_marker: str | None,
) -> Iterable[Any]:
    if columns == []:
        # A count (Ray's `count()` pushes a projection of no columns).
        n = split.lazy(memory_budget=memory_budget)
        if predicate is not None:
            n = n.filter(predicate)
        rows = n.select(pl.len()).collect().item()
        # Ray counts the rows of an Arrow block of no columns as 0; a pandas frame of no
        # columns keeps its length (its index).
        import pandas as pd

        return [pd.DataFrame(index=pd.RangeIndex(rows))]
    table = _to_arrow(split.scan(columns, predicate, memory_budget))
    kill_once(fault_marker)
    return [table]


def read_adaptive(
    source: Source,
    *,
    columns: Sequence[str] | None = None,
    filter: pl.Expr | None = None,  # noqa: A002 - Ray's and Polars' name for it
    memory_budget: int | None = None,
    target_split_bytes: int = DEFAULT_SPLIT_BYTES,
    _fault_marker: str | None = None,
) -> Dataset:
    """Read Parquet files into a Ray Dataset, one read task per split.

    Splits are planned once, on the driver: every footer is read, row groups whose
    statistics rule out ``filter`` are dropped, and the rest are packed into splits of about
    ``target_split_bytes`` decoded bytes of ``columns``. Each task reads its split with the
    whole adaptive scan (bloom filters, page index, filter-first decode) and applies
    ``filter`` exactly. The rows are ``pl.scan_parquet(source).filter(filter).select(columns)``'s,
    in that order when Ray preserves order (``DataContext.execution_options.preserve_order``).
    Ray's own ``filter`` and ``select_columns`` are pushed into the read where Ray offers it.

    Parameters
    ----------
    source
        A file, a directory, a glob, or a list of them.
    columns
        Columns to read (all when ``None``).
    filter
        A Polars predicate.
    memory_budget
        Bytes each task's scan may hold.
    target_split_bytes
        Decoded bytes per split (and so per task).

    Examples
    --------
    >>> import polars as pl
    >>> import polars_adaptive.ray as par  # doctest: +SKIP
    >>> ds = par.read_adaptive("ticks/", filter=pl.col("side") == "BUY")  # doctest: +SKIP
    >>> ds.count()  # doctest: +SKIP
    """
    datasource = AdaptiveDatasource(
        source,
        columns=columns,
        filter=filter,
        memory_budget=memory_budget,
        target_split_bytes=target_split_bytes,
        _fault_marker=_fault_marker,
    )
    return read_datasource(datasource, runtime_env=TASK_ENV)
