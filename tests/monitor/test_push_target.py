"""What a push needs of its deployment is read at most every `PUSH_TARGET_SECONDS`, not on
every push; a change to the model's features is checked the new way once that has passed,
and a deployment that does not exist is never remembered."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from monitor.errors import DeploymentNotFound
from monitor.ingest import write
from monitor.store import get_engine, session_scope
from monitor.store.models import Model
from tests.factories import make_deployment


def _lookups(engine) -> list[str]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if "FROM deployments JOIN models" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    return seen


def test_pushes_share_one_lookup_until_it_expires(sqlite_url, monkeypatch):
    engine = get_engine(sqlite_url)
    with session_scope(engine) as session:
        deployment = make_deployment(session, name="churn-online")
        model_id = deployment.model_id
    lookups = _lookups(engine)
    with session_scope(engine) as session:
        first = write.push_target(session, "churn-online")
        for _ in range(5):
            assert write.push_target(session, "churn-online") == first
    assert len(lookups) == 1

    monkeypatch.setattr(write, "PUSH_TARGET_SECONDS", 0.0)
    with session_scope(engine) as session:
        session.get(Model, model_id).numerical = ["tenure"]
    with session_scope(engine) as session:
        write.push_target(session, "churn-online")  # the remembered one has expired: read
        _, schema = write.push_target(session, "churn-online")
    assert schema.numerical == ("tenure",)
    assert len(lookups) == 3


def test_an_unknown_deployment_is_looked_up_every_time(sqlite_url):
    engine = get_engine(sqlite_url)
    with session_scope(engine) as session:
        make_deployment(session, name="churn-online")
    lookups = _lookups(engine)
    for _ in range(2):
        with session_scope(engine) as session, pytest.raises(DeploymentNotFound):
            write.push_target(session, "no-such-deployment")
    assert len(lookups) == 2
