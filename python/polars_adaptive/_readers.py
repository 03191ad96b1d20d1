"""The design document's readers, for Python: ``AdaptiveStreamingReader`` (one file, batches
within a memory budget), ``ParallelStreamReader`` (many files decoded in parallel, in file
order) and ``MemoryManager``'s figures. Builders return a new reader, as in Polars."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import polars as pl

from polars_adaptive import _native
from polars_adaptive._batches import frames, to_frame
from polars_adaptive._predicate import push
from polars_adaptive._scan import Source, source_paths


class MemoryManager:
    """The memory readers may use: the smallest of ``budget``, the container's cgroup limit and
    the machine's available memory.

    Examples
    --------
    >>> import polars_adaptive as pa
    >>> pa.MemoryManager(budget=256 << 20).limit_bytes
    268435456
    """

    def __init__(self, budget: int | None = None) -> None:
        self._budget = budget

    def figures(self) -> dict[str, Any]:
        """``budget``, ``limit_bytes``, ``available_bytes``, ``current_usage_bytes`` and
        ``peak_usage_bytes``, read now."""
        return _native.memory_figures(self._budget)

    @property
    def budget(self) -> int | None:
        return self._budget

    @property
    def limit_bytes(self) -> int:
        """Bytes a reader may hold at once."""
        return int(self.figures()["limit_bytes"])

    @property
    def available_bytes(self) -> int:
        return int(self.figures()["available_bytes"])

    def __repr__(self) -> str:
        return f"MemoryManager({self.figures()})"


class _Reader:
    _parallel = False

    def __init__(self, paths: list[str]) -> None:
        self._paths = paths
        self._projection: list[str] | None = None
        self._predicate: pl.Expr | None = None
        self._memory_budget: int | None = None
        self._chunk_rows: int | None = None
        self._max_open_files: int | None = None
        self._mmap_mode = "auto"
        self._last: _native.NativeReader | None = None

    def _with(self, **changes: Any) -> Any:
        new = copy.copy(self)
        for key, value in changes.items():
            setattr(new, f"_{key}", value)
        new._last = None
        return new

    def with_projection(self, columns: Sequence[str]) -> Any:
        """Read only ``columns``, in this order."""
        return self._with(projection=list(columns))

    def with_predicate(self, predicate: pl.Expr) -> Any:
        """Keep the rows where ``predicate`` is true; row groups it rules out are skipped.
        Called again, the predicates are and-ed."""
        if self._predicate is not None:
            predicate = self._predicate & predicate
        return self._with(predicate=predicate)

    def with_memory_budget(self, bytes: int) -> Any:  # noqa: A002 - the design's name
        """Decoded batches in flight stay within ``bytes``."""
        return self._with(memory_budget=bytes)

    def with_chunk_rows(self, rows: int) -> Any:
        """Batches of ``rows`` rows (``ChunkPolicy.Rows``) instead of sizes fit to memory."""
        return self._with(chunk_rows=rows)

    def with_mmap_mode(self, mode: Literal["auto", "always", "never"]) -> Any:
        return self._with(mmap_mode=mode)

    def batches(self) -> Iterator[pl.DataFrame]:
        """The batches, in file order then row order."""
        pushed = push(self._predicate, self._projection)
        native = _native.NativeReader(
            self._paths,
            parallel=self._parallel,
            projection=pushed.columns,
            predicate=pushed.json,
            memory_budget=self._memory_budget,
            chunk_rows=self._chunk_rows,
            max_open_files=self._max_open_files,
            mmap_mode=self._mmap_mode,
        )
        self._last = native
        return frames(native.batches(), residual=pushed.residual, columns=self._projection)

    def collect(self) -> pl.DataFrame:
        """Every batch in one frame."""
        parts = list(self.batches())
        if not parts:
            return pl.DataFrame(schema=self.schema())
        return pl.concat(parts, how="vertical")

    def schema(self) -> pl.Schema:
        """The output schema."""
        lf = _scan_schema(self._paths)
        if self._projection is not None:
            return pl.Schema({c: lf[c] for c in self._projection})
        return lf

    def metrics(self) -> dict[str, int]:
        """What the last ``batches()``/``collect()`` did so far (empty before one)."""
        return self._last.metrics() if self._last is not None else {}

    def memory_manager(self) -> dict[str, Any]:
        """The last read's memory figures (``peak_usage_bytes`` of its batches)."""
        if self._last is not None:
            return self._last.memory()
        return _native.memory_figures(self._memory_budget)


def _scan_schema(paths: list[str]) -> pl.Schema:
    return to_frame(_native.ScanSpec(paths).empty()).schema


class AdaptiveStreamingReader(_Reader):
    """One Parquet file read in batches whose decoded size stays within a memory budget.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_adaptive as pa
    >>> pl.DataFrame({"symbol": ["AAPL", "MSFT"], "price": [1.0, 2.0]}).write_parquet(
    ...     "/tmp/doc_trades.parquet"
    ... )
    >>> reader = (
    ...     pa.AdaptiveStreamingReader("/tmp/doc_trades.parquet")
    ...     .with_projection(["symbol", "price"])
    ...     .with_predicate(pl.col("symbol") == "AAPL")
    ...     .with_memory_budget(256 << 20)
    ... )
    >>> sum(batch.height for batch in reader.batches())
    1
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__([os.fspath(path)])


class ParallelStreamReader(_Reader):
    """Many Parquet files (a list, a directory or a glob) decoded in parallel on the Rust pool,
    returned in file order then row order, with a bounded number of files open.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_adaptive as pa
    >>> for i in range(3):
    ...     pl.DataFrame({"i": [i]}).write_parquet(f"/tmp/doc_part_{i}.parquet")
    >>> pa.ParallelStreamReader("/tmp/doc_part_*.parquet").collect()["i"].to_list()
    [0, 1, 2]
    """

    _parallel = True

    def __init__(self, source: Source) -> None:
        super().__init__(source_paths(source))

    def with_max_open_files(self, files: int) -> ParallelStreamReader:
        """Files open at once."""
        result: ParallelStreamReader = self._with(max_open_files=files)
        return result
