"""The monitor job: every due window of every deployment, then backfills for windows whose
labels arrived after they ran. Running it twice does nothing new."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor.errors import DeploymentNotFound
from monitor.runs.execute import run_window
from monitor.runs.reports import REPORT_ROWS, build_report
from monitor.runs.window import count_labeled, count_rows
from monitor.store import session_scope
from monitor.store.models import Deployment, Label, Prediction, Run
from monitor.timeutil import utcnow, window_start, windows_between

BACKFILL_WINDOWS = 48  # how many recent windows late labels are looked for in


@dataclass
class Pass:
    runs: list[int] = field(default_factory=list)  # run ids made in this pass
    skipped: int = 0  # windows already run or claimed elsewhere


def due_windows(
    session: Session, deployment: Deployment, now: datetime
) -> list[tuple[datetime, datetime]]:
    """Windows closed (and settled) by `now` without a finished or live monitor run."""
    end = now - timedelta(seconds=deployment.settle_seconds)
    first = session.scalar(
        select(func.min(Prediction.timestamp)).where(Prediction.deployment_id == deployment.id)
    )
    first_run = session.scalar(
        select(func.min(Run.window_start)).where(Run.deployment_id == deployment.id)
    )
    origin = min(
        moment for moment in (deployment.created_at, first, first_run) if moment is not None
    )
    origin = window_start(origin, deployment.window_seconds)
    done = set(
        session.scalars(
            select(Run.window_start).where(
                Run.deployment_id == deployment.id,
                Run.kind == "monitor",
                (Run.status != "running") | (Run.lease_until >= utcnow()),
            )
        )
    )
    return [
        window
        for window in windows_between(origin, end, deployment.window_seconds)
        if window[0] not in done
    ]


def backfill_windows(
    session: Session, deployment: Deployment
) -> list[tuple[datetime, datetime, int]]:
    """(start, end, labeled rows) of finished windows whose sample has gained labels."""
    finished = session.execute(
        select(
            Run.window_start, Run.window_end, func.max(Run.labeled_rows), func.max(Run.started_at)
        )
        .where(Run.deployment_id == deployment.id, Run.status == "ok")
        .group_by(Run.window_start, Run.window_end)
        .order_by(Run.window_start.desc())
        .limit(BACKFILL_WINDOWS)
    ).all()
    if not finished:
        return []
    oldest_start = min(row[3] for row in finished)
    touched = session.scalars(
        select(Prediction.timestamp)
        .join(
            Label,
            (Label.deployment_id == Prediction.deployment_id)
            & (Label.request_id == Prediction.request_id),
        )
        .where(
            Label.deployment_id == deployment.id,
            Label.ingested_at >= oldest_start,
            Prediction.timestamp >= min(row[0] for row in finished),
        )
    )
    windows = {window_start(moment, deployment.window_seconds) for moment in touched}
    result = []
    for start, end, labeled, _ in finished:
        if start not in windows:
            continue
        total = count_rows(session, deployment.id, start, end)
        now_labeled = count_labeled(session, deployment.id, start, end, total, deployment.max_rows)
        if now_labeled > (labeled or 0):
            result.append((start, end, now_labeled))
    return result


def monitor_deployment(
    engine: Engine | None,
    name: str,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    report_rows: int = REPORT_ROWS,
) -> Pass:
    """Run the deployment's due windows (or those between `start` and `end`), then backfills,
    then build Evidently's reports of the runs made (on `report_rows` rows; 0: none), so
    that no policy decision waits for a report."""
    now = now or utcnow()
    with session_scope(engine) as session:
        deployment = session.scalar(select(Deployment).where(Deployment.name == name))
        if deployment is None:
            raise DeploymentNotFound(f"no deployment named {name!r}")
        deployment_id, seconds = deployment.id, deployment.window_seconds
        if start is not None:
            windows = windows_between(window_start(start, seconds), end or now, seconds)
        else:
            windows = due_windows(session, deployment, now)
    result = Pass()
    for window in windows:
        _record(result, run_window(engine, deployment_id, *window))
    with session_scope(engine) as session:
        backfills = backfill_windows(session, session.get(Deployment, deployment_id))
    for window_from, window_to, labeled in backfills:
        _record(
            result, run_window(engine, deployment_id, window_from, window_to, "backfill", labeled)
        )
    if report_rows > 0:
        for run_id in result.runs:
            with session_scope(engine) as session:
                build_report(session, session.get(Run, run_id), report_rows)
    return result


def monitor_all(
    engine: Engine | None = None, now: datetime | None = None, report_rows: int = REPORT_ROWS
) -> dict[str, Pass]:
    with session_scope(engine) as session:
        names = list(session.scalars(select(Deployment.name).order_by(Deployment.name)))
    return {
        name: monitor_deployment(engine, name, now=now, report_rows=report_rows) for name in names
    }


def _record(result: Pass, run_id: int | None) -> None:
    if run_id is None:
        result.skipped += 1
    else:
        result.runs.append(run_id)
