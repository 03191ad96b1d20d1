"""`cargo xtask bench --ray`: SQL run split by split on a local Ray (2 CPUs) against the same
query in one process (`polars_adaptive.sql`, i.e. `collect_adaptive`) and against Ray Data's
own `read_parquet` with its `filter`/`groupby`/`sort`, on the ticks of `cargo xtask gen`.

- P1: VWAP by symbol of the BUY ticks (an aggregation: partial states merged on the driver).
- P10: the 100 latest ticks (a top-k: each split's top 100, merged).

Each engine runs in a process of its own (Ray engines with their own `ray.init(num_cpus=2)`),
one warm-up run first (it starts Ray's workers), then the timed runs. Time is from the call to
the answer on the driver; peak RSS is the sum of VmHWM over the measuring process and every
process it started (Ray's GCS, raylet and workers), an upper bound of the cluster's peak.
Per-split figures (splits, task time) are printed for the scale-out model (docs/scale-out.md).

Usage: bench_ray.py --data DIR --out DIR [--runs N] [--split-mib N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

P1 = (
    "SELECT symbol, SUM(price * volume) / SUM(volume) AS vwap FROM ticks "
    "WHERE side = 'BUY' GROUP BY symbol ORDER BY symbol"
)
P10 = "SELECT * FROM ticks ORDER BY timestamp DESC LIMIT 100"
QUERIES = {"P1": P1, "P10": P10}
ENGINES = ["single process", "polars-adaptive on Ray", "Ray Data read_parquet"]


def tree_hwm_kib(root: int) -> int:
    """VmHWM summed over `root` and its descendants (alive now)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def ray_data(query: str, glob: str) -> int:
    import ray.data as rd
    from ray.data.aggregate import Sum
    from ray.data.expressions import col

    folder = str(Path(glob).parent)  # read_parquet takes folders and files, not globs
    if query == "P1":
        ds = (
            rd.read_parquet(folder, columns=["symbol", "side", "price", "volume"])
            .filter(expr=col("side") == "BUY")
            .with_column("pv", col("price") * col("volume"))
            .groupby("symbol")
            .aggregate(Sum("pv"), Sum("volume"))
        )
        return ds.count()
    ds = rd.read_parquet(folder).sort("timestamp", descending=True).limit(100)
    return len(ds.take_all())


