"""Late predictions: a window whose row count grew after its run is run again, and the
`no_data` (or `insufficient_data`) event its earlier run raised is resolved.

Empty and thin windows are simply counted again. Finding `ok` windows that grew stays
cheap: a pass looks only at predictions stored since the deployment's checkpoint
(`deployments.late_checked_id`, a range of the primary key), takes the span of their
timestamps, and counts only the windows already run inside that span. One walk of that
range serves every deployment's pass in the process for a minute (`recent`), extended by
the ids stored since. The checkpoint trails the newest id by `MARGIN`, because ids are
handed out when a transaction inserts, not when it commits: a long chunk may commit lower
ids after higher ones. Looking at a prediction twice costs a count, never a second rerun.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from weakref import WeakKeyDictionary

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from monitor.events import emit
from monitor.runs.window import count_rows
from monitor.store.models import Deployment, Event, Prediction, Run
from monitor.timeutil import iso, utcnow

MARGIN = timedelta(minutes=15)  # longer than any transaction that inserts predictions
RESCAN_SECONDS = 60.0  # a look at the newest predictions serves this long, then is redone
RECOUNTED_WINDOWS = 200  # at most this many windows of each sort counted in one pass
EMPTY = ("no_data", "insufficient_data")
SUPERSEDES = {"ok": ("no_data", "insufficient_data"), "insufficient_data": ("no_data",)}


@dataclass
class Recent:
    """What one look at the predictions stored past `after` (up to `upto`) found. Every
    pass of this process shares it for up to `RESCAN_SECONDS`, extended by the ids stored
    since: the look walks every deployment's newest rows, so once per deployment it would
    cost each pass the whole table's recent rows."""

    after: int
    upto: int
    committed: int  # every prediction up to this id was committed before the look (0: none)
    spans: dict[int, tuple[datetime, datetime]]  # deployment id: oldest and newest timestamp
    looked_at: float = field(default_factory=time.monotonic)

    def extended(self, newer: Recent) -> Recent:
        spans = dict(self.spans)
        for deployment_id, (first, last) in newer.spans.items():
            known = spans.get(deployment_id)
            spans[deployment_id] = (first, last) if known is None else _union(known, first, last)
        committed = max(self.committed, newer.committed)
        return Recent(self.after, newer.upto, committed, spans, self.looked_at)


def _union(span: tuple[datetime, datetime], first: datetime, last: datetime) -> tuple:
    return min(span[0], first), max(span[1], last)


_recent: WeakKeyDictionary = WeakKeyDictionary()  # engine: its Recent
_recent_lock = threading.Lock()


def recent(session: Session, after: int, now: datetime) -> Recent:
    """The predictions stored past `after`, as this process last looked at them."""
    bind = session.get_bind()
    with _recent_lock:
        seen = _recent.get(bind)
        newest = session.scalar(select(func.max(Prediction.id))) or 0
        stale = seen is None or time.monotonic() - seen.looked_at > RESCAN_SECONDS
        if stale or seen.after > after or newest < seen.upto:
            seen = _look(session, _lowest_checkpoint(session, after), newest, now)
        elif newest > seen.upto:
            seen = seen.extended(_look(session, seen.upto, newest, now))
        _recent[bind] = seen
        return seen


def _lowest_checkpoint(session: Session, after: int) -> int:
    """Where a new look starts: at the lowest checkpoint of any deployment, so that the
    passes of the others that follow it need no look of their own."""
    lowest = session.scalar(select(func.min(Deployment.late_checked_id)))
    return after if lowest is None else min(after, lowest)


def _look(session: Session, after: int, upto: int, now: datetime) -> Recent:
    """One walk of the primary key's range (after, upto]: the timestamps' span per
    deployment, and the newest id stored before `now - MARGIN` (every id below it was
    handed out earlier, by a transaction shorter than MARGIN: committed)."""
    old_enough = case((Prediction.ingested_at < now - MARGIN, Prediction.id))
    # `+ 0` keeps the databases on the primary key's range instead of walking the
    # (deployment_id, timestamp) index to group by it.
    deployment = (Prediction.deployment_id + 0).label("deployment")
    rows = session.execute(
        select(
            deployment,
            func.min(Prediction.timestamp),
            func.max(Prediction.timestamp),
            func.max(old_enough),
        )
        .where(Prediction.id > after, Prediction.id <= upto)
        .group_by(deployment)
    ).all()
    committed = max((row[3] or 0 for row in rows), default=0)
    spans = {row[0]: (row[1], row[2]) for row in rows}
    return Recent(after, upto, committed, spans)


def checkpoint(session: Session, deployment: Deployment, now: datetime) -> int:
    """The id up to which every prediction is committed, as far as can be told."""
    checked = deployment.late_checked_id or 0
    return max(checked, recent(session, checked, now).committed)


def thin_windows(session: Session, deployment: Deployment) -> list[tuple[datetime, datetime, int]]:
    """(start, end, seq) of windows whose newest monitor run found no or too few rows and
    that hold more predictions now (empty windows cost next to nothing to count)."""
    return _grown(session, deployment, Run.status.in_(EMPTY))


def grown_windows(session: Session, deployment: Deployment) -> list[tuple[datetime, datetime, int]]:
    """(start, end, seq) of windows whose newest `ok` monitor run counted fewer rows than
    the window holds now, among those that predictions stored since the checkpoint fall in."""
    if deployment.late_checked_id is None:
        return []  # the first pass after an upgrade: only what arrives from now on
    span = recent(session, deployment.late_checked_id, utcnow()).spans.get(deployment.id)
    if span is None:
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


def save_checkpoint(deployment: Deployment, checked: int) -> None:
    """Called once the pass's reruns ran: a pass that dies before looks again."""
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
