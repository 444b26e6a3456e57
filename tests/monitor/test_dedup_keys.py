"""Dedup and idempotency keys longer than their column: looked up as stored, never cut."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from monitor.events import emit
from monitor.jobs import request_retrain
from monitor.store import session_scope
from monitor.store.models import Event, RetrainJob
from tests.factories import make_deployment

LONG = "drift:" + "d" * 400


def test_an_event_with_a_long_dedup_key_is_recorded_once(engine: Engine) -> None:
    """On SQLite and PostgreSQL: the second emit finds the first event."""
    with session_scope(engine) as session:
        first = emit(session, "drift", LONG + ":window-1", "drifted").id
    with session_scope(engine) as session:
        again = emit(session, "drift", LONG + ":window-1", "drifted again").id
        other = emit(session, "drift", LONG + ":window-2", "another window").id
    assert again == first and other != first
    with session_scope(engine) as session:
        keys = list(session.scalars(select(Event.dedup_key)))
    assert len(keys) == 2 and all(len(key) <= 300 for key in keys)


def test_long_idempotency_keys_that_share_a_prefix_are_different_jobs(engine: Engine) -> None:
    with session_scope(engine) as session:
        model_id = make_deployment(session).model_id
        first = request_retrain(session, model_id, "api", "manual:" + "k" * 400 + "1", force=True)
        second = request_retrain(session, model_id, "api", "manual:" + "k" * 400 + "2", force=True)
        session.flush()
        assert first.id != second.id
    with session_scope(engine) as session:
        again = request_retrain(session, model_id, "api", "manual:" + "k" * 400 + "1", force=True)
        assert again.id == first.id
        assert session.scalar(select(func.count()).select_from(RetrainJob)) == 2
