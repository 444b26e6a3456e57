"""Web fixtures: an app on a migrated database, clients, users, tokens and a small history."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from monitor.store import get_engine, session_scope
from monitor.store.models import (
    DeliveryAttempt,
    DeploymentHistory,
    Event,
    Incident,
    MetricPoint,
    Notification,
    RetrainJob,
    Run,
)
from monitor.timeutil import utcnow
from tests.factories import add_version, make_deployment
from web import create_app
from web.auth import create_token, create_user

WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LWZvci10ZXN0cy1vbmx5LTEyMzQ1Njc4"
PASSWORD = "correct horse battery"
ADMIN, VIEWER, CLIENT = "admin@example.com", "viewer@example.com", "client@example.com"


@pytest.fixture
def app(sqlite_url: str) -> Flask:
    return build_app(sqlite_url)


def build_app(url: str) -> Flask:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "SECRET_KEY": "test-secret",
            "RETRAIN_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
    )
    with session_scope(get_engine(url)) as session:
        create_user(session, ADMIN, PASSWORD, "admin")
        create_user(session, VIEWER, PASSWORD, "viewer")
        create_user(session, CLIENT, PASSWORD, "client")
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_of(client: FlaskClient) -> str:
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client: FlaskClient, email: str = ADMIN, password: str = PASSWORD):
    token = csrf_of(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


@pytest.fixture
def admin(client: FlaskClient) -> FlaskClient:
    assert login(client, ADMIN).status_code == 302
    return client


@pytest.fixture
def viewer(client: FlaskClient) -> FlaskClient:
    assert login(client, VIEWER).status_code == 302
    return client


def session_csrf(client: FlaskClient) -> str:
    with client.session_transaction() as session:
        return session["csrf"]


@pytest.fixture
def tokens(app: Flask) -> dict[str, str]:
    with session_scope(get_engine(app.config["DATABASE_URL"])) as session:
        return {
            "admin": create_token(session, "ci-admin", "admin"),
            "viewer": create_token(session, "ci-viewer", "viewer"),
            "client": create_token(session, "ci-client", "client"),
        }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add_history(
    url: str,
    name: str = "churn-online",
    windows: int = 6,
    snapshot: bytes | None = None,
    peak: float = 0.6,
    mode: str = "realtime",
    incident: bool = False,
):
    """A deployment with `windows` hourly runs (drift share rising to `peak`), their metric points, an event, a
    notification with a failed attempt, a candidate version and a retrain job; with `incident`,
    the open drift incident of the newest window when it breached, the event part of it.
    Returns (deployment id, newest run id)."""
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    with session_scope(get_engine(url)) as session:
        deployment = make_deployment(session, name=name, mode=mode, policy={"drift_share": 0.5})
        session.add(
            DeploymentHistory(
                deployment_id=deployment.id,
                version_id=deployment.active_version_id,
                reason="apply",
                at=now - timedelta(hours=windows + 1),
            )
        )
        run = None
        for index in range(windows):
            start = now - timedelta(hours=windows - index)
            drift = round(peak * index / max(windows - 1, 1), 3)
            run = Run(
                deployment_id=deployment.id,
                window_start=start,
                window_end=start + timedelta(hours=1),
                kind="monitor",
                status="ok",
                rows=500,
                reference_rows=2000,
                labeled_rows=250,
                drift_share=drift,
                features={
                    "tenure": {
                        "score": 0.02 * index,
                        "method": "wasserstein",
                        "threshold": 0.1,
                        "drifted": index > 4,
                    },
                    "<b>evil</b>": {
                        "score": 0.5,
                        "method": "psi",
                        "threshold": 0.2,
                        "drifted": True,
                    },
                },
                performance={"f1": 0.8 - 0.02 * index},
                estimated_performance={"roc_auc": 0.85},
                breaches=[
                    {
                        "rule": "drift_share",
                        "type": "drift",
                        "message": "drift <i>high</i>",
                        "value": drift,
                        "threshold": 0.5,
                    }
                ]
                if drift >= 0.5
                else [],
                snapshot=snapshot,
            )
            session.add(run)
            session.flush()
            for metric, column, value in (
                ("drift_share", "", drift),
                ("drift_score", "tenure", 0.02 * index),
                ("rows", "", 500),
                ("performance.f1", "", 0.8 - 0.02 * index),
                ("estimated.roc_auc", "", 0.85),
            ):
                session.add(
                    MetricPoint(
                        run_id=run.id,
                        deployment_id=deployment.id,
                        time=start,
                        metric=metric,
                        column=column,
                        value=value,
                    )
                )
        event = Event(
            type="drift",
            severity="warning",
            dedup_key=f"test:{name}",
            deployment_id=deployment.id,
            model_id=deployment.model_id,
            run_id=run.id,
            title=f"{name}: <script>alert(1)</script> drifted",
        )
        if incident and run.breaches:
            opened = Incident(
                deployment_id=deployment.id,
                reason="drift",
                title=event.title,
                first_window_start=run.window_start,
                last_window_end=run.window_end,
                opened_run_id=run.id,
            )
            session.add(opened)
            session.flush()
            event.incident_id = opened.id
        session.add(event)
        session.flush()
        notification = Notification(
            event_id=event.id,
            channel="email",
            target="ml@example.com",
            status="pending",
            attempts=1,
            last_error="connection refused",
        )
        session.add(notification)
        session.flush()
        session.add(
            DeliveryAttempt(
                notification_id=notification.id, duration=0.2, ok=False, error="connection refused"
            )
        )
        add_version(
            session, deployment.model_id, 2, b"x", parent_version_id=deployment.active_version_id
        )
        session.add(
            RetrainJob(
                model_id=deployment.model_id,
                trigger="policy",
                idempotency_key=f"seed:{name}",
                status="done",
                decision="rejected",
                evaluation={
                    "metric": "roc_auc",
                    "champion": {"metrics": {"roc_auc": 0.8, "f1": 0.61}, "problems": []},
                    "challenger": {"metrics": {"roc_auc": 0.79, "f1": 0.6}, "problems": []},
                    "reason": "challenger roc_auc 0.7900 vs champion 0.8000: no improvement",
                },
            )
        )
        return deployment.id, run.id
