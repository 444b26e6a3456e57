"""Quarantine on the web: the API groups by reason, the deployment page shows it, and
what came from data is escaped."""

from __future__ import annotations

from monitor.store import get_engine, session_scope
from monitor.store.models import Deployment, PendingHalf, Quarantine, Source
from tests.web.conftest import add_history, bearer


def quarantine_some(url: str) -> None:
    with session_scope(get_engine(url)) as session:
        deployment = session.query(Deployment).filter_by(name="churn-online").one()
        source = Source(
            deployment_id=deployment.id, role="predictions", name="capture", kind="jsonl"
        )
        session.add(source)
        session.flush()
        for i, reason in enumerate(["features.tenure: expected a number"] * 3 + ["broken JSON"]):
            session.add(
                Quarantine(
                    deployment_id=deployment.id,
                    source_id=source.id,
                    location=f"/logs/a.jsonl:{i + 1}",
                    raw=b'{"tenure": "<script>x</script>"}',
                    reason=reason,
                )
            )
        session.add(PendingHalf(source_id=source.id, key="k-1", part="request", payload="{}"))


def test_the_api_lists_quarantine_by_reason_with_counts_and_examples(client, tokens, sqlite_url):
    add_history(sqlite_url)
    quarantine_some(sqlite_url)
    assert client.get("/api/v1/quarantine").status_code == 401
    body = client.get("/api/v1/quarantine", headers=bearer(tokens["viewer"])).json
    assert [(g["reason"], g["count"]) for g in body["groups"]] == [
        ("features.tenure: expected a number", 3),
        ("broken JSON", 1),
    ]
    assert body["groups"][0]["examples"][0]["location"] == "/logs/a.jsonl:1"
    assert len(body["groups"][0]["examples"]) == 3
    mine = client.get(
        "/api/v1/deployments/churn-online/quarantine?source=capture",
        headers=bearer(tokens["viewer"]),
    )
    assert mine.status_code == 200 and len(mine.json["groups"]) == 2
    unknown = client.get(
        "/api/v1/deployments/churn-online/quarantine?source=nope",
        headers=bearer(tokens["viewer"]),
    )
    assert unknown.status_code == 404 and "nope" in unknown.json["error"]
    assert (
        client.get(
            "/api/v1/deployments/nope/quarantine", headers=bearer(tokens["viewer"])
        ).status_code
        == 404
    )
    deployment = client.get(
        "/api/v1/deployments/churn-online", headers=bearer(tokens["viewer"])
    ).json
    [capture] = [s for s in deployment["sources"] if s["name"] == "capture"]
    assert capture["halves_waiting"] == 1
    assert capture["top_reasons"][0] == {"reason": "features.tenure: expected a number", "count": 3}


def test_the_deployment_page_shows_quarantine_and_escapes_raw_records(admin, sqlite_url):
    add_history(sqlite_url)
    quarantine_some(sqlite_url)
    page = admin.get("/deployments/churn-online").get_data(as_text=True)
    assert 'id="quarantine"' in page
    assert "features.tenure: expected a number" in page and "/logs/a.jsonl:1" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x</script>" not in page
    assert "driftwise quarantine retry --deployment churn-online" in page
