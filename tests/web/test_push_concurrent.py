"""Each client is told the truth: statuses come from the insert itself, so across
concurrent clients pushing overlapping ids to a real server each id is `inserted` once."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from monitor.store import get_engine, session_scope
from monitor.store.models import Label, Prediction
from tests.factories import make_deployment
from tests.web.push_support import record
from tests.web.server_support import post_json, running_web
from web.auth import create_token

CLIENTS, PUSHES, BATCH = 8, 6, 20


def _label(request_id: str) -> dict:
    return {"request_id": request_id, "label": 1, "timestamp": "2026-01-01T11:00:00Z"}


def _bodies(client: int, make) -> list[bytes]:
    """Every client's pushes overlap: ids are drawn from a range shared by all clients,
    and each push repeats one id of its own."""
    bodies = []
    for push in range(PUSHES):
        ids = [f"r-{(client * 7 + push * BATCH + n) % 150}" for n in range(BATCH)]
        ids.append(ids[0])
        bodies.append(json.dumps({"records": [make(rid) for rid in ids]}).encode())
    return bodies


def _push_all(base: str, token: str, path: str, make) -> list[dict]:
    def client(number: int) -> list[dict]:
        answers = []
        for body in _bodies(number, make):
            status, answer = post_json(base, path, body, token)
            assert status == 200, answer
            answers.append(answer)
        return answers

    with ThreadPoolExecutor(CLIENTS) as pool:
        return [answer for answers in pool.map(client, range(CLIENTS)) for answer in answers]


def test_concurrent_clients_are_each_told_which_ids_they_stored(db_url, tmp_path):
    with session_scope(get_engine(db_url)) as session:
        make_deployment(session, name="churn-online")
        token = create_token(session, "pusher", "client")
    with running_web(db_url, tmp_path, "--threads", "8") as base:
        for role, make, table in (
            ("predictions", record, Prediction),
            ("labels", _label, Label),
        ):
            path = f"/api/v1/deployments/churn-online/{role}"
            answers = _push_all(base, token, path, make)
            told = Counter(
                entry["request_id"]
                for answer in answers
                for entry in answer["results"]
                if entry["status"] == "inserted"
            )
            with session_scope(get_engine(db_url)) as session:
                stored = session.scalar(select(func.count()).select_from(table))
            assert stored == len(told) and set(told.values()) == {1}, told.most_common(3)
            for answer in answers:
                statuses = Counter(entry["status"] for entry in answer["results"])
                assert statuses["inserted"] == answer["inserted"]
                assert statuses["duplicate"] == answer["duplicate"] >= 1
