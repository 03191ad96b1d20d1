"""The Flight SQL server (``polars-adaptive serve``) with real clients: ADBC's Flight SQL
driver through its DB-API, and ``pyarrow.flight``. Answers equal Python Polars' SQLContext over
``pl.scan_parquet``; bad requests get clear statuses, and the server goes on serving."""

from __future__ import annotations

import os
import random
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import polars as pl
import pyarrow as pa_arrow
import pyarrow.flight as flight
import pytest
from conftest import STATEMENTS, UNSTREAMABLE, stock_sql, write_ticks
from polars.testing import assert_frame_equal

# The server is read-only and has no transactions: ADBC's DB-API warns that autocommit stays on.
pytestmark = pytest.mark.filterwarnings("ignore:Cannot disable autocommit")

TOKEN = "s3cret-token"
BUDGET = 256 << 20


class Server:
    """``polars-adaptive serve`` on a free loopback port, stopped by ``stop()``."""

    def __init__(self, args: list[str]) -> None:
        binary = os.environ.get("POLARS_ADAPTIVE_BIN")
        if not binary or not Path(binary).exists():
            pytest.skip("POLARS_ADAPTIVE_BIN is not set: run through `cargo xtask test`")
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", *args],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        match = re.search(r"grpc(?:\+tls)?://([\d.]+:\d+)", line)
        assert match, f"the server did not start: {line}"
        self.address = match.group(1)
        self.uri = f"grpc://{self.address}"
        # Keep reading stderr so the server never blocks on a full pipe.
        self.log: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)

    def peak_rss(self) -> int:
        """VmHWM of the server process, in bytes."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def ticks(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_ticks(tmp_path_factory.mktemp("flight"), files=4, rows=50_000, row_group_size=10_000)


@pytest.fixture(scope="module")
def server(ticks: str) -> Iterator[Server]:
    s = Server(
        [
            "--table", f"ticks={ticks}",
            "--token", TOKEN,
            "--user", "ann:pw",
            "--memory-budget", str(BUDGET),
            "--max-endpoints", "4",
        ]
    )
    yield s
    s.stop()


def connect(server: Server, **kwargs: str) -> flight_sql.Connection:
    db_kwargs = {"adbc.flight.sql.authorization_header": f"Bearer {TOKEN}", **kwargs}
    return flight_sql.connect(server.uri, db_kwargs=db_kwargs)


def adbc_query(server: Server, query: str) -> pl.DataFrame:
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute(query)
        return pl.from_arrow(cur.fetch_arrow_table())  # type: ignore[return-value]


@pytest.mark.parametrize("query", STATEMENTS)
def test_adbc_answers_equal_sqlcontext_over_scan_parquet(
    server: Server, ticks: str, query: str
) -> None:
    assert_frame_equal(adbc_query(server, query), stock_sql(ticks, query))


def test_adbc_basic_credentials_log_in_by_handshake(server: Server) -> None:
    db_kwargs = {"username": "ann", "password": "pw"}
    with flight_sql.connect(server.uri, db_kwargs=db_kwargs) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) AS n FROM ticks")
        assert cur.fetchall() == [(200_000,)]


def test_adbc_metadata_calls(server: Server, ticks: str) -> None:
    with connect(server) as conn:
        objects = conn.adbc_get_objects().read_all().to_pylist()
        tables = [
            t["table_name"]
            for catalog in objects
            for schema in catalog["catalog_db_schemas"]
            for t in schema["db_schema_tables"]
        ]
        assert tables == ["ticks"]
        schema = conn.adbc_get_table_schema("ticks")
        assert schema.names == ["id", "symbol", "price", "qty", "ts", "venue"]
        assert schema.field("symbol").type == pa_arrow.large_string()
        assert conn.adbc_get_table_types() == ["TABLE"]
        info = conn.adbc_get_info()
        assert info["vendor_name"] == "polars-adaptive"


def command(query: str) -> bytes:
    """``CommandStatementQuery`` in a protobuf ``Any``, as Flight SQL clients send it."""

    def field(number: int, payload: bytes) -> bytes:
        size, out = len(payload), bytearray()
        while True:
            byte, size = size & 0x7F, size >> 7
            out.append(byte | (0x80 if size else 0))
            if not size:
                break
        return bytes([number << 3 | 2]) + bytes(out) + payload

    statement = field(1, query.encode())
    type_url = b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
    return field(1, type_url) + field(2, statement)


def flight_client(server: Server) -> tuple[flight.FlightClient, flight.FlightCallOptions]:
    options = flight.FlightCallOptions(
        headers=[(b"authorization", f"Bearer {TOKEN}".encode())], timeout=60
    )
    return flight.FlightClient(server.uri), options


def test_pyarrow_flight_partitioned_endpoints_read_in_parallel_equal_one(
    server: Server, ticks: str
) -> None:
    client, options = flight_client(server)
    query = "SELECT id, price * qty AS notional FROM ticks WHERE venue = 'XNAS'"
    info = client.get_flight_info(flight.FlightDescriptor.for_command(command(query)), options)
    assert len(info.endpoints) == 4

    def read(endpoint: flight.FlightEndpoint) -> pa_arrow.Table:
        own, opts = flight_client(server)
        return own.do_get(endpoint.ticket, opts).read_all()

    with ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(read, info.endpoints))
    together = pl.from_arrow(pa_arrow.concat_tables(parts))
    assert_frame_equal(together, adbc_query(server, query))  # type: ignore[arg-type]
    assert_frame_equal(together, stock_sql(ticks, query))  # type: ignore[arg-type]


def test_pyarrow_flight_refusals_and_the_server_goes_on(server: Server) -> None:
    client, options = flight_client(server)

    def info(query: str, opts: flight.FlightCallOptions = options) -> flight.FlightInfo:
        return client.get_flight_info(flight.FlightDescriptor.for_command(command(query)), opts)

    with pytest.raises(flight.FlightUnauthenticatedError, match="no credentials"):
        info("SELECT 1 AS x FROM ticks", flight.FlightCallOptions())
    wrong = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer nope")])
    with pytest.raises(flight.FlightUnauthenticatedError, match="not valid"):
        info("SELECT 1 AS x FROM ticks", wrong)
    for query, says in [
        ("SELEC * FROM ticks", "parse"),
        ("DROP TABLE ticks", "only SELECT"),
        ("SELECT * FROM read_csv('/etc/passwd')", "table function"),
        ("SELECT * FROM missing", "'missing' is not registered"),
        ("SELECT nope FROM ticks", "nope"),
        ("SELECT * FROM ticks WHERE " + "id = 1 OR " * 110_000 + "id = 2", "bytes long"),
    ]:
        with pytest.raises(pa_arrow.ArrowInvalid, match=says):
            info(query)
    # Plans that need every row at once: refused under the server's budget.
    for query in ["SELECT * FROM ticks ORDER BY price", *UNSTREAMABLE]:
        refused = info(query)
        with pytest.raises((flight.FlightError, pa_arrow.ArrowException), match="memory budget"):
            client.do_get(refused.endpoints[0].ticket, options).read_all()
    # A ticket altered on the way.
    good = info("SELECT COUNT(*) AS n FROM ticks").endpoints[0].ticket.ticket
    bad = bytearray(good)
    bad[-5] ^= 0xFF
    with pytest.raises(flight.FlightUnauthorizedError, match="not issued by this server"):
        client.do_get(flight.Ticket(bytes(bad)), options).read_all()
    # A client that goes away midway.
    reader = client.do_get(info("SELECT * FROM ticks").endpoints[0].ticket, options)
    reader.read_chunk()
    client.close()
    assert server.alive()
    assert adbc_query(server, "SELECT COUNT(*) AS n FROM ticks")["n"].to_list() == [200_000]


def test_an_expired_ticket_is_refused_and_a_new_one_works(ticks: str) -> None:
    short = Server(["--table", f"ticks={ticks}", "--token", TOKEN, "--ticket-ttl", "0.2"])
    try:
        client, options = flight_client(short)
        descriptor = flight.FlightDescriptor.for_command(command("SELECT COUNT(*) AS n FROM ticks"))
        ticket = client.get_flight_info(descriptor, options).endpoints[0].ticket
        time.sleep(0.5)
        with pytest.raises((flight.FlightError, pa_arrow.ArrowException), match="expired"):
            client.do_get(ticket, options).read_all()
        fresh = client.get_flight_info(descriptor, options).endpoints[0].ticket
        assert client.do_get(fresh, options).read_all().to_pylist() == [{"n": 200_000}]
    finally:
        short.stop()


def mutations(seed: int, count: int) -> Iterator[str]:
    """Statements made by cutting, repeating, swapping and inserting pieces of good ones."""
    rng = random.Random(seed)
    pieces = [
        "SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", "LIMIT", "(", ")", ",", "'", '"',
        "*", "ticks", "id", "price", "NULL", "IN", "BETWEEN", "AND", "OR", "NOT", "--", ";",
        "9223372036854775808", "-1", "1e400", "CAST(id AS", "read_parquet('x')", "\x00", "é",
        "SUM(", "COUNT(*)", "OVER (", "UNION ALL", "JOIN ticks t2 ON", "DROP TABLE",
    ]
    for _ in range(count):
        words = rng.choice(STATEMENTS).split(" ")
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(words))
            match rng.randrange(4):
                case 0:
                    del words[i]
                case 1:
                    words.insert(i, rng.choice(pieces))
                case 2:
                    words[i] = rng.choice(pieces)
                case _:
                    j = rng.randrange(len(words))
                    words[i], words[j] = words[j], words[i]
            if not words:
                words = ["SELECT"]
        yield " ".join(words)


def test_a_thousand_mutated_statements_crash_and_hang_nothing(server: Server) -> None:
    client, options = flight_client(server)
    answered = refused = 0
    for query in mutations(seed=31, count=1000):
        try:
            info = client.get_flight_info(
                flight.FlightDescriptor.for_command(command(query)), options
            )
            for endpoint in info.endpoints:
                client.do_get(endpoint.ticket, options).read_all()
            answered += 1
        except (flight.FlightError, pa_arrow.ArrowException):
            refused += 1
        assert server.alive(), f"the server died on {query!r}"
    assert answered + refused == 1000
    assert answered > 0 and refused > 0
    assert adbc_query(server, "SELECT COUNT(*) AS n FROM ticks")["n"].to_list() == [200_000]


LOAD = [
    "SELECT symbol, SUM(qty) AS q, AVG(price) AS p, COUNT(*) AS n FROM ticks GROUP BY symbol "
    "ORDER BY symbol",
    "SELECT * FROM ticks",
    "SELECT id, symbol, price FROM ticks WHERE qty > 100",
    "SELECT MIN(id) AS lo, MAX(id) AS hi, COUNT(*) AS n FROM ticks",
]


def test_sixteen_clients_at_once_get_right_answers_within_the_budget(
    tmp_path: Path,
) -> None:
    glob = write_ticks(tmp_path / "load", files=8, rows=250_000, row_group_size=50_000)
    budget = 256 << 20
    server = Server(["--table", f"ticks={glob}", "--token", TOKEN, "--memory-budget", str(budget)])
    try:
        expected = {q: stock_sql(glob, q) for q in LOAD}

        def client(i: int) -> None:
            for k in range(2):
                query = LOAD[(i + k) % len(LOAD)]
                assert_frame_equal(adbc_query(server, query), expected[query])

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(client, range(16)))
        peak = server.peak_rss()
        print(f"16 clients: server peak RSS {peak >> 20} MiB, budget {budget >> 20} MiB")
        assert peak <= budget + (64 << 20), f"peak RSS {peak >> 20} MiB, budget {budget >> 20} MiB"
    finally:
        server.stop()
