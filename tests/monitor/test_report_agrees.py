"""Evidently's report of a run shows the run's numbers: drift share over the features,
each feature's drift score, and performance on the labeled rows, for binary, multiclass
and regression models."""

from __future__ import annotations

import gzip

import numpy as np
import orjson
import pandas as pd
import pytest
from sqlalchemy import select

from monitor.ingest.records import ModelSchema, validate_label, validate_prediction
from monitor.ingest.store import insert_labels, insert_predictions
from monitor.runs.job import monitor_deployment
from monitor.runs.reports import build_pending_reports
from monitor.store import session_scope
from monitor.store.models import Model, Run
from tests.factories import CHURN_CATEGORICAL, CHURN_NUMERICAL, churn_frame
from tests.monitor.runs_support import DAY, HOUR, deploy

FEATURES = [*CHURN_NUMERICAL, *CHURN_CATEGORICAL]
SCHEMA = ModelSchema(numerical=tuple(CHURN_NUMERICAL), categorical=tuple(CHURN_CATEGORICAL))
# Evidently's metric types and the run's names for them.
CLASSIFICATION = {"Accuracy": "accuracy", "Precision": "precision", "Recall": "recall"} | {
    "F1Score": "f1",
    "RocAuc": "roc_auc",
}
REGRESSION = {"MAE": "mae", "RMSE": "rmse", "R2Score": "r2"}


