"""A sampled window is read from its sample's buckets, not by walking every row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

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
