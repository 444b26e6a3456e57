"""Reads of the store that several tests make to check what was stored, and how often."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from monitor.store import session_scope
from monitor.store.models import IngestedFile, MetricPoint, Prediction, Run


def count(engine: Engine, query: Any) -> int:
    """The scalar a count query answers (0 for none)."""
    with session_scope(engine) as session:
        return session.scalar(query) or 0


def rows_in(engine: Engine, table: Any) -> int:
    return count(engine, select(func.count()).select_from(table))


def doubled_points(engine: Engine) -> list:
    """Metric points stored more than once for one run, metric and column."""
    with session_scope(engine) as session:
        return session.execute(
            select(MetricPoint.run_id, MetricPoint.metric, MetricPoint.column, func.count())
            .group_by(MetricPoint.run_id, MetricPoint.metric, MetricPoint.column)
            .having(func.count() > 1)
        ).all()


def runs_where(engine: Engine, *conditions: Any) -> int:
    """How many runs meet every condition."""
    return count(engine, select(func.count()).select_from(Run).where(*conditions))


def ingested_offset(engine: Engine) -> int:
    """How far into its file the furthest ingestion cursor has read."""
    return count(engine, select(func.max(IngestedFile.offset)))


def stored_predictions(engine: Engine) -> tuple[int, int]:
    """Predictions stored, and distinct request ids among them."""
    return (
        rows_in(engine, Prediction),
        count(engine, select(func.count(func.distinct(Prediction.request_id)))),
    )
