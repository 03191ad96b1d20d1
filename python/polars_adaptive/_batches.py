"""Batches from the native module as Polars frames."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from polars_adaptive._native import ArrowBatch, BatchStream


def to_frame(batch: ArrowBatch) -> pl.DataFrame:
    """One batch, imported through the Arrow C stream interface (no copy)."""
    if batch.width == 0:
        # Arrow's record batches cannot carry a height without columns.
        return pl.DataFrame(height=batch.height)
    # The stream is one struct column; unnesting the Series is one native call. Python
    # Polars 1.x's `pl.DataFrame(batch)` unnests it through the lazy engine instead: 52 µs a
    # batch against 9-11 µs (2.x makes that call itself).
    return pl.Series(batch).struct.unnest()


def frames(
    stream: BatchStream,
    *,
    residual: pl.Expr | None = None,
    columns: list[str] | None = None,
    n_rows: int | None = None,
) -> Iterator[pl.DataFrame]:
    """The stream's frames; with a residual predicate, each is filtered, projected to
    ``columns`` and the total cut at ``n_rows`` here. Closing the generator (or dropping it)
    stops the Rust read-ahead."""
    remaining = n_rows
    try:
        if remaining == 0:
            return
        for batch in stream:
            df = to_frame(batch)
            if residual is not None:
                df = df.filter(residual)
                if columns == []:
                    df = pl.DataFrame(height=df.height)
                elif columns is not None:
                    df = df.select(columns)
                if remaining is not None:
                    df = df.head(remaining)
                    remaining -= df.height
            yield df
            if remaining == 0:
                return
    finally:
        stream.close()
