"""The JSON API: push, read, act; errors are JSON with a message."""

from __future__ import annotations

from sqlalchemy import select

from monitor.store import get_engine, session_scope
from monitor.store.models import Deployment, Label, ModelVersion, Prediction, Quarantine
from tests.web.conftest import add_history, bearer, build_app
from tests.web.push_support import promote, record, stored, upload_fitted_version


def test_pushed_predictions_go_in_and_a_bad_one_to_quarantine(db_url):
    """On SQLite and PostgreSQL: per-record results, quarantine with the reason."""
    app = build_app(db_url)
    client = app.test_client()
    add_history(db_url)
    with session_scope(get_engine(db_url)) as session:
        from web.auth import create_token

        token = create_token(session, "pusher", "admin")
    records = [
        record("r-1"),
        record("r-2", features={"tenure": "five", "charges": 1.0, "plan": "pro", "region": "eu"}),
        record("r-3"),
    ]
    response = client.post(
        "/api/v1/deployments/churn-online/predictions",
        json={"records": records},
        headers=bearer(token),
    )
    assert response.status_code == 207
    body = response.json
    assert body["inserted"] == 2 and body["quarantined"] == 1
    assert body["results"][1]["status"] == "quarantined"
    assert "features.tenure" in body["results"][1]["reason"]
    assert stored(db_url, Prediction) == 2
    with session_scope(get_engine(db_url)) as session:
        quarantined = session.scalars(select(Quarantine)).one()
        assert "features.tenure" in quarantined.reason and b"five" in quarantined.raw

    again = client.post(
        "/api/v1/deployments/churn-online/predictions", json=[record("r-1")], headers=bearer(token)
    )
    assert again.status_code == 200
    assert again.json["duplicate"] == 1 and again.json["results"][0]["status"] == "duplicate"
    assert stored(db_url, Prediction) == 2

    labels = client.post(
        "/api/v1/deployments/churn-online/labels",
        json=[{"request_id": "r-1", "label": 1}, {"request_id": "r-3", "label": 0}],
        headers=bearer(token),
    )
    assert labels.status_code == 200 and labels.json["inserted"] == 2
    assert stored(db_url, Label) == 2


def test_a_batch_of_only_bad_records_is_400_and_still_quarantined(client, tokens, sqlite_url):
    add_history(sqlite_url)
    response = client.post(
        "/api/v1/deployments/churn-online/predictions",
        json=[{"request_id": "x", "unknown": 1}],
        headers=bearer(tokens["admin"]),
    )
    assert response.status_code == 400
    assert response.json["results"][0]["reason"].startswith("record: unknown field")
    assert stored(sqlite_url, Quarantine) == 1


def test_pushing_needs_the_admin_role_and_json(client, tokens, sqlite_url):
    add_history(sqlite_url)
    url = "/api/v1/deployments/churn-online/predictions"
    assert client.post(url, json=[], headers=bearer(tokens["viewer"])).status_code == 403
    broken = client.post(
        url, data="{not json", content_type="application/json", headers=bearer(tokens["admin"])
    )
    assert broken.status_code == 400 and "JSON" in broken.json["error"]
    assert client.post(url, json={"records": 3}, headers=bearer(tokens["admin"])).status_code == 400
    unknown = client.post(
        "/api/v1/deployments/nope/predictions", json=[], headers=bearer(tokens["admin"])
    )
    assert unknown.status_code == 404 and "nope" in unknown.json["error"]


def test_runs_are_paginated_and_filtered(client, tokens, sqlite_url):
    add_history(sqlite_url, windows=6)
    headers = bearer(tokens["viewer"])
    page = client.get("/api/v1/deployments/churn-online/runs?limit=2&offset=1", headers=headers)
    assert page.json["total"] == 6 and len(page.json["runs"]) == 2
    first = client.get("/api/v1/deployments/churn-online/runs?limit=1", headers=headers).json
    assert first["runs"][0]["window_start"] > page.json["runs"][0]["window_start"]
    since = first["runs"][0]["window_start"]
    recent = client.get(f"/api/v1/deployments/churn-online/runs?since={since}", headers=headers)
    assert recent.json["total"] == 1
    bad = client.get("/api/v1/deployments/churn-online/runs?limit=abc", headers=headers)
    assert bad.status_code == 400 and "limit" in bad.json["error"]
    run = client.get(f"/api/v1/runs/{first['runs'][0]['id']}", headers=headers).json
    assert run["features"]["tenure"]["method"] == "wasserstein"


