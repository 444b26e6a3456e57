"""What pages and the API read: lookups by name and rows as plain dicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.errors import DeploymentNotFound, ModelNotFound
from monitor.store.models import (
    DeliveryAttempt,
    Deployment,
    Event,
    MetricPoint,
    Model,
    ModelVersion,
    Notification,
    RetrainJob,
    Run,
)

CHART_POINTS = 500  # newest windows drawn; a long history stays fast


def deployment_by_name(session: Session, name: str) -> Deployment:
    deployment = session.scalar(select(Deployment).where(Deployment.name == name))
    if deployment is None:
        raise DeploymentNotFound(f"no deployment named {name!r}")
    return deployment


def model_by_name(session: Session, name: str) -> Model:
    model = session.scalar(select(Model).where(Model.name == name))
    if model is None:
        raise ModelNotFound(f"no model named {name!r}")
    return model


def by_id(session: Session, table: type, row_id: int):
    """The row, or None; an id beyond a 32-bit key is simply not there."""
    if not 0 < row_id < 2**31:
        return None
    return session.get(table, row_id)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat() + "Z"


def health(run: Run | None) -> str:
    """A word or two for a window: healthy, drift, performance, no data, too few rows,
    error or running."""
    if run is None:
        return "no data"
    if run.status in ("failed", "error"):
        return "error"
    if run.status == "running":
        return "running"
    if run.status == "no_data" or not run.rows:
        return "no data"
    if run.status == "insufficient_data":
        return "too few rows"
    types = {str(entry.get("type", "")) for entry in run.breaches or [] if isinstance(entry, dict)}
    if types & {"performance", "estimated_performance"}:
        return "performance"
    if types & {"drift", "data_quality"} or run.breaches:
        return "drift"
    return "healthy"


def main_metric(run: Run | None, metric: str | None = None) -> dict | None:
    """The run's headline performance number: the realized value of `metric` (the
    policy's) when labels are in, its estimate (marked so) only when they are not."""
    if run is None:
        return None
    for estimate, values in ((False, run.performance), (True, run.estimated_performance)):
        numbers = {k: v for k, v in (values or {}).items() if isinstance(v, int | float)}
        if not numbers:
            continue
        name = metric if metric in numbers else next(iter(numbers))
        label = name.replace("_", " ")
        return {
            "name": name,
            "label": f"estimated {label}" if estimate else label,
            "value": float(numbers[name]),
            "estimate": estimate,
        }
    return None


def last_measured(session: Session, deployment_id: int) -> Run | None:
    """The newest run with numbers (an empty newest window does not hide the last ones)."""
    return session.scalar(
        select(Run)
        .where(Run.deployment_id == deployment_id, Run.status == "ok")
        .order_by(Run.window_start.desc(), Run.id.desc())
        .limit(1)
    )


def run_dict(run: Run, full: bool = False) -> dict[str, Any]:
    data = {
        "id": run.id,
        "window_start": iso(run.window_start),
        "window_end": iso(run.window_end),
        "kind": run.kind,
        "status": run.status,
        "health": health(run),
        "rows": run.rows,
        "reference_rows": run.reference_rows,
        "labeled_rows": run.labeled_rows,
        "sampled": run.sampled,
        "sampled_from": run.sampled_from,
        "drift_share": run.drift_share,
        "performance": run.performance or {},
        "estimated_performance": run.estimated_performance or {},
        "breaches": run.breaches or [],
        "has_report": run.snapshot is not None,
    }
    if full:
        data |= {
            "features": run.features or {},
            "prediction_drift": run.prediction_drift,
            "quality": run.quality or {},
            "warnings": run.warnings or [],
            "error": run.error,
            "duration": run.duration,
            "model_version_id": run.model_version_id,
            "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at),
        }
    return data


def version_dict(version: ModelVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "version": version.version,
        "status": version.status,
        "origin": version.origin,
        "sha256": version.sha256,
        "parent_version_id": version.parent_version_id,
        "retrain_job_id": version.retrain_job_id,
        "training_start": iso(version.training_start),
        "training_end": iso(version.training_end),
        "train_rows": version.train_rows,
        "holdout_rows": version.holdout_rows,
        "metrics": version.metrics or {},
        "compute": version.compute or {},
        "created_at": iso(version.created_at),
    }


def job_dict(job: RetrainJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "trigger": job.trigger,
        "status": job.status,
        "reason": job.reason,
        "requested_by": job.requested_by,
        "champion_version_id": job.champion_version_id,
        "challenger_version_id": job.challenger_version_id,
        "evaluation": job.evaluation or {},
        "decision": job.decision,
        "error": job.error,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }


