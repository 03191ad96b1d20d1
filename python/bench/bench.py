"""`cargo xtask bench --python`: polars_adaptive against Python Polars' `pl.scan_parquet`
(streaming and in-memory), DuckDB's `read_parquet` (result as a Polars frame) and PyArrow's
`dataset(...).to_table(filter=, columns=)`, on the datasets of `cargo xtask gen`. Every query
and engine runs in its own process, with the same threads (`POLARS_MAX_THREADS`, DuckDB's
`threads`, PyArrow's CPU count); each child reports wall time and peak RSS (VmHWM).

Usage: bench.py --data DIR --out DIR [--runs N] [--threads N]
       bench.py --child QUERY ENGINE DIR ARGS_JSON   (one measurement)
       bench.py --crossing                           (the fixed cost of a batch, in µs)
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

T0_MS = 1_700_000_000_000  # the first tick (xtask/src/gen.rs)

QUERIES = {
    "P1": "VWAP by symbol where side = 'BUY' (full scan)",
    "P2": "timestamp range, ~0.1 % of rows",
    "P3": "point lookup on trade_id (bloom filters)",
    "P5": "first 10 ids per group written to Parquet",
    "P8": "group_by(symbol).len() over many small files",
    "floor": "decode only: side = 'BUY' rows of symbol, price, volume",
}
ENGINES = {
    "P5": ["adaptive", "polars streaming"],
    "floor": ["adaptive reader", "polars in-memory", "duckdb", "pyarrow"],
}
DEFAULT_ENGINES = [
    "adaptive streaming",
    "adaptive in-memory",
    "polars streaming",
    "polars in-memory",
    "duckdb",
    "pyarrow",
]


def peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def source(query: str, data: Path) -> str:
    folder = {"P5": "pyarrow", "P8": "small"}.get(query, "ticks")
    return str(data / folder / "*.parquet")


def child(query: str, engine: str, data: Path, args: dict[str, Any]) -> None:
    import polars as pl

    glob = source(query, data)
    if engine.startswith("adaptive"):
        import polars_adaptive as pa

        scan = pa.scan_adaptive
    else:
        scan = pl.scan_parquet

    def polars_query(lf: pl.LazyFrame) -> pl.LazyFrame:
        if query == "P1":
            return (
                lf.filter(pl.col("side") == "BUY")
                .group_by("symbol")
                .agg(((pl.col("price") * pl.col("volume")).sum() / pl.col("volume").sum()).alias("vwap"))
            )
        if query == "P2":
            return lf.filter(pl.col("timestamp").is_between(args["lo"], args["hi"]))
        if query == "P3":
            return lf.filter(pl.col("trade_id") == args["trade_id"])
        if query == "P8":
            return lf.group_by("symbol").agg(pl.len())
        return lf.filter(pl.col("side") == "BUY").select("symbol", "price", "volume")

    if "lo" in args:
        args = dict(args, lo=dt.datetime.fromisoformat(args["lo"]), hi=dt.datetime.fromisoformat(args["hi"]))
    start = time.perf_counter()
    if query == "P5":
        out = Path(f"/tmp/bench-p5-{os.getpid()}.parquet")
        if engine == "adaptive":
            import polars_adaptive as pa

            pa.first_n_per_group(glob, out, group_by="group", id="id", n=10)
        else:
            src = pl.scan_parquet(glob)
            admitted = (
                src.select("group", "id")
                .unique(keep="first", maintain_order=True)
                .group_by("group", maintain_order=True)
                .head(10)
            )
            src.join(admitted, on=["group", "id"]).sink_parquet(out)
        rows = pl.scan_parquet(out).select(pl.len()).collect().item()
        out.unlink()
    elif engine == "adaptive reader":
        import polars_adaptive as pa

        reader = (
            pa.ParallelStreamReader(glob)
            .with_projection(["symbol", "price", "volume"])
            .with_predicate(pl.col("side") == "BUY")
        )
        rows = sum(batch.height for batch in reader.batches())
    elif engine.endswith("streaming"):
        rows = polars_query(scan(glob)).collect(engine="streaming").height
    elif engine.endswith("in-memory"):
        rows = polars_query(scan(glob)).collect().height
    elif engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute(f"SET threads = {os.environ.get('POLARS_MAX_THREADS', '2')}")
        src = f"read_parquet('{glob}')"
        sql = {
            "P1": f"SELECT symbol, sum(price * volume) / sum(volume) AS vwap FROM {src} "
            "WHERE side = 'BUY' GROUP BY symbol",
            "P2": f"SELECT * FROM {src} WHERE timestamp BETWEEN "
            f"epoch_ms({args['lo_ms']}) AND epoch_ms({args['hi_ms']})",
            "P3": f"SELECT * FROM {src} WHERE trade_id = {args['trade_id']}",
            "P8": f"SELECT symbol, count(*) AS len FROM {src} GROUP BY symbol",
            "floor": f"SELECT symbol, price, volume FROM {src} WHERE side = 'BUY'",
        }[query]
        rows = con.sql(sql).pl().height
    elif engine == "pyarrow":
        import pyarrow.compute as pc
        import pyarrow.dataset as ds

        dataset = ds.dataset(sorted(Path(glob).parent.glob("*.parquet")), format="parquet")
        if query == "P1":
            t = dataset.to_table(
                filter=pc.field("side") == "BUY", columns=["symbol", "price", "volume"]
            )
            t = t.append_column("pv", pc.multiply(t["price"], t["volume"]))
            rows = t.group_by("symbol").aggregate([("pv", "sum"), ("volume", "sum")]).num_rows
        elif query == "P2":
            lo, hi = args["lo"], args["hi"]
            f = (pc.field("timestamp") >= lo) & (pc.field("timestamp") <= hi)
            rows = dataset.to_table(filter=f).num_rows
        elif query == "P3":
            rows = dataset.to_table(filter=pc.field("trade_id") == args["trade_id"]).num_rows
        elif query == "P8":
            t = dataset.to_table(columns=["symbol"])
            rows = t.group_by("symbol").aggregate([("symbol", "count")]).num_rows
        else:
            rows = dataset.to_table(
                filter=pc.field("side") == "BUY", columns=["symbol", "price", "volume"]
            ).num_rows
    else:
        raise SystemExit(f"unknown engine {engine}")
    secs = time.perf_counter() - start
    print(json.dumps({"secs": secs, "peak_kib": peak_rss_kib(), "rows": rows}))


CROSSING_ROWS = 200_000


def crossing() -> None:
    """The fixed cost of one batch crossing into Python: the IO source's path (a native
    read handing Arrow batches, each made a frame by ``_batches.to_frame``) over the same file
    in batches of 1 and of 10 rows; the difference over the difference in batches leaves out
    the per-row cost. Best of 3 for each size."""
    import tempfile

    import polars as pl

    from polars_adaptive import _native
    from polars_adaptive._batches import to_frame

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "crossing.parquet"
        n = CROSSING_ROWS
        ids = pl.int_range(n, eager=True)
        pl.DataFrame({"a": ids, "b": ids * 2}).write_parquet(path)
        spec = _native.ScanSpec([str(path)])

        def best(batch_size: int) -> float:
            times = []
            for _ in range(3):
                start = time.perf_counter()
                batches = sum(1 for b in spec.open(batch_size=batch_size) if to_frame(b).height)
                times.append(time.perf_counter() - start)
                assert batches == n // batch_size, batches
            return min(times)

        one, ten = best(1), best(10)
    print(json.dumps({"us_per_batch": (one - ten) / (n - n // 10) * 1e6}))


def parameters(data: Path) -> dict[str, Any]:
    import polars as pl

    ticks = str(data / "ticks" / "*.parquet")
    rows = pl.scan_parquet(ticks).select(pl.len()).collect().item()
    lo_ms = T0_MS + (rows // 2) * 10
    hi_ms = lo_ms + (rows // 1000) * 10
    trade_id = pl.scan_parquet(ticks).slice(rows // 3, 1).select("trade_id").collect().item()
    as_dt = lambda ms: dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)  # noqa: E731
    return {
        "rows": rows,
        "lo_ms": lo_ms,
        "hi_ms": hi_ms,
        "lo": as_dt(lo_ms).isoformat(),
        "hi": as_dt(hi_ms).isoformat(),
        "trade_id": trade_id,
    }


def measure(query: str, engine: str, data: Path, args: dict[str, Any], threads: int) -> dict[str, Any]:
    env = dict(os.environ, POLARS_MAX_THREADS=str(threads))
    done = subprocess.run(
        [sys.executable, __file__, "--child", query, engine, str(data), json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def svg(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    """Bars of time relative to Polars streaming (or in-memory), one group per query."""
    rows = []
    for query, engines in results.items():
        base = engines.get("polars streaming") or engines.get("polars in-memory")
        for engine, r in engines.items():
            if "secs" in r and base and "secs" in base:
                rows.append((f"{query} {engine}", r["secs"] / base["secs"]))
    height = 22 * len(rows) + 40
    scale = 300 / max([v for _, v in rows] + [1.0])
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="640" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<text x="10" y="16">time relative to Python Polars (streaming; in-memory for the '
        "decode floor), lower is better</text>",
    ]
    for i, (label, value) in enumerate(rows):
        y = 30 + 22 * i
        colour = "#2a7" if label.split(" ", 1)[1].startswith("adaptive") else "#888"
        out.append(f'<text x="10" y="{y + 14}">{label}</text>')
        out.append(f'<rect x="260" y="{y + 3}" width="{value * scale:.1f}" height="14" fill="{colour}"/>')
        out.append(f'<text x="{265 + value * scale:.1f}" y="{y + 14}">{value:.2f}x</text>')
    out.append("</svg>")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=4)
    parser.add_argument("--crossing", action="store_true")
    parser.add_argument("--data", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    a = parser.parse_args()
    if a.child:
        query, engine, data, args = a.child
        child(query, engine, Path(data), json.loads(args))
        return
    if a.crossing:
        crossing()
        return
    import duckdb
    import polars as pl
    import pyarrow

    args = parameters(a.data)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for query in QUERIES:
        results[query] = {}
        engines = ENGINES.get(query, DEFAULT_ENGINES)
        # As the Rust benchmark: one warm-up round, then rounds with the engines alternating,
        # so a slow spell of the machine falls on every engine instead of on one.
        rounds = [
            [measure(query, e, a.data, args, a.threads) for e in engines]
            for _ in range(a.runs + 1)
        ]
        for i, engine in enumerate(engines):
            runs = [r[i] for r in rounds[1:]]
            ok = [r for r in runs if "secs" in r]
            if len(ok) < len(runs):
                results[query][engine] = {"error": next(r for r in runs if "error" in r)["error"]}
            else:
                results[query][engine] = {
                    "secs": statistics.median(r["secs"] for r in ok),
                    "min": min(r["secs"] for r in ok),
                    "max": max(r["secs"] for r in ok),
                    "peak_mib": max(r["peak_kib"] for r in ok) / 1024,
                    "rows": ok[0]["rows"],
                }
            print(query, engine, results[query][engine], flush=True)
    done = subprocess.run(
        [sys.executable, __file__, "--crossing"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    per_batch = json.loads(done.stdout.strip().splitlines()[-1])["us_per_batch"]
    print("crossing", per_batch, flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Python benchmark",
        "",
        f"Written by `cargo xtask bench --python` on {dt.date.today().isoformat()}: "
        f"{args['rows']:,} tick rows under `{a.data}`, {a.threads} threads for every engine, "
        f"one warm-up round then {a.runs} rounds with the engines alternating, median, each run "
        "in its own process (time from the query's start; "
        "peak RSS is the process's VmHWM, interpreter and imports included). Python Polars "
        f"{pl.__version__}, DuckDB {duckdb.__version__}, PyArrow {pyarrow.__version__}.",
        "",
        "![chart](benchmarks-python.svg)",
        "",
        "| query | engine | time (s, median [min–max]) | ratio to Polars | peak RSS (MiB) | rows |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for query, engines in results.items():
        base = engines.get("polars streaming") or engines.get("polars in-memory") or {}
        for engine, r in engines.items():
            if "error" in r:
                lines.append(f"| {query} | {engine} | failed: {r['error'][:80]} | | | |")
                continue
            ratio = f"{r['secs'] / base['secs']:.2f}x" if "secs" in base else ""
            lines.append(
                f"| {query} | {engine} | {r['secs']:.3f} [{r['min']:.3f}–{r['max']:.3f}] | "
                f"{ratio} | {r['peak_mib']:.0f} | {r['rows']:,} |"
            )
    lines += [
        "",
        "The fixed cost of a batch crossing into Python (`bench.py --crossing`: a "
        f"{CROSSING_ROWS:,}-row file read through the IO source's native path in batches of 1 "
        "and of 10 rows, each made a frame as the IO source makes it, best of 3): "
        f"**{per_batch:.1f} µs** per batch.",
    ]
    lines += ["", "Queries:", ""] + [f"- {q}: {d}" for q, d in QUERIES.items()]
    report = a.out / "benchmarks-python.md"
    # Keep the hand-written analysis below the generated part.
    kept = report.read_text().partition("\n## Analysis")[1:] if report.exists() else ("", "")
    report.write_text("\n".join(lines) + "\n" + "".join(kept))
    (a.out / "benchmarks-python.svg").write_text(svg(results) + "\n")
    print(a.out / "benchmarks-python.md")


if __name__ == "__main__":
    main()
