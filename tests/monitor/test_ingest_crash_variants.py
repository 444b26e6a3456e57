"""SIGKILL mid-ingest, on the paths the log variants added: halves joined across two
sources of one deployment, and a file whose last line has no newline."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from monitor.ingest.engine import ingest
from monitor.store import session_scope
from monitor.store.models import IngestedFile, PendingHalf, Prediction, Quarantine
from tests.factories import add_source, make_deployment
from tests.processes import Process, kill_after, reader

EVENTS = 12_000


def azure_logs(folder: Path) -> tuple[Path, Path]:
    """Inputs and outputs of EVENTS requests, in two folders as the collector writes them."""
    inputs, outputs = folder / "model_inputs.jsonl", folder / "model_outputs.jsonl"
    with inputs.open("w") as ins, outputs.open("w") as outs:
        for i in range(EVENTS):
            stamp = f"2026-01-01T{i % 24:02d}:{i % 60:02d}:00Z"
            row = {"tenure": i % 70, "charges": 70.5, "plan": "pro", "region": "eu"}
            common = {"specversion": "1.0", "correlationid": f"c-{i}", "time": stamp}
            ins.write(
                json.dumps({**common, "type": "azureml.inference.model_inputs", "data": [row]})
            )
            ins.write("\n")
            out = [{"prediction": i % 2, "probability": 0.5}]
            outs.write(
                json.dumps({**common, "type": "azureml.inference.model_outputs", "data": out})
            )
            outs.write("\n")
    return inputs, outputs


def kill_when_partly_read(engine: Engine, process: Process, path: Path) -> None:
    """SIGKILL once `path` is read part-way."""
    size = path.stat().st_size

    def partly_read() -> bool:
        with session_scope(engine) as session:
            offset = session.scalar(
                select(IngestedFile.offset).where(IngestedFile.path == str(path))
            )
        return bool(offset and offset < size)

    # A loaded machine reads slowly; the bound is loose.
    kill_after(process, partly_read, 600, f"{path.name} to be read part-way", interval=0.01)


def add_predictions_source(engine: Engine, deployment_id: int, name: str, config: dict) -> None:
    with session_scope(engine) as session:
        add_source(session, deployment_id, name, config.pop("kind", "jsonl"), **config)


def counts(engine: Engine) -> tuple[int, int, int, int]:
    with session_scope(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Prediction)),
            session.scalar(select(func.count(func.distinct(Prediction.request_id)))),
            session.scalar(select(func.count()).select_from(Quarantine)),
            session.scalar(select(func.count()).select_from(PendingHalf)),
        )


@pytest.mark.slow
def test_a_reader_killed_while_joining_halves_across_sources_loses_and_duplicates_nothing(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch
) -> None:
    inputs, outputs = azure_logs(tmp_path)
    with session_scope(engine) as session:
        deployment = make_deployment(session).id
    add_predictions_source(
        engine, deployment, "inputs", {"kind": "azureml-collector", "path": str(inputs)}
    )
    add_predictions_source(
        engine, deployment, "outputs", {"kind": "azureml-collector", "path": str(outputs)}
    )
    process = reader(db_url, tmp_path / "reader.log", 64 * 1024)
    kill_when_partly_read(engine, process, outputs)
    partial = counts(engine)[0]
    assert 0 < partial < EVENTS, "the reader must be killed while joining"

    time.sleep(1.2)  # the dead reader's lease expires
    monkeypatch.setenv("DRIFTWISE_INGEST_LEASE_SECONDS", "30")
    tallies = ingest(engine)
    assert all(not tally.errors for tally in tallies)
    assert counts(engine) == (EVENTS, EVENTS, 0, 0)
    with session_scope(engine) as session:
        values = session.execute(
            select(Prediction.request_id, Prediction.prediction).where(
                Prediction.request_id.in_(["c-0", "c-1", f"c-{EVENTS - 1}"])
            )
        ).all()
    assert sorted(values) == [("c-0", "0"), ("c-1", "1"), (f"c-{EVENTS - 1}", "1")]


@pytest.mark.slow
def test_a_reader_killed_in_a_file_without_final_newline_loses_and_duplicates_nothing(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch
) -> None:
    log = tmp_path / "no-newline.jsonl"
    lines = []
    for i in range(EVENTS * 4):
        features = {"tenure": i / 7, "charges": 70.5, "plan": "pro", "region": "eu"}
        stamp = f"2026-01-01T{i % 24:02d}:{i % 60:02d}:00Z"
        lines.append(json.dumps({"request_id": f"r-{i}", "timestamp": stamp, "features": features}))
    log.write_text("\n".join(lines))  # no final newline, as object stores often hold logs
    settled = time.time() - 3600
    os.utime(log, (settled, settled))
    with session_scope(engine) as session:
        deployment = make_deployment(session).id
    add_predictions_source(engine, deployment, "big", {"path": str(log), "complete_after": "1m"})
    process = reader(db_url, tmp_path / "reader.log", 64 * 1024)
    kill_when_partly_read(engine, process, log)
    assert 0 < counts(engine)[0] < EVENTS * 4, "the reader must be killed part-way"

    time.sleep(1.2)
    monkeypatch.setenv("DRIFTWISE_INGEST_LEASE_SECONDS", "30")
    [tally] = ingest(engine)
    assert not tally.errors and tally.files_waiting == 0
    assert counts(engine) == (EVENTS * 4, EVENTS * 4, 0, 0)
    with session_scope(engine) as session:
        cursor = session.scalar(select(IngestedFile))
    assert (cursor.offset, cursor.line) == (log.stat().st_size, EVENTS * 4)
    assert ingest(engine)[0].read == 0
