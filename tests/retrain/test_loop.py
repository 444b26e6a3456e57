"""The whole loop on sample data: breach, retrain, promote, and the next run re-baselined."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from monitor.registry.versions import rollback
from monitor.runs.job import monitor_deployment
from monitor.store import get_engine, session_scope
from monitor.store.models import Deployment, ModelVersion, ReferenceSet, RetrainJob, Run
from monitor.timeutil import utcnow, window_start
from retrain.jobs import run_pending
from tests.retrain.support import log_traffic, make_model


def _run(engine, start) -> Run:
    monitor_deployment(engine, "churn-online", start=start, end=start + timedelta(hours=1))
    with session_scope(engine) as session:
        return session.scalars(
            select(Run).where(Run.window_start == start, Run.kind == "monitor")
        ).one()


@pytest.mark.slow
def test_a_breach_retrains_promotes_and_the_next_run_uses_the_new_reference(sqlite_url):
    engine = get_engine(sqlite_url)
    make_model(engine, batch=False)
    with session_scope(engine) as session:
        deployment = session.scalar(select(Deployment))
        deployment.settle_seconds, deployment.min_rows = 0, 50
        deployment.policy = {"drift_share": 0.3, "consecutive": 1, "actions": ["alert", "retrain"]}
    hour = timedelta(hours=1)
    breached = window_start(utcnow(), 3600) - 2 * hour
    step = timedelta(seconds=5)
    log_traffic(engine, 700, shift=1.5, start=breached, step=step, prefix="a")

    first = _run(engine, breached)
    assert first.drift_share >= 0.3 and first.breaches
    with session_scope(engine) as session:
        job = session.scalars(select(RetrainJob)).one()
        assert (job.trigger, job.status, job.run_id) == ("policy", "pending", first.id)

    assert run_pending(engine, "worker") == [job.id]
    with session_scope(engine) as session:
        job = session.get(RetrainJob, job.id)
        assert (job.status, job.decision) == ("succeeded", "promoted"), job.error
        new = session.get(ModelVersion, job.challenger_version_id)
        new_reference = session.scalar(
            select(ReferenceSet).where(ReferenceSet.model_version_id == new.id)
        )

    following = window_start(utcnow(), 3600) + hour  # a window after the promotion
    log_traffic(engine, 300, shift=1.5, seed=8, start=following, step=step, prefix="b")
    after = _run(engine, following)
    assert after.model_version_id == new.id
    assert after.reference_rows == new_reference.rows == new.train_rows

    with session_scope(engine) as session:
        rollback(session, "churn-online")
        assert session.scalar(select(Deployment)).active_version_id == new.parent_version_id
