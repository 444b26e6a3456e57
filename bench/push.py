"""Throughput of the push path: concurrent clients against a real `driftwise web`.

`python -m bench.push [--clients N] [--seconds S] [--postgres URL]` pushes batches of 20
and of 100 predictions from N threads for S seconds each, on SQLite and PostgreSQL (a
scratch database beside the URL given, dropped afterwards), and writes records/s and the
p50/p99 push latency to bench/results/push.json. Goals (issue 21, 2 cores shared with
PostgreSQL): >= 5,000 records/s in 20-record pushes, >= 15,000 in 100-record pushes,
p99 under 250 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from bench.support import LOCAL_POSTGRES, add_postgres_option, on_postgres, write_results
from monitor.store import db as store_db
from monitor.store import get_engine, schema, session_scope
from tests.web.push_support import push_body

GOALS = {20: 5_000, 100: 15_000}
P99_GOAL_MS = 250.0


def _body(size: int) -> bytes:
    return push_body([uuid.uuid4().hex for _ in range(size)])


def _prepare(url: str) -> str:
    from tests.factories import make_deployment
    from web.auth import create_token

    engine = get_engine(url)
    schema.upgrade(engine)
    with session_scope(engine) as session:
        make_deployment(session, name="churn-online")
        return create_token(session, "bench", "client")


def _measure(base: str, token: str, size: int, clients: int, seconds: float) -> dict:
    from tests.web.server_support import post_json

    path = "/api/v1/deployments/churn-online/predictions"
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(_: int) -> int:
        pushed = 0
        while time.monotonic() < stop:
            body = _body(size)
            started = time.monotonic()
            status, answer = post_json(base, path, body, token)
            elapsed = time.monotonic() - started
            if status != 200:
                raise RuntimeError(f"push answered {status}: {answer}")
            with lock:
                latencies.append(elapsed)
            pushed += size
        return pushed

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        records = sum(pool.map(client, range(clients)))
    wall = time.monotonic() - started
    cuts = statistics.quantiles(latencies, n=100)
    figures = {
        "records_per_second": round(records / wall),
        "p50_ms": round(cuts[49] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "pushes": len(latencies),
    }
    figures["meets_goal"] = (
        figures["records_per_second"] >= GOALS[size] and figures["p99_ms"] < P99_GOAL_MS
    )
    return figures


def run(url: str, clients: int, seconds: float) -> dict:
    from tests.web.server_support import running_web

    token = _prepare(url)
    with tempfile.TemporaryDirectory() as folder, running_web(url, Path(folder)) as base:
        return {f"batch_{size}": _measure(base, token, size, clients, seconds) for size in GOALS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    add_postgres_option(parser, LOCAL_POSTGRES)
    args = parser.parse_args()
    results: dict = {
        "goal": {
            "records_per_second_batch_20": GOALS[20],
            "records_per_second_batch_100": GOALS[100],
            "p99_ms": P99_GOAL_MS,
        },
        "clients": args.clients,
    }
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite"] = run(f"sqlite:///{folder}/bench.db", args.clients, args.seconds)
        print("sqlite", json.dumps(results["sqlite"]))
    store_db.reset_engines()
    if args.postgres:
        measure = partial(run, clients=args.clients, seconds=args.seconds)
        results["postgres"] = on_postgres(args.postgres, measure)
        print("postgres", json.dumps(results["postgres"]))
    write_results("push", results)


if __name__ == "__main__":
    main()
