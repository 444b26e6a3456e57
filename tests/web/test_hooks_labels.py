"""The inbound labels-ready webhook: reads the deployment's label sources and backfills."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from monitor.ingest.engine import ingest
from monitor.notify.signing import signed_headers
from monitor.runs.job import monitor_deployment
from monitor.store import get_engine, session_scope
from monitor.store.models import Run
from monitor.timeutil import utcnow, window_start
from tests.factories import add_source, churn_frame, make_deployment
from tests.web.conftest import WEBHOOK_SECRET, build_app


def _post(client, body: dict, webhook_id: str, secret: str = WEBHOOK_SECRET):
    raw = json.dumps(body)
    headers = signed_headers(secret, webhook_id, raw)
    return client.post(
        "/hooks/labels-ready", data=raw, headers=headers, content_type="application/json"
    )


def _write(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


def test_labels_ready_reads_the_labels_and_backfills_the_window_once(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = build_app(sqlite_url)
    app.config["LABELS_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    engine = get_engine(sqlite_url)
    start = window_start(utcnow(), 3600) - timedelta(hours=3)
    frame = churn_frame(300, seed=3)
    predictions = [
        {
            "request_id": f"r-{i}",
            "timestamp": (start + timedelta(seconds=i)).isoformat(),
            "features": {k: row[k] for k in ("tenure", "charges", "plan", "region")},
            "prediction": int(row["prediction"]),
            "probability": float(row["probability"]),
        }
        for i, row in frame.iterrows()
    ]
    _write(tmp_path / "predictions.jsonl", predictions)
    with session_scope(engine) as session:
        deployment = make_deployment(session)
        for role in ("predictions", "labels"):
            path = str(tmp_path / f"{role}.jsonl")
            add_source(session, deployment.id, role, role=role, path=path)
    ingest(engine)
    monitor_deployment(engine, "churn-online", start, start + timedelta(hours=1))
    labels = [{"request_id": f"r-{i}", "label": int(row["churned"])} for i, row in frame.iterrows()]
    _write(tmp_path / "labels.jsonl", labels)

    client = app.test_client()
    response = _post(client, {"deployment": "churn-online"}, "labels-1")
    assert response.status_code == 202
    assert response.json["scheduled"] == ["ingest_source:2", "monitor_deployment:churn-online"]
    deadline = time.monotonic() + 60
    backfill = None
    while backfill is None and time.monotonic() < deadline:
        time.sleep(0.2)
        with session_scope(engine) as session:
            backfill = session.scalar(
                select(Run).where(Run.kind == "backfill", Run.status != "running")
            )
    assert backfill is not None, "no backfill run within 60 s"
    assert backfill.window_start == start and backfill.labeled_rows == 300
    assert backfill.performance["accuracy"] > 0.5  # realized, from the labels just read

    replay = _post(client, {"deployment": "churn-online"}, "labels-1")
    assert replay.status_code == 202 and replay.json == {"scheduled": [], "replayed": True}
    assert _post(client, {"deployment": "nowhere"}, "labels-2").status_code == 404
    assert (
        _post(client, {"deployment": "churn-online"}, "labels-3", secret="wrong").status_code == 401
    )
