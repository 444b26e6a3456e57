"""A reader killed with SIGKILL mid-ingest loses nothing and duplicates nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from monitor.ingest.engine import ingest
from monitor.store import session_scope
from monitor.store.models import IngestedFile, Quarantine
from tests.factories import add_source, make_deployment
from tests.processes import kill_after, reader
from tests.queries import ingested_offset, stored_predictions

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
        add_source(session, deployment.id, "big", path=str(log))
    process = reader(db_url, tmp_path / "reader.log", 1024 * 1024)
    kill_after(process, lambda: ingested_offset(engine) > 0, 120, "the first chunk", interval=0.02)
    partial, _ = stored_predictions(engine)
    assert 0 < partial < RECORDS, "the reader must be killed part-way"

    time.sleep(1.2)  # the dead reader's lease expires
    monkeypatch.setenv("DRIFTWISE_INGEST_LEASE_SECONDS", "30")
    [tally] = ingest(engine)
    assert not tally.errors
    rows, distinct = stored_predictions(engine)
    with session_scope(engine) as session:
        quarantined = session.scalar(select(func.count()).select_from(Quarantine))
        cursor = session.scalar(select(IngestedFile))
    assert rows == distinct == RECORDS
    assert quarantined == bad
    assert cursor.offset == log.stat().st_size
    assert cursor.line == RECORDS + bad
