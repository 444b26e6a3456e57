"""Shared fixtures: a migrated database on SQLite and, when reachable, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from monitor.store import db as store_db
from monitor.store import schema

POSTGRES_URL = os.environ.get("DRIFTWISE_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"
SAMPLES = Path(__file__).parent / "samples"


def _postgres_unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(reason)


def create_postgres_database() -> tuple[str, str]:
    """A fresh database beside DRIFTWISE_TEST_POSTGRES_URL: (url, name)."""
    if not POSTGRES_URL:
        _postgres_unavailable("DRIFTWISE_TEST_POSTGRES_URL is not set")
    name = f"driftwise_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception as error:  # noqa: BLE001 - any connection failure means unreachable
        _postgres_unavailable(f"PostgreSQL unreachable: {error}")
    base = POSTGRES_URL.rsplit("/", 1)[0]
    return f"{base}/{name}", name


def drop_postgres_database(name: str) -> None:
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def postgres_database() -> Iterator[str]:
    """The URL of a fresh database beside DRIFTWISE_TEST_POSTGRES_URL, dropped afterwards."""
    url, name = create_postgres_database()
    try:
        yield url
    finally:
        store_db.reset_engines()
        drop_postgres_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request, tmp_path: Path) -> Iterator[str]:
    """An empty database URL, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'driftwise.db'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def db_url(empty_db_url: str, monkeypatch, tmp_path: Path) -> str:
    """A database at head, and DRIFTWISE_* pointing at it and at a temporary data dir."""
    schema.upgrade(store_db.get_engine(empty_db_url))
    monkeypatch.setenv("DRIFTWISE_DATABASE_URL", empty_db_url)
    monkeypatch.setenv("DRIFTWISE_DATA_DIR", str(tmp_path / "data"))
    return empty_db_url


@pytest.fixture
def engine(db_url: str) -> Engine:
    return store_db.get_engine(db_url)


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch) -> str:
    """A SQLite database at head, for tests that need only one backend."""
    url = f"sqlite:///{tmp_path / 'driftwise.db'}"
    schema.upgrade(store_db.get_engine(url))
    monkeypatch.setenv("DRIFTWISE_DATABASE_URL", url)
    monkeypatch.setenv("DRIFTWISE_DATA_DIR", str(tmp_path / "data"))
    return url


@pytest.fixture(autouse=True)
def _local_webhook_receivers(monkeypatch) -> None:
    """The suite's webhook receivers listen on 127.0.0.1, which production refuses."""
    monkeypatch.setenv("DRIFTWISE_ALLOW_PRIVATE_WEBHOOKS", "1")


@pytest.fixture(autouse=True)
def _fresh_engines() -> Iterator[None]:
    yield
    store_db.reset_engines()
