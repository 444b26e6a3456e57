"""A Celery worker killed with -9 in the middle of a retrain and of a monitor run: its task
comes back, the dead worker's short claim has lapsed, and the work is done once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from monitor.service.executors import CeleryExecutor
from monitor.service.worker import make_app
from monitor.store import session_scope
from monitor.store.models import RetrainJob, Run
from monitor.timeutil import utcnow, window_start
from tests.factories import make_deployment
from tests.monitor.daemon_support import finished_once, slow_retrain, training_env, trainings
from tests.monitor.runs_support import add_hours
from tests.processes import Process, flushed_redis, kill_after, stop_after, wait_for
from tests.processes import worker as celery_worker
from tests.queries import count, doubled_points, runs_where

# Real workers under tight task time limits, sharing one Redis database: these run alone,
# after the parallel part of the suite (`make test`).
pytestmark = [pytest.mark.slow, pytest.mark.serial]

HOUR = timedelta(hours=1)
SHORT_CLAIMS = {"DRIFTWISE_RETRAIN_LEASE_SECONDS": "2", "DRIFTWISE_RUN_LEASE_SECONDS": "2"}
# Long enough for a retrain on a busy machine: the killed worker's message comes back
# only after the test; what takes the work over is the next submission of the task, as
# the daemon submits it every few seconds.
BROKER = {"DRIFTWISE_BROKER_VISIBILITY_TIMEOUT": "600", "DRIFTWISE_TASK_TIME_LIMIT": "300"}


@pytest.fixture
def redis_url(monkeypatch) -> Iterator[str]:
    yield from flushed_redis(monkeypatch, BROKER)


def worker(db_url: str, redis_url: str, log: Path, **env: str) -> Process:
    return celery_worker(db_url, redis_url, log, **BROKER, **SHORT_CLAIMS, **env)


def lapsed(engine: Engine, table: type[Run] | type[RetrainJob]) -> None:
    """Wait for the killed worker's claims to lapse: a task that starts sooner rightly
    leaves them alone, and only the daemon's next submission would take them over."""

    def live() -> int:
        held = (table.status == "running", table.lease_until >= utcnow())
        return count(engine, select(func.count()).select_from(table).where(*held))

    wait_for(lambda: live() == 0, 30, "the killed worker's claims to lapse")


def test_a_worker_killed_mid_retrain_has_its_job_taken_over_and_done_once(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path
) -> None:
    job_id = slow_retrain(engine, "celery-kill")
    markers = tmp_path / "markers"
    started = trainings(markers)

    env = training_env(markers, 30)
    first = worker(db_url, redis_url, tmp_path / "first.log", **env)
    CeleryExecutor(make_app(redis_url)).submit("retrain_pending")
    kill_after(first, lambda: started() == 1, 120, "the training to start")
    lapsed(engine, RetrainJob)

    env["DRIFTWISE_TEST_TRAIN_SECONDS"] = "1"
    second = worker(db_url, redis_url, tmp_path / "second.log", **env)
    CeleryExecutor(make_app(redis_url)).submit("retrain_pending")
    done = (
        select(func.count())
        .select_from(RetrainJob)
        .where(RetrainJob.id == job_id, RetrainJob.status.in_(["succeeded", "rejected"]))
    )
    stop_after(
        second,
        lambda: count(engine, done),
        120,
        "the next task to take the job over and finish it",
    )
    finished_once(engine, job_id)
    assert started() == 2


def test_a_worker_killed_mid_monitor_run_has_every_window_run_once(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path
) -> None:
    first_window = window_start(utcnow(), 3600) - 7 * HOUR
    with session_scope(engine) as session:
        deployment = make_deployment(session, min_rows=10)
        deployment.created_at = first_window
        name, deployment_id = deployment.name, deployment.id
    windows = 6
    add_hours(engine, deployment_id, first_window, windows, rows=3000)

    def running() -> int:
        return runs_where(engine, Run.status == "running")

    first = worker(db_url, redis_url, tmp_path / "first.log")
    CeleryExecutor(make_app(redis_url)).submit("monitor_deployment", name)
    kill_after(first, running, 120, "a monitor run in progress", interval=0.02)
    with session_scope(engine) as session:
        interrupted = session.scalars(select(Run.window_start).where(Run.status == "running")).all()
    assert interrupted
    lapsed(engine, Run)

    def finished() -> bool:
        return runs_where(engine, Run.status != "running", Run.kind == "monitor") >= windows + 1

    second = worker(db_url, redis_url, tmp_path / "second.log")
    CeleryExecutor(make_app(redis_url)).submit("monitor_deployment", name)
    stop_after(second, finished, 120, "every window run by the next task")
    with session_scope(engine) as session:
        runs = session.scalars(select(Run).where(Run.kind == "monitor")).all()
    assert len({run.window_start for run in runs}) == len(runs) == windows + 1
    retaken = [run for run in runs if run.window_start in interrupted]
    assert retaken and all(run.attempts == 2 and run.status == "ok" for run in retaken)
    assert doubled_points(engine) == []
