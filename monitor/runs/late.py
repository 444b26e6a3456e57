"""Late predictions: a window whose row count grew after its run is run again, and the
`no_data` (or `insufficient_data`) event its earlier run raised is resolved.

Empty and thin windows are simply counted again. Finding `ok` windows that grew stays
cheap: each pass looks only at predictions stored since the
deployment's checkpoint (`deployments.late_checked_id`, a range of the primary key), takes
the span of their timestamps, and counts only the windows already run inside that span.
The checkpoint trails the newest id by `MARGIN`, because ids are handed out when a
transaction inserts, not when it commits: a long chunk may commit lower ids after higher
ones. Looking at a prediction twice costs a count, never a second rerun.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor.events import emit
from monitor.runs.window import count_rows
from monitor.store import session_scope
from monitor.store.models import Deployment, Event, Prediction, Run
from monitor.timeutil import iso, utcnow

MARGIN = timedelta(minutes=15)  # longer than any transaction that inserts predictions
RECOUNTED_WINDOWS = 200  # at most this many windows of each sort counted in one pass
EMPTY = ("no_data", "insufficient_data")
SUPERSEDES = {"ok": ("no_data", "insufficient_data"), "insufficient_data": ("no_data",)}


def _newer(deployment: Deployment, checked: int):
    # `+ 0` keeps the databases on the primary key's range instead of walking the
    # deployment's whole (deployment_id, timestamp) index.
    return [Prediction.id > checked, (Prediction.deployment_id + 0) == deployment.id]


def checkpoint(session: Session, deployment: Deployment, now: datetime) -> int:
    """The id up to which every prediction is committed, as far as can be told."""
    checked = deployment.late_checked_id or 0
    top = session.scalar(  # the newest first: the scan stops at the first old enough
        select(Prediction.id)
        .where(Prediction.id > checked, Prediction.ingested_at < now - MARGIN)
        .order_by(Prediction.id.desc())
        .limit(1)
    )
    return max(checked, top or 0)


def thin_windows(session: Session, deployment: Deployment) -> list[tuple[datetime, datetime, int]]:
    """(start, end, seq) of windows whose newest monitor run found no or too few rows and
    that hold more predictions now (empty windows cost next to nothing to count)."""
    return _grown(session, deployment, Run.status.in_(EMPTY))


def grown_windows(session: Session, deployment: Deployment) -> list[tuple[datetime, datetime, int]]:
    """(start, end, seq) of windows whose newest `ok` monitor run counted fewer rows than
    the window holds now, among those that predictions stored since the checkpoint fall in."""
    if deployment.late_checked_id is None:
        return []  # the first pass after an upgrade: only what arrives from now on
    span = session.execute(
        select(func.min(Prediction.timestamp), func.max(Prediction.timestamp)).where(
            *_newer(deployment, deployment.late_checked_id)
        )
    ).one()
    if span[0] is None:
        return []
    return _grown(
        session,
        deployment,
        Run.status == "ok",
        Run.window_end > span[0],
        Run.window_start <= span[1],
    )


def _grown(session: Session, deployment: Deployment, *conditions) -> list[tuple]:
    """Among the newest monitor runs of their windows that meet `conditions`, those whose
    window holds more rows than the run counted: (start, end, the next seq)."""
    newest = (
        select(Run.window_start, func.max(Run.seq).label("seq"))
        .where(Run.deployment_id == deployment.id, Run.kind == "monitor")
        .group_by(Run.window_start)
        .subquery()
    )
    runs = session.execute(
        select(Run.window_start, Run.window_end, Run.seq, Run.sampled_from)
        .join(newest, (newest.c.window_start == Run.window_start) & (newest.c.seq == Run.seq))
        .where(Run.deployment_id == deployment.id, Run.kind == "monitor", *conditions)
        .order_by(Run.window_start.desc())
        .limit(RECOUNTED_WINDOWS)
    ).all()
    return [
        (start, end, seq + 1)
        for start, end, seq, counted in runs
        if count_rows(session, deployment.id, start, end) > (counted or 0)
    ]


def save_checkpoint(engine: Engine | None, deployment_id: int, checked: int) -> None:
    """Called once the pass's reruns ran: a pass that dies before looks again."""
    with session_scope(engine) as session:
        deployment = session.get(Deployment, deployment_id)
        deployment.late_checked_id = max(deployment.late_checked_id or 0, checked)


def resolve_superseded(session: Session, deployment: Deployment, run: Run, status: str) -> None:
    """A new run of a window that found rows resolves its earlier run's empty-window event."""
    if run.kind != "monitor" or run.seq == 0:
        return
    window = run.window_start.strftime("%Y-%m-%dT%H:%M:%S")
    for kind in SUPERSEDES.get(status, ()):
        event = session.scalar(
            select(Event).where(Event.dedup_key == f"{kind}:{deployment.id}:{window}")
        )
        if event is None or (event.data or {}).get("resolved_by_run"):
            continue
        event.data = {**(event.data or {}), "resolved_by_run": run.id, "resolved_at": iso(utcnow())}
        emit(
            session,
            f"{kind}.resolved",
            f"{kind}.resolved:{deployment.id}:{window}",
            f"{deployment.name}: the window starting {window} holds {run.sampled_from} "
            f"predictions after all: late data, run again",
            "info",
            deployment=deployment,
            run_id=run.id,
            data={
                "event_id": event.id,
                "rows": run.sampled_from,
                "window_start": iso(run.window_start),
                "window_end": iso(run.window_end),
            },
        )
