"""Windows waiting for their sources: a window runs only once every prediction source of
its deployment has been read past the window's end (`monitor/ingest/watermark.py`).

The wait is bounded: a window due for longer than `DRIFTWISE_SOURCE_WAIT_SECONDS` runs
anyway, its run warned that it did not wait longer for the source; if the source catches
up later, the window's grown row count runs it again (`monitor/runs/late.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.ingest.watermark import behind, read_to_text
from monitor.settings import current_value
from monitor.store import session_scope
from monitor.store.models import Deployment, Run, Source
from monitor.timeutil import human_duration, iso


@dataclass
class Plan:
    """Which of the windows run now: those ready, those past the wait (with their warning)."""

    ready: list[tuple]
    held: list[tuple]
    warnings: dict[datetime, str]  # window start -> warning for a window run without waiting


def plan(session: Session, deployment: Deployment, windows: list[tuple], now: datetime) -> Plan:
    """Split windows (tuples starting with start, end) into those that run now and those
    that wait for a source."""
    if not windows:
        return Plan([], [], {})
    late = behind(session, deployment.id, max(window[1] for window in windows))
    result = Plan([], [], {})
    wait = timedelta(seconds=current_value("source_wait_seconds"))
    settle = timedelta(seconds=deployment.settle_seconds)
    for window in windows:
        sources = [
            source for source in late if source.read_to is None or source.read_to < window[1]
        ]
        if not sources:
            result.ready.append(window)
        elif now - (window[1] + settle) > wait:
            result.ready.append(window)
            result.warnings[window[0]] = (
                f"ran without waiting longer than {human_duration(wait.total_seconds())} "
                f"for {waiting_for(sources)}"
            )
        else:
            result.held.append(window)
    return result


def waiting_for(sources: list[Source]) -> str:
    """`source logs (read to 2026-01-01T10:00:00Z)`, for each source."""
    return ", ".join(f"source {source.name} ({read_to_text(source)})" for source in sources)


def warn(engine: Engine | None, run_id: int, warning: str) -> None:
    with session_scope(engine) as session:
        run = session.get(Run, run_id)
        run.warnings = [*(run.warnings or []), warning]


def held_windows(session: Session, deployment: Deployment, now: datetime) -> dict | None:
    """What `status` says of the deployment's due windows that wait for a source."""
    from monitor.runs.job import due_windows

    held = plan(session, deployment, due_windows(session, deployment, now), now).held
    if not held:
        return None
    sources = behind(session, deployment.id, held[0][1])
    return {
        "windows": len(held),
        "first_window_start": iso(held[0][0]),
        "first_window_end": iso(held[0][1]),
        "sources": [
            {
                "name": source.name,
                "read_to": iso(source.read_to),
                "last_error": source.last_error,
            }
            for source in sources
        ],
        "message": f"{len(held)} window(s) from {iso(held[0][0])} waiting for "
        f"{waiting_for(sources)}",
    }
