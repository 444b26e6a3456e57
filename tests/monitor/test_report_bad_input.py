"""Bad input gives a run with a clear error or warning, never a crash or a silent number."""

from __future__ import annotations

import orjson
from sqlalchemy import insert

from monitor.ingest.records import sample_key
from monitor.runs.job import monitor_deployment
from monitor.store import get_engine
from monitor.store.models import Prediction
from tests.factories import churn_frame
from tests.monitor.runs_support import DAY, HOUR, add_window, deploy, runs_of


def run_one(engine, deployment_id: int, frame=None, labels: bool = False):
    if frame is not None:
        add_window(engine, deployment_id, DAY, frame, "a", labels=labels)
    monitor_deployment(engine, "churn-online", DAY, DAY + HOUR, report_rows=300)
    (run,) = runs_of(engine, deployment_id)
    assert run.status == "ok", run.error
    return run


def test_a_feature_missing_from_the_reference(sqlite_url):
    engine = get_engine(sqlite_url)
    deployment_id = deploy(engine, reference=churn_frame(2000).drop(columns="region"))
    run = run_one(engine, deployment_id, churn_frame(200, seed=1))
    assert run.features["region"] == {"drifted": False, "error": "missing from the reference set"}
    assert "score" in run.features["tenure"] and run.drift_share is not None
    assert any("region: missing from the reference set" in text for text in run.warnings)


def test_an_all_null_column_in_the_window(sqlite_url):
    engine = get_engine(sqlite_url)
    deployment_id = deploy(engine)
    frame = churn_frame(200, seed=1)
    frame["charges"] = None
    run = run_one(engine, deployment_id, frame)
    assert run.features["charges"]["error"] == "no values in this window"
    assert run.quality["charges"]["missing_share"] == 1.0
    assert any("every value in this window is missing" in text for text in run.warnings)
    assert run.drift_share is not None and run.snapshot is not None


def test_a_constant_column_and_a_high_cardinality_categorical(sqlite_url):
    engine = get_engine(sqlite_url)
    reference = churn_frame(2000)
    reference["tenure"] = 5.0
    reference["region"] = [f"r{index}" for index in range(2000)]
    deployment_id = deploy(engine, reference=reference)
    frame = churn_frame(300, seed=2)
    frame["tenure"] = 5.0
    frame["region"] = [f"x{index}" for index in range(300)]
    run = run_one(engine, deployment_id, frame)
    assert run.features["tenure"]["score"] == 0.0 and not run.features["tenure"]["drifted"]
    assert run.features["region"]["drifted"]  # every value is new
    assert any("tenure: constant in the reference set" in text for text in run.warnings)
    assert any("region: high cardinality" in text for text in run.warnings)


def test_a_single_class_in_the_labels(sqlite_url):
    engine = get_engine(sqlite_url)
    deployment_id = deploy(engine)
    frame = churn_frame(200, seed=3)
    frame["churned"] = 0
    run = run_one(engine, deployment_id, frame, labels=True)
    assert "accuracy" in run.performance and "roc_auc" not in run.performance
    assert any("single class in labels" in text for text in run.warnings)


def test_records_without_a_feature(sqlite_url):
    engine = get_engine(sqlite_url)
    deployment_id = deploy(engine)
    frame = churn_frame(100, seed=4)
    rows = [
        {
            "deployment_id": deployment_id,
            "request_id": f"r{index}",
            "timestamp": DAY + HOUR * (index + 1) / 101,
            "features": orjson.dumps(
                {"tenure": row.tenure, "charges": row.charges, "plan": row.plan}
            ).decode(),
            "prediction": "1",
            "probability": 0.5,
            "sample_key": sample_key(f"r{index}"),
        }
        for index, row in enumerate(frame.itertuples())
    ]
    with engine.begin() as connection:
        connection.execute(insert(Prediction), rows)
    run = run_one(engine, deployment_id)
    assert run.features["region"]["error"] == "no values in this window"
    assert any("records lack feature region" in text for text in run.warnings)
