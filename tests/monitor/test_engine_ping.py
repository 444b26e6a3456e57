"""PostgreSQL engines ping a pooled connection only when it sat idle: one in steady use
costs no extra round trip, and one left dead by a restarted server is replaced unseen."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from monitor.store import db as store_db
from tests.pg_server import OwnPostgres


@pytest.fixture
def own_postgres():
    server = OwnPostgres()
    server.start()
    yield server
    store_db.reset_engines()
    server.close()


def _pings(engine) -> list[int]:
    """Counts the dialect's pings (they go to the driver, past SQLAlchemy's events)."""
    counted: list[int] = []
    ping = engine.dialect.do_ping
    engine.dialect.do_ping = lambda connection: counted.append(1) or ping(connection)
    return counted


def test_a_connection_in_steady_use_is_not_pinged(own_postgres):
    engine = store_db.get_engine(own_postgres.url)
    pings = _pings(engine)
    for _ in range(20):
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 2")).scalar() == 2
    assert len(pings) <= 1  # at most the first checkout, of a new connection


def test_an_idle_connection_left_dead_by_a_restart_is_replaced(own_postgres):
    engine = store_db.get_engine(own_postgres.url)
    with engine.connect() as connection:
        backend = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    own_postgres.kill()
    own_postgres.restart()
    time.sleep(store_db.PING_AFTER_IDLE_SECONDS + 0.2)
    pings = _pings(engine)
    with engine.connect() as connection:  # no error: the dead one was pinged and dropped
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar() != backend
    assert pings, "the idle connection was handed out without a ping"