def event_dict(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "severity": event.severity,
        "title": event.title,
        "deployment_id": event.deployment_id,
        "model_id": event.model_id,
        "run_id": event.run_id,
        "retrain_job_id": event.retrain_job_id,
        "data": event.data or {},
        "created_at": iso(event.created_at),
    }


def notification_dict(
    notification: Notification, last_status_code: int | None, detail: bool
) -> dict[str, Any]:
    return {
        "id": notification.id,
        "event_id": notification.event_id,
        "channel": notification.channel,
        "target": notification.target,
        "status": notification.status,
        "attempts": notification.attempts,
        "next_attempt_at": iso(notification.next_attempt_at),
        "last_error": delivery_error(notification.last_error, last_status_code, detail),
        "last_status_code": last_status_code,
        "sent_at": iso(notification.sent_at),
    }


def delivery_error(error: str | None, status_code: int | None, detail: bool) -> str | None:
    """What a reader may see of a failed delivery: admins get the receiver's answer, others
    only its status code, since a receiver's error body can hold its internals."""
    if error is None or detail:
        return error
    return f"delivery failed: HTTP {status_code}" if status_code else "delivery failed"


def last_status_codes(session: Session, notification_ids: list[int]) -> dict[int, int | None]:
    """Each notification's newest delivery attempt's HTTP status (None: no answer)."""
    codes: dict[int, int | None] = {}
    for notification_id, code in session.execute(
        select(DeliveryAttempt.notification_id, DeliveryAttempt.status_code)
        .where(DeliveryAttempt.notification_id.in_(notification_ids))
        .order_by(DeliveryAttempt.at, DeliveryAttempt.id)
    ):
        codes[notification_id] = code
    return codes


def last_run(session: Session, deployment_id: int) -> Run | None:
    return session.scalar(
        select(Run)
        .where(Run.deployment_id == deployment_id, Run.kind == "monitor")
        .order_by(Run.window_start.desc(), Run.id.desc())
        .limit(1)
    )


def runs_page(
    session: Session,
    deployment_id: int,
    limit: int = 50,
    offset: int = 0,
    kind: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[Run], int]:
    """One page of runs, newest window first, and how many match in all."""
    conditions = [Run.deployment_id == deployment_id]
    if kind:
        conditions.append(Run.kind == kind)
    if status:
        conditions.append(Run.status == status)
    if since:
        conditions.append(Run.window_start >= since)
    if until:
        conditions.append(Run.window_start < until)
    total = session.scalar(select(func.count()).select_from(Run).where(*conditions)) or 0
    runs = session.scalars(
        select(Run)
        .where(*conditions)
        .order_by(Run.window_start.desc(), Run.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(runs), total


def series(
    session: Session,
    deployment_id: int,
    metric: str,
    since: datetime | None = None,
    windows: int | None = CHART_POINTS,
) -> dict[str, list]:
    """A metric's points per column over the newest `windows` windows (and from `since`):
    {column: [[time, value], ...]} oldest first."""
    cutoff = window_cutoff(session, deployment_id, windows) if windows else None
    query = select(MetricPoint.time, MetricPoint.column, MetricPoint.value).where(
        MetricPoint.deployment_id == deployment_id, MetricPoint.metric == metric
    )
    for bound in (since, cutoff):
        if bound is not None:
            query = query.where(MetricPoint.time >= bound)
    result: dict[str, list] = {}
    for time, column, value in session.execute(query.order_by(MetricPoint.time)):
        result.setdefault(column, []).append([iso(time), value])
    return result


def window_cutoff(session: Session, deployment_id: int, windows: int) -> datetime | None:
    """The start of the `windows`-th newest window: every run writes a `rows` point."""
    return session.scalar(
        select(MetricPoint.time)
        .where(MetricPoint.deployment_id == deployment_id, MetricPoint.metric == "rows")
        .order_by(MetricPoint.time.desc())
        .limit(1)
        .offset(windows - 1)
    )


def metric_names(session: Session, deployment_id: int) -> list[str]:
    """Every metric of the newest window with points (a backfill's replace its monitor run's)."""
    newest = session.scalar(
        select(func.max(MetricPoint.time)).where(MetricPoint.deployment_id == deployment_id)
    )
    if newest is None:
        return []
    return sorted(
        set(
            session.scalars(
                select(MetricPoint.metric).where(
                    MetricPoint.deployment_id == deployment_id, MetricPoint.time == newest
                )
            )
        )
    )


def open_events(session: Session, deployment_id: int, limit: int = 5) -> list[Event]:
    """The deployment's newest warnings and criticals."""
    return list(
        session.scalars(
            select(Event)
            .where(Event.deployment_id == deployment_id, Event.severity != "info")
            .order_by(Event.created_at.desc(), Event.id.desc())
            .limit(limit)
        )
    )
