"""What the benchmarks share: where results go, a scratch PostgreSQL database beside a
server URL, and the `--postgres` option."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from monitor.store import db as store_db

RESULTS = Path(__file__).parent / "results"
LOCAL_POSTGRES = "postgresql+psycopg://root@127.0.0.1:5432/test"


def add_postgres_option(parser: argparse.ArgumentParser, default: str = "") -> None:
    """`--postgres URL`: a server on which a scratch database is made and dropped; by
    default DRIFTWISE_TEST_POSTGRES_URL, else `default` (none: no PostgreSQL round)."""
    parser.add_argument(
        "--postgres",
        default=os.environ.get("DRIFTWISE_TEST_POSTGRES_URL", default),
        help="a PostgreSQL server URL: a scratch database is created beside it and dropped",
    )


def postgres_database(admin_url: str) -> tuple[str, str]:
    """A new empty database beside `admin_url`: (its URL, its name)."""
    name = f"driftwise_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name, name


def drop_postgres(admin_url: str, name: str) -> None:
    store_db.reset_engines()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    """The URL of a scratch database beside `admin_url`, dropped when the block ends."""
    url, name = postgres_database(admin_url)
    try:
        yield url
    finally:
        drop_postgres(admin_url, name)


def on_postgres(admin_url: str, measure: Callable[[str], dict]) -> dict:
    """`measure` on a scratch database beside `admin_url`; `{"skipped": why}` when no
    database can be made there."""
    try:
        url, name = postgres_database(admin_url)
    except Exception as error:  # noqa: BLE001 - reported, not fatal
        return {"skipped": str(error)}
    try:
        return measure(url)
    finally:
        drop_postgres(admin_url, name)


def on_sqlite_and_postgres(postgres: str, measure: Callable[[str], dict]) -> dict:
    """`measure` on a scratch SQLite database and, when `postgres` names a server, on a
    scratch PostgreSQL database there: {"sqlite": ..., "postgresql": ...}."""
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite"] = measure(f"sqlite:///{folder}/bench.db")
    if postgres:
        with scratch_postgres(postgres) as url:
            results["postgresql"] = measure(url)
    return results


def write_results(name: str, results: dict) -> None:
    """bench/results/<name>.json."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
