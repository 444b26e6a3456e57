"""Ingest 1,000,000 canonical JSONL records with 20 features, against a bare executemany.

`python -m bench.ingest [--records N] [--postgres URL]` prints the figures and writes
bench/results/ingest.json. The baseline inserts the very rows ingestion produced, as the
ready-made tuples the parse process hands the writer, with the writer's own statement, in
one executemany and one commit, into the same table and indexes (another deployment), in
the same process: the ratio says what reading, parsing, validating, the chunks' commits
and cursor-keeping add to a bare insert.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import orjson
from sqlalchemy import Engine, text

from bench.support import LOCAL_POSTGRES, add_postgres_option, on_postgres, write_results
from monitor.ingest.batch import version_ids
from monitor.ingest.engine import ingest
from monitor.ingest.records import ModelSchema, validate_prediction
from monitor.ingest.store import insert_prepared, prepare_predictions
from monitor.store import db as store_db
from monitor.store import schema, session_scope
from monitor.store.models import Deployment, ModelVersion
from tests.factories import add_source, churn_model

NUMERICAL = [f"x{i}" for i in range(18)]
CATEGORICAL = ["plan", "region"]


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
        model = churn_model("bench", target="y", numerical=NUMERICAL, categorical=CATEGORICAL)
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
        add_source(session, deployment.id, path=str(log))


def measure_ingest(engine: Engine) -> tuple[float, int, float, float]:
    """Wall seconds, rows inserted, and the CPU seconds of this (the writing) process and
    of the parse process: on a shared machine wall time says as much about the neighbours."""
    started, cpu, parser = time.perf_counter(), time.process_time(), _children_cpu()
    [tally] = ingest(engine)
    elapsed = time.perf_counter() - started
    assert not tally.errors, tally.errors
    return elapsed, tally.inserted, time.process_time() - cpu, _children_cpu() - parser


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_baseline(engine: Engine, log: Path) -> tuple[float, float]:
    """Bare executemany of the same rows, prepared beforehand, into an empty deployment."""
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
        versions = version_ids(session, deployment_id)
    prepared = prepare_predictions(rows, engine.dialect.name == "sqlite", versions)
    del rows
    started, cpu = time.perf_counter(), time.process_time()
    with engine.begin() as connection:
        insert_prepared(connection, deployment_id, prepared, versions)
    return time.perf_counter() - started, time.process_time() - cpu


def run(url: str, log: Path, records: int) -> dict:
    engine = store_db.get_engine(url)
    setup(engine, log)
    ingest_seconds, inserted, writer_cpu, parser_cpu = measure_ingest(engine)
    assert inserted == records, (inserted, records)
    baseline_seconds, baseline_cpu = measure_baseline(engine, log)
    return {
        "records": records,
        "features": len(NUMERICAL) + len(CATEGORICAL),
        "ingest_seconds": round(ingest_seconds, 3),
        "records_per_second": round(records / ingest_seconds),
        "baseline_executemany_seconds": round(baseline_seconds, 3),
        "baseline_records_per_second": round(records / baseline_seconds),
        "ratio_to_executemany": round((records / ingest_seconds) / (records / baseline_seconds), 3),
        "writer_cpu_us_per_record": round(writer_cpu / records * 1e6, 2),
        "parser_cpu_us_per_record": round(parser_cpu / records * 1e6, 2),
        "baseline_cpu_us_per_record": round(baseline_cpu / records * 1e6, 2),
        # The bare insert's CPU over the writer's: what the ratio would be with a free core
        # for the parse process (when it keeps up: parser CPU at most the writer's).
        "cpu_ratio_to_executemany": round(baseline_cpu / writer_cpu, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    add_postgres_option(parser, LOCAL_POSTGRES)
    args = parser.parse_args()
    results: dict = {"goal": {"sqlite_records_per_second": 50_000, "ratio_to_executemany": 0.9}}
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "predictions.jsonl"
        write_log(log, args.records)
        results["sqlite"] = run(f"sqlite:///{folder}/bench.db", log, args.records)
        print("sqlite", json.dumps(results["sqlite"]))
        if args.postgres:
            results["postgres"] = on_postgres(
                args.postgres, lambda url: run(url, log, args.records)
            )
            print("postgres", json.dumps(results["postgres"]))
    write_results("ingest", results)


if __name__ == "__main__":
    main()
