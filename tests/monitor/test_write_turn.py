"""SQLite has one writer: writers of records that arrive whole queue on a lock file beside
the database, held from their insert until their transaction ends, and are woken in turn
(SQLite's busy timeout would have them poll with growing sleeps)."""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.ingest.write import push_target, write_records
from monitor.store import get_engine, session_scope
from monitor.store.models import Prediction
from tests.factories import make_deployment
from tests.web.push_support import record


def _push(session: Session, *request_ids: str) -> None:
    deployment_id, schema = push_target(session, "churn-online")
    records = [record(request_id) for request_id in request_ids]
    write_records(session, deployment_id, schema, "predictions", records, "test")


def _turn_is_free(sqlite_url: str) -> bool:
    lock = Path(sqlite_url.removeprefix("sqlite:///") + "-writers.lock")
    with lock.open("ab") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def test_a_writer_holds_its_turn_until_commit_and_the_next_one_then_writes(sqlite_url):
    engine = get_engine(sqlite_url)
    with session_scope(engine) as session:
        make_deployment(session, name="churn-online")
    first = Session(engine)
    _push(first, "a-1")
    assert not _turn_is_free(sqlite_url)
    second = threading.Thread(target=lambda: _commit_push(engine, "b-1"))
    second.start()
    second.join(0.5)
    assert second.is_alive(), "the second writer did not wait for the first one's turn"
    first.commit()
    first.close()
    second.join(10)
    assert not second.is_alive()
    assert _turn_is_free(sqlite_url)
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == 2


def _commit_push(engine, request_id: str) -> None:
    with session_scope(engine) as session:
        _push(session, request_id)


def test_a_rolled_back_writer_gives_its_turn_back(sqlite_url):
    engine = get_engine(sqlite_url)
    with session_scope(engine) as session:
        make_deployment(session, name="churn-online")
    with Session(engine) as session:
        _push(session, "a-1")
        assert not _turn_is_free(sqlite_url)
        session.rollback()
        assert _turn_is_free(sqlite_url)
    with session_scope(engine) as session:
        _push(session, "a-1")
        _push(session, "a-2")  # the same transaction keeps its turn: no wait for itself
    assert _turn_is_free(sqlite_url)
