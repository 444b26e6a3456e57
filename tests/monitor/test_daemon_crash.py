"""kill -9 of a real daemon in the middle of an ingest, a monitor run and a retrain job:
after a restart everything is in the store exactly once and every job finishes once."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from monitor.jobs import request_retrain
from monitor.store import session_scope
from monitor.store.models import (
    Event,
    IngestedFile,
    MetricPoint,
    ModelVersion,
    Prediction,
    RetrainJob,
    Run,
    Source,
)
from monitor.timeutil import utcnow, window_start
from tests.factories import churn_frame, make_deployment
from tests.monitor.daemon_support import daemon, leader, wait_for
from tests.monitor.runs_support import add_window
from tests.retrain.support import log_traffic, make_model

pytestmark = pytest.mark.slow

RECORDS = 60_000
HOUR = timedelta(hours=1)


def count(engine: Engine, query) -> int:
    with session_scope(engine) as session:
        return session.scalar(query) or 0


def write_log(path: Path, records: int) -> None:
    stamp = (utcnow() - HOUR).strftime("%Y-%m-%dT%H:%M:%SZ")
    features = {"tenure": 5.0, "charges": 70.5, "plan": "pro", "region": "eu"}
    with path.open("w") as handle:
        for i in range(records):
            record = {"request_id": f"r-{i}", "timestamp": stamp, "features": features}
            handle.write(json.dumps(record) + "\n")


def test_a_daemon_killed_mid_ingest_loses_and_repeats_nothing(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "predictions.jsonl"
    write_log(log, RECORDS)
    with session_scope(engine) as session:
        deployment = make_deployment(session, window_seconds=7 * 86400)
        session.add(
            Source(
                deployment_id=deployment.id,
                role="predictions",
                name="log",
                kind="jsonl",
                config={"path": str(log)},
            )
        )
    first = daemon(db_url, tmp_path / "first.log", DRIFTWISE_INGEST_CHUNK_BYTES=str(1024 * 1024))
    try:
        wait_for(
            lambda: count(engine, select(func.max(IngestedFile.offset))) > 0,
            90,
            "the first chunk",
            (first,),
            interval=0.02,
        )
    finally:
        first.kill()
    partial = count(engine, select(func.count()).select_from(Prediction))
    assert 0 < partial < RECORDS, "the daemon must be killed part-way through the file"

    second = daemon(db_url, tmp_path / "second.log")
    try:
        wait_for(
            lambda: count(engine, select(func.max(IngestedFile.offset))) == log.stat().st_size,
            90,
            "the whole file",
            (second,),
        )
    finally:
        assert second.terminate() == 0
    rows = count(engine, select(func.count()).select_from(Prediction))
    distinct = count(engine, select(func.count(func.distinct(Prediction.request_id))))
    assert rows == distinct == RECORDS
    assert leader(engine) is None, "a stopped daemon releases the scheduler lease"


def test_a_daemon_killed_mid_monitor_run_runs_every_window_once(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    now = utcnow()
    first_window = window_start(now, 3600) - 4 * HOUR
    with session_scope(engine) as session:
        deployment = make_deployment(session, min_rows=10)
        deployment.created_at = first_window
        deployment.schedule_seconds = 1
        deployment_id = deployment.id
    for hour in range(3):
        add_window(
            engine,
            deployment_id,
            first_window + hour * HOUR,
            churn_frame(3000, seed=hour),
            f"w{hour}",
        )
    windows = 4  # three with traffic, one empty

    def running() -> int:
        return count(
            engine,
            select(func.count()).select_from(Run).where(Run.status == "running"),
        )

    first = daemon(db_url, tmp_path / "first.log", DRIFTWISE_INGEST_CHUNK_BYTES=str(1024 * 1024))
    try:
        wait_for(running, 120, "a monitor run in progress", (first,), interval=0.02)
    finally:
        first.kill()
    with session_scope(engine) as session:
        interrupted = session.scalars(select(Run.window_start).where(Run.status == "running")).all()
        # Let the dead daemon's claims lapse now rather than within their lease.
        session.execute(
            update(Run)
            .where(Run.status == "running")
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )
    assert interrupted

    def finished() -> bool:
        query = select(func.count()).select_from(Run).where(Run.status != "running")
        return count(engine, query.where(Run.kind == "monitor")) == windows

    second = daemon(db_url, tmp_path / "second.log")
    try:
        wait_for(finished, 120, "every window run", (second,))
    finally:
        assert second.terminate() == 0
    with session_scope(engine) as session:
        runs = session.scalars(select(Run).where(Run.kind == "monitor")).all()
        points = session.execute(
            select(MetricPoint.run_id, MetricPoint.metric, MetricPoint.column, func.count())
            .group_by(MetricPoint.run_id, MetricPoint.metric, MetricPoint.column)
            .having(func.count() > 1)
        ).all()
    assert len({run.window_start for run in runs}) == len(runs) == windows
    assert sorted(run.status for run in runs) == ["no_data", "ok", "ok", "ok"]
    retaken = [run for run in runs if run.window_start in interrupted]
    assert all(run.attempts == 2 and run.status == "ok" for run in retaken)
    assert points == [], "a killed run leaves no half-written metric points"


def test_a_daemon_killed_mid_retrain_finishes_the_job_once(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    model_id = make_model(
        engine, retrain={"recipe": "tests.monitor.daemon_support:slow_recipe"}, batch=False
    )
    log_traffic(engine, 900)
    with session_scope(engine) as session:
        job = request_retrain(session, model_id, "manual", "crash-test")
        session.flush()
        job_id = job.id
    markers = tmp_path / "markers"
    env = {
        "DRIFTWISE_TEST_MARKERS": str(markers),
        "DRIFTWISE_TEST_TRAIN_SECONDS": "3",
        "DRIFTWISE_SHUTDOWN_SECONDS": "30",
    }

    def trainings() -> int:
        return len(list(markers.glob("train-*"))) if markers.exists() else 0

    first = daemon(db_url, tmp_path / "first.log", **env)
    try:
        wait_for(lambda: trainings() == 1, 120, "the training to start", (first,))
    finally:
        first.kill()
    with session_scope(engine) as session:
        assert session.get(RetrainJob, job_id).status == "running"
        # Let the dead daemon's claim lapse now rather than within its lease.
        session.execute(
            update(RetrainJob)
            .where(RetrainJob.id == job_id)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )

    second = daemon(db_url, tmp_path / "second.log", **env)
    try:
        wait_for(lambda: trainings() == 2, 120, "the training to start again", (second,))
    finally:
        # SIGTERM mid-training: the daemon lets the job finish before it exits.
        assert second.terminate() == 0
    with session_scope(engine) as session:
        job = session.get(RetrainJob, job_id)
        versions = session.scalars(
            select(ModelVersion).where(ModelVersion.retrain_job_id == job_id)
        ).all()
        outcomes = session.scalars(
            select(Event.type).where(
                Event.retrain_job_id == job_id,
                Event.type.in_(["retrain.promoted", "retrain.rejected"]),
            )
        ).all()
    assert job.status in ("succeeded", "rejected"), job.error
    assert job.attempts == 2
    assert len(versions) == 1
    assert len(outcomes) == 1
    assert trainings() == 2
