"""Settings from DRIFTWISE_* environment variables, parsed strictly at start."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from monitor.errors import SettingsError

EXECUTORS = ("local", "celery")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    secret_key: str = ""
    smtp_url: str = ""
    mail_from: str = "driftwise@localhost"
    base_url: str = "http://127.0.0.1:8080"
    executor: str = "local"
    broker_url: str = "redis://127.0.0.1:6379/0"
    extra: dict[str, str] = field(default_factory=dict)


def _get(env: dict[str, str], key: str, default: str) -> str:
    return env.get(f"DRIFTWISE_{key}", default).strip() or default


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    data_dir = Path(_get(env, "DATA_DIR", str(Path.cwd() / "data"))).expanduser()
    database_url = _get(env, "DATABASE_URL", f"sqlite:///{data_dir / 'driftwise.db'}")
    if "://" not in database_url:
        raise SettingsError(f"DRIFTWISE_DATABASE_URL: not a URL: {database_url!r}")
    if database_url.startswith(("postgres://", "postgresql://")):
        # psycopg 3 is the only PostgreSQL driver Driftwise ships with.
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
    executor = _get(env, "EXECUTOR", "local")
    if executor not in EXECUTORS:
        raise SettingsError(
            f"DRIFTWISE_EXECUTOR: must be one of {', '.join(EXECUTORS)}, not {executor!r}"
        )
    smtp_url = _get(env, "SMTP_URL", "")
    if smtp_url and not smtp_url.startswith(("smtp://", "smtp+starttls://", "smtps://", "file://")):
        raise SettingsError(
            "DRIFTWISE_SMTP_URL: scheme must be smtp://, smtp+starttls://, smtps:// or file://"
        )
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key=_get(env, "SECRET_KEY", ""),
        smtp_url=smtp_url,
        mail_from=_get(env, "MAIL_FROM", "driftwise@localhost"),
        base_url=_get(env, "BASE_URL", "http://127.0.0.1:8080").rstrip("/"),
        executor=executor,
        broker_url=_get(env, "BROKER_URL", "redis://127.0.0.1:6379/0"),
    )
