"""Shared settings and helpers of the pytest suite (run by `cargo xtask test` against the
installed wheel, in one virtual environment per supported Python Polars)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# CI runs the same examples every time (a failure there replays); elsewhere hypothesis draws
# new ones on every run. `HYPOTHESIS_PROFILE=explore` draws new ones in CI too.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "explore",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "explore")
)

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "parquet-testing"


@pytest.fixture
def shared_corpus() -> Path:
    """The shared Parquet corpus; tests using it are skipped when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared/parquet-testing is absent")
    return SHARED


def write_ticks(folder: Path, files: int, rows: int, row_group_size: int) -> str:
    """``files`` Parquet files of ``rows`` ticks each, written by Python Polars in row groups
    of ``row_group_size``, with nulls in ``price``, ``qty`` and ``venue``; returns their glob."""
    import polars as pl

    folder.mkdir(parents=True, exist_ok=True)
    symbols = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA"]
    for f in range(files):
        i = pl.col("id")
        mix = (i * 2654435761) % 1_000_003
        df = pl.DataFrame({"id": pl.int_range(f * rows, (f + 1) * rows, eager=True)}).select(
            "id",
            symbol=pl.lit(pl.Series(symbols)).get(mix % 5),
            price=pl.when(i % 17 != 3).then(100.0 + (mix % 10_000) / 100.0),
            qty=pl.when(i % 11 != 5).then(((mix // 7) % 500).cast(pl.Int32)),
            ts=pl.from_epoch(1_700_000_000_000 + i * 1000, time_unit="ms").dt.cast_time_unit("ms"),
            venue=pl.when(i % 7 != 0).then(
                pl.when(i % 3 == 0).then(pl.lit("XNAS")).otherwise(pl.lit("ARCX"))
            ),
        )
        df.write_parquet(folder / f"part-{f}.parquet", row_group_size=row_group_size)
    return str(folder / "part-*.parquet")


# Statements of the SQL and Flight SQL tests, each with its row order defined.
STATEMENTS = [
    "SELECT * FROM ticks",
    "SELECT id, price FROM ticks WHERE qty > 250",
    "SELECT * FROM ticks WHERE symbol = 'MSFT' AND price BETWEEN 120 AND 150",
    "SELECT id, venue FROM ticks WHERE symbol IN ('AAPL', 'NVDA') OR qty IS NULL",
    "SELECT id FROM ticks WHERE venue LIKE 'XN%' AND id >= 7000",
    "SELECT id, price * qty AS notional FROM ticks WHERE NOT (price < 150) AND id < 12000",
    "SELECT symbol, SUM(qty) AS q, AVG(price) AS p, MIN(ts) AS first, MAX(ts) AS last, "
    "COUNT(*) AS n, COUNT(qty) AS nq FROM ticks GROUP BY symbol ORDER BY symbol",
    "SELECT MIN(id) AS lo, MAX(id) AS hi, COUNT(*) AS n FROM ticks",
    "SELECT * FROM ticks ORDER BY price DESC, id LIMIT 10",
    "SELECT id, symbol FROM ticks LIMIT 5",
    "SELECT COUNT(*) AS n FROM ticks WHERE symbol = 'GOOG'",
    "SELECT symbol, venue, COUNT(DISTINCT qty) AS k FROM ticks GROUP BY symbol, venue "
    "ORDER BY symbol, venue",
    "WITH big AS (SELECT symbol, qty FROM ticks WHERE qty > 400) "
    "SELECT symbol, COUNT(*) AS n FROM big GROUP BY symbol ORDER BY n DESC, symbol",
    "SELECT DISTINCT symbol FROM ticks ORDER BY symbol",
    "SELECT DISTINCT venue, symbol FROM ticks WHERE qty > 100 ORDER BY venue NULLS FIRST, symbol",
    "SELECT * FROM ticks WHERE id < 0",
]

# Statements whose plans do not stream (a full sort needs all rows at once): answered without
# a memory budget, refused under one.
UNSTREAMABLE = ["SELECT id, price FROM ticks ORDER BY price, id"]


def stock_sql(glob: str, query: str):
    """Python Polars' own SQLContext over ``pl.scan_parquet``: the reference."""
    import polars as pl

    return pl.SQLContext({"ticks": pl.scan_parquet(glob)}).execute(query).collect()
