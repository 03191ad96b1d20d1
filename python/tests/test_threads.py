"""Several scans in one plan, and scans from several Python threads at once, finish, on one
and two Polars threads (each run in a child process with a timeout, as a hang would block)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent(
    """
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


@pytest.mark.parametrize("threads", ["1", "2"])
def test_multi_scan_plans_and_concurrent_scans_finish(tmp_path: Path, threads: str) -> None:
    env = dict(os.environ, POLARS_MAX_THREADS=threads)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"
