"""Retrain jobs from request to decision, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from monitor.jobs import request_retrain
from monitor.registry.reference import load_reference
from monitor.store import session_scope
from monitor.store.models import (
    Deployment,
    DeploymentHistory,
    Event,
    ModelVersion,
    ReferenceSet,
    RetrainJob,
)
from monitor.timeutil import utcnow
from retrain.jobs import claim, execute, run_job, run_pending
from tests.retrain import support
from tests.retrain.support import log_traffic, make_model


def _request(engine, model_id: int, key: str = "breach:1", trigger: str = "policy") -> int:
    with session_scope(engine) as session:
        job = request_retrain(
            session,
            model_id,
            trigger,
            key,
            deployment_id=support.deployment_id(engine),
            reason="drift",
            force=True,
        )
        session.flush()
        return job.id


def _job(engine, job_id: int) -> RetrainJob:
    with session_scope(engine) as session:
        return session.get(RetrainJob, job_id)


def _versions(engine) -> dict[int, ModelVersion]:
    with session_scope(engine) as session:
        return {v.version: v for v in session.scalars(select(ModelVersion))}


def _event_types(engine) -> list[str]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Event.type)))


def test_a_breach_trains_evaluates_and_promotes_with_every_number(engine):
    model_id = make_model(engine)
    log_traffic(engine, 800, shift=1.5)
    job_id = _request(engine, model_id)

    assert run_pending(engine, "worker-a") == [job_id]

    job = _job(engine, job_id)
    assert (job.status, job.decision, job.error) == ("succeeded", "promoted", None)
    evaluation = job.evaluation
    assert evaluation["metric"] == "roc_auc"
    assert evaluation["challenger_score"] > evaluation["champion_score"]
    assert evaluation["improvement"] == pytest.approx(
        evaluation["challenger_score"] - evaluation["champion_score"]
    )
    for side in ("champion", "challenger"):
        assert set(evaluation[side]["metrics"]) == {
            "roc_auc",
            "f1",
            "accuracy",
            "precision",
            "recall",
        }
        assert evaluation[side]["problems"] == []
    training = evaluation["training"]
    assert training["labeled_rows"] == 800
    assert training["holdout_rows"] == 200
    assert training["reference_rows"] == 1500
    assert training["train_rows"] == 600 + 1500
    assert set(evaluation["timings"]) >= {"assemble_seconds", "train_seconds", "evaluate_seconds"}

    versions = _versions(engine)
    new = versions[2]
    assert (new.status, new.origin, new.retrain_job_id) == ("champion", "retrain", job_id)
    assert new.parent_version_id == versions[1].id and versions[1].status == "archived"
    assert (new.train_rows, new.holdout_rows) == (2100, 200)
    assert len(new.sha256) == 64 and new.training_start < new.training_end
    assert new.metrics["score"] == evaluation["challenger_score"]
    assert (job.champion_version_id, job.challenger_version_id) == (versions[1].id, new.id)

    with session_scope(engine) as session:
        deployments = session.scalars(select(Deployment)).all()
        assert {d.active_version_id for d in deployments} == {new.id}
        history = session.scalars(
            select(DeploymentHistory).where(DeploymentHistory.reason == "retrain")
        ).all()
        assert len(history) == 2 and all(h.previous_version_id == versions[1].id for h in history)
        # Re-baselined: the new version's reference is its own training data, scored by itself.
        reference = load_reference(session, new.id)
        assert len(reference) == 2100 and {"prediction", "probability"} <= set(reference)
    types = _event_types(engine)
    assert {"retrain.started", "retrain.promoted", "model.promoted"} <= set(types)
    assert types.count("deployment.updated") == 2


def test_a_challenger_below_the_margin_is_rejected_with_numbers(engine):
    model_id = make_model(engine, {"min_improvement": 0.5})
    log_traffic(engine, 600, shift=1.5)
    job = run_job(engine, _request(engine, model_id))

    assert (job.status, job.decision) == ("rejected", "rejected")
    assert job.evaluation["improvement"] < 0.5
    assert "below 0.5" in job.evaluation["reason"]
    assert job.evaluation["champion_score"] is not None
    versions = _versions(engine)
    assert versions[2].status == "rejected" and versions[1].status == "champion"
    with session_scope(engine) as session:
        assert {d.active_version_id for d in session.scalars(select(Deployment))} == {
            versions[1].id
        }
    assert "retrain.rejected" in _event_types(engine)


def test_a_degenerate_challenger_fails_the_sanity_check(sqlite_url):
    from monitor.store import get_engine

    engine = get_engine(sqlite_url)
    model_id = make_model(engine, {"recipe": "tests.retrain.support:constant_recipe"})
    log_traffic(engine, 600, shift=1.5)
    job = run_job(engine, _request(engine, model_id))
    assert job.status == "rejected"
    assert "degenerate" in job.evaluation["reason"]


def test_the_same_idempotency_key_returns_the_same_job(engine):
    model_id = make_model(engine)
    first = _request(engine, model_id, key="hook:abc")
    second = _request(engine, model_id, key="hook:abc")
    assert first == second
    with session_scope(engine) as session:
        assert len(session.scalars(select(RetrainJob)).all()) == 1


def test_only_one_job_runs_per_model(engine):
    model_id = make_model(engine)
    first, second = _request(engine, model_id, "a"), _request(engine, model_id, "b")
    assert claim(engine, first, "worker-a")
    assert not claim(engine, second, "worker-b")
    assert not claim(engine, first, "worker-b")  # a live lease is not taken over
    assert _job(engine, second).status == "pending"


def test_a_stale_lease_is_taken_over_and_the_old_worker_writes_nothing(engine):
    model_id = make_model(engine)
    log_traffic(engine, 600, shift=2.0)
    job_id = _request(engine, model_id)
    assert claim(engine, job_id, "worker-dead")
    with session_scope(engine) as session:
        session.execute(
            update(RetrainJob)
            .where(RetrainJob.id == job_id)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )

    assert run_pending(engine, "worker-b") == [job_id]
    job = _job(engine, job_id)
    assert (job.status, job.claimed_by, job.attempts) == ("succeeded", "worker-b", 2)

    execute(engine, job_id, "worker-dead")  # the old worker wakes up: its lease is gone
    after = _job(engine, job_id)
    assert (after.status, after.decision, after.challenger_version_id) == (
        "succeeded",
        job.decision,
        job.challenger_version_id,
    )
    assert len(_versions(engine)) == 2


def test_too_few_labeled_rows_fail_the_job_with_the_reason(engine):
    model_id = make_model(engine)
    log_traffic(engine, 100)
    job = run_job(engine, _request(engine, model_id))
    assert job.status == "failed"
    assert "100 labeled rows" in job.error and "min_labeled_rows 400" in job.error
    assert len(_versions(engine)) == 1
    assert "retrain.failed" in _event_types(engine)


def test_a_single_class_fails_the_job_with_the_reason(engine):
    model_id = make_model(engine, {"include_reference": False})
    log_traffic(engine, 600, labels=1)
    job = run_job(engine, _request(engine, model_id))
    assert job.status == "failed"
    assert "single class" in job.error


def test_the_holdout_is_never_trained_on(sqlite_url):
    from monitor.store import get_engine

    engine = get_engine(sqlite_url)
    model_id = make_model(engine, {"recipe": "tests.retrain.support:recording_recipe"})
    traffic = log_traffic(engine, 800, shift=1.5)
    support.RECORDED.clear()
    job = run_job(engine, _request(engine, model_id))
    assert job.status in ("succeeded", "rejected"), job.error

    (trained,) = support.RECORDED
    newest = traffic.sort_values("timestamp").tail(200)  # holdout 0.25 of 800
    assert not set(trained.index) & set(newest["request_id"])
    production = traffic.set_index("request_id").loc[
        [rid for rid in trained.index if not rid.startswith("reference:")]
    ]
    assert len(production) == 600
    assert production["timestamp"].max() < newest["timestamp"].min()
    assert job.evaluation["training"]["holdout_rows"] == 200


def test_auto_promote_off_leaves_the_candidate_waiting(engine):
    from monitor.registry.versions import promote

    model_id = make_model(engine, {"auto_promote": False})
    log_traffic(engine, 600, shift=2.0)
    job = run_job(engine, _request(engine, model_id))
    assert (job.status, job.decision) == ("succeeded", "awaiting_promotion")
    versions = _versions(engine)
    assert versions[2].status == "candidate"
    with session_scope(engine) as session:
        assert session.get(Deployment, support.deployment_id(engine)).active_version_id == (
            versions[1].id
        )
        promote(session, session.get(ModelVersion, versions[2].id), reason="manual")
    with session_scope(engine) as session:
        assert session.get(Deployment, support.deployment_id(engine)).active_version_id == (
            versions[2].id
        )


def test_an_external_recipe_waits_for_an_upload_then_is_evaluated(engine):
    from monitor.registry.artifacts import dump_artifact
    from retrain.upload import upload_version

    model_id = make_model(engine, {"recipe": "external"})
    log_traffic(engine, 600, shift=1.5)
    job_id = _request(engine, model_id)
    job = run_job(engine, job_id)
    assert (job.status, job.decision) == ("waiting", "awaiting_upload")
    assert "retrain.requested" in _event_types(engine)

    estimator, _ = support.fitted(rows=1500, seed=3, shift=1.5)
    with session_scope(engine) as session:
        from monitor.store.models import Model

        version = upload_version(
            session, session.get(Model, model_id), dump_artifact(estimator), job_id
        )
        assert version.origin == "upload"
    job = run_job(engine, job_id)
    assert job.status in ("succeeded", "rejected")
    assert job.challenger_version_id == _versions(engine)[2].id
    assert job.evaluation["challenger_score"] is not None


def test_an_untrusted_artifact_is_refused_on_upload(engine, tmp_path):
    import pickle

    import skops.io as sio

    from monitor.errors import ArtifactRefused
    from monitor.store.models import Model
    from retrain.upload import upload_version

    model_id = make_model(engine)
    untrusted = sio.dumps(support.RecordingThing())
    with session_scope(engine) as session:
        model = session.get(Model, model_id)
        with pytest.raises(ArtifactRefused, match="untrusted types"):
            upload_version(session, model, untrusted)
        with pytest.raises(ArtifactRefused, match="plain pickles"):
            upload_version(session, model, pickle.dumps({"a": 1}))
    assert len(_versions(engine)) == 1
    with session_scope(engine) as session:
        assert len(session.scalars(select(ReferenceSet)).all()) == 1


def test_racing_workers_claim_one_job_per_model(engine):
    import threading

    model_id = make_model(engine)
    jobs = [_request(engine, model_id, f"race-{n}") for n in range(4)]
    barrier = threading.Barrier(4)
    won: list[int] = []

    def worker(n: int) -> None:
        barrier.wait()
        if claim(engine, jobs[n], f"worker-{n}"):
            won.append(n)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    with session_scope(engine) as session:
        running = session.scalars(select(RetrainJob).where(RetrainJob.status == "running")).all()
    assert [job.id for job in running] == [jobs[won[0]]]


def test_a_job_whose_worker_keeps_dying_is_given_up(engine):
    from retrain.jobs import MAX_ATTEMPTS

    model_id = make_model(engine)
    job_id = _request(engine, model_id)
    with session_scope(engine) as session:
        session.execute(
            update(RetrainJob)
            .where(RetrainJob.id == job_id)
            .values(
                status="running",
                claimed_by="gone",
                attempts=MAX_ATTEMPTS,
                lease_until=utcnow() - timedelta(seconds=1),
            )
        )
    assert run_pending(engine, "worker") == []
    job = _job(engine, job_id)
    assert job.status == "failed" and "stopped 3 times" in job.error
