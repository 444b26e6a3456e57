"""A sampled window is read from its sample's buckets, and late labels are found from the
labels stored since, not by walking every prediction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from monitor.runs.job import labeled_since
from monitor.runs.window import _sample
from monitor.store import get_engine


def plan(url: str, total: int) -> str:
    engine = get_engine(url)
    query = select(_sample(1, datetime(2026, 1, 1), datetime(2026, 1, 2), total, 50_000, 1.1))
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        return " ".join(row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))


def test_a_large_window_seeks_only_the_buckets_its_sample_falls_in(sqlite_url: str) -> None:
    assert "sample_bucket=?" in plan(sqlite_url, 10_000_000)


def test_a_window_under_the_cap_reads_its_time_range(sqlite_url: str) -> None:
    assert "sample_bucket" not in plan(sqlite_url, 10_000)


def test_late_labels_are_looked_for_from_the_labels_stored_since_not_every_prediction(
    sqlite_url: str,
) -> None:
    engine = get_engine(sqlite_url)
    query = labeled_since(1, datetime(2026, 1, 1), datetime(2026, 1, 1))
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        steps = [row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
    assert steps[0].startswith("SEARCH labels USING INDEX ix_labels_ingested_at")
    assert "(deployment_id=? AND request_id=?)" in steps[1]
