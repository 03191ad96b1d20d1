# Stubs of the Rust module (crates/polars-adaptive-python).
from collections.abc import Iterator
from os import PathLike
from typing import Any

# (path, first row group, end row group, file length, modified ns)
PartTuple = tuple[str, int, int, int, int | None]
# (seq, parts, first row, rows, compressed bytes, decoded bytes)
SplitTuple = tuple[int, list[PartTuple], int, int, int, int]

POLARS_VERSION: str

class ArrowBatch:
    @property
    def height(self) -> int: ...
    @property
    def width(self) -> int: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

class BatchStream(Iterator[ArrowBatch]):
    def __iter__(self) -> BatchStream: ...
    def __next__(self) -> ArrowBatch: ...
    def close(self) -> None: ...

class ScanMetrics:
    def __init__(self) -> None: ...
    def snapshot(self) -> dict[str, int]: ...

class ScanSpec:
    def __init__(
        self,
        sources: list[str] | list[PathLike[str]],
        *,
        memory_budget: int | None = None,
        use_statistics: bool = True,
        use_bloom_filters: bool = True,
        use_page_index: bool = True,
        mmap_mode: str = "auto",
        max_open_files: int | None = None,
        row_index_name: str | None = None,
        row_index_offset: int = 0,
        include_file_paths: str | None = None,
        metrics: ScanMetrics | None = None,
        split: SplitTuple | None = None,
    ) -> None: ...
    def empty(self) -> ArrowBatch: ...
    def open(
        self,
        columns: list[str] | None = None,
        predicate: str | None = None,
        n_rows: int | None = None,
        batch_size: int | None = None,
        min_rows: int | None = None,
        read_ahead: int = 2,
    ) -> BatchStream: ...

class NativeReader:
    def __init__(
        self,
        paths: list[str],
        *,
        parallel: bool,
        projection: list[str] | None = None,
        predicate: str | None = None,
        memory_budget: int | None = None,
        chunk_rows: int | None = None,
        max_open_files: int | None = None,
        mmap_mode: str = "auto",
    ) -> None: ...
    def batches(self, read_ahead: int = 2) -> BatchStream: ...
    def metrics(self) -> dict[str, int]: ...
    def memory(self) -> dict[str, Any]: ...

def set_error_class(cls: type[BaseException]) -> None: ...
def memory_figures(budget: int | None = None) -> dict[str, Any]: ...
def pushed_predicate(json: str) -> tuple[str | None, bool]: ...
def first_n_per_group(
    sources: list[str],
    output: str,
    *,
    group_by: list[str],
    id: str,
    n: int,
    row_group_rows: int,
    memory_budget: int | None = None,
) -> None: ...
def sql(
    query: str,
    tables: dict[str, list[str]],
    *,
    memory_budget: int | None = None,
    read_ahead: int = 2,
    metrics: ScanMetrics | None = None,
) -> BatchStream: ...
def plan_splits(
    sources: list[str],
    *,
    predicate: str | None = None,
    columns: list[str] | None = None,
    target_split_bytes: int = ...,
    use_statistics: bool = True,
    mmap_mode: str = "auto",
) -> list[SplitTuple]: ...
def sql_plan_splits(
    query: str, tables: dict[str, list[str]], *, target_split_bytes: int = ...
) -> tuple[str, list[str] | None, list[SplitTuple]]: ...
def sql_partial(
    query: str,
    table: str,
    split: SplitTuple,
    *,
    memory_budget: int | None = None,
) -> ArrowBatch: ...
def sql_merge(
    query: str,
    tables: dict[str, list[str]],
    partials: list[Any],
    *,
    compact_only: bool = False,
) -> ArrowBatch: ...
