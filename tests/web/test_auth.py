"""Who may see and do what: login, roles, tokens, CSRF and security headers."""

from __future__ import annotations

from sqlalchemy import func, select

from monitor.store import get_engine, session_scope
from monitor.store.models import RetrainJob
from tests.web.conftest import ADMIN, PASSWORD, VIEWER, add_history, bearer, login, session_csrf
from web.auth import revoke_token

OPEN = {"auth.login", "pages.healthz", "ops.readyz", "static", "pages.plotly_js"}


def _every_route(app):
    """(method, url, endpoint) for every rule, with placeholder arguments."""
    for rule in app.url_map.iter_rules():
        url = rule.rule
        for argument in rule.arguments:
            url = url.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "x")
            url = url.replace(f"<path:{argument}>", "style.css")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, url, rule.endpoint


def test_it_refuses_anonymous_access_everywhere_but_login_health_and_hooks(app, client):
    checked = 0
    for method, url, endpoint in _every_route(app):
        if endpoint in OPEN or endpoint.startswith("hooks."):
            continue
        response = client.open(url, method=method)
        checked += 1
        if url.startswith("/api/") or url == "/metrics":  # machines get 401, not a redirect
            assert response.status_code == 401, (method, url)
            assert "error" in response.json
        else:
            assert response.status_code in (302, 400), (method, url)
            if response.status_code == 302:
                assert "/login" in response.headers["Location"]
    assert checked >= 20
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/login").status_code == 200


def test_anonymous_post_without_csrf_does_not_act(app, client, sqlite_url):
    add_history(sqlite_url)
    response = client.post("/models/churn-online-model/retrain")
    assert response.status_code == 302
    assert _jobs(sqlite_url) == 1  # only the seeded one


def test_a_wrong_password_is_refused(client):
    response = login(client, ADMIN, "wrong password")
    assert response.status_code == 401
    assert client.get("/").status_code == 302


def test_login_redirects_only_to_local_paths(client):
    from tests.web.conftest import csrf_of

    token = csrf_of(client)
    response = client.post(
        "/login?next=https://evil.example.com/",
        data={"email": ADMIN, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/"


def _jobs(url: str) -> int:
    with session_scope(get_engine(url)) as session:
        return session.scalar(select(func.count()).select_from(RetrainJob))


def test_a_viewer_reads_but_cannot_act(client, sqlite_url):
    add_history(sqlite_url)
    assert login(client, VIEWER).status_code == 302
    assert client.get("/models/churn-online-model").status_code == 200
    page = client.get("/models/churn-online-model").get_data(as_text=True)
    assert "Retrain now" not in page
    response = client.post(
        "/models/churn-online-model/retrain", data={"csrf_token": session_csrf(client)}
    )
    assert response.status_code == 403
    assert _jobs(sqlite_url) == 1


def test_an_admin_requests_a_retrain_from_the_model_page(client, sqlite_url):
    add_history(sqlite_url)
    assert login(client, ADMIN).status_code == 302
    page = client.get("/models/churn-online-model").get_data(as_text=True)
    assert "Retrain now" in page and 'data-confirm="' in page
    response = client.post(
        "/models/churn-online-model/retrain",
        data={"csrf_token": session_csrf(client), "reason": "drift"},
    )
    assert response.status_code == 302
    assert _jobs(sqlite_url) == 2


def test_a_form_post_without_the_csrf_token_is_rejected(client, sqlite_url):
    add_history(sqlite_url)
    assert login(client, ADMIN).status_code == 302
    response = client.post("/models/churn-online-model/retrain", data={"reason": "x"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    wrong = client.post("/models/churn-online-model/retrain", data={"csrf_token": "nope"})
    assert wrong.status_code == 400
    assert _jobs(sqlite_url) == 1


def test_login_itself_needs_the_csrf_token(client):
    response = client.post("/login", data={"email": ADMIN, "password": PASSWORD})
    assert response.status_code == 400


def test_a_bearer_token_reads_and_a_viewer_token_cannot_act(client, tokens, sqlite_url):
    add_history(sqlite_url)
    assert client.get("/api/v1/deployments", headers=bearer(tokens["viewer"])).status_code == 200
    refused = client.post(
        "/api/v1/models/churn-online-model/retrain", json={}, headers=bearer(tokens["viewer"])
    )
    assert refused.status_code == 403
    accepted = client.post(
        "/api/v1/models/churn-online-model/retrain",
        json={"reason": "api", "idempotency_key": "k1"},
        headers=bearer(tokens["admin"]),
    )
    assert accepted.status_code == 202
    again = client.post(
        "/api/v1/models/churn-online-model/retrain",
        json={"idempotency_key": "k1"},
        headers=bearer(tokens["admin"]),
    )
    assert again.json["id"] == accepted.json["id"]
    assert _jobs(sqlite_url) == 2


def test_a_wrong_or_revoked_token_is_refused(client, tokens, sqlite_url):
    assert client.get("/api/v1/models", headers=bearer("dw_not-a-token")).status_code == 401
    with session_scope(get_engine(sqlite_url)) as session:
        assert revoke_token(session, "ci-viewer")
    assert client.get("/api/v1/models", headers=bearer(tokens["viewer"])).status_code == 401
    assert client.get("/api/v1/models", headers=bearer(tokens["admin"])).status_code == 200


def test_pages_carry_security_headers(admin):
    response = admin.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in response.get_data(as_text=True).replace("<script src=", "")


def test_session_cookie_is_http_only_and_secure_behind_https(monkeypatch, sqlite_url):
    from tests.web.conftest import build_app

    monkeypatch.setenv("DRIFTWISE_BASE_URL", "https://driftwise.example.com")
    app = build_app(sqlite_url)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    client = app.test_client()
    login(client, ADMIN)
    cookie = client.get_cookie("driftwise_session")
    assert cookie.http_only and cookie.secure
