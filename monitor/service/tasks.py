"""What the daemon's jobs do, by name (where they run is `executors.py`'s business).

Every task is idempotent by our own tables (unique run rows, leases, idempotency keys),
so a task delivered twice, or killed half-way and run again, does its work once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update

from monitor.logs import log_context
from monitor.settings import current_settings
from monitor.store import get_engine, session_scope
from monitor.store.models import Label, Model, Prediction, Quarantine, Run
from monitor.timeutil import parse_duration, utcnow, window_start

TASKS: dict[str, Callable[..., dict[str, Any]]] = {}
NOTIFY_BATCH = 100
NOTIFY_MAX_BATCHES = 50
QUIET_SECONDS = 5.0  # reports wait until no monitor run has finished for this long
NEWEST_RUNS = 50  # the runs looked at to tell whether monitor runs are being made


def task(func: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    TASKS[func.__name__] = func
    return func


@task
def ingest_source(source_id: int) -> dict[str, Any]:
    """One pass over one source from its cursor, under the source's lease."""
    from monitor.ingest.engine import ingest_source as read_source
    from monitor.ingest.engine import load_jobs
    from monitor.service.claims import worker_id

    engine = get_engine()
    with session_scope(engine) as session:
        jobs = [job for job in load_jobs(session) if job.source_id == source_id]
    if not jobs:
        return {"skipped": "source deleted or disabled"}
    return asdict(read_source(engine, replace(jobs[0], holder=worker_id())))


@task
def monitor_deployment(name: str) -> dict[str, Any]:
    """The deployment's due windows, then backfills for windows whose labels arrived; their
    Evidently reports are `build_reports`' work, so no verdict waits for one."""
    from monitor.errors import DeploymentNotFound
    from monitor.runs.job import monitor_deployment as run_due

    try:
        result = run_due(get_engine(), name, report_rows=0)
    except DeploymentNotFound:
        return {"skipped": "deployment deleted"}
    return {"runs": result.runs, "skipped": result.skipped}


@task
def build_reports() -> dict[str, Any]:
    """Evidently's reports of finished runs that have none, newest first, within
    DRIFTWISE_REPORT_BUDGET_SECONDS; it stops early while monitor runs are being made, so
    reports take the time verdicts leave. What is left waits for the next call."""
    from monitor.runs.reports import build_report

    engine = get_engine()
    deadline = time.monotonic() + current_settings().report_budget_seconds
    built, tried = 0, set()
    while time.monotonic() < deadline and not _monitoring(engine):
        with session_scope(engine) as session:
            run = _next_without_report(session, tried)
            if run is None:
                break
            tried.add(run.id)
            built += build_report(session, run) is not None
    return {"built": built}


def _next_without_report(session, tried: set[int]) -> Run | None:
    return session.scalars(
        select(Run)
        .where(Run.status == "ok", Run.report_rows.is_(None), Run.id.not_in(tried))
        .order_by(Run.window_start.desc(), Run.id.desc())
        .limit(1)
    ).first()


def _monitoring(engine) -> bool:
    """Whether monitor runs are being made here or elsewhere: one of the newest holds a
    live claim, or finished less than `QUIET_SECONDS` ago (a round's next window is near)."""
    now = utcnow()
    newest = select(Run.status, Run.lease_until, Run.finished_at).order_by(Run.id.desc())
    with session_scope(engine) as session:
        for status, lease_until, finished_at in session.execute(newest.limit(NEWEST_RUNS)):
            if status == "running" and lease_until is not None and lease_until >= now:
                return True
            if finished_at is not None and (now - finished_at).total_seconds() < QUIET_SECONDS:
                return True
    return False


@task
def retrain_pending() -> dict[str, Any]:
    """Claim and run every retrain job that can run now."""
    from retrain.jobs import run_pending

    return {"jobs": run_pending(get_engine())}


@task
def scheduled_retrain(model_id: int) -> dict[str, Any]:
    """Request this period's retrain of a model with `retrain.schedule`; once per period."""
    from monitor.jobs import request_retrain

    with session_scope() as session:
        model = session.get(Model, model_id)
        schedule = (model.retrain or {}).get("schedule") if model else None
        if not schedule:
            return {"skipped": "no schedule"}
        period = window_start(utcnow(), parse_duration(schedule))
        if model.created_at >= period:
            return {"skipped": "model created in this period"}
        job = request_retrain(
            session,
            model.id,
            "schedule",
            f"schedule:{model.name}:{period.isoformat()}",
            reason=f"scheduled every {schedule}",
        )
        session.flush()
        return {"job": job.id, "status": job.status}


