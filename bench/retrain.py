"""Retrain overhead against a bare fit, and real-time predict latency against a bare predict.

`python -m bench.retrain [--rows N] [--calls N]` prints the figures and writes
bench/results/retrain.json.

- Retrain: a whole job (assemble the labeled rows from SQL, clone and fit, evaluate champion
  and challenger on the holdout, store the version, its reference set and the promotion) for
  a training set of N rows, against `clone(champion).fit` on those same N rows in memory.
- Real time: the median of `retrain.serving.predict` for one row (validate, score, log the
  prediction in its own transaction) against the median of `estimator.predict` on a
  one-row frame.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
from sklearn.base import clone

from monitor.demo.sample_data import CATEGORICAL, NUMERICAL, churn_frame, churn_pipeline, scored
from monitor.ingest.records import ModelSchema, validate_label, validate_prediction
from monitor.ingest.store import insert_labels, insert_predictions
from monitor.jobs import request_retrain
from monitor.registry.artifacts import dump_artifact
from monitor.store import db as store_db
from monitor.store import schema, session_scope
from monitor.store.models import Deployment, ModelVersion
from monitor.timeutil import utcnow
from retrain import serving
from retrain.jobs import run_job
from tests.factories import make_model

FEATURES = NUMERICAL + CATEGORICAL
RESULTS = Path(__file__).parent / "results"
HOLDOUT = 0.2


def setup(engine, rows: int):
    """Version 1 and `rows / (1 - holdout)` labeled predictions; returns (estimator, train frame)."""
    schema.upgrade(engine)
    reference = churn_frame(5000, seed=1)
    champion = churn_pipeline().fit(reference[FEATURES], reference["churned"])
    with session_scope(engine) as session:
        version = make_model(
            session,
            "churn",
            scored(reference, champion),
            NUMERICAL,
            CATEGORICAL,
            artifact=dump_artifact(champion),
            retrain={
                "include_reference": False,
                "holdout": HOLDOUT,
                "min_labeled_rows": 1000,
                "training_window": "365d",
            },
        )
        deployment = Deployment(
            name="churn-online",
            model_id=version.model_id,
            mode="realtime",
            active_version_id=version.id,
        )
        session.add(deployment)
        session.flush()
        deployment_id, model_id = deployment.id, version.model_id
    total = round(rows / (1 - HOLDOUT))
    frame = churn_frame(total, seed=2, shift=1.0)
    start = utcnow() - timedelta(seconds=total + 10)
    schema_ = ModelSchema(tuple(NUMERICAL), tuple(CATEGORICAL))
    predictions, labels = [], []
    for n, record in enumerate(frame.to_dict("records")):
        rid = f"r-{n:08d}"
        features = {name: record[name] for name in FEATURES}
        stamp = start + timedelta(seconds=n)
        predictions.append(
            validate_prediction(
                {"request_id": rid, "timestamp": stamp, "features": features, "prediction": 0},
                schema_,
            )
        )
        labels.append(validate_label({"request_id": rid, "label": int(record["churned"])}))
    with engine.begin() as connection:
        insert_predictions(connection, deployment_id, predictions)
        insert_labels(connection, deployment_id, labels)
    train_rows = total - round(total * HOLDOUT)
    return model_id, champion, frame.iloc[:train_rows]


def bench_retrain(engine, model_id: int, champion, train: pd.DataFrame) -> dict:
    started = time.perf_counter()
    clone(champion).fit(train[FEATURES], train["churned"])
    bare = time.perf_counter() - started
    with session_scope(engine) as session:
        job = request_retrain(session, model_id, "manual", "bench", force=True)
        session.flush()
        job_id = job.id
    started = time.perf_counter()
    job = run_job(engine, job_id)
    wall = time.perf_counter() - started
    assert job.status in ("succeeded", "rejected"), job.error
    return {
        "train_rows": job.evaluation["training"]["train_rows"],
        "holdout_rows": job.evaluation["training"]["holdout_rows"],
        "bare_fit_seconds": round(bare, 3),
        "retrain_seconds": round(wall, 3),
        "ratio": round(wall / bare, 2),
        "steps": {k: round(v, 3) for k, v in job.evaluation["timings"].items()},
        "decision": job.decision,
    }


def bench_realtime(engine, estimator, calls: int) -> dict:
    rows = churn_frame(calls, seed=5)[FEATURES].to_dict("records")
    for row in rows[:20]:  # warm the cache and the connection pool
        serving.predict(engine, "churn-online", row)
    bare, ours = [], []
    for n, row in enumerate(rows):
        started = time.perf_counter()
        estimator.predict(pd.DataFrame([row], columns=FEATURES))
        bare.append(time.perf_counter() - started)
        started = time.perf_counter()
        serving.predict(engine, "churn-online", row, request_id=f"bench-{n}")
        ours.append(time.perf_counter() - started)
    bare_ms, ours_ms = statistics.median(bare) * 1000, statistics.median(ours) * 1000
    return {
        "calls": calls,
        "bare_predict_median_ms": round(bare_ms, 3),
        "predict_median_ms": round(ours_ms, 3),
        "added_median_ms": round(ours_ms - bare_ms, 3),
        "predict_p95_ms": round(statistics.quantiles(ours, n=20)[18] * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="training set rows")
    parser.add_argument("--calls", type=int, default=1000, help="real-time predict calls")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        engine = store_db.get_engine(f"sqlite:///{directory}/bench.db")
        model_id, champion, train = setup(engine, args.rows)
        retrain = bench_retrain(engine, model_id, champion, train)
        with session_scope(engine) as session:
            active = session.get(ModelVersion, session.get(Deployment, 1).active_version_id)
            estimator = serving.load_artifact(active.artifact)
        realtime = bench_realtime(engine, estimator, args.calls)
        store_db.reset_engines()
    result = {"database": "sqlite", "retrain": retrain, "realtime": realtime}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "retrain.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"retrain: {retrain['train_rows']} rows in {retrain['retrain_seconds']}s vs bare fit "
        f"{retrain['bare_fit_seconds']}s = {retrain['ratio']}x (aim <= 1.5x); "
        f"steps {retrain['steps']}"
    )
    print(
        f"realtime: predict median {realtime['predict_median_ms']} ms vs bare "
        f"{realtime['bare_predict_median_ms']} ms = +{realtime['added_median_ms']} ms "
        f"(aim <= 2 ms); p95 {realtime['predict_p95_ms']} ms"
    )


if __name__ == "__main__":
    main()
