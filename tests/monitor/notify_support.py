"""Real receivers for notification tests: an SMTP server (aiosmtpd) and an HTTP server,
both in the test process on 127.0.0.1, plus builders for events and rules."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy.orm import Session

from monitor.settings import Settings
from monitor.store.models import AlertRule, Deployment, Event
from tests.factories import churn_model, saved


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_settings(tmp_path: Path, db_url: str, smtp_url: str = "") -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        smtp_url=smtp_url,
        mail_from="driftwise@example.com",
        base_url="http://driftwise.example",
        allow_private_webhooks=True,  # the receivers listen on 127.0.0.1
    )


def make_deployment(session: Session, name: str = "churn-online") -> Deployment:
    model = churn_model(
        f"{name}-model", probability=None, numerical=["tenure"], categorical=["plan"]
    )
    saved(session, model)
    return saved(session, Deployment(name=name, model_id=model.id, mode="realtime"))


_counter = iter(range(1, 10**9))


def make_event(
    session: Session,
    deployment: Deployment | None = None,
    type: str = "drift",
    severity: str = "warning",
    title: str = "Drift detected",
    data: dict | None = None,
    created_at: dt.datetime | None = None,
) -> Event:
    event = Event(
        type=type,
        severity=severity,
        dedup_key=f"{type}:{next(_counter)}:{time.time_ns()}",
        deployment_id=deployment.id if deployment else None,
        model_id=deployment.model_id if deployment else None,
        title=title,
        data=data if data is not None else {"drift_share": 0.75, "drift_share_threshold": 0.5},
    )
    if created_at is not None:
        event.created_at = created_at
    return saved(session, event)


def make_rule(
    session: Session,
    channel: str = "email",
    targets: list[str] | None = None,
    events: list[str] | None = None,
    deployments: list[str] | None = None,
    min_severity: str = "info",
    config: dict | None = None,
) -> AlertRule:
    rule = AlertRule(
        channel=channel,
        targets=targets or ["ml-team@example.com"],
        events=events or ["*"],
        deployments=deployments or ["*"],
        min_severity=min_severity,
        config=config or {},
    )
    return saved(session, rule)


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with `cryptography`."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class MailHandler:
    """Accepts mail, after refusing the first `refuse` deliveries with 451."""

    refuse: int = 0
    received: list[Received] = field(default_factory=list)
    refused: int = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        if self.refused < self.refuse:
            self.refused += 1
            return "451 4.3.0 Try again later"
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        login = session.auth_data.login.decode() if session.authenticated else None
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, login)  # type: ignore[arg-type]
        )
        return "250 OK"


def password_check(user: str, password: str):
    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        good = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (user, password)
        return AuthResult(success=good, handled=False, auth_data=auth_data)

    return authenticator


def start_smtp(handler: MailHandler, port: int | None = None, **kwargs) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=port or free_port(), **kwargs)
    controller.start()
    return controller


@contextmanager
def smtp_server(handler: MailHandler, port: int | None = None, **kwargs) -> Iterator[Controller]:
    """A real SMTP server on 127.0.0.1 handing what it receives to `handler`, until the
    block ends."""
    controller = start_smtp(handler, port, **kwargs)
    try:
        yield controller
    finally:
        controller.stop()


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """An HTTP server that records each POST and answers from a script of
    (status, headers) replies, then 200 once the script runs out; `body` is what every
    answer says."""

    def __init__(
        self,
        replies: list[tuple[int, dict[str, str]]] | None = None,
        delay: float = 0,
        body: bytes = b"ok",
    ):
        self.replies = list(replies or [])
        self.delay = delay
        self.body = body
        self.deliveries: list[Delivery] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.deliveries.append(
                        Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status, headers = receiver.replies.pop(0) if receiver.replies else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/driftwise"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
