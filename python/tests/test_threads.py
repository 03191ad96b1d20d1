"""Several scans in one plan, and scans from several Python threads at once, finish, on one
and two Polars threads (each run in a child process with a timeout, as a hang would block)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Four files of 40,000 rows (`k` in 0..100, `v` the row), two scans of each reader.
FILES = """
import sys
from concurrent.futures import ThreadPoolExecutor
import polars as pl
import polars_adaptive as pa

folder = sys.argv[1]
for i in range(4):
    pl.DataFrame({"k": pl.int_range(i, 40_000 + i, eager=True) % 100,
                  "v": pl.int_range(40_000, eager=True)}).write_parquet(
        f"{folder}/t{i}.parquet", row_group_size=4_000)
a = pa.scan_adaptive(f"{folder}/t0.parquet")
b = pa.scan_adaptive(f"{folder}/t1.parquet")
sa = pl.scan_parquet(f"{folder}/t0.parquet")
sb = pl.scan_parquet(f"{folder}/t1.parquet")
"""

CHILD = FILES + textwrap.dedent(
    """
    for engine in ["in-memory", "streaming"]:
        joined = a.join(b, on="v").group_by("k").agg(pl.len()).sort("k").collect(engine=engine)
        stock = sa.join(sb, on="v").group_by("k").agg(pl.len()).sort("k").collect(engine=engine)
        assert joined.equals(stock), engine
        both = pl.concat([a, b]).filter(pl.col("k") < 5).collect(engine=engine)
        assert both.equals(pl.concat([sa, sb]).filter(pl.col("k") < 5).collect(engine=engine))

    def one(i):
        lf = pa.scan_adaptive(f"{folder}/t{i % 4}.parquet").filter(pl.col("k") == i % 100)
        return lf.select(pl.col("v").sum()).collect().item()

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(one, range(32)))
    want = [pl.scan_parquet(f"{folder}/t{i % 4}.parquet").filter(pl.col("k") == i % 100)
            .select(pl.col("v").sum()).collect().item() for i in range(32)]
    assert got == want
    print("ok")
    """
)

# One scan, then two in one plan, on both engines; no concurrent queries: stock Python Polars
# 2.1.0 itself hangs on `CHILD`'s eight with so small a blocking pool.
SMALL_POOL_CHILD = FILES + textwrap.dedent(
    """
    for engine in ["in-memory", "streaming"]:
        q = lambda lf: lf.filter(pl.col("k") == 7).select(pl.col("v").sum())
        assert q(a).collect(engine=engine).equals(q(sa).collect(engine=engine))
        both = pl.concat([a, b]).filter(pl.col("k") < 5).collect(engine=engine)
        assert both.equals(pl.concat([sa, sb]).filter(pl.col("k") < 5).collect(engine=engine))
    print("ok")
    """
)


def run_child(code: str, folder: Path, timeout: int, **env: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", code, str(folder)],
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize("threads", ["1", "2"])
def test_multi_scan_plans_and_concurrent_scans_finish(tmp_path: Path, threads: str) -> None:
    run_child(CHILD, tmp_path, 240, POLARS_MAX_THREADS=threads)


@pytest.mark.parametrize("blocking", ["1", "2"])
def test_scans_finish_when_polars_blocking_pool_is_small(tmp_path: Path, blocking: str) -> None:
    # Producers run on Polars' blocking pool only while they hold at most half of it: a
    # producer waiting on another queued behind a full pool would never finish (both sizes
    # hung before `spawn_producer`).
    run_child(
        SMALL_POOL_CHILD, tmp_path, 120, POLARS_MAX_THREADS="2",
        POLARS_MAX_BLOCKING_THREAD_COUNT=blocking,
    )
