"""Bad input raises a clear Python exception; nothing panics, hangs or drops rows."""

from __future__ import annotations

import _thread
import threading
from pathlib import Path

import polars as pl
import pytest

import polars_adaptive as pa


def test_errors_are_compute_errors_of_polars() -> None:
    assert issubclass(pa.AdaptiveError, pl.exceptions.ComputeError)


def test_a_non_parquet_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "notes.parquet"
    path.write_text("this is not parquet, just text long enough to hold a footer")
    with pytest.raises(pa.AdaptiveError, match="notes.parquet"):
        pa.scan_adaptive(path)


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(pa.AdaptiveError, match="absent.parquet"):
        pa.scan_adaptive(tmp_path / "absent.parquet")


def test_a_corrupt_page_header_is_an_error_naming_file_row_group_and_column(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.parquet"
    pl.DataFrame({"a": list(range(10_000)), "b": ["x" * 20] * 10_000}).write_parquet(
        path, compression="zstd", statistics=False
    )
    data = bytearray(path.read_bytes())
    # The first page header of column "a" starts after the magic bytes.
    data[4:24] = b"\xff" * 20
    path.write_bytes(bytes(data))
    # Through the IO source, Polars re-raises our AdaptiveError as a ComputeError carrying
    # its message; the readers raise AdaptiveError itself.
    with pytest.raises(pl.exceptions.ComputeError, match=r"c\.parquet: row group 0, column 'a'"):
        pa.scan_adaptive(path).collect()
    with pytest.raises(pa.AdaptiveError, match=r"c\.parquet: row group 0, column 'a'"):
        pa.AdaptiveStreamingReader(path).collect()


def test_the_shared_corpus_bad_files_raise_or_read_never_crash(shared_corpus: Path) -> None:
    bad = sorted((shared_corpus / "bad_data").glob("*.parquet"))
    assert bad
    for path in bad:
        try:
            pa.scan_adaptive(path).collect()
        except pl.exceptions.PolarsError as e:
            assert str(e)


def test_files_whose_schemas_differ_are_an_error_naming_the_file(tmp_path: Path) -> None:
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "1.parquet")
    pl.DataFrame({"b": ["x"]}).write_parquet(tmp_path / "2.parquet")
    with pytest.raises(pl.exceptions.ComputeError, match=r"2\.parquet: schema differs"):
        pa.scan_adaptive(tmp_path).collect()


def test_an_unknown_column_is_polars_own_error(tmp_path: Path) -> None:
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "1.parquet")
    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        pa.scan_adaptive(tmp_path).filter(pl.col("nope") > 1).collect()


def test_a_bad_mmap_mode_is_an_error() -> None:
    with pytest.raises(pa.AdaptiveError, match="mmap_mode"):
        pa.scan_adaptive("x.parquet", mmap_mode="sometimes")  # type: ignore[arg-type]


def test_keyboard_interrupt_stops_a_long_read(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    n = 2_000_000
    pl.DataFrame({"a": pl.int_range(n, eager=True), "s": pl.int_range(n, eager=True).cast(
        pl.String)}).write_parquet(path, row_group_size=10_000)
    reader = pa.AdaptiveStreamingReader(path).with_chunk_rows(10_000)
    batches = reader.batches()
    next(batches)
    timer = threading.Timer(0.05, _thread.interrupt_main)
    timer.start()
    read = 0
    with pytest.raises(KeyboardInterrupt):
        for batch in batches:
            read += batch.height
            # Slow consumer: the interrupt arrives while Python waits or works.
            threading.Event().wait(0.01)
    timer.cancel()
    assert read < n
