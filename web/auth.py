"""Login, roles (viewer reads, client also writes data, admin acts), API tokens and CSRF.

People log in with a password and carry a session cookie; machines send
`Authorization: Bearer <token>`. Tokens and passwords are stored only as hashes.
Every route needs one or the other, except those named in PUBLIC.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from monitor.store.db import SQLITE_BUSY_TIMEOUT_MS
from monitor.store.models import ApiToken, User
from monitor.timeutil import utcnow
from web.login_limit import (
    EMAIL_LENGTH,
    LoginLimit,
    forget_failures,
    record_failure,
    refusal,
)

ROLES = ("viewer", "client", "admin")
# Roles that may write monitored data (predict, push predictions and labels).
WRITERS = ("client", "admin")
PUBLIC = {"auth.login", "pages.healthz", "ops.readyz", "static", "pages.plotly_js"}
TOKEN_PREFIX = "dw_"
TOKEN_USE_RESOLUTION = timedelta(minutes=5)

bp = Blueprint("auth", __name__)


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    kind: str  # user | token
    user_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def may_write(self) -> bool:
        return self.role in WRITERS


# ---- users and tokens (also used by the CLI) ----


def create_user(session: Session, email: str, password: str, role: str = "viewer") -> User:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    user = User(
        email=email.strip().lower(), password_hash=generate_password_hash(password), role=role
    )
    session.add(user)
    session.flush()
    return user


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str, role: str = "viewer") -> str:
    """A new token's plain text: shown once, stored only as its SHA-256."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=hash_token(token), role=role))
    session.flush()
    return token


def revoke_token(session: Session, name: str) -> bool:
    token = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if token is None or token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    for key in [key for key in list(_known_tokens) if key[1] == token.token_hash]:
        _known_tokens.pop(key, None)
    return True


@dataclass
class _KnownToken:
    principal: Principal
    token_id: int
    last_used_at: datetime | None
    until: float  # monotonic time after which the row is read again


# Tokens seen valid, per engine and hash: most requests then need no lookup. A token revoked
# by another process is refused once its entry expires, by this one at once.
TOKEN_CACHE_SECONDS = 5.0
_known_tokens: dict[tuple[Engine, str], _KnownToken] = {}
_tokens = ApiToken.__table__.c
_TOKEN_BY_HASH = select(
    _tokens.id, _tokens.name, _tokens.role, _tokens.revoked_at, _tokens.last_used_at
).where(_tokens.token_hash == bindparam("digest"))


def principal_for_token(session: Session, token: str) -> Principal | None:
    engine, digest = session.get_bind(), hash_token(token)
    known = _known_tokens.get((engine, digest))
    if known is None or known.until < time.monotonic():
        known = _read_token(session, engine, digest)
        if known is None:
            return None
    now = utcnow()
    # Record use at most every few minutes: a write on every request would serialise reads.
    if known.last_used_at is None or now - known.last_used_at > TOKEN_USE_RESOLUTION:
        if record_token_use(engine, known.token_id, now):
            known.last_used_at = now
    return known.principal


def _read_token(session: Session, engine: Engine, digest: str) -> _KnownToken | None:
    row = session.execute(_TOKEN_BY_HASH, {"digest": digest}).first()
    if row is None or row.revoked_at is not None:
        _known_tokens.pop((engine, digest), None)
        return None
    if len(_known_tokens) > 1000:  # only valid tokens are kept: prune the expired
        clock = time.monotonic()
        # A copy first: other request threads add entries meanwhile.
        for key in [key for key, entry in list(_known_tokens.items()) if entry.until < clock]:
            _known_tokens.pop(key, None)
    principal = Principal(name=row.name, role=row.role, kind="token")
    known = _KnownToken(principal, row.id, row.last_used_at, time.monotonic() + TOKEN_CACHE_SECONDS)
    _known_tokens[(engine, digest)] = known
    return known


def record_token_use(engine: Engine, token_id: int, now: datetime) -> bool:
    """Write a token's last use in its own short transaction, skipped when another writer
    holds the lock: the request's own transaction never holds a write lock while its body
    is read, and a missed last-use time costs nothing. Returns whether it was written."""
    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as connection:
            try:
                if sqlite:
                    connection.exec_driver_sql("PRAGMA busy_timeout = 0")
                else:
                    connection.exec_driver_sql("SET LOCAL lock_timeout = '100ms'")
                connection.execute(
                    update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
                )
                connection.commit()
            finally:
                connection.rollback()
                if sqlite:
                    connection.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
                    connection.commit()
    except OperationalError:
        return False
    return True


# ---- request gate ----


def current() -> Principal | None:
    return g.get("principal")


def acting_name() -> str | None:
    """Who is acting, as history and events record it: the user's or the token's name."""
    principal = current()
    return principal.name if principal else None


