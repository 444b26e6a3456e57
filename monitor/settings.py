"""Every DRIFTWISE_* environment variable, parsed and validated in one place.

`load_settings()` parses the environment (or a given mapping) and fails with a
`SettingsError` naming the variable; every command, the web app and the worker call it
as they start. `current_settings()` is what the rest of the code reads: the same values, parsed
once for as long as the DRIFTWISE_* variables stay as they are.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.errors import SettingsError

PREFIX = "DRIFTWISE_"
SMTP_SCHEMES = ("smtp://", "smtp+starttls://", "smtps://", "file://")
EXACT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


class Settings(BaseModel):
    """One field per variable: `data_dir` is DRIFTWISE_DATA_DIR, and so on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Field(default_factory=lambda: Path.cwd() / "data")
    database_url: str = ""  # empty: SQLite in the data dir
    secret_key: str = ""
    smtp_url: str = ""
    mail_from: str = "driftwise@localhost"
    base_url: str = "http://127.0.0.1:8080"
    executor: Literal["local", "celery"] = "local"
    broker_url: str = "redis://127.0.0.1:6379/0"
    trusted_types: str = ""
    allow_private_webhooks: bool = False  # outbound webhooks to loopback/private addresses
    retrain_webhook_secret: str = ""
    labels_webhook_secret: str = ""
    max_push_records: int = Field(10_000, gt=0)
    max_value_bytes: int = Field(65_536, gt=0)
    max_body_bytes: int = Field(64 * 1024 * 1024, gt=0)
    web_threads: int = Field(8, gt=0)
    web_connection_limit: int = Field(1000, gt=0)
    web_channel_timeout: int = Field(30, gt=0)
    login_failures_per_account: int = Field(10, gt=0)
    login_failures_per_address: int = Field(50, gt=0)
    login_window_seconds: int = Field(900, gt=0)
    trusted_proxy_hops: int = Field(0, ge=0)
    retention_days: float = Field(0.0, ge=0)
    snapshot_retention_days: float = Field(0.0, ge=0)
    scheduler_lease_seconds: float = Field(15.0, gt=0)
    scheduler_heartbeat_seconds: float = Field(5.0, gt=0)
    shutdown_seconds: float = Field(30.0, gt=0)
    daemon_threads: int = Field(4, gt=0)
    ingest_every_seconds: float = Field(60.0, gt=0)
    retrain_every_seconds: float = Field(30.0, gt=0)
    notify_every_seconds: float = Field(15.0, gt=0)
    housekeeping_every_seconds: float = Field(3600.0, gt=0)
    misfire_grace_seconds: int = Field(60, gt=0)
    # Claims of long work: renewed by a heartbeat, so a dead holder's lapses within a minute.
    run_lease_seconds: float = Field(60.0, gt=0)
    retrain_lease_seconds: float = Field(60.0, gt=0)
    ingest_lease_seconds: float = Field(60.0, gt=0)
    ingest_chunk_bytes: int = Field(4 * 1024 * 1024, gt=0)  # one transaction each
    ingest_parse_process: bool = True
    half_wait_seconds: float = Field(3600.0, gt=0)  # `status` warns about halves waiting longer
    # A window waits this long past its settle for a source behind it, then runs with a warning.
    source_wait_seconds: float = Field(21600.0, gt=0)
    inline_report_rows: int = Field(0, ge=0)
    report_rows: int = Field(50_000, gt=0)  # rows per side of a background report
    report_budget_seconds: float = Field(120.0, gt=0)  # a monitor pass's time for reports
    task_time_limit: float = Field(3600.0, gt=0)  # the longest any task may run
    broker_visibility_timeout: float = Field(7200.0, gt=0)
    metrics_public: bool = False  # serve /metrics without a token
    log_format: Literal["text", "json"] = "text"
    mlflow_trust_pickle: bool = False  # load pickle-only MLflow models: runs their code
    mlflow_poll_seconds: float = Field(300.0, gt=0)  # how often MLflow aliases are followed

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        if value and "://" not in value:
            raise ValueError("not a URL")
        if value.startswith(("postgres://", "postgresql://")):
            # psycopg 3 is the only PostgreSQL driver Driftwise ships with.
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, value: str) -> str:
        if value and not value.startswith(SMTP_SCHEMES):
            raise ValueError("scheme must be smtp://, smtp+starttls://, smtps:// or file://")
        return value

    @field_validator("trusted_types")
    @classmethod
    def _trusted(cls, value: str) -> str:
        # Exact names only: trusting every name under numpy. or sklearn. let artifacts run code.
        for name in (name.strip() for name in value.split(",")):
            if name and not EXACT_NAME.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not an exact name (write module.Name as the refusal "
                    "message spells it; no prefixes or wildcards)"
                )
        return value

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        return value.rstrip("/")

    def model_post_init(self, _context: object) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / 'driftwise.db'}")

    @property
    def extra_trusted_types(self) -> frozenset[str]:
        return frozenset(name.strip() for name in self.trusted_types.split(",") if name.strip())


def variable(field: str) -> str:
    return PREFIX + field.upper()


def variables() -> list[str]:
    """Every variable Driftwise reads, by its full name."""
    return [variable(name) for name in Settings.model_fields]


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings in `env` (default: the process environment); blank means default."""
    env = os.environ if env is None else env
    values = {}
    for name in Settings.model_fields:
        text = env.get(variable(name), "").strip()
        if text:
            values[name] = text
    try:
        settings = Settings(**values)
    except ValidationError as error:
        raise SettingsError("; ".join(_describe(problem) for problem in error.errors())) from None
    _check_together(settings)
    return settings


def _describe(problem: dict) -> str:
    name = variable(str(problem["loc"][0])) if problem["loc"] else PREFIX + "*"
    message = problem["msg"].removeprefix("Value error, ")
    return f"{name}: {message}, not {problem['input']!r}"


def _check_together(settings: Settings) -> None:
    if settings.scheduler_heartbeat_seconds >= settings.scheduler_lease_seconds:
        raise SettingsError(
            "DRIFTWISE_SCHEDULER_HEARTBEAT_SECONDS must be shorter than "
            "DRIFTWISE_SCHEDULER_LEASE_SECONDS, or the lease lapses between heartbeats"
        )
    if settings.broker_visibility_timeout <= settings.task_time_limit:
        raise SettingsError(
            "DRIFTWISE_BROKER_VISIBILITY_TIMEOUT must be longer than DRIFTWISE_TASK_TIME_LIMIT, "
            "or a running task is delivered again"
        )


_cached: tuple[tuple[tuple[str, str], ...], Settings] | None = None


def current_settings() -> Settings:
    """The settings of the environment as it is now, parsed once per distinct environment."""
    global _cached
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(PREFIX)))
    if _cached is None or _cached[0] != key:
        _cached = (key, load_settings())
    return _cached[1]


_values: dict[str, tuple[str | None, object]] = {}


def current_value(field: str) -> object:
    """One setting, re-read only when its own variable changes: cheap enough to ask for once
    per record (`current_settings` scans the whole environment each time)."""
    raw = os.environ.get(variable(field))
    cached = _values.get(field)
    if cached is None or cached[0] != raw:
        cached = (raw, getattr(current_settings(), field))
        _values[field] = cached
    return cached[1]
