"""Label-free estimates for every task, through a monitor run and `driftwise runs --json`."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from monitor.cli import main
from monitor.ingest.records import ModelSchema, validate_label, validate_prediction
from monitor.ingest.store import insert_labels, insert_predictions
from monitor.runs.job import monitor_deployment
from monitor.store import get_engine, session_scope
from monitor.store.models import Model, Run
from tests.factories import make_model, serve_version
from tests.monitor.runs_support import DAY, NOW

# Regression tolerance: the nanny model learns losses on 4,000 reference rows; on a window of
# 3,000 rows its MAE and RMSE are within 8% of the realized ones.
TOLERANCE = 0.08


def houses(rows: int, seed: int, size_mean: float = 100.0) -> pd.DataFrame:
    """Prices whose noise grows with size and is larger in the city: a model of the mean is
    calibrated everywhere, and its error depends on where the rows are."""
    rng = np.random.default_rng(seed)
    size = rng.gamma(4.0, size_mean / 4.0, rows)
    area = rng.choice(["city", "suburb", "rural"], rows, p=[0.3, 0.5, 0.2])
    noise = (0.1 * size + 10 * (area == "city")) * rng.standard_normal(rows)
    mean = 50 + 2.0 * size + 30 * (area == "city")
    return pd.DataFrame({"size": size, "area": area, "price": mean + noise, "prediction": mean})


def _regression_deployment(engine, reference: pd.DataFrame) -> int:
    with session_scope(engine) as session:
        version = make_model(
            session,
            "prices",
            reference,
            ["size"],
            ["area"],
            target="price",
            artifact=b"x",
            task="regression",
            probability=None,
        )
        return serve_version(session, version, "prices-online", window_seconds=86400).id


def _log(engine, deployment_id: int, frame: pd.DataFrame, labels: bool) -> None:
    schema = ModelSchema(numerical=("size",), categorical=("area",))
    step = timedelta(days=1) / (len(frame) + 1)
    predictions = [
        validate_prediction(
            {
                "request_id": f"h-{n}",
                "timestamp": (DAY + step * (n + 1)).isoformat(),
                "features": {"size": float(row.size), "area": row.area},
                "prediction": float(row.prediction),
            },
            schema,
        )
        for n, row in enumerate(frame.itertuples())
    ]
    with engine.begin() as connection:
        insert_predictions(connection, deployment_id, predictions)
        if labels:
            insert_labels(
                connection,
                deployment_id,
                [
                    validate_label({"request_id": f"h-{n}", "label": float(price)})
                    for n, price in enumerate(frame["price"])
                ],
            )


def _runs_json(deployment: str) -> dict:
    result = CliRunner().invoke(main, ["runs", deployment, "--json"])
    assert result.exit_code == 0, result.output
    return next(run for run in json.loads(result.output)["runs"] if run["status"] == "ok")


def test_regression_mae_and_rmse_are_estimated_within_tolerance_and_flagged(sqlite_url):
    engine = get_engine(sqlite_url)
    deployment_id = _regression_deployment(engine, houses(4000, seed=1))
    window = houses(3000, seed=2, size_mean=160.0)  # bigger houses: larger errors, same truth
    _log(engine, deployment_id, window, labels=True)

    monitor_deployment(engine, "prices-online", now=NOW, report_rows=0)

    with session_scope(engine) as session:
        run = session.scalars(select(Run).where(Run.status == "ok")).one()
        realized, estimated = run.performance, run.estimated_performance
    error = window["prediction"] - window["price"]
    assert realized["mae"] == pytest.approx(error.abs().mean())
    reference_mae = (houses(4000, seed=1).eval("prediction - price")).abs().mean()
    assert realized["mae"] > 1.3 * reference_mae  # the window really is harder
    for metric in ("mae", "rmse"):
        assert estimated[metric] == pytest.approx(realized[metric], rel=TOLERANCE), metric

    shown = _runs_json("prices-online")["estimated_performance"]
    assert shown["estimate"] is True and set(shown["metrics"]) == {"mae", "rmse"}
    assert all(isinstance(value, float) for value in shown["metrics"].values())


def test_a_regression_reference_without_targets_says_why_there_is_no_estimate(sqlite_url):
    engine = get_engine(sqlite_url)
    deployment_id = _regression_deployment(engine, houses(50, seed=1))
    _log(engine, deployment_id, houses(300, seed=2), labels=False)

    monitor_deployment(engine, "prices-online", now=NOW, report_rows=0)

    run = _runs_json("prices-online")
    assert run["estimated_performance"] == {}
    assert any(
        "no estimated performance" in w and "fewer than 100" in w for w in run["warnings"]
    ), run["warnings"]


def test_a_classifier_without_probabilities_says_why_there_is_no_estimate(sqlite_url):
    from tests.factories import churn_frame, make_deployment
    from tests.monitor.runs_support import add_window

    engine = get_engine(sqlite_url)
    with session_scope(engine) as session:
        deployment = make_deployment(session, window_seconds=86400)
        session.get(Model, deployment.model_id).probability = None
        deployment_id = deployment.id
    add_window(engine, deployment_id, DAY, churn_frame(300, seed=4), "c")

    monitor_deployment(engine, "churn-online", now=NOW, report_rows=0)

    run = _runs_json("churn-online")
    assert run["estimated_performance"] == {}
    assert "no estimated performance: the model declares no probability column" in run["warnings"]
