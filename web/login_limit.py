"""The login rate limit: failed logins counted per address and per account in the database.

The database is the one thing every web process shares (waitress threads, gunicorn
workers, several machines), so the limit holds across all of them with nothing else to
run. Counting and recording are not one atomic step: a burst of parallel guesses can pass
the limit by at most the number of requests in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from monitor.store.models import LoginFailure

ADDRESS_LENGTH, EMAIL_LENGTH = 64, 320


@dataclass(frozen=True)
class LoginLimit:
    per_account: int
    per_address: int
    window: timedelta


@dataclass(frozen=True)
class Refusal:
    message: str
    retry_after: int  # seconds


def refusal(
    session: Session, limit: LoginLimit, address: str, email: str, now: datetime
) -> Refusal | None:
    """Why a login may not be tried now, or None: too many recent failures for the
    account (whatever the address) or from the address (whatever the account)."""
    checks = (
        (LoginFailure.email, email[:EMAIL_LENGTH], limit.per_account, "for this account"),
        (LoginFailure.address, address[:ADDRESS_LENGTH], limit.per_address, "from this address"),
    )
    for column, value, allowed, scope in checks:
        recent = session.scalars(
            select(LoginFailure.at)
            .where(column == value, LoginFailure.at > now - limit.window)
            .order_by(LoginFailure.at.desc())
            .limit(allowed)
        ).all()
        if len(recent) >= allowed:
            # Allowed again once the oldest of the last `allowed` failures leaves the window.
            wait = max(int((recent[-1] + limit.window - now).total_seconds()) + 1, 1)
            minutes = -(-wait // 60)
            return Refusal(
                f"Too many failed logins {scope}: try again in {minutes} minute"
                f"{'s' if minutes != 1 else ''}.",
                wait,
            )
    return None


def record_failure(
    session: Session, limit: LoginLimit, address: str, email: str, now: datetime
) -> None:
    session.add(LoginFailure(at=now, address=address[:ADDRESS_LENGTH], email=email[:EMAIL_LENGTH]))
    # Failures older than the window count for nothing: drop them as new ones come in.
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - limit.window))


def forget_failures(session: Session, email: str) -> None:
    """A successful login clears its account's count (not its address's)."""
    session.execute(delete(LoginFailure).where(LoginFailure.email == email[:EMAIL_LENGTH]))
