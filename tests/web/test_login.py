"""Logging in and out: where login may send you, what it gives away, how often it may be
tried, and what a cookie is worth after logout or behind a TLS proxy."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.cookies import SimpleCookie

import pytest
from flask import Flask

import web.auth
from tests.web.conftest import ADMIN, CLIENT, PASSWORD, VIEWER, build_app, csrf_of, login

HOSTILE_NEXT = [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "//evil.example",
    "///evil.example",
    "https:evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    " //evil.example",
    "/\x00/evil.example",
    "/\x7f/evil.example",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_login_never_redirects_off_site(client, target):
    token = csrf_of(client)
    form = {"email": ADMIN, "password": PASSWORD, "csrf_token": token}
    response = client.post("/login", query_string={"next": target}, data=form)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    "query",
    ["next=%2F%09%2Fevil.example", "next=%2F%5Cevil.example", "next=%2F%0A%2Fevil.example"],
)
def test_login_refuses_encoded_forms_of_an_off_site_next(client, query):
    form = {"email": ADMIN, "password": PASSWORD, "csrf_token": csrf_of(client)}
    response = client.post(f"/login?{query}", data=form)
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/deployments/churn-online?page=2", "/runs/3", "/%2F/x"])
def test_login_follows_a_local_next(client, target):
    form = {"email": ADMIN, "password": PASSWORD, "csrf_token": csrf_of(client)}
    response = client.post("/login", query_string={"next": target}, data=form)
    assert response.headers["Location"] == target


def _hash_calls(monkeypatch) -> list[tuple[str, str]]:
    """Every password hash werkzeug computes during login, as (function, method)."""
    calls: list[tuple[str, str]] = []
    check, generate = web.auth.check_password_hash, web.auth.generate_password_hash

    def counted_check(pwhash: str, password: str) -> bool:
        calls.append(("check", pwhash.split("$", 1)[0]))
        return check(pwhash, password)

    def counted_generate(password: str, *args, **kwargs) -> str:
        calls.append(("generate", ""))
        return generate(password, *args, **kwargs)

    monkeypatch.setattr(web.auth, "check_password_hash", counted_check)
    monkeypatch.setattr(web.auth, "generate_password_hash", counted_generate)
    return calls


def test_an_unknown_email_costs_exactly_what_a_wrong_password_costs(client, monkeypatch):
    login(client, "nobody@example.com", "warm-up")  # the dummy hash may be made once
    calls = _hash_calls(monkeypatch)
    assert login(client, ADMIN, "wrong password").status_code == 401
    wrong_password = list(calls)
    calls.clear()
    assert login(client, "nobody@example.com", "wrong password").status_code == 401
    unknown_email = list(calls)
    assert wrong_password == unknown_email
    assert [kind for kind, _ in unknown_email] == ["check"]  # one hash, same method and cost


def _limited_app(url: str, users: bool = True) -> Flask:
    from web import create_app

    if users:
        app = build_app(url)
    else:
        app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "test-secret"})
    app.config.update(LOGIN_FAILURES_PER_ACCOUNT=3, LOGIN_FAILURES_PER_ADDRESS=5)
    return app


def _try(app: Flask, email: str, password: str, address: str = "203.0.113.7"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return login(client, email, password)


def test_too_many_failures_for_an_account_are_refused_with_429(sqlite_url):
    app = _limited_app(sqlite_url)
    for attempt in range(3):
        assert _try(app, ADMIN, f"guess {attempt}", f"198.51.100.{attempt}").status_code == 401
    refused = _try(app, ADMIN, PASSWORD, "198.51.100.99")  # even the right password, elsewhere
    assert refused.status_code == 429
    assert "Too many failed logins for this account" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
    assert _try(app, VIEWER, PASSWORD, "198.51.100.99").status_code == 302  # others log in


def test_too_many_failures_from_an_address_are_refused_across_accounts(sqlite_url):
    app = _limited_app(sqlite_url)
    for index in range(5):
        assert _try(app, f"user{index}@example.com", "guess").status_code == 401
    refused = _try(app, CLIENT, PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed logins from this address" in refused.get_data(as_text=True)
    assert _try(app, CLIENT, PASSWORD, "192.0.2.1").status_code == 302


def test_the_limit_is_shared_by_every_process_on_the_database(db_url):
    """Two apps on one database stand for two gunicorn workers: failures add up."""
    first, second = _limited_app(db_url), _limited_app(db_url, users=False)
    for index, app in enumerate([first, second, first]):
        assert _try(app, ADMIN, f"guess {index}").status_code == 401
    assert _try(second, ADMIN, PASSWORD).status_code == 429


def test_a_cookie_replayed_after_logout_is_refused(client):
    assert login(client, ADMIN).status_code == 302
    stolen = client.get_cookie("driftwise_session").value
    assert client.get("/").status_code == 200
    with client.session_transaction() as session:
        csrf = session["csrf"]
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    client.set_cookie("driftwise_session", stolen)
    replayed = client.get("/")
    assert replayed.status_code == 302 and "/login" in replayed.headers["Location"]
    assert client.get("/api/v1/deployments").status_code == 401
    assert login(client, ADMIN).status_code == 302  # a fresh login works again
    assert client.get("/").status_code == 200


@pytest.fixture
def proxied(sqlite_url: str) -> Iterator[int]:
    """The app served by waitress the way `driftwise web --proxy 127.0.0.1` serves it."""
    from waitress import create_server

    from web.cli import waitress_options

    app = build_app(sqlite_url)
    server = create_server(app, host="127.0.0.1", port=0, **waitress_options(2, "127.0.0.1"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.effective_port
    finally:
        server.close()
        thread.join(timeout=5)


def _login_over_http(port: int, headers: dict[str, str]) -> str:
    """Log in through the real server; the session cookie's Set-Cookie line."""
    import re
    from urllib.parse import urlencode

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/login", headers=headers)
    page = connection.getresponse()
    body = page.read().decode()
    cookie = SimpleCookie(page.headers["Set-Cookie"])["driftwise_session"].value
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)
    form = urlencode({"email": ADMIN, "password": PASSWORD, "csrf_token": csrf})
    connection.request(
        "POST",
        "/login",
        body=form,
        headers=headers
        | {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"driftwise_session={cookie}",
        },
    )
    answer = connection.getresponse()
    answer.read()
    connection.close()
    assert answer.status == 302
    return answer.headers["Set-Cookie"]


