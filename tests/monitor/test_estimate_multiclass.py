"""Multiclass: class probabilities declared in the spec, logged per record, estimated without
labels (multiclass CBPE), through `apply`, `ingest`, `monitor` and `runs --json`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier
from sqlalchemy import select

from monitor.registry.artifacts import dump_artifact
from monitor.store import session_scope
from monitor.store.models import Prediction
from tests.commands import run_cli

CLASSES = ["A", "B", "C"]
COLUMNS = {"A": "p_a", "B": "p_b", "C": "p_c"}
# Calibrated probabilities, no concept shift, 4,000 rows a window: every estimate within
# 0.03 of the realized metric.
TOLERANCE = 0.03

SPEC = """
[[models]]
name = "plans"
task = "classification"
target = "plan"
prediction = "prediction"
probabilities = { A = "p_a", B = "p_b", C = "p_c" }
numerical = ["usage"]
artifact = "model.skops"
reference = "reference.csv"

[[deployments]]
name = "plans-online"
model = "plans"
mode = "realtime"
window = "1d"
settle = "1m"
min_rows = 50

[[deployments.sources]]
kind = "jsonl"
path = "predictions.jsonl"

[[deployments.labels]]
kind = "jsonl"
path = "labels.jsonl"

[[deployments]]
name = "plans-nightly"
model = "plans"
mode = "batch"
window = "1d"
settle = "1m"

[[deployments.sources]]
kind = "csv"
path = "scores.csv"
"""


def customers(rows: int, seed: int, tilt: float = 0.0) -> pd.DataFrame:
    """Labels drawn from the very probabilities the model gives (a calibrated model);
    `tilt` moves the population towards class C without changing that relation."""
    rng = np.random.default_rng(seed)
    usage = rng.normal(tilt, 1.0, rows)
    logits = np.stack([-1.2 * usage, 0.3 + 0 * usage, 1.2 * usage], axis=1)
    logits += rng.normal(0, 0.8, (rows, 3))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    cumulative = probabilities.cumsum(axis=1)
    drawn = (rng.random(rows)[:, None] > cumulative).sum(axis=1)
    frame = pd.DataFrame({"usage": usage.round(4)})
    for n, label in enumerate(CLASSES):
        frame[COLUMNS[label]] = probabilities[:, n].round(6)
    frame["prediction"] = np.array(CLASSES)[probabilities.argmax(axis=1)]
    frame["plan"] = np.array(CLASSES)[np.minimum(drawn, 2)]
    return frame


def _write(folder: Path, window: pd.DataFrame) -> None:
    reference = customers(6000, seed=1)
    model = DummyClassifier().fit(reference[["usage"]], reference["plan"])
    (folder / "model.skops").write_bytes(dump_artifact(model))
    reference.to_csv(folder / "reference.csv", index=False)
    (folder / "spec.toml").write_text(SPEC)
    with open(folder / "predictions.jsonl", "wb") as predictions:
        with open(folder / "labels.jsonl", "wb") as labels:
            for n, row in enumerate(window.itertuples()):
                moment = f"2026-01-05T{n * 86000 // len(window) // 3600:02d}:00:{n % 60:02d}"
                record = {
                    "request_id": f"p-{n}",
                    "timestamp": moment,
                    "features": {"usage": row.usage},
                    "prediction": row.prediction,
                    "probabilities": {label: getattr(row, COLUMNS[label]) for label in CLASSES},
                }
                predictions.write(orjson.dumps(record) + b"\n")
                labels.write(orjson.dumps({"request_id": f"p-{n}", "label": row.plan}) + b"\n")
    scores = window.head(100).drop(columns="plan")
    scores.assign(timestamp="2026-01-05T12:00:00").to_csv(folder / "scores.csv", index=False)


def _monitor_the_day() -> None:
    window = ["--start", "2026-01-05T00:00:00", "--end", "2026-01-06T00:00:00"]
    run_cli("monitor", "--deployment", "plans-online", *window)


def test_multiclass_estimates_are_close_to_realized_and_flagged(db_url, tmp_path):
    window = customers(4000, seed=2, tilt=0.6)  # more C customers, same calibration
    _write(tmp_path, window)
    run_cli("apply", str(tmp_path / "spec.toml"))
    run_cli("ingest")
    _monitor_the_day()

    runs = json.loads(run_cli("runs", "plans-online", "--json"))["runs"]
    run = next(run for run in runs if run["status"] == "ok")
    realized = run["performance"]
    truth, predicted = window["plan"], window["prediction"]
    expected_auc = np.mean(
        [skm.roc_auc_score(truth == label, window[COLUMNS[label]]) for label in CLASSES]
    )
    assert realized["roc_auc"] == pytest.approx(expected_auc, abs=1e-6)
    assert realized["accuracy"] == pytest.approx(skm.accuracy_score(truth, predicted))
    assert realized["f1"] == pytest.approx(skm.f1_score(truth, predicted, average="macro"))

    shown = run["estimated_performance"]
    assert shown["estimate"] is True
    estimated = shown["metrics"]
    assert set(estimated) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    for metric in estimated:
        assert estimated[metric] == pytest.approx(realized[metric], abs=TOLERANCE), metric


def test_a_batch_file_names_its_class_probability_columns_in_the_spec(db_url, tmp_path):
    window = customers(300, seed=3)
    _write(tmp_path, window)
    run_cli("apply", str(tmp_path / "spec.toml"))
    run_cli("ingest", "--deployment", "plans-nightly")

    with session_scope() as session:
        stored = session.scalars(select(Prediction.probabilities)).all()
    assert len(stored) == 100
    first = json.loads(stored[0])
    assert set(first) == set(CLASSES)
    assert first["A"] == pytest.approx(window["p_a"].iloc[0])


def test_a_multiclass_model_without_probabilities_says_why_there_is_no_estimate(db_url, tmp_path):
    window = customers(400, seed=4)
    _write(tmp_path, window)
    spec = (tmp_path / "spec.toml").read_text()
    (tmp_path / "spec.toml").write_text(
        spec.replace('probabilities = { A = "p_a", B = "p_b", C = "p_c" }\n', "")
    )
    run_cli("apply", str(tmp_path / "spec.toml"))
    run_cli("ingest", "--deployment", "plans-online")
    _monitor_the_day()
    run = next(
        run
        for run in json.loads(run_cli("runs", "plans-online", "--json"))["runs"]
        if run["status"] == "ok"
    )
    assert run["estimated_performance"] == {}
    assert any("3 classes need a probability column per class" in w for w in run["warnings"])
