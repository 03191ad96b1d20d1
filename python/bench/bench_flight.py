"""`cargo xtask bench --flight`: the Flight SQL server (`polars-adaptive serve`) over loopback
against the same query in process and against DuckDB, on the ticks of `cargo xtask gen`.

- P1 (VWAP by symbol of the BUY ticks) through ADBC's Flight SQL driver, against
  `polars_adaptive.sql` in process (the same SQL front end and `collect_adaptive`, no
  transport) and DuckDB's `read_parquet`; each in-process run in its own process.
- A SELECT of up to 20 M rows streamed to an ADBC client, in MB/s of Arrow data, against
  reading the same rows locally with `pl.scan_parquet`.
- Queries per second of a selective query (a point lookup by trade_id) with 1, 4 and 16
  clients, each its own process with its own connection, for a fixed time.

Usage: bench_flight.py --data DIR --out DIR --bin SERVER_BINARY [--runs N] [--threads N]
       [--seconds S]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from bench import parameters, peak_rss_kib

# The server is read-only and has no transactions: ADBC's DB-API warns that autocommit stays on.
warnings.filterwarnings("ignore", message="Cannot disable autocommit")

P1 = (
    "SELECT symbol, SUM(price * volume) / SUM(volume) AS vwap FROM ticks "
    "WHERE side = 'BUY' GROUP BY symbol"
)
SELECT_ROWS = 20_000_000


class Server:
    def __init__(self, binary: str, glob: str, threads: int) -> None:
        env = dict(os.environ, POLARS_MAX_THREADS=str(threads))
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--table", f"ticks={glob}"],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        match = re.search(r"grpc://([\d.]+:\d+)", line)
        if not match:
            raise SystemExit(f"the server did not start: {line}")
        self.uri = f"grpc://{match.group(1)}"
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def peak_mib(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def adbc_table(uri: str, query: str) -> Any:
    import adbc_driver_flightsql.dbapi as flight_sql

    with flight_sql.connect(uri) as conn, conn.cursor() as cur:
        cur.execute(query)
        return cur.fetch_arrow_table()


def child(kind: str, glob: str, query: str) -> None:
    """One in-process measurement, after one warm-up run in the same process, printed as JSON."""

    def run() -> tuple[int, int]:
        if kind == "adaptive":
            import polars_adaptive as pa

            return pa.sql(query, {"ticks": glob}).height, 0
        if kind == "duckdb":
            import duckdb

            con = duckdb.connect()
            con.execute(f"SET threads = {os.environ.get('POLARS_MAX_THREADS', '2')}")
            return con.sql(query.replace("FROM ticks", f"FROM read_parquet('{glob}')")).pl().height, 0
        if kind == "polars local":
            import polars as pl

            df = pl.scan_parquet(glob).head(SELECT_ROWS).collect()
            return df.height, df.estimated_size()
        raise SystemExit(f"unknown kind {kind}")

    run()
    start = time.perf_counter()
    rows, size = run()
    secs = time.perf_counter() - start
    print(json.dumps({"secs": secs, "rows": rows, "bytes": size, "peak_kib": peak_rss_kib()}))


def in_child(kind: str, glob: str, query: str, threads: int) -> dict[str, Any]:
    env = dict(os.environ, POLARS_MAX_THREADS=str(threads))
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, glob, query],
        env=env, capture_output=True, text=True, timeout=3600,
    )
    if done.returncode != 0:
        raise SystemExit(f"{kind}: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed_adbc(uri: str, query: str) -> dict[str, Any]:
    start = time.perf_counter()
    table = adbc_table(uri, query)
    return {"secs": time.perf_counter() - start, "rows": table.num_rows, "bytes": table.nbytes}


def client_loop(uri: str, query: str, seconds: float, out: Any) -> None:
    import adbc_driver_flightsql.dbapi as flight_sql

    done = 0
    with flight_sql.connect(uri) as conn:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            with conn.cursor() as cur:
                cur.execute(query)
                cur.fetch_arrow_table()
            done += 1
    out.put(done)


def qps(uri: str, query: str, clients: int, seconds: float) -> float:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=client_loop, args=(uri, query, seconds, out)) for _ in range(clients)]
    for p in procs:
        p.start()
    total = sum(out.get(timeout=seconds + 120) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    secs = [r["secs"] for r in runs]
    return dict(runs[0], secs=statistics.median(secs), min=min(secs), max=max(secs),
                peak_mib=max(r.get("peak_kib", 0) for r in runs) / 1024)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=3)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--bin")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    a = parser.parse_args()
    if a.child:
        child(*a.child)
        return
    import adbc_driver_flightsql
    import duckdb
    import polars as pl

    glob = str(a.data / "ticks" / "*.parquet")
    args = parameters(a.data)
    select_rows = min(SELECT_ROWS, args["rows"])
    select = f"SELECT * FROM ticks LIMIT {select_rows}"
    lookup = f"SELECT * FROM ticks WHERE trade_id = {args['trade_id']}"
    server = Server(a.bin, glob, a.threads)
    try:
        # One warm-up run of each query, as in process.
        for query in (P1, select):
            adbc_table(server.uri, query)
        p1_flight = median([timed_adbc(server.uri, P1) for _ in range(a.runs)])
        p1_local = median([in_child("adaptive", glob, P1, a.threads) for _ in range(a.runs)])
        p1_duckdb = median([in_child("duckdb", glob, P1, a.threads) for _ in range(a.runs)])
        stream = median([timed_adbc(server.uri, select) for _ in range(a.runs)])
        local = median([in_child("polars local", glob, select, a.threads) for _ in range(a.runs)])
        rates = {n: qps(server.uri, lookup, n, a.seconds) for n in (1, 4, 16)}
        server_peak = server.peak_mib()
    finally:
        server.stop()
    mb = stream["bytes"] / 1e6
    lines = [
        "# Flight SQL benchmark",
        "",
        f"Written by `cargo xtask bench --flight` on {dt.date.today().isoformat()}: "
        f"{args['rows']:,} tick rows under `{a.data}`, {a.threads} threads for the server and "
        f"every in-process engine, median of {a.runs} runs; client and server share the "
        f"machine's cores over loopback; every measurement follows one warm-up run of the same "
        f"query (in the server, or in the measuring process). ADBC Flight SQL driver "
        f"{adbc_driver_flightsql.__version__}, Python Polars {pl.__version__}, DuckDB "
        f"{duckdb.__version__}. The server started with no memory budget; its peak RSS over "
        f"the whole run was {server_peak:.0f} MiB.",
        "",
        "| measurement | time (s, median [min–max]) | ratio | note |",
        "| --- | --- | --- | --- |",
        f"| P1 through ADBC over loopback | {p1_flight['secs']:.3f} [{p1_flight['min']:.3f}–"
        f"{p1_flight['max']:.3f}] | {p1_flight['secs'] / p1_local['secs']:.2f}x in-process | "
        f"goal ≤ 1.1x; {p1_flight['rows']} rows |",
        f"| P1 `polars_adaptive.sql` in process | {p1_local['secs']:.3f} [{p1_local['min']:.3f}–"
        f"{p1_local['max']:.3f}] | 1.00x | peak RSS {p1_local['peak_mib']:.0f} MiB |",
        f"| P1 DuckDB `read_parquet` in process | {p1_duckdb['secs']:.3f} [{p1_duckdb['min']:.3f}–"
        f"{p1_duckdb['max']:.3f}] | {p1_flight['secs'] / p1_duckdb['secs']:.2f}x (Flight to "
        f"DuckDB) | peak RSS {p1_duckdb['peak_mib']:.0f} MiB |",
        f"| SELECT of {select_rows:,} rows through ADBC | {stream['secs']:.3f} [{stream['min']:.3f}–"
        f"{stream['max']:.3f}] | {stream['secs'] / local['secs']:.2f}x local | "
        f"{mb / stream['secs']:.0f} MB/s of Arrow data ({mb:.0f} MB) |",
        f"| the same rows, `pl.scan_parquet(...).head(n)` locally | {local['secs']:.3f} "
        f"[{local['min']:.3f}–{local['max']:.3f}] | 1.00x | "
        f"{local['bytes'] / 1e6 / local['secs']:.0f} MB/s |",
        "",
        "| clients | point lookups per second (trade_id, bloom filters) |",
        "| --- | --- |",
    ] + [f"| {n} | {r:.1f} |" for n, r in rates.items()]
    a.out.mkdir(parents=True, exist_ok=True)
    report = a.out / "benchmarks-flight.md"
    kept = report.read_text().partition("\n## Analysis")[1:] if report.exists() else ("", "")
    report.write_text("\n".join(lines) + "\n" + "".join(kept))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
