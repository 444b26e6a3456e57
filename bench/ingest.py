"""Ingest 1,000,000 canonical JSONL records with 20 features, against a bare executemany.

`python -m bench.ingest [--records N] [--postgres URL]` prints the figures and writes
bench/results/ingest.json. The baseline inserts the very rows ingestion produced, as
ready-made tuples, into a fresh copy of the same table with the same indexes, in the same
process: the ratio says what reading, parsing, validating and cursor-keeping cost.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from sqlalchemy import Engine, create_engine, text

from monitor.ingest.engine import ingest
from monitor.ingest.records import ModelSchema, validate_prediction
from monitor.ingest.store import insert_predictions
from monitor.store import db as store_db
from monitor.store import schema, session_scope
from monitor.store.models import Deployment, Model, ModelVersion, Source

NUMERICAL = [f"x{i}" for i in range(18)]
CATEGORICAL = ["plan", "region"]
RESULTS = Path(__file__).parent / "results"


def write_log(path: Path, records: int) -> None:
    plans, regions = ["basic", "pro", "team"], ["eu", "us", "apac"]
    with path.open("wb") as handle:
        for i in range(records):
            features = {name: (i * (k + 3) % 997) / 7.0 for k, name in enumerate(NUMERICAL)}
            features["plan"], features["region"] = plans[i % 3], regions[i % 7 % 3]
            record = {
                "request_id": f"req-{i:09d}",
                "timestamp": f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i % 59:02d}Z",
                "model_version": 1,
                "features": features,
                "prediction": i % 2,
                "probability": (i % 1000) / 1000,
            }
            handle.write(orjson.dumps(record) + b"\n")


def setup(engine: Engine, log: Path) -> None:
    schema.upgrade(engine)
    with session_scope(engine) as session:
        model = Model(
            name="bench",
            task="classification",
            target="y",
            prediction="prediction",
            probability="probability",
            numerical=NUMERICAL,
            categorical=CATEGORICAL,
            retrain={},
        )
        session.add(model)
        session.flush()
        version = ModelVersion(
            model_id=model.id, version=1, artifact=b"", sha256="0" * 64, status="champion"
        )
        session.add(version)
        session.flush()
        deployment = Deployment(
            name="bench", model_id=model.id, mode="realtime", active_version_id=version.id
        )
        session.add(deployment)
        session.flush()
        session.add(
            Source(
                deployment_id=deployment.id,
                role="predictions",
                name="log",
                kind="jsonl",
                config={"path": str(log)},
            )
        )


def measure_ingest(engine: Engine) -> tuple[float, int]:
    started = time.perf_counter()
    [tally] = ingest(engine)
    elapsed = time.perf_counter() - started
    assert not tally.errors, tally.errors
    return elapsed, tally.inserted


def measure_baseline(engine: Engine, log: Path) -> float:
    """Bare executemany of the same rows (already parsed) into an empty deployment."""
    schema_ = ModelSchema(tuple(NUMERICAL), tuple(CATEGORICAL))
    rows = [
        validate_prediction(orjson.loads(line), schema_) for line in log.read_bytes().splitlines()
    ]
    with session_scope(engine) as session:
        model_id = session.scalar(text("SELECT id FROM models"))
        deployment = Deployment(name="baseline", model_id=model_id, mode="realtime")
        session.add(deployment)
        session.flush()
        deployment_id = deployment.id
    started = time.perf_counter()
    with engine.begin() as connection:
        insert_predictions(connection, deployment_id, rows)
    return time.perf_counter() - started


def run(url: str, log: Path, records: int) -> dict:
    engine = store_db.get_engine(url)
    setup(engine, log)
    ingest_seconds, inserted = measure_ingest(engine)
    assert inserted == records, (inserted, records)
    baseline_seconds = measure_baseline(engine, log)
    return {
        "records": records,
        "features": len(NUMERICAL) + len(CATEGORICAL),
        "ingest_seconds": round(ingest_seconds, 3),
        "records_per_second": round(records / ingest_seconds),
        "baseline_executemany_seconds": round(baseline_seconds, 3),
        "baseline_records_per_second": round(records / baseline_seconds),
        "ratio_to_executemany": round((records / ingest_seconds) / (records / baseline_seconds), 3),
    }


def postgres_database(admin_url: str) -> tuple[str, str]:
    name = f"driftwise_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name, name


def drop_postgres(admin_url: str, name: str) -> None:
    store_db.reset_engines()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "DRIFTWISE_TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    results: dict = {"goal": {"sqlite_records_per_second": 50_000, "ratio_to_executemany": 0.5}}
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "predictions.jsonl"
        write_log(log, args.records)
        results["sqlite"] = run(f"sqlite:///{folder}/bench.db", log, args.records)
        print("sqlite", json.dumps(results["sqlite"]))
        if args.postgres:
            try:
                url, name = postgres_database(args.postgres)
            except Exception as error:  # noqa: BLE001 - reported, not fatal
                results["postgres"] = {"skipped": str(error)}
            else:
                try:
                    results["postgres"] = run(url, log, args.records)
                finally:
                    drop_postgres(args.postgres, name)
            print("postgres", json.dumps(results["postgres"]))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