def _load_principal() -> Principal | None:
    from web import db

    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return principal_for_token(db(), header.removeprefix("Bearer ").strip())
    user_id = session.get("user_id")
    if user_id is None:
        return None
    user = db().get(User, user_id)
    # A cookie from before the last logout carries an older generation: refused.
    if user is None or session.get("generation") != user.session_generation:
        session.clear()
        return None
    return Principal(name=user.email, role=user.role, kind="user", user_id=user.id)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/metrics"


def _gate():
    g.principal = None
    if request.endpoint in PUBLIC or (request.blueprint == "hooks"):
        return None
    if request.endpoint == "ops.scrape" and current_app.config.get("METRICS_PUBLIC"):
        return None
    g.principal = _load_principal()
    if g.principal is None:
        if _wants_json() or request.headers.get("Authorization"):
            return jsonify(error="authentication required: log in or send a bearer token"), 401
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if request.method not in ("GET", "HEAD", "OPTIONS") and g.principal.kind == "user":
        check_csrf()
    return None


def _role_required(allowed: Callable[[Principal], bool], refusal: str):
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            principal = current()
            if principal is None or not allowed(principal):
                abort(403, description=refusal)
            return view(*args, **kwargs)

        return wrapper

    return decorator


# Only clients and admins write monitored data; viewers get 403.
writer_required = _role_required(
    lambda principal: principal.may_write,
    "writing data needs the client or admin role: viewers only read",
)
# Only admins act; viewers get 403.
admin_required = _role_required(
    lambda principal: principal.is_admin, "this action needs the admin role"
)


# ---- CSRF: one random token per session, required on every cookie-authenticated POST ----


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    wanted = session.get("csrf", "")
    if not wanted or not hmac.compare_digest(sent.encode(), wanted.encode()):
        abort(400, description="missing or wrong CSRF token: reload the page and try again")


def init_app(app: Flask) -> None:
    app.session_interface = SessionCookies()
    app.before_request(_gate)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["current_principal"] = current


# ---- pages ----


@bp.route("/login", methods=["GET", "POST"])
def login():
    from web import db

    if request.method == "POST":
        check_csrf()
        email = request.form.get("email", "").strip().lower()[:EMAIL_LENGTH]
        password = request.form.get("password", "")
        limit, address, now = _login_limit(), (request.remote_addr or "unknown"), utcnow()
        refused = refusal(db(), limit, address, email, now)
        if refused is not None:
            flash(refused.message)
            page = make_response(render_template("login.html"), 429)
            page.headers["Retry-After"] = str(refused.retry_after)
            return page
        user = db().scalar(select(User).where(User.email == email))
        # One hash of the same cost either way, so timing does not reveal which emails exist.
        hashed = user.password_hash if user else _dummy_hash()
        if check_password_hash(hashed, password) and user is not None:
            forget_failures(db(), email)
            session.clear()
            session["user_id"] = user.id
            session["generation"] = user.session_generation
            csrf_token()
            user.last_login_at = now
            return redirect(_safe_next(request.args.get("next")))
        record_failure(db(), limit, address, email, now)
        flash("Wrong email or password.")
        return render_template("login.html"), 401
    return render_template("login.html")


@bp.route("/logout", methods=["POST"])
def logout():
    from web import db

    principal = current()
    if principal is not None and principal.user_id is not None:
        user = db().get(User, principal.user_id)
        if user is not None:
            # Ends every session of this account, including copies of this cookie.
            user.session_generation += 1
    session.clear()
    return redirect(url_for("auth.login"))


@cache
def _dummy_hash() -> str:
    """A hash made like a real password's (same method and cost) that nothing matches."""
    return generate_password_hash(secrets.token_urlsafe(32))


def _login_limit() -> LoginLimit:
    config = current_app.config
    return LoginLimit(
        per_account=config["LOGIN_FAILURES_PER_ACCOUNT"],
        per_address=config["LOGIN_FAILURES_PER_ADDRESS"],
        window=timedelta(seconds=config["LOGIN_WINDOW_SECONDS"]),
    )


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect would let a link send people elsewhere after login.
    return target if target and is_local_path(target) else url_for("pages.overview")


def is_local_path(target: str) -> bool:
    r"""A path on this site and nothing a browser could read as another host: browsers drop
    tabs and newlines and read a backslash as a slash, so `/\t/evil` and `/\evil` mean
    `//evil`; those and any other control character are refused outright."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target) or "\\" in target:
        return False
    if not target.startswith("/") or target.startswith("//"):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


class SessionCookies(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over https, also when a
    trusted proxy says so (`driftwise web --proxy`), not only when BASE_URL is https."""

    def open_session(self, app: Flask, request):
        # Most API calls carry no cookie: no signer need be built for them.
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (
            has_request_context() and request.is_secure
        )