def model(glob: str, small: str, split_bytes: int) -> None:
    """The split-size model's figures: planning cost per file and per row group, one split's
    partial P1 in this process (one thread), and a Ray task's round trip."""
    import polars as pl
    import ray

    import polars_adaptive as pa
    from polars_adaptive import _native

    def best(f: Any, n: int = 3) -> float:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            f()
            times.append(time.perf_counter() - start)
        return min(times)

    out: dict[str, Any] = {}
    for name, g in (("ticks", glob), ("small", small)):
        files = sorted(Path(g).parent.glob(Path(g).name))
        if not files:
            continue
        import pyarrow.parquet as pq

        rgs = sum(pq.ParquetFile(f).num_row_groups for f in files)
        out[name] = {"files": len(files), "row_groups": rgs,
                     "plan_secs": best(lambda g=g: pa.plan_splits(g, target_split_bytes=split_bytes))}
    paths = {"ticks": [glob]}
    # P1's own splits: sized by the four columns it reads, pruned by its predicate.
    splits = [
        pa.Split.from_native(s)
        for s in _native.sql_plan_splits(P1, paths, target_split_bytes=split_bytes)[2]
    ]
    picked = splits[:: max(1, len(splits) // 5)][:5]
    task = [best(lambda s=s: _native.sql_partial(P1, "ticks", s.native()), 2) for s in picked]
    out["split"] = {"splits": len(splits), "rows": statistics.median(s.rows for s in splits),
                    "decoded_mib": statistics.median(s.decoded_bytes for s in splits) / 2**20,
                    "compressed_mib": statistics.median(s.compressed_bytes for s in splits) / 2**20,
                    "p1_partial_secs": statistics.median(task)}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    noop = ray.remote(lambda: None)
    ray.get(noop.remote())
    out["ray_task_secs"] = best(lambda: ray.get([noop.remote() for _ in range(100)]), 3) / 100
    out["ray_roundtrip_secs"] = best(lambda: ray.get(noop.remote()), 20)
    # A task's fixed cost, from P1 on Ray at two split sizes: the same decoding in more tasks.
    import polars_adaptive.ray as par

    sizes = {}
    for mib in (128, 512):
        par.sql(P1, paths, target_split_bytes=mib << 20)
        n = len(_native.sql_plan_splits(P1, paths, target_split_bytes=mib << 20)[2])
        sizes[mib] = (n, best(lambda mib=mib: par.sql(P1, paths, target_split_bytes=mib << 20)))
    (n_small, t_small), (n_large, t_large) = sizes[128], sizes[512]
    out["p1_ray"] = {str(k): v for k, v in sizes.items()}
    out["task_fixed_secs"] = (t_small - t_large) * 2 / max(1, n_small - n_large)
    print(json.dumps(out))


def child(engine: str, query: str, glob: str, runs: int, split_bytes: int) -> None:
    if engine == "model":
        model(glob, query, split_bytes)
        return
    sql = QUERIES[query]
    if engine != "single process":
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)

    def run() -> int:
        if engine == "single process":
            import polars_adaptive as pa

            return pa.sql(sql, {"ticks": glob}).height
        if engine == "polars-adaptive on Ray":
            import polars_adaptive.ray as par

            return par.sql(sql, {"ticks": glob}, target_split_bytes=split_bytes).height
        return ray_data(query, glob)

    start = time.perf_counter()
    if engine == "Ray Data read_parquet":
        # One pass over 100 M rows takes minutes: warm Ray up on one file, time one run.
        import ray.data as rd

        rd.read_parquet(sorted(Path(glob).parent.glob("*.parquet"))[0].as_posix()).count()
        runs = 1
    else:
        run()
    first = time.perf_counter() - start
    secs, rows = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        rows = run()
        secs.append(time.perf_counter() - start)
    extra: dict[str, Any] = {}
    if engine == "polars-adaptive on Ray":
        from polars_adaptive import _native

        _, _, splits = _native.sql_plan_splits(sql, {"ticks": [glob]}, target_split_bytes=split_bytes)
        extra = {"splits": len(splits), "split_mib": statistics.median(s[5] for s in splits) / 2**20}
    print(json.dumps({"secs": secs, "first": first, "rows": rows,
                      "peak_kib": tree_hwm_kib(os.getpid()), **extra}))


def in_child(
    engine: str, query: str, glob: str, runs: int, split_bytes: int, threads: int = 2
) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", engine, query, glob, str(runs), str(split_bytes)],
        capture_output=True, text=True, timeout=3600,
        env=dict(os.environ, POLARS_MAX_THREADS=str(threads)),
    )
    if done.returncode != 0:
        raise SystemExit(f"{engine} {query}: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=5)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--split-mib", type=int, default=512)
    a = parser.parse_args()
    if a.child:
        engine, query, glob, runs, split_bytes = a.child
        child(engine, query, glob, int(runs), int(split_bytes))
        return
    import polars as pl
    import ray

    glob = str(a.data / "ticks" / "*.parquet")
    rows = pl.scan_parquet(glob).select(pl.len()).collect().item()
    split_bytes = a.split_mib << 20
    results = {(q, e): in_child(e, q, glob, a.runs, split_bytes) for q in QUERIES for e in ENGINES}
    small = str(a.data / "small" / "*.parquet")
    m = in_child("model", small, glob, 1, split_bytes, threads=1)
    lines = [
        "# Ray benchmark",
        "",
        f"Written by `cargo xtask bench --ray` on {dt.date.today().isoformat()}: {rows:,} tick "
        f"rows under `{a.data}`, local Ray {ray.__version__} with `num_cpus=2` on this 2-core "
        f"machine, splits of {a.split_mib} MiB decoded; median of {a.runs} runs after one "
        f"warm-up run in the same process (the first run, which starts Ray's workers, is shown "
        f"apart); Ray Data's engine runs once after a warm-up read of one file (one pass takes "
        f"minutes), its first-run column is that warm-up. Peak RSS: VmHWM summed over the driver and every process it started (Ray's "
        f"GCS, raylet, workers), so an upper bound of the cluster's peak.",
        "",
        "| query | engine | time (s, median [min–max]) | ratio to single process | first run (s) | peak RSS (MiB) | note |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for q in QUERIES:
        base = statistics.median(results[(q, ENGINES[0])]["secs"])
        for e in ENGINES:
            r = results[(q, e)]
            secs = statistics.median(r["secs"])
            note = f"{r['rows']} rows"
            if "splits" in r:
                note += f"; {r['splits']} splits of {r['split_mib']:.0f} MiB"
            lines.append(
                f"| {q} | {e} | {secs:.3f} [{min(r['secs']):.3f}–{max(r['secs']):.3f}] | "
                f"{secs / base:.2f}x | {r['first']:.3f} | {r['peak_kib'] / 1024:.0f} | {note} |"
            )
    lines += ["", "Queries:", "", f"- P1: `{P1}`", f"- P10: `{P10}`"]
    lines += [
        "",
        "Figures of the split-size model (docs/scale-out.md), one thread, best of 3:",
        "",
        "| figure | value |",
        "| --- | --- |",
    ]
    for name in ("ticks", "small"):
        if name in m:
            d = m[name]
            lines.append(
                f"| planning `{name}` ({d['files']} files, {d['row_groups']} row groups) | "
                f"{d['plan_secs'] * 1e3:.1f} ms ({d['plan_secs'] / d['files'] * 1e3:.3f} ms per file, "
                f"{d['plan_secs'] / d['row_groups'] * 1e6:.1f} µs per row group) |"
            )
    sp = m["split"]
    lines += [
        f"| P1's splits at {a.split_mib} MiB | {sp['splits']}: median {sp['rows']:,.0f} rows, "
        f"{sp['decoded_mib']:.0f} MiB decoded, {sp['compressed_mib']:.0f} MiB compressed |",
        f"| P1's partial answer of one split, in process (median of 5 splits) | "
        f"{sp['p1_partial_secs'] * 1e3:.0f} ms "
        f"({sp['decoded_mib'] / sp['p1_partial_secs']:.0f} MiB/s decoded) |",
        f"| a Ray task, no-op, 100 in flight | {m['ray_task_secs'] * 1e3:.2f} ms each |",
        f"| a Ray task's round trip, alone | {m['ray_roundtrip_secs'] * 1e3:.2f} ms |",
        f"| P1 on Ray, 128 MiB splits | {m['p1_ray']['128'][1]:.3f} s ({m['p1_ray']['128'][0]} splits) |",
        f"| P1 on Ray, 512 MiB splits | {m['p1_ray']['512'][1]:.3f} s ({m['p1_ray']['512'][0]} splits) |",
        f"| a task's fixed cost (the difference, 2 CPUs, per extra task) | "
        f"{m['task_fixed_secs'] * 1e3:.1f} ms |",
    ]

    a.out.mkdir(parents=True, exist_ok=True)
    report = a.out / "benchmarks-ray.md"
    kept = report.read_text().partition("\n## Analysis")[1:] if report.exists() else ("", "")
    report.write_text("\n".join(lines) + "\n" + "".join(kept))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
