"""What pages and the API read beyond one row: pages of runs, series, headline numbers.
Rows as JSON are monitor.views'; rows by name are monitor.store.lookup's."""

from __future__ import annotations

from datetime import datetime

from flask import abort
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.store.models import DeliveryAttempt, Event, Incident, MetricPoint, Run
from monitor.timeutil import iso

CHART_POINTS = 500  # newest windows drawn; a long history stays fast


def by_id(session: Session, table: type, row_id: int):
    """The row, or None; an id beyond a 32-bit key is simply not there."""
    if not 0 < row_id < 2**31:
        return None
    return session.get(table, row_id)


def row_or_404(session: Session, table: type, row_id: int, what: str):
    """The row, or a 404 saying there is no `what` with that id."""
    found = by_id(session, table, row_id)
    if found is None:
        abort(404, description=f"no {what} {row_id}")
    return found


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


def resolved_incidents(session: Session, deployment_id: int, limit: int = 5) -> list[Incident]:
    """The deployment's newest resolved incidents."""
    return list(
        session.scalars(
            select(Incident)
            .where(Incident.deployment_id == deployment_id, Incident.status == "resolved")
            .order_by(Incident.resolved_at.desc(), Incident.id.desc())
            .limit(limit)
        )
    )
