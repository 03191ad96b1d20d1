"""polars-adaptive for Python: adaptive, memory-mapped Parquet scans for Polars.

``scan_adaptive`` is a Polars IO source: every ``LazyFrame`` operation and engine works on it,
and its answers are ``pl.scan_parquet``'s. The decoding runs in Rust (polars-adaptive on Rust
Polars 0.55.2, compiled into this package), which skips row groups from statistics, bloom
filters and the page index and decodes filter columns first.

Examples
--------
>>> import polars as pl
>>> import polars_adaptive as pa
>>> pl.DataFrame({"g": ["a", "b", "a"], "x": [1, 2, 3]}).write_parquet("/tmp/doc_init.parquet")
>>> (
...     pa.scan_adaptive("/tmp/doc_init.parquet")
...     .group_by("g")
...     .agg(pl.col("x").sum())
...     .sort("g")
...     .collect(engine="streaming")
... )
shape: (2, 2)
┌─────┬─────┐
│ g   ┆ x   │
│ --- ┆ --- │
│ str ┆ i64 │
╞═════╪═════╡
│ a   ┆ 4   │
│ b   ┆ 2   │
└─────┴─────┘
"""

from __future__ import annotations

import os

import polars as pl

# The Rust pool (Rust Polars 0.55.2 inside this package) sizes itself from
# POLARS_MAX_THREADS when it starts; give it Python Polars' size, so a scan decodes with the
# threads Python Polars was allowed. Set before the native module is loaded.
os.environ.setdefault("POLARS_MAX_THREADS", str(pl.thread_pool_size()))

from polars_adaptive._cpu import check_cpu  # noqa: E402

check_cpu()

from polars_adaptive import _native  # noqa: E402
from polars_adaptive._readers import (  # noqa: E402
    AdaptiveStreamingReader,
    MemoryManager,
    ParallelStreamReader,
)
from polars_adaptive._sample import first_n_per_group  # noqa: E402
from polars_adaptive._scan import ScanMetrics, scan_adaptive  # noqa: E402
from polars_adaptive._splits import Split, SplitPart, plan_splits  # noqa: E402
from polars_adaptive._sql import sql  # noqa: E402


class AdaptiveError(pl.exceptions.ComputeError):
    """An error of polars-adaptive's Rust side: a corrupt or unreadable file (named, with row
    group and column where they apply), files whose schemas differ, a budget too small, or an
    internal panic (reported, never raised as ``PanicException``)."""


_native.set_error_class(AdaptiveError)

__all__ = [
    "AdaptiveError",
    "AdaptiveStreamingReader",
    "MemoryManager",
    "ParallelStreamReader",
    "ScanMetrics",
    "Split",
    "SplitPart",
    "first_n_per_group",
    "plan_splits",
    "scan_adaptive",
    "sql",
]
__version__ = "0.1.0"
