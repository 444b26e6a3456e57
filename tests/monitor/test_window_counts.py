"""A window's count is kept up to a committed id (`window_counts`) and a later count adds
only what was stored after it: it stays the window's true count whichever path writes the
rows (the bulk insert of file ingestion, the one write path of pushes and `/predict`),
late rows included, on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor.ingest.write import push_target, write_records
from monitor.runs import window
from monitor.runs.window import count_rows
from monitor.store import session_scope
from monitor.store.models import Deployment, Prediction, WindowCount
from monitor.timeutil import utcnow
from tests.factories import churn_frame
from tests.monitor.runs_support import HOUR, add_window, deploy
from tests.web.push_support import record

START = datetime(2026, 1, 5, 10)


def _walked(session: Session, deployment_id: int, start: datetime, end: datetime) -> int:
    """The window's count by walking every row: what the kept count must equal."""
    return session.scalar(
        select(func.count())
        .select_from(Prediction)
        .where(
            Prediction.deployment_id == deployment_id,
            Prediction.timestamp >= start,
            Prediction.timestamp < end,
        )
    )


def _push(engine: Engine, prefix: str, count: int, at: datetime) -> None:
    with session_scope(engine) as session:
        deployment_id, schema = push_target(session, "churn-online")
        records = [
            record(f"{prefix}-{number}", timestamp=at.isoformat() + "Z") for number in range(count)
        ]
        written = write_records(session, deployment_id, schema, "predictions", records, "api")
        assert written.count("inserted") == count


def _counted(engine: Engine, deployment_id: int) -> tuple[int, int | None]:
    with session_scope(engine) as session:
        total = count_rows(session, deployment_id, START, START + HOUR)
        assert total == _walked(session, deployment_id, START, START + HOUR)
        kept = session.scalar(select(WindowCount.rows).where(WindowCount.window_start == START))
        return total, kept


@pytest.fixture
def later(monkeypatch) -> None:
    """The clock an hour on: what was stored so far is past the commit margin."""
    ahead = utcnow() + timedelta(hours=1)
    monkeypatch.setattr(window, "utcnow", lambda: ahead)


def test_a_kept_count_stays_the_windows_count_through_every_write_path(engine: Engine, later):
    deployment_id = deploy(engine)
    add_window(engine, deployment_id, START, churn_frame(30, seed=1), "file")
    add_window(engine, deployment_id, START + HOUR, churn_frame(7, seed=2), "next")
    assert _counted(engine, deployment_id) == (30, 30)
    _push(engine, "push", 5, START + timedelta(minutes=20))  # pushes and /predict
    _push(engine, "other", 4, START + 2 * HOUR)  # another window: not counted in this one
    assert _counted(engine, deployment_id) == (35, 35)
    # Late rows: a file read later brings more of an hour already counted.
    add_window(engine, deployment_id, START, churn_frame(12, seed=3), "late")
    assert _counted(engine, deployment_id) == (47, 47)
    assert _counted(engine, deployment_id) == (47, 47)


def test_rows_within_the_commit_margin_are_counted_but_not_kept(engine: Engine):
    deployment_id = deploy(engine)
    add_window(engine, deployment_id, START, churn_frame(20, seed=1), "file")
    # Just stored: a transaction with lower ids may still be open, so none is kept yet.
    assert _counted(engine, deployment_id) == (20, 0)
    _push(engine, "push", 3, START + timedelta(minutes=5))
    assert _counted(engine, deployment_id) == (23, 0)


def test_a_kept_count_goes_with_its_deployment(engine: Engine, later):
    deployment_id = deploy(engine)
    add_window(engine, deployment_id, START, churn_frame(10, seed=1), "file")
    assert _counted(engine, deployment_id) == (10, 10)
    with session_scope(engine) as session:
        session.delete(session.get(Deployment, deployment_id))
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(WindowCount)) == 0