def test_reads_cover_metrics_events_models_versions_and_jobs(client, tokens, sqlite_url):
    add_history(sqlite_url)
    headers = bearer(tokens["viewer"])
    names = client.get("/api/v1/deployments/churn-online/metrics", headers=headers).json
    assert "drift_share" in names["metrics"]
    drift = client.get(
        "/api/v1/deployments/churn-online/metrics?metric=drift_score", headers=headers
    ).json
    assert len(drift["series"]["tenure"]) == 6
    assert client.get("/api/v1/events?deployment=churn-online", headers=headers).json["events"]
    assert client.get("/api/v1/notifications", headers=headers).json["notifications"]
    deployments = client.get("/api/v1/deployments", headers=headers).json["deployments"]
    assert deployments[0]["health"] == "drift"
    models = client.get("/api/v1/models", headers=headers).json["models"]
    assert models[0]["champion_version"] == 1 and models[0]["versions"] == 2
    versions = client.get("/api/v1/models/churn-online-model/versions", headers=headers).json
    assert [v["version"] for v in versions["versions"]] == [2, 1]
    jobs = client.get("/api/v1/models/churn-online-model/jobs", headers=headers).json["jobs"]
    assert jobs[0]["decision"] == "rejected"
    assert client.get(f"/api/v1/jobs/{jobs[0]['id']}", headers=headers).json["id"] == jobs[0]["id"]
    profile = client.get("/api/v1/deployments/churn-online/profile", headers=headers).json
    assert len(profile["by_hour"]) == 24 and "verdict" in profile


def test_promote_and_rollback_switch_the_active_version(client, tokens, sqlite_url):
    deployment_id, _ = add_history(sqlite_url)
    headers = bearer(tokens["admin"])
    promoted = client.post("/api/v1/models/churn-online-model/versions/2/promote", headers=headers)
    assert promoted.status_code == 200, promoted.json
    assert _active_version(sqlite_url, deployment_id) == 2
    rolled = client.post("/api/v1/deployments/churn-online/rollback", headers=headers)
    assert rolled.status_code == 200, rolled.json
    assert _active_version(sqlite_url, deployment_id) == 1
    missing = client.post("/api/v1/models/churn-online-model/versions/9/promote", headers=headers)
    assert missing.status_code == 404


def _active_version(url: str, deployment_id: int) -> int:
    with session_scope(get_engine(url)) as session:
        deployment = session.get(Deployment, deployment_id)
        return session.get(ModelVersion, deployment.active_version_id).version


def test_upload_promote_and_predict_with_the_new_version(client, tokens, sqlite_url):
    deployment_id, _ = add_history(sqlite_url)
    admin = bearer(tokens["admin"])
    uploaded = upload_fitted_version(client, admin)
    number = uploaded["version"]
    assert uploaded["status"] == "candidate"
    promote(client, admin, number)
    assert _active_version(sqlite_url, deployment_id) == number
    features = {"tenure": 5.0, "charges": 70.0, "plan": "pro", "region": "eu"}
    scored = client.post(
        "/api/v1/deployments/churn-online/predict",
        json={"features": features, "request_id": "live-1"},
        headers=bearer(tokens["client"]),
    )
    assert scored.status_code == 200, scored.json
    assert scored.json["predictions"][0]["request_id"] == "live-1"
    assert stored(sqlite_url, Prediction) == 1
    bad = client.post(
        "/api/v1/deployments/churn-online/predict",
        json={"features": {"tenure": "x"}},
        headers=bearer(tokens["client"]),
    )
    assert bad.status_code == 400 and "features" in bad.json["error"]


def test_an_upload_that_is_not_a_skops_file_is_refused(client, tokens, sqlite_url):
    add_history(sqlite_url)
    response = client.post(
        "/api/v1/models/churn-online-model/versions",
        data=b"\x80\x04not a skops file",
        content_type="application/octet-stream",
        headers=bearer(tokens["admin"]),
    )
    assert response.status_code in (400, 409) and "error" in response.json
    assert stored(sqlite_url, ModelVersion) == 2


def test_errors_are_json_without_stack_traces(client, tokens):
    response = client.get("/api/v1/runs/123", headers=bearer(tokens["viewer"]))
    assert response.status_code == 404 and response.json == {"error": "no run 123"}
    assert client.get("/api/v1/nothing", headers=bearer(tokens["viewer"])).status_code == 404


def test_the_openapi_document_lists_every_api_route(app, client, tokens):
    document = client.get("/api/v1/openapi.json", headers=bearer(tokens["viewer"])).json
    assert document["openapi"].startswith("3.")
    documented = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi":
            path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (method, path) in documented