@task
def notify() -> dict[str, Any]:
    """Fan out new events, then send every notification that is due."""
    from monitor.notify.dispatch import dispatch_due
    from monitor.notify.outbox import enqueue_pending

    with session_scope() as session:
        queued = enqueue_pending(session)
    totals = {"queued": queued, "sent": 0, "retrying": 0, "failed": 0, "skipped": 0}
    for _ in range(NOTIFY_MAX_BATCHES):
        counts = dispatch_due(limit=NOTIFY_BATCH)  # one thread: one worker id
        for key in ("sent", "retrying", "failed", "skipped"):
            totals[key] += counts[key]
        if counts["due"] < NOTIFY_BATCH:
            break
    return totals


@task
def advise() -> dict[str, Any]:
    """Refresh each deployment's serving advice (measuring a new version's compute once);
    a changed recommendation that has held a week becomes a `serving.advice` event."""
    from sqlalchemy import select

    from monitor.advice.advise import advise as advise_deployment
    from monitor.advice.advise import record_advice
    from monitor.store.models import Deployment

    announced = 0
    with session_scope() as session:
        for deployment in session.scalars(select(Deployment).order_by(Deployment.id)):
            announced += record_advice(session, deployment, advise_deployment(session, deployment))
    return {"announced": announced}


@task
def housekeeping() -> dict[str, Any]:
    """Forget predictions, labels and quarantined records past the retention, and drop
    Evidently snapshots of old runs (their metrics stay)."""
    settings = current_settings()
    keep_rows, keep_snapshots = settings.retention_days, settings.snapshot_retention_days
    now, result = utcnow(), {}
    with session_scope() as session:
        if keep_rows:
            cutoff = now - timedelta(days=keep_rows)
            for name, table, column in (
                ("predictions", Prediction, Prediction.timestamp),
                ("labels", Label, Label.ingested_at),
                ("quarantine", Quarantine, Quarantine.created_at),
            ):
                result[name] = session.execute(
                    delete(table)
                    .where(column < cutoff)
                    .execution_options(synchronize_session=False)
                ).rowcount
        if keep_snapshots:
            cutoff = now - timedelta(days=keep_snapshots)
            result["snapshots"] = session.execute(
                update(Run)
                .where(Run.window_end < cutoff, Run.snapshot.is_not(None))
                .values(snapshot=None)
                .execution_options(synchronize_session=False)
            ).rowcount
    return result


@task
def follow_registry() -> dict[str, Any]:
    """Follow MLflow aliases: a model whose alias moved switches to the version it names."""
    from monitor.errors import DriftwiseError
    from retrain.upload import follow_registry as follow

    switched, errors = [], []
    with session_scope() as session:
        models = session.scalars(select(Model).where(Model.artifact_uri.like("models:/%@%")))
        for model in models.all():
            try:
                with session.begin_nested():
                    version = follow(session, model)
            except DriftwiseError as error:
                errors.append(f"{model.name}: {error}")
                continue
            if version is not None:
                switched.append(f"{model.name} v{version.version}")
    return {"switched": switched, "errors": errors}


# What each task's first argument names, for the log lines written while it runs.
CONTEXT = {"ingest_source": "source", "monitor_deployment": "deployment"}


def run_task(name: str, *args: Any) -> dict[str, Any]:
    if name not in TASKS:
        raise KeyError(f"no task named {name!r}")
    key = CONTEXT.get(name)
    with log_context(**({key: args[0]} if key and args else {})):
        return TASKS[name](*args)


def scheduled_models(session) -> list[tuple[int, int]]:
    """(model id, schedule seconds) of models with a retrain schedule."""
    result = []
    for model_id, retrain in session.execute(select(Model.id, Model.retrain).order_by(Model.id)):
        schedule = (retrain or {}).get("schedule")
        if schedule:
            result.append((model_id, parse_duration(schedule)))
    return result
