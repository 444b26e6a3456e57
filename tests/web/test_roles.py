"""Who may write monitored data: viewers read, clients predict and push, admins do all."""

from __future__ import annotations

import pytest

from monitor.store.models import Label, Prediction
from tests.web.conftest import CLIENT, add_history, bearer, login, session_csrf
from tests.web.push_support import record, serve_fitted_version, stored

FEATURES = {"tenure": 5.0, "charges": 70.0, "plan": "pro", "region": "eu"}


def _serving(client, tokens, sqlite_url) -> None:
    """A deployment whose champion is a real fitted pipeline, so /predict can answer."""
    add_history(sqlite_url)
    serve_fitted_version(client, bearer(tokens["admin"]))


def _write(client, route: str, who: str, headers: dict, tag: str):
    base = "/api/v1/deployments/churn-online"
    if route == "predict":
        body = {"features": FEATURES, "request_id": f"live-{who}-{tag}"}
        return client.post(f"{base}/predict", json=body, headers=headers)
    if route == "predictions":
        return client.post(f"{base}/predictions", json=[record(f"p-{who}-{tag}")], headers=headers)
    body = [{"request_id": f"p-{who}-{tag}", "label": 1}]
    return client.post(f"{base}/labels", json=body, headers=headers)


@pytest.mark.parametrize("route", ["predict", "predictions", "labels"])
def test_each_write_route_needs_a_role_that_may_write(client, tokens, sqlite_url, route):
    _serving(client, tokens, sqlite_url)
    table = Label if route == "labels" else Prediction
    before = stored(sqlite_url, table)
    anonymous = _write(client, route, "nobody", {}, "a")
    assert anonymous.status_code == 401
    viewer = _write(client, route, "viewer", bearer(tokens["viewer"]), "a")
    assert viewer.status_code == 403
    assert "client or admin" in viewer.json["error"]
    assert stored(sqlite_url, table) == before  # neither wrote anything
    for who in ("client", "admin"):
        answer = _write(client, route, who, bearer(tokens[who]), "a")
        assert answer.status_code == 200, (who, answer.json)
    assert stored(sqlite_url, table) == before + 2


def test_a_viewer_cannot_pre_empt_a_request_id(client, tokens, sqlite_url):
    _serving(client, tokens, sqlite_url)
    body = {"features": FEATURES, "request_id": "genuine-1"}
    url = "/api/v1/deployments/churn-online/predict"
    assert client.post(url, json=body, headers=bearer(tokens["viewer"])).status_code == 403
    pushed = client.post(
        "/api/v1/deployments/churn-online/predictions",
        json=[record("genuine-1")],
        headers=bearer(tokens["client"]),
    )
    assert pushed.json["results"][0]["status"] == "inserted"


@pytest.mark.parametrize(
    "method, url",
    [
        ("POST", "/api/v1/models/churn-online-model/retrain"),
        ("POST", "/api/v1/models/churn-online-model/versions"),
        ("POST", "/api/v1/models/churn-online-model/versions/2/promote"),
        ("POST", "/api/v1/deployments/churn-online/rollback"),
    ],
)
def test_a_client_token_cannot_act(client, tokens, sqlite_url, method, url):
    add_history(sqlite_url)
    response = client.open(url, method=method, json={}, headers=bearer(tokens["client"]))
    assert response.status_code == 403
    assert "admin" in response.json["error"]


def test_a_client_reads_like_a_viewer(client, tokens, sqlite_url):
    add_history(sqlite_url)
    headers = bearer(tokens["client"])
    assert client.get("/api/v1/deployments", headers=headers).status_code == 200
    assert client.get("/api/v1/models/churn-online-model", headers=headers).status_code == 200


def test_a_client_user_pushes_with_its_session_but_cannot_retrain(client, sqlite_url):
    add_history(sqlite_url)
    assert login(client, CLIENT).status_code == 302
    csrf = {"X-CSRF-Token": session_csrf(client)}
    pushed = client.post(
        "/api/v1/deployments/churn-online/predictions", json=[record("c-1")], headers=csrf
    )
    assert pushed.status_code == 200, pushed.json
    page = client.get("/models/churn-online-model").get_data(as_text=True)
    assert "Retrain now" not in page
    refused = client.post(
        "/models/churn-online-model/retrain", data={"csrf_token": csrf["X-CSRF-Token"]}
    )
    assert refused.status_code == 403


def test_the_openapi_document_names_the_role_each_write_needs(client, tokens):
    document = client.get("/api/v1/openapi.json", headers=bearer(tokens["viewer"])).json
    predict = document["paths"]["/api/v1/deployments/{name}/predict"]["post"]
    assert "(client or admin)" in predict["summary"] and "403" in predict["responses"]
    push = document["paths"]["/api/v1/deployments/{name}/predictions"]["post"]
    assert "(client or admin)" in push["summary"]
    retrain = document["paths"]["/api/v1/models/{name}/retrain"]["post"]
    assert "(admin)" in retrain["summary"]
