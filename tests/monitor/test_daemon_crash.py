"""kill -9 of a real daemon in the middle of an ingest, a monitor run and a retrain job:
after a restart everything is in the store exactly once and every job finishes once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from monitor.store import session_scope
from monitor.store.models import Event, RetrainJob, Run
from monitor.timeutil import utcnow, window_start
from tests.factories import add_source, make_deployment, write_prediction_log
from tests.monitor.daemon_support import (
    finished_once,
    leader,
    slow_retrain,
    training_env,
    trainings,
)
from tests.monitor.runs_support import add_hours
from tests.processes import daemon, kill_after, stop_after
from tests.queries import doubled_points, ingested_offset, runs_where, stored_predictions

pytestmark = pytest.mark.slow

RECORDS = 60_000
HOUR = timedelta(hours=1)


def test_a_daemon_killed_mid_ingest_loses_and_repeats_nothing(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "predictions.jsonl"
    write_prediction_log(log, RECORDS)
    with session_scope(engine) as session:
        deployment = make_deployment(session, window_seconds=7 * 86400)
        add_source(session, deployment.id, path=str(log))
    first = daemon(db_url, tmp_path / "first.log", DRIFTWISE_INGEST_CHUNK_BYTES=str(1024 * 1024))
    kill_after(first, lambda: ingested_offset(engine) > 0, 90, "the first chunk", interval=0.02)
    partial, _ = stored_predictions(engine)
    assert 0 < partial < RECORDS, "the daemon must be killed part-way through the file"

    second = daemon(db_url, tmp_path / "second.log")
    stop_after(second, lambda: ingested_offset(engine) == log.stat().st_size, 90, "the whole file")
    rows, distinct = stored_predictions(engine)
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
    add_hours(engine, deployment_id, first_window, 3, rows=3000)
    windows = 4  # three with traffic, one empty

    def running() -> int:
        return runs_where(engine, Run.status == "running")

    first = daemon(db_url, tmp_path / "first.log", DRIFTWISE_INGEST_CHUNK_BYTES=str(1024 * 1024))
    kill_after(first, running, 120, "a monitor run in progress", interval=0.02)
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
        return runs_where(engine, Run.status != "running", Run.kind == "monitor") == windows

    second = daemon(db_url, tmp_path / "second.log")
    stop_after(second, finished, 120, "every window run")
    with session_scope(engine) as session:
        runs = session.scalars(select(Run).where(Run.kind == "monitor")).all()
    assert len({run.window_start for run in runs}) == len(runs) == windows
    assert sorted(run.status for run in runs) == ["no_data", "ok", "ok", "ok"]
    retaken = [run for run in runs if run.window_start in interrupted]
    assert all(run.attempts == 2 and run.status == "ok" for run in retaken)
    assert doubled_points(engine) == [], "a killed run leaves no half-written metric points"


def test_a_daemon_killed_mid_retrain_finishes_the_job_once(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    job_id = slow_retrain(engine, "crash-test")
    markers = tmp_path / "markers"
    env = training_env(markers, 3, DRIFTWISE_SHUTDOWN_SECONDS="30")
    started = trainings(markers)

    first = daemon(db_url, tmp_path / "first.log", **env)
    kill_after(first, lambda: started() == 1, 120, "the training to start")
    with session_scope(engine) as session:
        assert session.get(RetrainJob, job_id).status == "running"
        # Let the dead daemon's claim lapse now rather than within its lease.
        session.execute(
            update(RetrainJob)
            .where(RetrainJob.id == job_id)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )

    second = daemon(db_url, tmp_path / "second.log", **env)
    # SIGTERM mid-training: the daemon lets the job finish before it exits.
    stop_after(second, lambda: started() == 2, 120, "the training to start again")
    finished_once(engine, job_id)
    with session_scope(engine) as session:
        outcomes = session.scalars(
            select(Event.type).where(
                Event.retrain_job_id == job_id,
                Event.type.in_(["retrain.promoted", "retrain.rejected"]),
            )
        ).all()
    assert len(outcomes) == 1
    assert started() == 2
