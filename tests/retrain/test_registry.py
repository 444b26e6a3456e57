"""Promotion and rollback switch versions in one transaction, with history and events."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from monitor.errors import PromotionError
from monitor.registry.artifacts import dump_artifact
from monitor.registry.reference import load_reference
from monitor.registry.versions import promote, rollback
from monitor.store import session_scope
from monitor.store.models import Deployment, Event, Model, ModelVersion
from retrain.upload import upload_version
from tests.retrain import support
from tests.retrain.support import make_model


def _upload(engine, model_id: int, seed: int) -> int:
    estimator, _ = support.fitted(rows=800, seed=seed)
    with session_scope(engine) as session:
        return upload_version(session, session.get(Model, model_id), dump_artifact(estimator)).id


def _active(engine, name: str = "churn-online") -> int:
    with session_scope(engine) as session:
        deployment = session.scalar(select(Deployment).where(Deployment.name == name))
        return session.get(ModelVersion, deployment.active_version_id).version


def _promote(engine, version_id: int) -> None:
    with session_scope(engine) as session:
        promote(session, session.get(ModelVersion, version_id), reason="manual")


def test_rollback_restores_the_previous_version(engine):
    model_id = make_model(engine)
    second = _upload(engine, model_id, seed=2)
    _promote(engine, second)
    assert _active(engine) == 2

    with session_scope(engine) as session:
        row = rollback(session, "churn-online")
        assert (row.reason, row.previous_version_id) == ("rollback", second)

    assert _active(engine) == 1
    assert _active(engine, "churn-nightly") == 2  # rollback is per deployment
    with session_scope(engine) as session:
        versions = {v.version: v.status for v in session.scalars(select(ModelVersion))}
        assert versions[1] == "champion"
        types = list(session.scalars(select(Event.type)))
    assert "deployment.rolled_back" in types
    assert types.count("deployment.updated") == 3  # two on promote, one on rollback


def test_rolling_back_twice_goes_two_versions_back_then_refuses(engine):
    model_id = make_model(engine, batch=False)
    for seed in (2, 3):
        _promote(engine, _upload(engine, model_id, seed))
    assert _active(engine) == 3
    for expected in (2, 1):
        with session_scope(engine) as session:
            rollback(session, "churn-online")
        assert _active(engine) == expected
    with session_scope(engine) as session, pytest.raises(PromotionError, match="no earlier"):
        rollback(session, "churn-online")


def test_an_uploaded_version_is_rebaselined_on_the_champion_reference(engine):
    model_id = make_model(engine)
    version_id = _upload(engine, model_id, seed=4)
    with session_scope(engine) as session:
        version = session.get(ModelVersion, version_id)
        assert (version.status, version.origin, version.version) == ("candidate", "upload", 2)
        reference = load_reference(session, version_id)
        champion = load_reference(session, version.parent_version_id)
    assert len(reference) == len(champion)
    # Same rows, this version's own outputs.
    assert (reference["tenure"].to_numpy() == champion["tenure"].to_numpy()).all()
    assert not (reference["probability"].to_numpy() == champion["probability"].to_numpy()).all()