def test_behind_a_tls_proxy_the_session_cookie_is_secure(proxied):
    https = _login_over_http(proxied, {"X-Forwarded-Proto": "https", "Host": "dw.example"})
    assert "Secure" in https and "HttpOnly" in https
    plain = _login_over_http(proxied, {})
    assert "Secure" not in plain  # plain http on loopback: a Secure cookie would be dropped


def test_behind_proxies_a_wsgi_server_trusts_as_many_forwarded_hops_as_configured(sqlite_url):
    """What gunicorn gets from DRIFTWISE_TRUSTED_PROXY_HOPS: https and the client's address."""
    from sqlalchemy import select

    from monitor.store import get_engine, session_scope
    from monitor.store.models import LoginFailure
    from web import create_app

    build_app(sqlite_url)
    app = create_app(
        {"DATABASE_URL": sqlite_url, "SECRET_KEY": "test-secret", "TRUSTED_PROXY_HOPS": 1}
    )
    client = app.test_client()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    client.environ_base.update(
        {"HTTP_" + k.upper().replace("-", "_"): v for k, v in forwarded.items()}
    )
    assert login(client, ADMIN, "wrong").status_code == 401
    assert login(client, ADMIN).status_code == 302
    assert client.get_cookie("driftwise_session").secure
    with session_scope(get_engine(sqlite_url)) as session:
        assert session.scalars(select(LoginFailure.address)).all() == []  # forgotten at login
    assert login(client, VIEWER, "wrong").status_code == 401
    with session_scope(get_engine(sqlite_url)) as session:
        assert session.scalars(select(LoginFailure.address)).all() == ["203.0.113.9"]
