"""Hostile files: integers no column can hold and JSON nested too deeply are bad records,
quarantined with the field named, while the rest of the file is stored."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select

from monitor.ingest.engine import ingest
from monitor.store import session_scope
from monitor.store.models import Prediction
from tests.monitor.test_ingest import add_source, jsonl, reasons, record

BEYOND = 2**64  # orjson reads a JSON line's bigger integers as floats; CSV keeps them


def test_text_no_column_can_hold_and_deep_nesting_in_a_file_are_quarantined(
    engine: Engine, tmp_path: Path
) -> None:
    """On SQLite and PostgreSQL: a lone surrogate is valid JSON but not UTF-8 text."""
    surrogate = json.dumps(record(3)).replace('"pro"', '"\\ud800"')
    lone_id = json.dumps(record(4)).replace('"r-4"', '"r-\\udc00"')
    lines = [record(1), "[" * 5000 + "]" * 5000, surrogate, lone_id, record(2)]
    jsonl(tmp_path / "p.jsonl", lines)
    add_source(engine, "predictions", "jsonl", {"path": str(tmp_path / "p.jsonl")})
    [tally] = ingest(engine)
    assert not tally.errors, tally.errors
    assert (tally.inserted, tally.quarantined) == (2, 3)
    found = reasons(engine)
    assert "nested deeper than" in found[0]
    assert found[1].startswith("features.plan: cannot be stored")
    assert found[2].startswith("request_id: cannot be stored")
    with session_scope(engine) as session:
        assert set(session.scalars(select(Prediction.request_id))) == {"r-1", "r-2"}


def test_a_csv_integer_beyond_64_bits_is_quarantined(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text(
        "request_id,timestamp,tenure,charges,plan,region,prediction\n"
        "a,2026-01-01T00:00:00Z,1,70.5,pro,eu,0\n"
        f"b,2026-01-01T00:00:00Z,{BEYOND},70.5,pro,eu,0\n"
        f"c,2026-01-01T00:00:00Z,3,70.5,pro,eu,{BEYOND}\n"
    )
    add_source(engine, "predictions", "csv", {"path": str(path), "request_id": "request_id"})
    [tally] = ingest(engine)
    assert not tally.errors, tally.errors
    assert (tally.inserted, tally.quarantined) == (1, 2)
    assert [reason.split(":")[0] for reason in reasons(engine)] == [
        "features.tenure",
        "prediction",
    ]