def frame_for(task: str, rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    frame = churn_frame(rows, seed=seed, shift=shift)
    noise = np.random.default_rng(seed).normal(0, 5, rows)
    if task == "regression":
        frame["churned"] = (frame["charges"] * 2 + noise).round(2)
        frame["prediction"] = (frame["charges"] * 2).round(2)
    elif task == "multiclass":
        frame["churned"] = np.digitize(frame["charges"] + noise, [60, 90])
        frame["prediction"] = np.digitize(frame["charges"], [60, 90])
    return frame


def insert(engine, deployment_id: int, frame: pd.DataFrame, task: str, labeled: int) -> None:
    step = HOUR / (len(frame) + 1)
    predictions, labels = [], []
    for index, record in enumerate(frame.to_dict("records")):
        value = float(record["prediction"]) if task == "regression" else int(record["prediction"])
        entry = {
            "request_id": f"r{index}",
            "timestamp": (DAY + step * (index + 1)).isoformat(),
            "features": {name: record[name] for name in FEATURES},
            "prediction": value,
        }
        if task == "binary":
            entry["probability"] = float(record["probability"])
        predictions.append(validate_prediction(entry, SCHEMA))
        if index < labeled:
            label = record["churned"]
            label = float(label) if task == "regression" else int(label)
            labels.append(validate_label({"request_id": f"r{index}", "label": label}))
    with engine.begin() as connection:
        insert_predictions(connection, deployment_id, predictions)
        insert_labels(connection, deployment_id, labels)


def evidently_numbers(snapshot: bytes) -> dict[str, float]:
    """What the report shows, by the run's names: drift_share, drift:<feature>, metrics."""
    shown: dict[str, float] = {}
    for result in orjson.loads(gzip.decompress(snapshot))["metric_results"].values():
        params = result["metric_value_location"]["metric"]["params"]
        kind = params["type"].rsplit(":", 1)[-1]
        if kind == "DriftedColumnsCount":
            shown["drift_share"] = result["share"]["value"]
        elif kind == "ValueDrift":
            shown[f"drift:{params['column']}"] = result["value"]
        elif kind in CLASSIFICATION | REGRESSION:
            value = result.get("value")
            if value is None:  # a mean with its deviation
                value = result["mean"]["value"]
            shown[(CLASSIFICATION | REGRESSION)[kind]] = value
    return shown


def summary_columns(snapshot: bytes) -> dict[str, list[str]]:
    """The Dataset Summary's rows naming columns: {"target column": [current, reference]}."""
    found: dict[str, list[str]] = {}

    def walk(node) -> None:
        if isinstance(node, dict):
            for row in node.get("data") or []:
                if isinstance(row, list) and row and str(row[0]).endswith(" column"):
                    found[row[0]] = row[1:]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(orjson.loads(gzip.decompress(snapshot))["widgets"])
    return found


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_evidently_shows_the_numbers_of_the_run(engine, task):
    reference = frame_for(task, 800, seed=1)
    deployment_id = deploy(engine, reference=reference, min_rows=50, policy={"drift_share": 0.4})
    with session_scope(engine) as session:
        model = session.scalars(select(Model)).one()
        if task != "binary":
            model.probability = None
        if task == "regression":
            model.task = "regression"
    insert(engine, deployment_id, frame_for(task, 400, seed=2, shift=0.8), task, labeled=300)
    monitor_deployment(engine, "churn-online", DAY, DAY + HOUR, report_rows=0)
    built = build_pending_reports(engine)
    with session_scope(engine) as session:
        assert built == 1, session.scalars(select(Run.warnings)).all()

    with session_scope(engine) as session:
        run = session.scalars(select(Run)).one()
        ours = {"drift_share": run.drift_share} | {
            f"drift:{name}": entry["score"] for name, entry in run.features.items()
        }
        ours |= run.performance
        shown = evidently_numbers(run.snapshot)
        run_snapshot = run.snapshot
        classes = run.classes
        assert run.labeled_rows == 300 and run.drift_share > 0
    # Target and prediction are declared: the Dataset Summary names them on both sides.
    named = summary_columns(run_snapshot)
    assert named["target column"] == ["churned", "churned"]
    prediction = "probability" if task == "binary" else "prediction"  # Evidently's choice
    assert named["prediction column"] == [prediction, prediction]
    # The prediction is not a feature: the share counts the features alone.
    assert "drift:prediction" not in shown
    expected = {"drift_share", *(f"drift:{name}" for name in FEATURES)}
    expected |= set((REGRESSION if task == "regression" else CLASSIFICATION).values())
    if task != "binary":
        expected.discard("roc_auc")
    assert set(shown) >= expected
    for key in expected:
        assert shown[key] == pytest.approx(ours[key], rel=1e-9, abs=1e-12), key
    if task == "regression":
        assert classes is None
    else:  # per-class results and the confusion matrix of the labeled rows
        assert len(classes["labels"]) == (3 if task == "multiclass" else 2)
        assert sum(map(sum, classes["confusion"])) == 300
        support = sum(entry["support"] for entry in classes["per_class"].values())
        assert support == 300


def test_a_window_without_labels_declares_its_target_and_has_no_performance_section(sqlite_url):
    from monitor.store import get_engine

    engine = get_engine(sqlite_url)
    deployment_id = deploy(engine, reference=frame_for("binary", 800, seed=1), min_rows=50)
    insert(engine, deployment_id, frame_for("binary", 300, seed=2, shift=0.8), "binary", 0)
    monitor_deployment(engine, "churn-online", DAY, DAY + HOUR, report_rows=0)
    assert build_pending_reports(engine) == 1

    with session_scope(engine) as session:
        run = session.scalars(select(Run)).one()
        drift_share, snapshot = run.drift_share, run.snapshot
    shown = evidently_numbers(snapshot)
    assert shown["drift_share"] == pytest.approx(drift_share, rel=1e-9)
    assert not set(shown) & set(CLASSIFICATION.values())
    named = summary_columns(snapshot)
    assert named["target column"] == ["churned", "churned"]  # declared, its labels missing
    assert named["prediction column"] == ["probability", "probability"]


def first_widget_text(snapshot: bytes) -> str:
    widget = orjson.loads(gzip.decompress(snapshot))["widgets"][0]
    return widget["params"]["counters"][0]["label"]


def test_a_report_on_fewer_rows_than_the_run_says_how_many_of_how_many(sqlite_url):
    from monitor.store import get_engine

    engine = get_engine(sqlite_url)
    deployment_id = deploy(engine, reference=frame_for("binary", 800, seed=1), min_rows=50)
    insert(engine, deployment_id, frame_for("binary", 300, seed=2), "binary", 0)
    monitor_deployment(engine, "churn-online", DAY, DAY + HOUR, report_rows=0)
    assert build_pending_reports(engine, rows=120) == 1

    with session_scope(engine) as session:
        run = session.scalars(select(Run)).one()
        assert run.report_rows == 120 and run.rows == 300
        text = first_widget_text(run.snapshot)
    assert "the first 120 rows by sample key of 300 in the window (the run scored 300)" in text
    assert "reference: 120 rows" in text


def test_a_report_on_every_row_of_the_window_says_so(sqlite_url):
    from monitor.store import get_engine

    engine = get_engine(sqlite_url)
    deployment_id = deploy(engine, reference=frame_for("binary", 800, seed=1), min_rows=50)
    insert(engine, deployment_id, frame_for("binary", 300, seed=2), "binary", 0)
    monitor_deployment(engine, "churn-online", DAY, DAY + HOUR, report_rows=0)
    assert build_pending_reports(engine) == 1

    with session_scope(engine) as session:
        text = first_widget_text(session.scalars(select(Run.snapshot)).one())
    assert text.startswith("This report describes all 300 rows of the window;")
