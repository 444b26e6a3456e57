"""Throughput of the push path: concurrent clients against a real server.

`python -m bench.push [--server gunicorn|waitress] [--clients N] [--seconds S]
[--postgres URL]` pushes batches of 20 and of 100 predictions from N threads for S seconds
each, on SQLite and PostgreSQL (a scratch database beside the URL given, dropped
afterwards), and writes records/s and the p50/p99 push latency to bench/results/push.json.
Goals (issue 21, 2 cores shared with PostgreSQL): >= 5,000 records/s in 20-record pushes,
>= 15,000 in 100-record pushes, p99 under 250 ms.

Real clients are other machines, so the clients here are made cheap: each thread keeps
one HTTP/1.1 connection open and builds its bodies from a pre-encoded record (every
request id new). The CPU seconds of the clients, of the server's processes and of the
whole machine are reported beside the figures, so it shows who had the cores.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from bench.support import LOCAL_POSTGRES, add_postgres_option, on_postgres, write_results
from monitor.store import db as store_db
from monitor.store import get_engine, schema, session_scope
from tests.web.push_support import record

GOALS = {20: 5_000, 100: 15_000}
P99_GOAL_MS = 250.0
PATH = "/api/v1/deployments/churn-online/predictions"
# The configuration the README's figures use: 2 cores, PostgreSQL on the same machine.
WORKERS, THREADS = 3, 8
TICKS = os.sysconf("SC_CLK_TCK")


def bodies(size: int) -> Iterator[bytes]:
    """Push bodies of `size` records, each request id new: the record is encoded once and
    only its id is filled in, so making a body costs the client next to nothing."""
    template = json.dumps(record("%s")).encode()
    prefix = uuid.uuid4().hex[:12]
    count = 0
    while True:
        ids = range(count, count + size)
        count += size
        joined = b", ".join(template % f"{prefix}-{n}".encode() for n in ids)
        yield b'{"records": [' + joined + b"]}"


def _prepare(url: str) -> str:
    from tests.factories import make_deployment
    from web.auth import create_token

    engine = get_engine(url)
    schema.upgrade(engine)
    with session_scope(engine) as session:
        make_deployment(session, name="churn-online")
        return create_token(session, "bench", "client")


def _processes() -> Iterator[tuple[int, int, float, bytes]]:
    """(pid, parent pid, CPU seconds, command line) of every process."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue  # ended meanwhile
        yield int(entry), int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS, command


def _cpu(database: str) -> tuple[float, dict[int, float]]:
    """CPU seconds of every process below this one (the server and its workers), and of
    each PostgreSQL backend serving `database` (by pid: some start during the run)."""
    processes = list(_processes())
    below, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent, _, _ in processes if parent in frontier} - below
        below |= frontier
    server = sum(cpu for pid, _, cpu, _ in processes if pid in below)
    mark = f" {database} ".encode()
    backends = {pid: cpu for pid, _, cpu, command in processes if mark in command}
    return server, backends


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


def _client(base: str, token: str, size: int, stop: float, latencies: list, lock) -> int:
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    made, pushed, mine = bodies(size), 0, []
    try:
        while time.monotonic() < stop:
            body = next(made)
            started = time.monotonic()
            connection.request("POST", PATH, body=body, headers=headers)
            answer = connection.getresponse()
            text = answer.read()
            mine.append(time.monotonic() - started)
            if answer.status != 200:  # 200: every record inserted, none quarantined
                raise RuntimeError(f"push answered {answer.status}: {text[:500]!r}")
            pushed += size
    finally:
        connection.close()
    with lock:
        latencies.extend(mine)
    return pushed


def _measure(base: str, token: str, database: str, size: int, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    lock = threading.Lock()
    client = partial(_client, base, token, size, time.monotonic() + seconds, latencies, lock)
    cpu, (server, backends), (busy, total) = time.process_time(), _cpu(database), _machine_busy()
    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        records = sum(pool.map(lambda _: client(), range(clients)))
    wall = time.monotonic() - started
    busy_after, total_after = _machine_busy()
    server_after, backends_after = _cpu(database)
    database_cpu = sum(cpu - backends.get(pid, 0.0) for pid, cpu in backends_after.items())
    cuts = statistics.quantiles(latencies, n=100)
    figures = {
        "records_per_second": round(records / wall),
        "p50_ms": round(cuts[49] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "pushes": len(latencies),
        "client_cpu_s": round(time.process_time() - cpu, 2),
        "server_cpu_s": round(server_after - server, 2),
        "postgres_cpu_s": round(database_cpu, 2),
        "machine_busy_share": round((busy_after - busy) / (total_after - total), 2),
        "wall_s": round(wall, 2),
    }
    figures["meets_goal"] = (
        figures["records_per_second"] >= GOALS[size] and figures["p99_ms"] < P99_GOAL_MS
    )
    return figures


def gunicorn_options(workers: int, threads: int) -> tuple[str, ...]:
    return ("-w", str(workers), "-k", "gthread", "--threads", str(threads), "--keep-alive", "30")


def _server(server: tuple[str, ...], url: str, folder: Path):
    from tests.web.server_support import running_gunicorn, running_web

    if server:
        return running_gunicorn(url, folder, *server)
    return running_web(url, folder)


def run(url: str, server: tuple[str, ...], clients: int, seconds: float) -> dict:
    """The figures of both batch sizes; `server`: gunicorn's options, () for waitress."""
    token = _prepare(url)
    with tempfile.TemporaryDirectory() as folder, _server(server, url, Path(folder)) as base:
        database = url.rsplit("/", 1)[-1]
        return {
            f"batch_{size}": _measure(base, token, database, size, clients, seconds)
            for size in GOALS
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", choices=("gunicorn", "waitress"), default="gunicorn")
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=THREADS, help="threads per worker")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    add_postgres_option(parser, LOCAL_POSTGRES)
    args = parser.parse_args()
    server = gunicorn_options(args.workers, args.threads) if args.server == "gunicorn" else ()
    results: dict = {
        "goal": {
            "records_per_second_batch_20": GOALS[20],
            "records_per_second_batch_100": GOALS[100],
            "p99_ms": P99_GOAL_MS,
        },
        "server": " ".join(("gunicorn", *server)) if server else "driftwise web",
        "clients": args.clients,
    }
    measure = partial(run, server=server, clients=args.clients, seconds=args.seconds)
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            results["sqlite"] = measure(f"sqlite:///{folder}/bench.db")
        print("sqlite", json.dumps(results["sqlite"]))
    store_db.reset_engines()
    if args.postgres:
        results["postgres"] = on_postgres(args.postgres, measure)
        print("postgres", json.dumps(results["postgres"]))
    write_results("push", results)


if __name__ == "__main__":
    main()
