"""What `driftwise status --check` looks at, for a container or systemd health check.

Each problem has its own exit code; with several, the command exits with the lowest and
prints every one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.store.models import Deployment, Lease, Notification, Source
from monitor.timeutil import format_duration, iso, parse_duration, utcnow

NO_LEADER, NOTIFICATIONS_FAILING, SOURCE_STALE = 3, 4, 5
FAILING_WINDOW = timedelta(hours=24)  # failed sends this recent count as failing now
RETRIES_FAILING = 3  # a notification still pending after this many attempts is failing
DEFAULT_STALE_AFTER = "1h"


@dataclass(frozen=True)
class Problem:
    code: int
    message: str


def problems(session: Session) -> list[Problem]:
    found = [*_leader(session), *_notifications(session), *_stale_sources(session)]
    return sorted(found, key=lambda problem: problem.code)


def _leader(session: Session) -> list[Problem]:
    leader = session.get(Lease, "scheduler")
    if leader is None or leader.expires_at <= utcnow():
        return [
            Problem(NO_LEADER, "no scheduler leads: start `driftwise daemon` or `driftwise run`")
        ]
    return []


def _notifications(session: Session) -> list[Problem]:
    since = utcnow() - FAILING_WINDOW
    failed = session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.status == "failed", Notification.created_at >= since)
    )
    retrying = session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.status == "pending", Notification.attempts >= RETRIES_FAILING)
    )
    if failed or retrying:
        return [
            Problem(
                NOTIFICATIONS_FAILING,
                f"notifications failing: {failed} failed in the last 24 h, {retrying} pending "
                f"after {RETRIES_FAILING} or more attempts",
            )
        ]
    return []


def _stale_sources(session: Session) -> list[Problem]:
    now, found = utcnow(), []
    rows = session.execute(
        select(Source, Deployment.name)
        .join(Deployment, Deployment.id == Source.deployment_id)
        .where(Source.enabled.is_(True))
        .order_by(Deployment.name, Source.id)
    )
    for source, deployment in rows:
        bound = parse_duration((source.config or {}).get("stale_after", DEFAULT_STALE_AFTER))
        last = source.last_read_at
        if last is None or now - last > timedelta(seconds=bound):
            when = "never read" if last is None else f"last read {iso(last)}"
            found.append(
                Problem(
                    SOURCE_STALE,
                    f"source {source.name} of {deployment} not read for over "
                    f"{format_duration(bound)} ({when})",
                )
            )
    return found
