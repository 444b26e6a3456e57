"""The web UI, JSON API and inbound hooks: `create_app()` is the application factory."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import Flask, g
from sqlalchemy.orm import Session, sessionmaker


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The Flask app on the configured database; refuses a schema that is behind."""
    from monitor.settings import load_settings
    from monitor.store import get_engine
    from monitor.store.schema import check

    settings = load_settings()
    app = Flask(__name__)
    app.config.update(
        DATABASE_URL=settings.database_url,
        SECRET_KEY=settings.secret_key,
        BASE_URL=settings.base_url,
        RETRAIN_WEBHOOK_SECRET=settings.retrain_webhook_secret,
        LABELS_WEBHOOK_SECRET=settings.labels_webhook_secret,
        MAX_PUSH_RECORDS=settings.max_push_records,
        LOGIN_FAILURES_PER_ACCOUNT=settings.login_failures_per_account,
        LOGIN_FAILURES_PER_ADDRESS=settings.login_failures_per_address,
        LOGIN_WINDOW_SECONDS=settings.login_window_seconds,
        TRUSTED_PROXY_HOPS=settings.trusted_proxy_hops,
        METRICS_PUBLIC=settings.metrics_public,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
        SESSION_COOKIE_NAME="driftwise_session",
    )
    app.config.update(config or {})
    if hops := app.config["TRUSTED_PROXY_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Any WSGI server (gunicorn) behind that many proxies: their X-Forwarded-* tell the
        # client's address (counted by the login limit) and https (Secure cookies).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _stored_secret(settings.data_dir)
    engine = get_engine(app.config["DATABASE_URL"])
    check(engine)
    app.extensions["driftwise_sessions"] = sessionmaker(bind=engine, expire_on_commit=False)

    from web import api, auth, hooks, metrics, pages, security

    auth.init_app(app)
    security.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(metrics.bp)
    _init_sessions(app)
    return app


def db() -> Session:
    """This request's session: committed after the view returns, rolled back on error."""
    if "db" not in g:
        from flask import current_app

        g.db = current_app.extensions["driftwise_sessions"]()
    return g.db


def _init_sessions(app: Flask) -> None:
    @app.after_request
    def commit(response):
        session = g.get("db")
        if session is not None and not g.get("db_failed"):
            session.commit()
        return response

    @app.teardown_request
    def close(_error) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()


def rollback() -> None:
    """Undo this request's writes (an error response is on its way)."""
    session = g.get("db")
    if session is not None:
        session.rollback()
        g.db_failed = True


def _stored_secret(data_dir: Path) -> str:
    """A random secret kept in the data dir, so sessions survive a restart without setup."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
