"""Named leases in the `leases` table: whoever holds an unexpired lease owns the work.

Claimed by compare-and-set, so two processes on any database never both win.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.service.claims import compare_and_set
from monitor.store.models import Lease
from monitor.timeutil import utcnow


def acquire(session: Session, name: str, holder: str, seconds: float) -> bool:
    """Take or renew the lease `name` for `seconds`; True if `holder` now holds it."""
    now = utcnow()
    expires = now + timedelta(seconds=seconds)
    mine_or_lapsed = [Lease.name == name, (Lease.holder == holder) | (Lease.expires_at < now)]
    values = {"holder": holder, "expires_at": expires, "heartbeat_at": now}
    if compare_and_set(session, Lease, mine_or_lapsed, values):
        return True
    try:
        with session.begin_nested():
            session.execute(
                insert(Lease).values(name=name, holder=holder, expires_at=expires, heartbeat_at=now)
            )
        return True
    except IntegrityError:
        return False


def release(session: Session, name: str, holder: str) -> None:
    session.execute(
        delete(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .execution_options(synchronize_session=False)
    )


def live_holder(session: Session, name: str) -> str | None:
    """Who holds the lease `name` now, or None when nobody does (never taken, or expired)."""
    return session.scalar(
        select(Lease.holder).where(Lease.name == name, Lease.expires_at >= utcnow())
    )
