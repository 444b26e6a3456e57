"""Claiming a run row: the unique (deployment, window, kind, seq) row is inserted first, so
each window is run exactly once; a claim whose short lease ran out (a dead worker stopped
renewing it) is taken over by compare-and-set."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.service.claims import Heartbeat, compare_and_set, heartbeat_every
from monitor.settings import current_settings
from monitor.store import session_scope
from monitor.store.models import Run
from monitor.timeutil import utcnow


def claim(
    session: Session,
    deployment_id: int,
    start: datetime,
    end: datetime,
    kind: str,
    seq: int,
    worker: str,
    lease_seconds: float | None = None,
) -> Run | None:
    """The claimed run, or None when it is finished or another worker holds a live claim."""
    now = utcnow()
    if lease_seconds is None:
        lease_seconds = current_settings().run_lease_seconds
    lease = now + timedelta(seconds=lease_seconds)
    run = Run(
        deployment_id=deployment_id,
        window_start=start,
        window_end=end,
        kind=kind,
        seq=seq,
        status="running",
        claimed_by=worker,
        lease_until=lease,
        attempts=1,
        started_at=now,
    )
    try:
        with session.begin_nested():
            session.add(run)
        return run
    except IntegrityError:
        pass
    taken = compare_and_set(
        session,
        Run,
        [
            Run.deployment_id == deployment_id,
            Run.window_start == start,
            Run.kind == kind,
            Run.seq == seq,
            Run.status == "running",
            Run.lease_until < now,
        ],
        {
            "claimed_by": worker,
            "lease_until": lease,
            "attempts": Run.attempts + 1,
            "started_at": now,
        },
    )
    if not taken:
        return None
    run = session.scalars(
        select(Run).where(
            Run.deployment_id == deployment_id,
            Run.window_start == start,
            Run.kind == kind,
            Run.seq == seq,
        )
    ).one()
    session.refresh(run)
    return run


def _mine(run_id: int, worker: str) -> list:
    return [Run.id == run_id, Run.status == "running", Run.claimed_by == worker]


def heartbeat(engine: Engine | None, run_id: int, worker: str) -> Heartbeat:
    """Renews the run's claim while it runs; on release its lease lapses at once, so the
    next pass takes the window over."""
    seconds = current_settings().run_lease_seconds

    def renew() -> bool:
        with session_scope(engine) as session:
            until = utcnow() + timedelta(seconds=seconds)
            if compare_and_set(session, Run, _mine(run_id, worker), {"lease_until": until}):
                return True
            # A beat that waited for the run's own final commit finds it finished, not lost.
            holder = session.scalar(select(Run.claimed_by).where(Run.id == run_id))
            return holder == worker

    def release() -> None:
        with session_scope(engine) as session:
            lapsed = utcnow() - timedelta(seconds=1)
            compare_and_set(session, Run, _mine(run_id, worker), {"lease_until": lapsed})

    return Heartbeat(f"run {run_id}", heartbeat_every(seconds), renew, release)
