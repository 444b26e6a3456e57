"""A deployment whose sources log inputs only: feature drift as usual, prediction drift and
performance reported as unavailable, never as an error."""

from __future__ import annotations

from sqlalchemy import update

from monitor.runs.job import monitor_deployment
from monitor.store import get_engine, session_scope
from monitor.store.models import Prediction
from tests.factories import churn_frame
from tests.monitor.runs_support import DAY, HOUR, add_window, deploy, runs_of


def test_inputs_only_windows_report_prediction_drift_and_performance_unavailable(sqlite_url):
    engine = get_engine(sqlite_url)
    deployment_id = deploy(engine)
    add_window(engine, deployment_id, DAY, churn_frame(200, seed=1), "a", labels=True)
    with session_scope(engine) as session:
        session.execute(update(Prediction).values(prediction=None, probability=None))
    monitor_deployment(engine, "churn-online", DAY, DAY + HOUR, report_rows=300)
    (run,) = runs_of(engine, deployment_id)
    assert run.status == "ok", run.error
    assert run.drift_share is not None and "score" in run.features["tenure"]
    assert run.prediction_drift["unavailable"].startswith("no predictions in this window")
    assert "score" not in run.prediction_drift
    assert run.performance == {} and run.estimated_performance == {}
    assert any("prediction drift and performance unavailable" in w for w in run.warnings)
