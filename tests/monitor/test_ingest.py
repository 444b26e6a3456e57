"""Ingestion: every record once, bad records quarantined with a reason, the rest goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, create_engine, func, select, text

from monitor.ingest.engine import ingest, load_jobs
from monitor.ingest.readers.lines import parse_chunk
from monitor.store import session_scope
from monitor.store.models import Label, Prediction, Quarantine, Source
from tests.factories import add_scores, make_deployment, scores_table
from tests.queries import rows_in as count


def record(i: int, **overrides) -> dict:
    base = {
        "request_id": f"r-{i}",
        "timestamp": f"2026-01-01T{i % 24:02d}:00:00Z",
        "model_version": 1,
        "features": {"tenure": 1.5 * i, "charges": 70.0, "plan": "pro", "region": "eu"},
        "prediction": i % 2,
        "probability": 0.25,
    }
    base.update(overrides)
    return base


def jsonl(path: Path, records: list, mode: str = "w") -> Path:
    with path.open(mode) as handle:
        for item in records:
            handle.write((item if isinstance(item, str) else json.dumps(item)) + "\n")
    return path


def add_source(
    engine: Engine, role: str, kind: str, config: dict, deployment: str = "churn-online"
) -> None:
    with session_scope(engine) as session:
        dep = session.scalar(
            text("SELECT id FROM deployments WHERE name = :n").bindparams(n=deployment)
        )
        if dep is None:
            dep = make_deployment(session, name=deployment).id
        session.add(
            Source(
                deployment_id=dep,
                role=role,
                name=f"{kind}:{len(config)}:{config.get('path', '')}",
                kind=kind,
                config=config,
            )
        )


def reasons(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        return [q.reason for q in session.scalars(select(Quarantine).order_by(Quarantine.id))]


def test_reruns_growing_files_and_repeated_records_never_duplicate(
    engine: Engine, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    jsonl(logs / "a.jsonl", [record(i) for i in range(100)])
    add_source(engine, "predictions", "jsonl", {"path": str(logs / "*.jsonl")})
    [tally] = ingest(engine)
    assert (tally.read, tally.inserted, tally.duplicate, tally.quarantined) == (100, 100, 0, 0)
    assert ingest(engine)[0].read == 0
    jsonl(logs / "a.jsonl", [record(i) for i in range(100, 150)], mode="a")
    jsonl(logs / "b.jsonl", [record(i) for i in range(140, 160)])  # 140..149 again
    [tally] = ingest(engine)
    assert (tally.read, tally.inserted, tally.duplicate) == (70, 60, 10)
    assert count(engine, Prediction) == 160


def test_a_truncated_last_line_waits_until_it_is_complete(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    jsonl(path, [record(1)])
    line = json.dumps(record(2))
    with path.open("a") as handle:
        handle.write(line[:30])
    add_source(engine, "predictions", "jsonl", {"path": str(path)})
    assert ingest(engine)[0].inserted == 1
    with path.open("a") as handle:
        handle.write(line[30:] + "\n")
    [tally] = ingest(engine)
    assert (tally.inserted, tally.quarantined) == (1, 0)
    assert count(engine, Prediction) == 2


def test_bad_records_are_quarantined_with_their_reason_and_the_rest_goes_on(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "p.jsonl"
    bad_features = {"tenure": "long", "charges": 70.0, "plan": "pro", "region": "eu"}
    lines = [
        record(1),
        '{"request_id": "broken", "timestamp": ',
        record(2, features={"tenure": 1.0, "charges": 70.0, "plan": "pro"}),
        record(3, features=bad_features),
        '{"request_id": "nan", "timestamp": "2026-01-01T00:00:00Z", "features": {"tenure": NaN, "charges": 1.0, "plan": "pro", "region": "eu"}}',
        '{"request_id": "inf", "timestamp": "2026-01-01T00:00:00Z", "features": {"tenure": Infinity, "charges": 1.0, "plan": "pro", "region": "eu"}}',
        record(4, timestamp="yesterday"),
        record(5, extra=1),
        record(6, probability=1.5),
        record(7),
    ]
    jsonl(path, lines)
    with path.open("ab") as handle:
        handle.write(b'{"request_id": "latin", "note": "caf\xe9"}\n')
    (tmp_path / "empty.jsonl").write_text("")
    add_source(engine, "predictions", "jsonl", {"path": str(tmp_path / "*.jsonl")})
    [tally] = ingest(engine)
    assert (tally.inserted, tally.quarantined) == (2, 9)
    assert reasons(engine) == [
        reasons(engine)[0],
        "features: missing region",
        "features.tenure: expected a number, got str",
        "features.tenure: nan is not allowed",
        "features.tenure: inf is not allowed",
        reasons(engine)[5],
        "record: unknown field extra",
        "probability: 1.5 is not between 0 and 1",
        "not UTF-8: byte 36",
    ]
    assert reasons(engine)[0].startswith("broken JSON")
    assert reasons(engine)[5].startswith("timestamp: does not parse")
    with session_scope(engine) as session:
        locations = [
            q.location for q in session.scalars(select(Quarantine).order_by(Quarantine.id))
        ]
    assert locations[0].endswith("p.jsonl:2") and locations[-1].endswith("p.jsonl:11")


def test_labels_join_their_predictions_whichever_arrives_first(
    engine: Engine, tmp_path: Path
) -> None:
    jsonl(tmp_path / "labels.jsonl", [{"request_id": f"r-{i}", "label": i % 2} for i in range(10)])
    add_source(engine, "labels", "jsonl", {"path": str(tmp_path / "labels.jsonl")})
    add_source(engine, "predictions", "jsonl", {"path": str(tmp_path / "predictions.jsonl")})
    jsonl(tmp_path / "predictions.jsonl", [record(i) for i in range(5)])
    ingest(engine)
    jsonl(tmp_path / "predictions.jsonl", [record(i) for i in range(5, 20)], mode="a")
    ingest(engine)
    with session_scope(engine) as session:
        joined = session.scalar(
            select(func.count())
            .select_from(Prediction)
            .join(
                Label,
                (Label.deployment_id == Prediction.deployment_id)
                & (Label.request_id == Prediction.request_id),
            )
        )
    assert joined == 10
    assert count(engine, Prediction) == 20


def test_batch_csv_and_parquet_outputs_are_read_once(engine: Engine, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "timestamp": ["2026-01-01T06:00:00Z"] * 4,
            "customer": ["a", "b", "c", "d"],
            "tenure": [1.0, 2.0, 3.0, 4.0],
            "charges": [50.0, 60.0, 70.0, 80.0],
            "plan": ["pro", "basic", "team", "pro"],
            "region": ["eu", "us", "eu", "apac"],
            "prediction": [0, 1, 0, 1],
            "probability": [0.1, 0.9, 0.2, 0.8],
        }
    )
    frame.to_csv(tmp_path / "scores.csv", index=False)
    frame.assign(request_id=["p1", "p2", "p3", "p4"]).to_parquet(tmp_path / "scores.parquet")
    frame.drop(columns=["region"]).to_csv(tmp_path / "broken.csv", index=False)
    add_source(
        engine,
        "predictions",
        "csv",
        {"path": str(tmp_path / "*.csv"), "probability": "probability"},
    )
    add_source(engine, "predictions", "parquet", {"path": str(tmp_path / "*.parquet")})
    tallies = ingest(engine)
    assert [(t.read, t.inserted, t.quarantined) for t in tallies] == [(5, 4, 1), (4, 4, 0)]
    assert "missing feature column region" in reasons(engine)[0]
    assert [(t.read, t.inserted) for t in ingest(engine)] == [(0, 0), (0, 0)]
    with session_scope(engine) as session:
        ids = set(session.scalars(select(Prediction.request_id)))
    assert {"p1", "p2", "p3", "p4"} <= ids
    assert sum(1 for i in ids if ":" in i) == 4  # file sha256:row for rows without an id column


def test_sql_sources_follow_their_watermark_without_splitting_ties(
    engine: Engine, tmp_path: Path
) -> None:
    remote_url = f"sqlite:///{tmp_path / 'scoring.db'}"
    remote = create_engine(remote_url)
    stamp = "2026-01-01T00:00:00Z"
    scores_table(
        remote,
        [{"id": f"s-{i}", "ts": stamp, "seq": i // 3, "tenure": float(i)} for i in range(10)],
    )
    config = {
        "url": remote_url,
        "query": "SELECT * FROM scores",
        "watermark": "seq",
        "request_id": "id",
        "timestamp": "ts",
        "batch_size": 4,
    }
    add_source(engine, "predictions", "sql", config)
    assert ingest(engine)[0].inserted == 10
    add_scores(remote, [{"id": "s-10", "ts": stamp, "seq": 9, "prediction": 1}])
    [tally] = ingest(engine)
    assert (tally.read, tally.inserted) == (1, 1)
    assert count(engine, Prediction) == 11
    remote.dispose()


def test_an_unreadable_source_is_recorded_on_the_source(engine: Engine, tmp_path: Path) -> None:
    add_source(engine, "predictions", "jsonl", {"path": str(tmp_path / "nowhere.jsonl")})
    [tally] = ingest(engine)
    assert tally.errors and "nowhere.jsonl" in tally.errors[0]
    with session_scope(engine) as session:
        assert "nowhere.jsonl" in session.scalar(select(Source.last_error))


def test_a_logged_version_number_is_stored_as_that_version_s_row(
    engine: Engine, tmp_path: Path
) -> None:
    jsonl(
        tmp_path / "p.jsonl",
        [record(1), record(2, model_version=99), record(3, model_version=None)],
    )
    add_source(engine, "predictions", "jsonl", {"path": str(tmp_path / "p.jsonl")})
    ingest(engine)
    with session_scope(engine) as session:
        version_id = session.scalar(text("SELECT id FROM model_versions WHERE version = 1"))
        stored = dict(
            session.execute(select(Prediction.request_id, Prediction.model_version_id)).all()
        )
    assert stored == {"r-1": version_id, "r-2": None, "r-3": None}


def test_a_version_registered_after_its_rows_were_parsed_is_stored_as_its_row(
    engine: Engine, tmp_path: Path
) -> None:
    path = jsonl(tmp_path / "p.jsonl", [record(1), record(2, model_version=None)])
    add_source(engine, "predictions", "jsonl", {"path": str(path)})
    with session_scope(engine) as session:
        [job] = load_jobs(session)
    # Parsed while the registry knew no version 1: the write maps it as the registry is then.
    batch = parse_chunk(job, path.read_bytes(), str(path), 0, (engine.dialect.name == "sqlite", {}))
    with session_scope(engine) as session:
        assert batch.write(session) == (2, 2, 0)
        version_id = session.scalar(text("SELECT id FROM model_versions WHERE version = 1"))
        stored = dict(
            session.execute(select(Prediction.request_id, Prediction.model_version_id)).all()
        )
    assert version_id is not None
    assert stored == {"r-1": version_id, "r-2": None}


def test_a_source_another_reader_holds_is_skipped_not_read_twice(
    engine: Engine, tmp_path: Path
) -> None:
    from monitor.service import leases

    jsonl(tmp_path / "p.jsonl", [record(1)])
    add_source(engine, "predictions", "jsonl", {"path": str(tmp_path / "p.jsonl")})
    with session_scope(engine) as session:
        source_id = session.scalar(select(Source.id))
        assert leases.acquire(session, f"ingest:{source_id}", "other-host:1", 60)
    [tally] = ingest(engine)
    assert tally.inserted == 0 and "another process" in tally.errors[0]
    with session_scope(engine) as session:
        leases.release(session, f"ingest:{source_id}", "other-host:1")
    assert ingest(engine)[0].inserted == 1
