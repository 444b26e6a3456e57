"""The monitor job: every due window of every deployment (from its first prediction on)
whose sources have been read past its end, windows that have gained predictions since
their run (a new run of the window), then backfills for windows whose labels arrived
after they ran, then Evidently's reports within a time budget. Running it twice does
nothing new."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, Select, func, select
from sqlalchemy.orm import Session

from monitor.runs import late, waiting
from monitor.runs.execute import run_window
from monitor.runs.reports import build_reports
from monitor.runs.window import count_labeled, count_rows
from monitor.store import session_scope
from monitor.store.lookup import deployment_named
from monitor.store.models import Deployment, Label, Prediction, Run, label_of_prediction
from monitor.timeutil import Calendar, deployment_calendar, utcnow

BACKFILL_WINDOWS = 48  # how many recent windows late labels are looked for in


@dataclass
class Pass:
    runs: list[int] = field(default_factory=list)  # run ids made in this pass
    skipped: int = 0  # windows already run or claimed elsewhere


def due_windows(
    session: Session, deployment: Deployment, now: datetime
) -> list[tuple[datetime, datetime]]:
    """Windows closed (and settled) by `now` without a finished or live monitor run, from
    the window of the deployment's first prediction on: before it, no data is not news."""
    end = now - timedelta(seconds=deployment.settle_seconds)
    first = session.scalar(
        select(func.min(Prediction.timestamp)).where(Prediction.deployment_id == deployment.id)
    )
    if first is None:
        return []
    done = set(
        session.scalars(
            select(Run.window_start).where(
                Run.deployment_id == deployment.id,
                Run.kind == "monitor",
                (Run.status != "running") | (Run.lease_until >= utcnow()),
            )
        )
    )
    calendar = deployment_calendar(deployment)
    return [
        window
        for window in calendar.between(calendar.start_of(first), end)
        if window[0] not in done
    ]


def next_seq(session: Session, deployment_id: int, start: datetime) -> int:
    """The seq of a new monitor run of the window (0 for its first)."""
    newest = session.scalar(
        select(func.max(Run.seq)).where(
            Run.deployment_id == deployment_id, Run.kind == "monitor", Run.window_start == start
        )
    )
    return 0 if newest is None else newest + 1


def labeled_since(deployment_id: int, since: datetime, first: datetime) -> Select:
    """The timestamps of predictions from `first` on whose labels were stored since `since`."""
    return (
        select(Prediction.timestamp)
        .join(Label, label_of_prediction())
        .where(
            # `+ 0` starts from the labels stored since (their ingested_at index): on the
            # deployment's id SQLite would walk every prediction of the deployment instead.
            (Label.deployment_id + 0) == deployment_id,
            Label.ingested_at >= since,
            Prediction.timestamp >= first,
        )
    )


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
    first_start = min(row[0] for row in finished)
    touched = session.scalars(labeled_since(deployment.id, oldest_start, first_start))
    calendar = deployment_calendar(deployment)
    windows = {calendar.start_of(moment) for moment in touched}
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
    report_rows: int | None = None,
    rerun: bool = False,
) -> Pass:
    """Run the deployment's due windows once its sources were read past them (or those
    between `start` and `end`, at once; with `rerun`, a new run of each of those that ran
    already), windows with late predictions, then
    backfills, then Evidently's reports (on `report_rows` rows, None: DRIFTWISE_REPORT_ROWS;
    0: none) within the report budget, so that no policy decision waits for a report."""
    now = now or utcnow()
    with session_scope(engine) as session:
        deployment = deployment_named(session, name)
        deployment_id = deployment.id
        windows = _windows(session, deployment, start, end, now, rerun)
        planned = {(window[0], window[2]) for window in windows}
        grown = late.grown_windows(session, deployment)
        reruns = [
            window
            for window in late.thin_windows(session, deployment) + grown
            if (window[0], window[2]) not in planned
        ]
        # Windows asked for by name run as asked; the rest wait for their sources.
        decided = waiting.plan(session, deployment, reruns if start else windows + reruns, now)
        windows = (windows if start else []) + decided.ready
        checked = late.checkpoint(session, deployment, utcnow())
    result = Pass()
    for window_from, window_to, seq in windows:
        run_id = run_window(engine, deployment_id, window_from, window_to, seq=seq)
        _record(result, run_id)
        if run_id is not None and window_from in decided.warnings:
            waiting.warn(engine, run_id, decided.warnings[window_from])
    with session_scope(engine) as session:
        deployment = session.get(Deployment, deployment_id)
        if not set(grown) & set(decided.held):  # a held window's late rows are looked at again
            late.save_checkpoint(deployment, checked)
        backfills = backfill_windows(session, deployment)
    for window_from, window_to, labeled in backfills:
        _record(
            result, run_window(engine, deployment_id, window_from, window_to, "backfill", labeled)
        )
    if report_rows != 0:
        build_reports(engine, result.runs, report_rows, deployment_id=deployment_id)
    return result


def _windows(
    session: Session,
    deployment: Deployment,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    rerun: bool,
) -> list[tuple[datetime, datetime, int]]:
    if start is None:
        return [(*window, 0) for window in due_windows(session, deployment, now)]
    calendar: Calendar = deployment_calendar(deployment)
    first = session.scalar(
        select(func.min(Prediction.timestamp)).where(Prediction.deployment_id == deployment.id)
    )
    if first is None:
        return []
    windows = calendar.between(calendar.start_of(max(start, first)), end or now)
    if not rerun:
        return [(*window, 0) for window in windows]
    return [(*window, next_seq(session, deployment.id, window[0])) for window in windows]


def monitor_all(
    engine: Engine | None = None, now: datetime | None = None, report_rows: int | None = None
) -> dict[str, Pass]:
    """Every deployment's pass."""
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
