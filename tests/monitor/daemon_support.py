"""What the daemon crash and takeover tests give their real daemons to work on, and how
they watch them (the processes themselves: tests/processes.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, select

from monitor.store import session_scope
from monitor.store.models import Lease, ModelVersion, RetrainJob


def leader(engine: Engine) -> str | None:
    with session_scope(engine) as session:
        lease = session.scalar(select(Lease).where(Lease.name == "scheduler"))
        return lease.holder if lease else None


def holder_pid(holder: str | None) -> int | None:
    return int(holder.split(":")[1]) if holder else None


def slow_recipe(frame, context):
    """A user recipe that says it started (a file in DRIFTWISE_TEST_MARKERS) and then
    takes long enough to be killed in the middle of."""
    from monitor.demo.sample_data import churn_pipeline

    markers = Path(os.environ["DRIFTWISE_TEST_MARKERS"])
    markers.mkdir(parents=True, exist_ok=True)
    (markers / f"train-{os.getpid()}-{time.time_ns()}").touch()
    time.sleep(float(os.environ.get("DRIFTWISE_TEST_TRAIN_SECONDS", "3")))
    return churn_pipeline().fit(frame[context.features], frame[context.target])


def slow_retrain(engine: Engine, requested_by: str) -> int:
    """A retrain job of a model that trains with `slow_recipe`; its id."""
    from monitor.jobs import request_retrain
    from tests.retrain.support import log_traffic, make_model

    model_id = make_model(
        engine, retrain={"recipe": "tests.monitor.daemon_support:slow_recipe"}, batch=False
    )
    log_traffic(engine, 900)
    with session_scope(engine) as session:
        job = request_retrain(session, model_id, "manual", requested_by)
        session.flush()
        return job.id


def finished_once(engine: Engine, job_id: int) -> RetrainJob:
    """The job finished after two attempts and made exactly one version."""
    with session_scope(engine) as session:
        done = session.get(RetrainJob, job_id)
        versions = session.scalars(
            select(ModelVersion).where(ModelVersion.retrain_job_id == job_id)
        ).all()
    assert done.status in ("succeeded", "rejected"), done.error
    assert done.attempts == 2
    assert len(versions) == 1
    return done


def training_env(markers: Path, seconds: float, **env: str) -> dict[str, str]:
    """The environment in which `slow_recipe` leaves its markers in `markers` and takes
    `seconds` to train, with `env` besides."""
    return {
        "DRIFTWISE_TEST_MARKERS": str(markers),
        "DRIFTWISE_TEST_TRAIN_SECONDS": str(seconds),
        **env,
    }


def trainings(markers: Path) -> Callable[[], int]:
    """How many times `slow_recipe` has started training, with its markers in `markers`."""
    return lambda: len(list(markers.glob("train-*"))) if markers.exists() else 0
