"""The design document's readers, MemoryManager, and the PyArrow post's subsample."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import polars_adaptive as pa


@pytest.fixture
def ticks(tmp_path: Path) -> Path:
    n = 50_000
    df = pl.DataFrame(
        {
            "symbol": [f"S{i % 13}" for i in range(n)],
            "price": [float(i % 997) for i in range(n)],
            "volume": pl.int_range(n, eager=True),
        }
    )
    path = tmp_path / "ticks.parquet"
    df.write_parquet(path, row_group_size=5_000)
    return path


def test_adaptive_streaming_reader_returns_the_file_in_batches(ticks: Path) -> None:
    reader = pa.AdaptiveStreamingReader(ticks).with_chunk_rows(4_000)
    batches = list(reader.batches())
    assert len(batches) > 10
    assert max(b.height for b in batches) <= 4_000
    assert_frame_equal(pl.concat(batches), pl.read_parquet(ticks))
    assert reader.metrics()["rows_decoded"] == 50_000


def test_reader_projection_and_predicate_match_polars(ticks: Path) -> None:
    predicate = (pl.col("symbol") == "S3") & (pl.col("volume") > 20_000)
    reader = (
        pa.AdaptiveStreamingReader(ticks)
        .with_projection(["price", "symbol"])
        .with_predicate(predicate)
        .with_memory_budget(8 << 20)
    )
    expected = pl.read_parquet(ticks).filter(predicate).select("price", "symbol")
    assert_frame_equal(reader.collect(), expected)
    assert reader.metrics()["row_groups_pruned"] == 4


def test_reader_with_a_predicate_the_parser_does_not_know(ticks: Path) -> None:
    predicate = (pl.col("volume") % 1000) == 0
    reader = pa.AdaptiveStreamingReader(ticks).with_projection(["price"]).with_predicate(predicate)
    expected = pl.read_parquet(ticks).filter(predicate).select("price")
    assert_frame_equal(reader.collect(), expected)


def test_parallel_stream_reader_keeps_file_order(tmp_path: Path) -> None:
    for i in range(6):
        pl.DataFrame({"i": pl.int_range(i * 1000, (i + 1) * 1000, eager=True)}).write_parquet(
            tmp_path / f"p{i}.parquet", row_group_size=100
        )
    reader = pa.ParallelStreamReader(str(tmp_path / "p*.parquet")).with_max_open_files(2)
    assert reader.collect()["i"].to_list() == list(range(6000))
    assert reader.metrics()["files_total"] == 6


def test_memory_manager_reports_the_budget() -> None:
    m = pa.MemoryManager(budget=64 << 20)
    assert m.limit_bytes == 64 << 20
    assert m.figures()["budget"] == 64 << 20
    assert pa.MemoryManager().limit_bytes > 0


def test_a_reader_abandoned_after_one_batch_stops(ticks: Path) -> None:
    reader = pa.AdaptiveStreamingReader(ticks).with_chunk_rows(1_000)
    batches = reader.batches()
    first = next(batches)
    assert first.height == 1_000
    del batches
    decoded = reader.metrics()["rows_decoded"]
    # Read-ahead is bounded: far from the whole file was decoded.
    assert decoded < 50_000


def test_first_n_per_group_matches_a_polars_reference(tmp_path: Path) -> None:
    n = 30_000
    df = pl.DataFrame(
        {
            "g": [i % 17 for i in range(n)],
            "id": [(i * 7) % 101 for i in range(n)],
            "v": pl.int_range(n, eager=True),
        }
    )
    src = tmp_path / "in.parquet"
    df.write_parquet(src, row_group_size=3_000)
    out = tmp_path / "sample.parquet"
    pa.first_n_per_group(src, out, group_by="g", id="id", n=3, row_group_rows=1 << 20)
    admitted = (
        df.unique(subset=["g", "id"], keep="first", maintain_order=True)
        .group_by("g", maintain_order=True)
        .head(3)
        .select("g", "id")
    )
    expected = df.join(admitted, on=["g", "id"], how="semi", maintain_order="left")
    assert_frame_equal(pl.read_parquet(out), expected)
    # One row group: the post's lesson (large row groups).
    import pyarrow.parquet as pq

    assert pq.ParquetFile(out).metadata.num_row_groups == 1
