"""The PyArrow streaming post's task in one call."""

from __future__ import annotations

import os
from collections.abc import Sequence

from polars_adaptive import _native
from polars_adaptive._scan import Source, source_paths


def first_n_per_group(
    source: Source,
    output: str | os.PathLike[str],
    *,
    group_by: str | Sequence[str],
    id: str,  # noqa: A002 - the column's role
    n: int,
    row_group_rows: int = 1 << 20,
    memory_budget: int | None = None,
) -> None:
    """Write every row of the first ``n`` distinct ids of each group to ``output`` (Parquet), in
    one streaming pass over ``source``.

    Rows stay in input order. Row groups of ``row_group_rows`` rows (default 1 Mi): the post's
    lesson is that small row groups make the output slow to read. The file appears under
    ``output`` only once complete.

    Examples
    --------
    >>> import polars as pl
    >>> import polars_adaptive as pa
    >>> pl.DataFrame({"g": [1, 1, 1, 2], "id": [7, 8, 9, 7]}).write_parquet("/tmp/doc_ids.parquet")
    >>> pa.first_n_per_group("/tmp/doc_ids.parquet", "/tmp/doc_sample.parquet", group_by="g", id="id", n=2)
    >>> pl.read_parquet("/tmp/doc_sample.parquet")["id"].to_list()
    [7, 8, 7]
    """
    groups = [group_by] if isinstance(group_by, str) else list(group_by)
    _native.first_n_per_group(
        source_paths(source),
        os.fspath(output),
        group_by=groups,
        id=id,
        n=n,
        row_group_rows=row_group_rows,
        memory_budget=memory_budget,
    )
