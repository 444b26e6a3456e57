"""Cost of a Prometheus scrape: `/metrics` with 100 deployments, each with 30 windows of
runs (12 features each) and two sources, against `/healthz` in the same process.

`python -m bench.metrics [--deployments N] [--postgres URL]` prints the figures and writes
bench/results/metrics.json. The goal: a scrape well under a second, so a 15 s scrape
interval costs a web process a few percent of one core at most.
"""

from __future__ import annotations

import argparse
import json

from sqlalchemy import Engine, insert

from bench.support import add_postgres_option, on_sqlite_and_postgres, write_results
from bench.web import admin_client, measure, prepare, run_row
from monitor.store import db as store_db
from monitor.store import session_scope
from monitor.store.models import Run, Source
from monitor.timeutil import utcnow

FEATURES = [f"x{n}" for n in range(12)]
WINDOWS = 30
SCRAPE_EVERY = 15.0
GOAL_MS = 500.0


def fill(engine: Engine, deployments: int) -> None:
    from tests.factories import make_deployment

    start = prepare(engine, WINDOWS)
    with session_scope(engine) as session:
        ids = []
        for n in range(deployments):
            policy = {"drift_share": 0.5, "performance": {"metric": "f1", "min": 0.7}}
            ids.append(make_deployment(session, f"bench-{n}", policy=policy).id)
    runs, sources = [], []
    extra = {
        "duration": 0.4,
        "quality": {"missing_share": 0.01},
        "performance": {"f1": 0.8, "accuracy": 0.82},
    }
    for deployment_id in ids:
        for i in range(WINDOWS):
            features = {f: {"score": 0.01 * i, "method": "ks", "threshold": 0.05} for f in FEATURES}
            runs.append(run_row(deployment_id, start, i, features) | extra)
        for role in ("predictions", "labels"):
            sources.append(
                {
                    "deployment_id": deployment_id,
                    "role": role,
                    "name": f"{role}-log",
                    "kind": "jsonl",
                    "records_read": 10_000,
                    "records_inserted": 9_000,
                    "last_read_at": utcnow(),
                }
            )
    with engine.begin() as connection:
        connection.execute(insert(Run), runs)
        connection.execute(insert(Source), sources)
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE")


def run(url: str, args: argparse.Namespace) -> dict:
    fill(store_db.get_engine(url), args.deployments)
    client = admin_client(url)
    scrape = measure(client, "/metrics", args.repeat)
    baseline = measure(client, "/healthz", args.repeat)
    size = len(client.get("/metrics").data)
    return {
        "metrics": scrape,
        "healthz": baseline,
        "ratio_to_healthz": round(scrape["median_ms"] / max(baseline["median_ms"], 0.01), 1),
        "bytes": size,
        "core_share_at_15s": round(scrape["median_ms"] / 1000 / SCRAPE_EVERY, 4),
        "within_goal": scrape["median_ms"] < GOAL_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deployments", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=15)
    add_postgres_option(parser)
    args = parser.parse_args()
    result: dict = {"deployments": args.deployments, "windows": WINDOWS, "goal_ms": GOAL_MS}
    result |= on_sqlite_and_postgres(args.postgres, lambda url: run(url, args))
    write_results("metrics", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
