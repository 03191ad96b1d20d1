"""Splits: a dataset cut into pieces of row groups, one task each (see ``polars_adaptive.ray``).

Planning happens once, in Rust: every footer is read (in parallel), row groups the predicate's
statistics rule out are dropped, and the rest are packed, in file then row-group order, into
splits of about ``target_split_bytes`` of decoded data. A ``Split`` is small and picklable; its
``scan`` runs the whole adaptive scan (bloom filters, page index, filter-first decode, the
exact filter) on its row groups alone, wherever it is sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from polars_adaptive import _native
from polars_adaptive._predicate import predicate_json
from polars_adaptive._scan import Source, lazy_frame, source_paths

DEFAULT_SPLIT_BYTES = 128 << 20
"""Ray Data's default target block size."""


@dataclass(frozen=True)
class SplitPart:
    """Row groups ``row_group_start`` to ``row_group_end`` (excluded) of one file, and the
    file's length and modification time (ns since the epoch) when the split was planned."""

    path: str
    row_group_start: int
    row_group_end: int
    file_len: int
    modified_ns: int | None


@dataclass(frozen=True)
class Split:
    """One piece of a dataset: row-group ranges of one or more files, in dataset order.

    Attributes
    ----------
    seq
        Position among the dataset's splits; their answers concatenate in this order.
    parts
        The files' row-group ranges.
    first_row
        The dataset row (all files in order, before any filter) the split starts at.
    rows
        Rows of the split's row groups, before any filter.
    compressed_bytes, decoded_bytes
        Bytes of the planned columns on disk and (estimated) decoded.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_adaptive as pa
    >>> pl.DataFrame({"id": range(10)}).write_parquet("/tmp/doc_split.parquet", row_group_size=4)
    >>> splits = pa.plan_splits("/tmp/doc_split.parquet", target_split_bytes=1)
    >>> [(s.first_row, s.rows) for s in splits]
    [(0, 4), (4, 4), (8, 2)]
    >>> splits[1].scan(predicate=pl.col("id") > 5)["id"].to_list()
    [6, 7]
    """

    seq: int
    parts: tuple[SplitPart, ...]
    first_row: int
    rows: int
    compressed_bytes: int
    decoded_bytes: int

    @property
    def paths(self) -> list[str]:
        """The split's files, in order."""
        return list(dict.fromkeys(p.path for p in self.parts))

    def native(self) -> tuple[Any, ...]:
        """The split as the Rust side takes it."""
        parts = [
            (p.path, p.row_group_start, p.row_group_end, p.file_len, p.modified_ns)
            for p in self.parts
        ]
        return (
            self.seq,
            parts,
            self.first_row,
            self.rows,
            self.compressed_bytes,
            self.decoded_bytes,
        )

    @classmethod
    def from_native(cls, t: tuple[Any, ...]) -> Split:
        seq, parts, first_row, rows, compressed, decoded = t
        return cls(
            seq,
            tuple(SplitPart(str(p[0]), p[1], p[2], p[3], p[4]) for p in parts),
            first_row,
            rows,
            compressed,
            decoded,
        )

    def lazy(self, *, memory_budget: int | None = None) -> pl.LazyFrame:
        """The split's row groups as a ``LazyFrame`` (an IO source, as ``scan_adaptive``).

        Raises
        ------
        AdaptiveError
            A file of the split changed or went away since planning (named).
        """
        spec = _native.ScanSpec(
            self.paths, memory_budget=memory_budget, split=self.native()
        )
        return lazy_frame(spec, f"split {self.seq} of {self.paths[0]}")

    def scan(
        self,
        columns: Sequence[str] | None = None,
        predicate: pl.Expr | None = None,
        memory_budget: int | None = None,
    ) -> pl.DataFrame:
        """The split's rows passing ``predicate``, of ``columns`` (all when ``None``)."""
        return _select(self.lazy(memory_budget=memory_budget), columns, predicate).collect()

    def batches(
        self,
        columns: Sequence[str] | None = None,
        predicate: pl.Expr | None = None,
        memory_budget: int | None = None,
    ) -> Iterator[pl.DataFrame]:
        """:meth:`scan`'s rows, batch by batch, never all held at once."""
        lf = _select(self.lazy(memory_budget=memory_budget), columns, predicate)
        if hasattr(lf, "collect_batches"):
            yield from lf.collect_batches()
        else:  # Python Polars before collect_batches
            yield lf.collect(engine="streaming")


def _select(
    lf: pl.LazyFrame, columns: Sequence[str] | None, predicate: pl.Expr | None
) -> pl.LazyFrame:
    if predicate is not None:
        lf = lf.filter(predicate)
    if columns is not None:
        lf = lf.select(list(columns))
    return lf


def plan_splits(
    source: Source,
    *,
    predicate: pl.Expr | None = None,
    columns: Sequence[str] | None = None,
    target_split_bytes: int = DEFAULT_SPLIT_BYTES,
) -> list[Split]:
    """Cut ``source`` (a file, a directory, a glob, or a list of them) into splits.

    Row groups whose footer statistics rule out ``predicate`` are left out; the others are
    packed in order into splits of at most ``target_split_bytes`` decoded bytes of
    ``columns`` (a row group larger than that is a split of its own). Each surviving row
    group is in exactly one split; concatenating the splits' scans in order gives the scan
    of the whole dataset.

    Raises
    ------
    AdaptiveError
        A file that cannot be read, files whose schemas differ, or a column not in them.
    """
    text = predicate_json(predicate) if predicate is not None else None
    tuples = _native.plan_splits(
        source_paths(source),
        predicate=text,
        columns=list(columns) if columns is not None else None,
        target_split_bytes=target_split_bytes,
    )
    return [Split.from_native(t) for t in tuples]
