"""Running retrain jobs: claim by compare-and-set under a lease, one running job per model.

A job's steps are short transactions around the slow part (the fit), which runs with no
transaction open. Its result is written only if the job is still this worker's: a worker
whose lease expired and was taken over writes nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from monitor.errors import DriftwiseError
from monitor.events import emit
from monitor.logs import log_context
from monitor.registry.artifacts import dump_artifact, load_artifact
from monitor.registry.versions import champion_of, promote, register_version
from monitor.service.claims import Heartbeat, compare_and_set, heartbeat_every, stopping
from monitor.service.claims import worker_id as this_worker
from monitor.settings import current_settings
from monitor.store import get_engine, session_scope
from monitor.store.models import Deployment, Model, ModelVersion, RetrainJob
from monitor.timeutil import utcnow
from retrain import recipes
from retrain.evaluate import evaluate
from retrain.training import TrainingSet, assemble, reference_frame, retrain_settings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
FINISHED = ("succeeded", "rejected", "failed", "skipped", "cancelled")


class LeaseLost(Exception):
    """Another worker took the job over: this one must write nothing more."""


def _lease_seconds() -> float:
    """Renewed by a heartbeat while a job runs; a dead worker's job is taken over once
    it lapses."""
    return current_settings().retrain_lease_seconds


def claim(engine: Engine, job_id: int, worker: str, lease_seconds: float | None = None) -> bool:
    """Take the job if it is pending, or running under an expired lease, and no other job of
    its model runs under a live lease. True if this worker got it."""
    with session_scope(engine) as session:
        model_id = session.scalar(select(RetrainJob.model_id).where(RetrainJob.id == job_id))
    if model_id is None:
        return False
    now = utcnow()
    with session_scope(engine) as session:
        if session.bind.dialect.name != "sqlite":
            # Two workers claiming two jobs of one model must not both see "none running".
            session.execute(select(Model.id).where(Model.id == model_id).with_for_update())
        other = aliased(RetrainJob)
        busy = exists().where(
            other.model_id == model_id,
            other.status == "running",
            other.lease_until >= now,
            other.id != job_id,
        )
        return compare_and_set(
            session,
            RetrainJob,
            [
                RetrainJob.id == job_id,
                or_(
                    RetrainJob.status == "pending",
                    and_(RetrainJob.status == "running", RetrainJob.lease_until < now),
                ),
                ~busy,
            ],
            {
                "status": "running",
                "claimed_by": worker,
                "lease_until": now + timedelta(seconds=lease_seconds or _lease_seconds()),
                "attempts": RetrainJob.attempts + 1,
                "started_at": func.coalesce(RetrainJob.started_at, now),
            },
        )


def renew(engine: Engine, job_id: int, worker: str, lease_seconds: float | None = None) -> None:
    with session_scope(engine) as session:
        renewed = compare_and_set(
            session,
            RetrainJob,
            [
                RetrainJob.id == job_id,
                RetrainJob.status == "running",
                RetrainJob.claimed_by == worker,
            ],
            {"lease_until": utcnow() + timedelta(seconds=lease_seconds or _lease_seconds())},
        )
    if not renewed:
        raise LeaseLost(job_id)


def release(engine: Engine, job_id: int, worker: str) -> bool:
    """Give a job this worker abandons back to `pending`, its attempt recorded as
    interrupted, so that the next worker runs it at once. True if it was still ours."""
    with session_scope(engine) as session:
        job = _mine_or_none(session, job_id, worker)
        if job is None:
            return False
        interrupted = [*(job.evaluation or {}).get("interrupted", [])]
        interrupted.append({"attempt": job.attempts, "worker": worker, "at": utcnow().isoformat()})
        job.evaluation = {**(job.evaluation or {}), "interrupted": interrupted}
        job.status, job.claimed_by, job.lease_until = "pending", None, None
        return True


def _heartbeat(engine: Engine, job_id: int, worker: str) -> Heartbeat:
    seconds = _lease_seconds()

    def renewed() -> bool:
        try:
            renew(engine, job_id, worker)
            return True
        except LeaseLost:
            return False

    return Heartbeat(
        f"retrain job {job_id}",
        heartbeat_every(seconds),
        renewed,
        lambda: release(engine, job_id, worker),
    )


def _mine(session: Session, job_id: int, worker: str) -> RetrainJob:
    job = _mine_or_none(session, job_id, worker)
    if job is None:
        raise LeaseLost(job_id)
    return job


def _mine_or_none(session: Session, job_id: int, worker: str) -> RetrainJob | None:
    job = session.get(RetrainJob, job_id, with_for_update=session.bind.dialect.name != "sqlite")
    if job is None or job.status != "running" or job.claimed_by != worker:
        return None
    return job


def claimable(session: Session, now=None) -> list[RetrainJob]:
    now = now or utcnow()
    return session.scalars(
        select(RetrainJob)
        .where(
            or_(
                RetrainJob.status == "pending",
                and_(RetrainJob.status == "running", RetrainJob.lease_until < now),
            )
        )
        .order_by(RetrainJob.created_at, RetrainJob.id)
    ).all()


def run_pending(engine: Engine | None = None, worker_id: str | None = None) -> list[int]:
    """Claim and run every job that can run now; then let canaries decide. The ids run."""
    engine = engine or get_engine()
    worker = worker_id or this_worker()
    done: list[int] = []
    with session_scope(engine) as session:
        candidates = [(job.id, job.attempts, job.status) for job in claimable(session)]
    for job_id, attempts, status in candidates:
        if stopping():
            break
        if status == "running" and attempts >= MAX_ATTEMPTS:
            _give_up(engine, job_id, attempts)
            continue
        if claim(engine, job_id, worker):
            execute(engine, job_id, worker)
            done.append(job_id)
    from retrain.canary import decide_all

    decide_all(engine)
    return done


def run_job(engine: Engine, job_id: int, worker_id: str | None = None) -> RetrainJob:
    """Run one job now if it can be claimed; the job as it stands afterwards."""
    worker = worker_id or this_worker()
    with log_context(job=job_id):
        if claim(engine, job_id, worker):
            execute(engine, job_id, worker)
    with session_scope(engine) as session:
        return session.get(RetrainJob, job_id)


def _give_up(engine: Engine, job_id: int, attempts: int) -> None:
    with session_scope(engine) as session:
        job = session.get(RetrainJob, job_id)
        if job.status == "running" and job.lease_until < utcnow():
            _fail(session, job, f"abandoned: its worker stopped {attempts} times")


@dataclass
class Prepared:
    model: Model
    settings: dict[str, Any]
    champion: ModelVersion
    champion_estimator: Any
    challenger_estimator: Any  # an uploaded version's, for external recipes
    training: TrainingSet


def execute(engine: Engine, job_id: int, worker: str) -> None:
    """Every step of a claimed job, its claim renewed meanwhile; the job ends succeeded,
    rejected, failed or waiting (or back to pending if this process stops first)."""
    with _heartbeat(engine, job_id, worker):
        _execute(engine, job_id, worker)


def _execute(engine: Engine, job_id: int, worker: str) -> None:
    timings: dict[str, float] = {}
    try:
        started = time.perf_counter()
        with session_scope(engine) as session:
            prepared = _prepare(session, _mine(session, job_id, worker))
        timings["assemble_seconds"] = time.perf_counter() - started
        recipe = prepared.settings["recipe"]
        if recipe == recipes.EXTERNAL and prepared.challenger_estimator is None:
            with session_scope(engine) as session:
                _wait_for_upload(session, _mine(session, job_id, worker), prepared)
            return
        renew(engine, job_id, worker)
        started = time.perf_counter()
        challenger = prepared.challenger_estimator or recipes.train(
            recipe, prepared.training.train, _context(prepared, job_id)
        )
        timings["train_seconds"] = time.perf_counter() - started
        renew(engine, job_id, worker)
        started = time.perf_counter()
        model, training = prepared.model, prepared.training
        evaluation = evaluate(
            prepared.champion_estimator,
            challenger,
            training.holdout,
            model.features,
            model.target,
            model.task,
            prepared.settings["metric"],
            float(prepared.settings["min_improvement"]),
            confidence=float(prepared.settings["confidence"]),
        )
        timings["evaluate_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        with session_scope(engine) as session:
            job = _mine(session, job_id, worker)
            _decide(session, job, prepared, challenger, evaluation, timings, started)
    except LeaseLost:
        log.warning("retrain job %s was taken over; dropping this worker's result", job_id)
    except Exception as error:  # noqa: BLE001 - any failure is the job's, recorded on it
        if not isinstance(error, DriftwiseError):
            log.exception("retrain job %s failed", job_id)
        with session_scope(engine) as session:
            job = session.get(RetrainJob, job_id)
            if job.status == "running" and job.claimed_by == worker:
                job.evaluation = {**(job.evaluation or {}), "timings": timings}
                _fail(session, job, f"{type(error).__name__}: {error}")


def _prepare(session: Session, job: RetrainJob) -> Prepared:
    model = session.get(Model, job.model_id)
    settings = retrain_settings(model)
    champion = champion_of(session, model, job.deployment_id)
    job.champion_version_id = champion.id
    emit(
        session,
        "retrain.started",
        f"retrain.started:{job.id}",
        f"retraining {model.name} (job {job.id}, {job.trigger})",
        "info",
        model_id=model.id,
        retrain_job_id=job.id,
        data={"trigger": job.trigger, "recipe": settings["recipe"]},
    )
    try:
        champion_estimator = load_artifact(champion.artifact)
    except DriftwiseError:
        if settings["recipe"] == "clone":
            raise  # nothing to clone
        champion_estimator = None  # an unusable champion loses the comparison instead
    challenger = None
    if job.challenger_version_id is not None:
        challenger = load_artifact(session.get(ModelVersion, job.challenger_version_id).artifact)
    training = assemble(session, model, champion.id, settings)
    return Prepared(model, settings, champion, champion_estimator, challenger, training)


def _context(prepared: Prepared, job_id: int) -> recipes.TrainContext:
    model = prepared.model
    return recipes.TrainContext(
        model=model.name,
        task=model.task,
        target=model.target,
        numerical=list(model.numerical),
        categorical=list(model.categorical),
        champion=prepared.champion_estimator,
        settings=dict(prepared.settings),
        job_id=job_id,
    )


def _wait_for_upload(session: Session, job: RetrainJob, prepared: Prepared) -> None:
    model = prepared.model
    job.status, job.decision, job.lease_until = "waiting", "awaiting_upload", None
    job.evaluation = {"training": prepared.training.summary, "recipe": recipes.EXTERNAL}
    emit(
        session,
        "retrain.requested",
        f"retrain.requested:{job.id}",
        f"{model.name}: a new version is wanted (job {job.id})",
        "info",
        model_id=model.id,
        retrain_job_id=job.id,
        data={
            "job_id": job.id,
            "model": model.name,
            "champion_version": prepared.champion.version,
            "upload": f"/api/v1/models/{model.name}/versions",
            "training": prepared.training.summary,
        },
    )


def _decide(
    session: Session,
    job: RetrainJob,
    prepared: Prepared,
    challenger: Any,
    evaluation: dict[str, Any],
    timings: dict[str, float],
    started: float,
) -> None:
    model, settings, training = prepared.model, prepared.settings, prepared.training
    rejected = evaluation["decision"] != "promote"
    if job.challenger_version_id is not None:
        version = session.get(ModelVersion, job.challenger_version_id)
    else:
        version = register_version(
            session,
            model,
            dump_artifact(challenger),
            reference_frame(challenger, training.train, model),
            origin="retrain",
            parent=prepared.champion,
            job=job,
            training=training.summary,
        )
        job.challenger_version_id = version.id
    version.training_start, version.training_end = training.training_start, training.training_end
    version.train_rows, version.holdout_rows = len(training.train), len(training.holdout)
    version.metrics = {
        "holdout": evaluation["challenger"]["metrics"],
        "metric": evaluation["metric"],
        "score": evaluation["challenger_score"],
    }
    timings["register_seconds"] = time.perf_counter() - started
    job.evaluation = {
        **evaluation,
        "recipe": settings["recipe"],
        "training": training.summary,
        "timings": timings,
        "champion_version": prepared.champion.version,
        "challenger_version": version.version,
    }
    job.finished_at, job.lease_until = utcnow(), None
    if rejected:
        version.status = "rejected"
        job.status, job.decision = "rejected", "rejected"
        _event(session, job, model, "retrain.rejected", "warning", evaluation["reason"], version)
        return
    job.status = "succeeded"
    if not settings.get("auto_promote", True):
        job.decision = "awaiting_promotion"
    elif float(settings.get("canary_share") or 0) > 0 and _realtime(session, model):
        from retrain.canary import start_canary

        start_canary(session, model, version, float(settings["canary_share"]))
        job.decision = "canary"
    else:
        promote(session, version, reason="retrain")
        job.decision = "promoted"
    kind = "retrain.promoted" if job.decision == "promoted" else "retrain.succeeded"
    _event(session, job, model, kind, "info", evaluation["reason"], version)


def _realtime(session: Session, model: Model) -> bool:
    return bool(
        session.scalar(
            select(func.count())
            .select_from(Deployment)
            .where(Deployment.model_id == model.id, Deployment.mode == "realtime")
        )
    )


def _event(
    session: Session,
    job: RetrainJob,
    model: Model,
    kind: str,
    severity: str,
    reason: str,
    version: ModelVersion,
) -> None:
    evaluation = job.evaluation or {}
    emit(
        session,
        kind,
        f"{kind}:{job.id}",
        f"{model.name} version {version.version}: {job.decision} — {reason}",
        severity,
        model_id=model.id,
        retrain_job_id=job.id,
        data={
            "decision": job.decision,
            "metric": evaluation.get("metric"),
            "champion_score": evaluation.get("champion_score"),
            "challenger_score": evaluation.get("challenger_score"),
            "improvement": evaluation.get("improvement"),
            "improvement_interval": evaluation.get("improvement_interval"),
            "confidence": evaluation.get("confidence"),
            "resamples": evaluation.get("resamples"),
            "min_improvement": evaluation.get("min_improvement"),
            "version": version.version,
        },
    )


def _fail(session: Session, job: RetrainJob, reason: str) -> None:
    job.status, job.decision, job.error = "failed", "failed", reason[:4000]
    job.finished_at, job.lease_until = utcnow(), None
    model = session.get(Model, job.model_id)
    emit(
        session,
        "retrain.failed",
        f"retrain.failed:{job.id}",
        f"retraining {model.name} failed (job {job.id}): {reason}"[:500],
        "warning",
        model_id=model.id,
        retrain_job_id=job.id,
        data={"error": reason[:2000]},
    )
