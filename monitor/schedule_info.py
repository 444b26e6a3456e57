"""Each scheduled job's last and next run, as the leading daemon last wrote them.

The schedule lives in the leader's memory; `driftwise status` runs in another process,
maybe on another machine, so the leader writes a row per job after every run: in the
`leases` table under `job:<job id>`, with `heartbeat_at` the last run, `expires_at` the
next and `holder` the outcome. Nobody acquires these names as leases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from monitor.store.models import Lease

PREFIX = "job:"
FAR = datetime(9999, 1, 1)  # a paused job's next run


def record(
    session: Session,
    job_id: str,
    outcome: str,
    last_run: datetime | None,
    next_run: datetime | None,
) -> None:
    row = session.get(Lease, PREFIX + job_id)
    if row is None:
        row = Lease(name=PREFIX + job_id, holder="", expires_at=FAR, heartbeat_at=FAR)
        session.add(row)
    row.holder = outcome[:200]
    row.expires_at = next_run or FAR
    if last_run is not None:
        row.heartbeat_at = last_run


def forget(session: Session, keep: set[str]) -> None:
    """Drop rows of jobs no longer scheduled."""
    names = session.scalars(select(Lease.name).where(Lease.name.startswith(PREFIX)))
    gone = [name for name in names if name.removeprefix(PREFIX) not in keep]
    if gone:
        session.execute(delete(Lease).where(Lease.name.in_(gone)))


def jobs(session: Session) -> list[dict[str, Any]]:
    """[{job, last_run, next_run, outcome}] ordered by job id; times ISO or None."""
    rows = session.scalars(select(Lease).where(Lease.name.startswith(PREFIX)).order_by(Lease.name))
    return [
        {
            "job": row.name.removeprefix(PREFIX),
            "last_run": None if row.heartbeat_at >= FAR else row.heartbeat_at.isoformat(),
            "next_run": None if row.expires_at >= FAR else row.expires_at.isoformat(),
            "outcome": row.holder or None,
        }
        for row in rows
    ]
