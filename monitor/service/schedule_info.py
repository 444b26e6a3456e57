"""Each scheduled job's last and next run, as the leading daemon last wrote them.

The schedule lives in the leader's memory; `driftwise status` runs in another process,
maybe on another machine, so the leader writes a row per job after every run: in the
`leases` table under `job:<job id>`, with `heartbeat_at` the last run, `expires_at` the
next and `holder` the outcome. Nobody acquires these names as leases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.store.models import Lease
from monitor.timeutil import iso

PREFIX = "job:"
FAR = datetime(9999, 1, 1)  # a paused job's next run


def record(
    session: Session,
    job_id: str,
    outcome: str,
    last_run: datetime | None,
    next_run: datetime | None,
) -> None:
    """Write the job's row; the leader's threads may race to create it, so insert-or-update."""
    values: dict[str, Any] = {"holder": outcome[:200], "expires_at": next_run or FAR}
    if last_run is not None:
        values["heartbeat_at"] = last_run
    name = PREFIX + job_id
    for _ in range(2):
        changed = session.execute(
            update(Lease)
            .where(Lease.name == name)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed:
            return
        try:
            with session.begin_nested():
                session.execute(
                    insert(Lease).values(**{"name": name, "heartbeat_at": FAR, **values})
                )
            return
        except IntegrityError:
            continue


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
            "last_run": None if row.heartbeat_at >= FAR else iso(row.heartbeat_at),
            "next_run": None if row.expires_at >= FAR else iso(row.expires_at),
            "outcome": row.holder or None,
        }
        for row in rows
    ]


def lines(rows: list[dict[str, Any]]) -> list[str]:
    """`driftwise status` text: one line per scheduled job."""
    return [
        f"  {row['job']}: last {row['last_run'] or 'never'} ({row['outcome'] or '-'}), "
        f"next {row['next_run'] or '-'}"
        for row in rows
    ]
