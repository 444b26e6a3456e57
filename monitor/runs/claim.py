"""Claiming a run row: the unique (deployment, window, kind, seq) row is inserted first, so
each window is run exactly once; a claim whose lease ran out (a crashed worker) is taken
over by compare-and-set."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.settings import current_settings
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
    lease_seconds: int | None = None,
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
    taken = session.execute(
        update(Run)
        .where(
            Run.deployment_id == deployment_id,
            Run.window_start == start,
            Run.kind == kind,
            Run.seq == seq,
            Run.status == "running",
            Run.lease_until < now,
        )
        .values(claimed_by=worker, lease_until=lease, attempts=Run.attempts + 1, started_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
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
