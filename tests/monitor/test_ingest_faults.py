"""`driftwise ingest` when a source fails: exit code 3, and every chunk stored before the
failure is kept (a real full disk: SQLite on a small tmpfs)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store import db as store_db
from monitor.store import schema, session_scope
from tests.factories import add_source, make_deployment, write_prediction_log
from tests.processes import run_driftwise
from tests.queries import ingested_offset, stored_predictions

pytestmark = pytest.mark.slow

RECORDS = 60_000


def ingest(url: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    settings = {"DRIFTWISE_DATABASE_URL": url, **env, "DRIFTWISE_DATA_DIR": str(tmp_path / "data")}
    return run_driftwise(["ingest"], settings, timeout=300)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs of the test's own (needs root; skipped otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        store_db.reset_engines()
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


def test_a_full_disk_keeps_the_chunks_stored_before_it_and_ingest_exits_3(
    small_disk: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{small_disk / 'driftwise.db'}"
    engine = store_db.get_engine(url)
    schema.upgrade(engine)
    log = tmp_path / "predictions.jsonl"
    write_prediction_log(log, RECORDS)
    with session_scope(engine) as session:
        deployment = make_deployment(session, window_seconds=7 * 86400)
        add_source(session, deployment.id, path=str(log))
    # A pass that cannot write cannot release its lease either: make it lapse quickly.
    small_chunks = {
        "DRIFTWISE_INGEST_CHUNK_BYTES": str(256 * 1024),
        "DRIFTWISE_INGEST_LEASE_SECONDS": "1",
    }

    full = ingest(url, tmp_path, **small_chunks)
    assert full.returncode == 3, full.stdout + full.stderr
    assert "full" in full.stdout + full.stderr
    assert "1 source(s) failed: log" in full.stderr
    kept, _ = stored_predictions(engine)
    offset = ingested_offset(engine)
    assert 0 < kept < RECORDS, "the chunks stored before the disk filled are kept"
    assert 0 < offset < log.stat().st_size

    grown = subprocess.run(
        ["mount", "-o", "remount,size=256m", str(small_disk)], capture_output=True, timeout=30
    )
    assert grown.returncode == 0, grown.stderr
    store_db.reset_engines()
    time.sleep(1.5)
    resumed = ingest(url, tmp_path, **small_chunks)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "skipped" not in resumed.stdout + resumed.stderr
    rows, distinct = stored_predictions(engine)
    assert rows == distinct == RECORDS


def test_a_missing_file_makes_ingest_exit_3_naming_the_source(db_url: str, tmp_path: Path) -> None:
    engine = store_db.get_engine(db_url)
    with session_scope(engine) as session:
        deployment = make_deployment(session)
        add_source(session, deployment.id, "gone", path=str(tmp_path / "nowhere.jsonl"))
    done = ingest(db_url, tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "nowhere.jsonl" in done.stderr
    assert "1 source(s) failed: gone" in done.stderr
