"""Late labels: a finished window is run again (a backfill) and the policy looks again."""

from __future__ import annotations

import pytest
from sklearn import metrics as skm
from sqlalchemy import select

from monitor.runs.job import monitor_deployment
from monitor.store import session_scope
from monitor.store.models import Event, MetricPoint
from tests.factories import churn_frame
from tests.monitor.runs_support import DAY, HOUR, add_labels, add_window, deploy, runs_of


def test_late_labels_backfill_the_window_once(engine):
    policy = {"performance": {"metric": "accuracy", "min": 0.95}, "min_labels": 50}
    deployment_id = deploy(engine, policy=policy)
    frame = churn_frame(200, seed=7)
    ids = add_window(engine, deployment_id, DAY, frame, "a")
    monitor_deployment(engine, "churn-online", now=DAY + HOUR, report_rows=0)
    (first,) = runs_of(engine, deployment_id)
    assert first.performance == {} and first.estimated_performance["accuracy"] > 0

    add_labels(engine, deployment_id, list(zip(ids, frame["churned"].tolist(), strict=True)))
    monitor_deployment(engine, "churn-online", now=DAY + HOUR, report_rows=0)
    monitor_deployment(engine, "churn-online", now=DAY + HOUR, report_rows=0)

    runs = runs_of(engine, deployment_id)
    assert [(run.kind, run.seq) for run in runs] == [("backfill", 200), ("monitor", 0)]
    backfill = runs[0]
    assert backfill.performance["accuracy"] == pytest.approx(
        skm.accuracy_score(frame["churned"], frame["prediction"])
    )
    assert backfill.breaches[0]["rule"] == "performance:accuracy" and backfill.breaches[0]["acted"]
    with session_scope(engine) as session:
        assert session.scalars(select(Event.type)).all() == ["performance", "window.breached"]
        points = session.scalars(
            select(MetricPoint).where(MetricPoint.metric == "performance.accuracy")
        ).all()
    assert [point.run_id for point in points] == [backfill.id]
