"""Server time of the web pages on a long history: one deployment with 10,000 runs.

`python -m bench.web [--runs N] [--postgres URL]` prints the figures and writes
bench/results/web.json; PostgreSQL runs in a scratch database beside the URL given (or
DRIFTWISE_TEST_POSTGRES_URL), dropped afterwards. The goal: the deployment page renders in under 200 ms.
Time is measured around the Flask test client's request, i.e. the WSGI app alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert

from bench.support import add_postgres_option, on_sqlite_and_postgres, write_results
from monitor.store import db as store_db
from monitor.store import schema, session_scope
from monitor.store.models import MetricPoint, Prediction, Run
from monitor.timeutil import utcnow

FEATURES = ["tenure", "charges", "plan", "region", "x1", "x2"]
GOAL_MS = 200.0


def prepare(engine: Engine, hours: int) -> datetime:
    """The store migrated, with the bench's admin (user 1); the start of the first of
    `hours` hourly windows that end with the current hour."""
    from web.auth import create_user

    schema.upgrade(engine)
    with session_scope(engine) as session:
        create_user(session, "bench@example.com", "bench-password", "admin")
    return utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)


def run_row(deployment_id: int, start: datetime, hour: int, features: dict) -> dict:
    """An `ok` monitor run of the `hour`-th window from `start`, as a row of `runs`."""
    return {
        "deployment_id": deployment_id,
        "window_start": start + timedelta(hours=hour),
        "window_end": start + timedelta(hours=hour + 1),
        "kind": "monitor",
        "seq": 0,
        "status": "ok",
        "rows": 1000,
        "labeled_rows": 400,
        "drift_share": (hour % 10) / 10,
        "features": features,
        "performance": {"f1": 0.8},
        "estimated_performance": {"roc_auc": 0.85},
        "breaches": [],
    }


def fill(engine: Engine, runs: int, predictions: int) -> str:
    from tests.factories import make_deployment

    start = prepare(engine, runs)
    with session_scope(engine) as session:
        deployment = make_deployment(session, "bench-online", policy={"drift_share": 0.5})
        deployment_id = deployment.id
    features = {f: {"score": 0.1, "method": "psi", "threshold": 0.2} for f in FEATURES}
    run_rows = [run_row(deployment_id, start, i, features) for i in range(runs)]
    with engine.begin() as connection:
        connection.execute(insert(Run), run_rows)
        ids = [row[0] for row in connection.exec_driver_sql("SELECT id FROM runs ORDER BY id")]
        points = []
        for i, run_id in enumerate(ids):
            time_ = start + timedelta(hours=i)
            base = {"run_id": run_id, "deployment_id": deployment_id, "time": time_}
            points += [
                base | {"metric": "drift_share", "column": "", "value": (i % 10) / 10},
                base | {"metric": "rows", "column": "", "value": 1000},
                base | {"metric": "performance.f1", "column": "", "value": 0.8},
                base | {"metric": "estimated.roc_auc", "column": "", "value": 0.85},
            ]
            points += [
                base | {"metric": "drift_score", "column": f, "value": 0.1} for f in FEATURES
            ]
        connection.execute(insert(MetricPoint), points)
        connection.execute(
            insert(Prediction),
            [
                {
                    "deployment_id": deployment_id,
                    "request_id": f"r{i}",
                    "timestamp": start + timedelta(seconds=37 * i),
                    "features": "{}",
                    "prediction": "1",
                    "sample_key": i,
                }
                for i in range(predictions)
            ],
        )
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE")  # what autovacuum does after a bulk load
    return "bench-online"


def admin_client(url: str):
    """A Flask test client of the app on `url`, logged in as the bench's admin (user 1)."""
    from web import create_app

    client = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"}).test_client()
    with client.session_transaction() as session:
        session["user_id"] = 1
        session["generation"] = 0  # a new user's: no logout has ended its sessions yet
    return client


def measure(client, path: str, repeat: int) -> dict:
    client.get(path)  # warm caches and templates
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def run(url: str, args: argparse.Namespace) -> dict:
    engine = store_db.get_engine(url)
    name = fill(engine, args.runs, args.predictions)
    client = admin_client(url)
    pages = {
        "deployment": measure(client, f"/deployments/{name}", args.repeat),
        "overview": measure(client, "/", args.repeat),
        "api_runs": measure(client, f"/api/v1/deployments/{name}/runs", args.repeat),
        "api_metrics": measure(
            client, f"/api/v1/deployments/{name}/metrics?metric=drift_score", args.repeat
        ),
    }
    return {"deployment_page_within_goal": pages["deployment"]["median_ms"] < GOAL_MS} | pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--predictions", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=15)
    add_postgres_option(parser)
    args = parser.parse_args()
    result: dict = {"runs": args.runs, "predictions": args.predictions, "goal_ms": GOAL_MS}
    result |= on_sqlite_and_postgres(args.postgres, lambda url: run(url, args))
    write_results("web", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
