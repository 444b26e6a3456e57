"""A reader killed with SIGKILL mid-ingest loses nothing and duplicates nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from monitor.ingest.engine import ingest
from monitor.store import session_scope
from monitor.store.models import IngestedFile, Prediction, Quarantine, Source
from tests.factories import make_deployment

RECORDS = 120_000
BAD_EVERY = 10_000


def write_log(path: Path) -> int:
    """A large JSONL log with a bad line every BAD_EVERY lines; returns how many are bad."""
    bad = 0
    with path.open("w") as handle:
        for i in range(RECORDS):
            if i % BAD_EVERY == 5:
                handle.write('{"request_id": "broken\n')
                bad += 1
            features = {"tenure": i / 7, "charges": 70.5, "plan": "pro", "region": "eu"}
            stamp = f"2026-01-01T{i % 24:02d}:{i % 60:02d}:00Z"
            handle.write(
                json.dumps({"request_id": f"r-{i}", "timestamp": stamp, "features": features})
                + "\n"
            )
    return bad


@pytest.mark.slow
def test_a_reader_killed_mid_ingest_loses_and_duplicates_nothing(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch
) -> None:
    log = tmp_path / "big.jsonl"
    bad = write_log(log)
    with session_scope(engine) as session:
        deployment = make_deployment(session)
        session.add(
            Source(
                deployment_id=deployment.id,
                role="predictions",
                name="big",
                kind="jsonl",
                config={"path": str(log)},
            )
        )
    env = {
        **os.environ,
        "DRIFTWISE_DATABASE_URL": db_url,
        "DRIFTWISE_INGEST_LEASE_SECONDS": "1",
        "DRIFTWISE_INGEST_CHUNK_BYTES": str(1024 * 1024),  # many transactions to die between
    }
    reader = subprocess.Popen(
        [sys.executable, "-c", "from monitor.cli import main; main()", "ingest"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with session_scope(engine) as session:
            offset = session.scalar(select(IngestedFile.offset)) or 0
        if offset > 0:
            break
        assert reader.poll() is None, reader.stderr.read().decode()
        time.sleep(0.02)
    reader.send_signal(signal.SIGKILL)
    reader.wait()
    with session_scope(engine) as session:
        partial = session.scalar(select(func.count()).select_from(Prediction))
    assert 0 < partial < RECORDS, "the reader must be killed part-way"

    time.sleep(1.2)  # the dead reader's lease expires
    monkeypatch.setenv("DRIFTWISE_INGEST_LEASE_SECONDS", "30")
    [tally] = ingest(engine)
    assert not tally.errors
    with session_scope(engine) as session:
        rows = session.scalar(select(func.count()).select_from(Prediction))
        distinct = session.scalar(select(func.count(func.distinct(Prediction.request_id))))
        quarantined = session.scalar(select(func.count()).select_from(Quarantine))
        cursor = session.scalar(select(IngestedFile))
    assert rows == distinct == RECORDS
    assert quarantined == bad
    assert cursor.offset == log.stat().st_size
    assert cursor.line == RECORDS + bad
