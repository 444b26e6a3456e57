"""The SQL store's tables as SQLAlchemy 2.x typed models.

Times are naive UTC everywhere. Feature dicts, predictions and label values are JSON
text that ingestion writes pre-serialised (orjson), which keeps bulk inserts fast.
Alembic (migrations/) owns the schema; a test keeps the two identical.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from monitor.timeutil import utcnow

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BUCKET_SIZE = 2**24  # 256 sample buckets over the 32-bit sample key

# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict: JSON, list: JSON}


def created() -> Mapped[datetime]:
    return mapped_column(DateTime, default=utcnow)


class Model(Base):
    __tablename__ = "models"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    task: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(200))
    prediction: Mapped[str] = mapped_column(String(200))
    probability: Mapped[str | None] = mapped_column(String(200))
    # Multiclass: class -> its probability column in reference and batch files.
    probabilities: Mapped[dict | None] = mapped_column(nullable=True)
    numerical: Mapped[list] = mapped_column(default=list)
    categorical: Mapped[list] = mapped_column(default=list)
    retrain: Mapped[dict] = mapped_column(default=dict)
    # A registry URI (`models:/churn@champion`) when the artifact lives in MLflow.
    artifact_uri: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created()
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    @property
    def features(self) -> list[str]:
        return [*self.numerical, *self.categorical]


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    artifact: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20), default="candidate")
    origin: Mapped[str] = mapped_column(String(20), default="spec")
    parent_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    # No foreign key: retrain_jobs also points here and a cycle complicates SQLite batch moves.
    retrain_job_id: Mapped[int | None] = mapped_column(Integer)
    training_start: Mapped[datetime | None] = mapped_column(DateTime)
    training_end: Mapped[datetime | None] = mapped_column(DateTime)
    train_rows: Mapped[int | None] = mapped_column(Integer)
    holdout_rows: Mapped[int | None] = mapped_column(Integer)
    metrics: Mapped[dict] = mapped_column(default=dict)
    # Measured predict timings (per row, per request; cold and warm), once per version.
    compute: Mapped[dict] = mapped_column(default=dict)
    # Where the version came from outside Driftwise, e.g. {"mlflow": {"name", "version", ...}}.
    lineage: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created()


class ReferenceSet(Base):
    __tablename__ = "reference_sets"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), unique=True
    )
    rows: Mapped[int] = mapped_column(Integer)
    columns: Mapped[list] = mapped_column(default=list)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # Parquet, zstd-compressed
    sha256: Mapped[str] = mapped_column(String(64))
    # What depends only on the reference (bins, quantiles, category sets), computed once.
    profile: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created()


class ReferencePreparation(Base):
    """A reference set's columns prepared for the drift tests (sorted, counted) at one cap,
    stored so that each process loads them instead of decoding and sorting the set again."""

    __tablename__ = "reference_preparations"
    __table_args__ = (UniqueConstraint("reference_set_id", "cap", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    reference_set_id: Mapped[int] = mapped_column(
        ForeignKey("reference_sets.id", ondelete="CASCADE")
    )
    cap: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(64))  # the set's content, the columns, the format
    data: Mapped[bytes] = mapped_column(LargeBinary)  # NumPy .npz, no pickles
    created_at: Mapped[datetime] = created()


class Deployment(Base):
    __tablename__ = "deployments"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    mode: Mapped[str] = mapped_column(String(20))
    active_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    candidate_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    canary_share: Mapped[float] = mapped_column(Float, default=0.0)
    window_seconds: Mapped[int] = mapped_column(Integer, default=3600)  # nominal for `1mo`
    window: Mapped[str | None] = mapped_column(String(20))  # `1h`, `1w`, `1mo`; None: seconds
    timezone: Mapped[str | None] = mapped_column(String(64))  # day/week/month bounds; None: UTC
    settle_seconds: Mapped[int] = mapped_column(Integer, default=300)
    schedule_seconds: Mapped[int | None] = mapped_column(Integer)
    max_rows: Mapped[int] = mapped_column(Integer, default=50000)
    min_rows: Mapped[int] = mapped_column(Integer, default=200)
    policy: Mapped[dict] = mapped_column(default=dict)
    # From the spec: latency target and prices, what the serving advice weighs.
    serving: Mapped[dict] = mapped_column(default=dict)
    # Predictions up to this id were looked at for late arrivals into windows already run.
    late_checked_id: Mapped[int | None] = mapped_column(BigInteger)
    # The advice as last given: recommendation, since when, whether it was announced.
    advice: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created()
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class DeploymentHistory(Base):
    """Every switch of a deployment's active version: what promote and rollback read."""

    __tablename__ = "deployment_history"
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    previous_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    reason: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class Source(Base):
    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("deployment_id", "role", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))  # predictions | labels
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    config: Mapped[dict] = mapped_column(default=dict)
    cursor: Mapped[dict] = mapped_column(default=dict)  # e.g. the SQL watermark
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_read_at: Mapped[datetime | None] = mapped_column(DateTime)
    records_read: Mapped[int] = mapped_column(BigInteger, default=0)
    records_inserted: Mapped[int] = mapped_column(BigInteger, default=0)
    records_duplicate: Mapped[int] = mapped_column(BigInteger, default=0)
    records_quarantined: Mapped[int] = mapped_column(BigInteger, default=0)
    # Files whose last line has no newline yet and that are not complete (still settling).
    files_waiting: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    # Every prediction of this source timestamped before `read_to` has been read: a window
    # ending after it waits (`monitor/ingest/watermark.py`).
    read_to: Mapped[datetime | None] = mapped_column(DateTime)
    # When the last pass that read the source to its end without an error began.
    caught_up_at: Mapped[datetime | None] = mapped_column(DateTime)


class IngestedFile(Base):
    __tablename__ = "ingested_files"
    __table_args__ = (UniqueConstraint("source_id", "path"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(1000))
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    line: Mapped[int] = mapped_column(BigInteger, default=0)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    records: Mapped[int] = mapped_column(BigInteger, default=0)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class PendingHalf(Base):
    """Half of a record whose other half (e.g. a KServe response) has not been read yet."""

    __tablename__ = "pending_halves"
    __table_args__ = (UniqueConstraint("source_id", "key", "part"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(300))
    part: Mapped[str] = mapped_column(String(20))
    payload: Mapped[str] = mapped_column(Text)
    # The line it came from: quarantined with its partner's when the pair cannot be read.
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = created()


class Prediction(Base):
    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint("deployment_id", "request_id"),
        Index(None, "deployment_id", "timestamp", "sample_key"),
        # Sampling a large window reads only the buckets its sample falls in.
        Index(None, "deployment_id", "sample_bucket", "timestamp", "sample_key"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    model_version_id: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[str] = mapped_column(String(200))
    timestamp: Mapped[datetime] = mapped_column(DateTime)
    features: Mapped[str] = mapped_column(Text)  # JSON object
    prediction: Mapped[str | None] = mapped_column(Text)  # JSON scalar
    probability: Mapped[float | None] = mapped_column(Float)
    probabilities: Mapped[str | None] = mapped_column(Text)  # JSON {class: probability}
    sample_key: Mapped[int] = mapped_column(BigInteger)  # CRC32 of request_id
    # The key's top 8 bits, computed by the database (virtual on SQLite, stored on PostgreSQL).
    sample_bucket: Mapped[int | None] = mapped_column(
        Integer, Computed(f"sample_key / {BUCKET_SIZE}")
    )
    ingested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WindowCount(Base):
    """A window's prediction count up to a committed id, kept so that a window is walked in
    the index once: a later count adds only the predictions stored after that id."""

    __tablename__ = "window_counts"
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    window_start: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    window_end: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    rows: Mapped[int] = mapped_column(BigInteger)
    counted_to_id: Mapped[int] = mapped_column(BigInteger)  # predictions up to this id


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("deployment_id", "request_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    request_id: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(Text)  # JSON scalar
    timestamp: Mapped[datetime | None] = mapped_column(DateTime)
    ingested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


def label_of_prediction() -> ColumnElement[bool]:
    """The join of a label to its prediction: the same deployment and request id."""
    return (Label.deployment_id == Prediction.deployment_id) & (
        Label.request_id == Prediction.request_id
    )


class Quarantine(Base):
    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    deployment_id: Mapped[int | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    location: Mapped[str] = mapped_column(String(1100))  # path:line, path#row, api
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created()


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("deployment_id", "window_start", "kind", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    window_start: Mapped[datetime] = mapped_column(DateTime)
    window_end: Mapped[datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(20))  # monitor | backfill
    seq: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="running")
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    model_version_id: Mapped[int | None] = mapped_column(Integer)
    rows: Mapped[int | None] = mapped_column(BigInteger)
    reference_rows: Mapped[int | None] = mapped_column(Integer)
    labeled_rows: Mapped[int | None] = mapped_column(Integer)
    sampled: Mapped[bool] = mapped_column(Boolean, default=False)
    sampled_from: Mapped[int | None] = mapped_column(BigInteger)
    drift_share: Mapped[float | None] = mapped_column(Float)
    prediction_drift: Mapped[dict | None] = mapped_column(JSON)
    features: Mapped[dict] = mapped_column(default=dict)
    quality: Mapped[dict] = mapped_column(default=dict)
    performance: Mapped[dict] = mapped_column(default=dict)
    estimated_performance: Mapped[dict] = mapped_column(default=dict)
    # Per-class precision/recall/f1/support and the confusion matrix, for labeled windows.
    classes: Mapped[dict | None] = mapped_column(JSON)
    breaches: Mapped[list] = mapped_column(default=list)
    warnings: Mapped[list] = mapped_column(default=list)
    error: Mapped[str | None] = mapped_column(Text)
    duration: Mapped[float | None] = mapped_column(Float)
    snapshot: Mapped[bytes | None] = mapped_column(LargeBinary)  # gzip JSON of dump_dict()
    report_rows: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class MetricPoint(Base):
    __tablename__ = "metric_points"
    __table_args__ = (Index(None, "deployment_id", "metric", "time"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    time: Mapped[datetime] = mapped_column(DateTime)
    metric: Mapped[str] = mapped_column(String(100))
    column: Mapped[str] = mapped_column(String(200), default="")
    value: Mapped[float] = mapped_column(Float)


class Event(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(60), index=True)
    severity: Mapped[str] = mapped_column(String(20), default="info")
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)
    deployment_id: Mapped[int | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    retrain_job_id: Mapped[int | None] = mapped_column(Integer)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(500))
    data: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class Incident(Base):
    """A deployment's problem of one reason (drift, performance, ...), open from the first
    breaching window until the first healthy window after it, or until a person resolves it.
    At most one is open per deployment and reason."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index(
            "uq_incidents_open_deployment_id_reason",
            "deployment_id",
            "reason",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | resolved
    severity: Mapped[str] = mapped_column(String(20), default="warning")
    title: Mapped[str] = mapped_column(String(500))
    windows: Mapped[int] = mapped_column(Integer, default=1)  # breaching windows so far
    first_window_start: Mapped[datetime] = mapped_column(DateTime)
    last_window_end: Mapped[datetime] = mapped_column(DateTime)
    opened_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_window_start: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    resolved_by: Mapped[str | None] = mapped_column(String(320))  # "window" or a person
    resolution: Mapped[str | None] = mapped_column(Text)  # what fixed it, in words


class AlertRule(Base):
    """Who hears of which events: from the spec's [[alerts]] and [[webhooks]]."""

    __tablename__ = "alert_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))  # email | webhook
    targets: Mapped[list] = mapped_column(default=list)
    events: Mapped[list] = mapped_column(default=list)
    deployments: Mapped[list] = mapped_column(default=list)
    min_severity: Mapped[str] = mapped_column(String(20), default="info")
    config: Mapped[dict] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "channel", "target"),
        Index(None, "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rules.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)
    folded_into_id: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = created()


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = created()
    duration: Mapped[float] = mapped_column(Float)
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class RetrainJob(Base):
    __tablename__ = "retrain_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    trigger: Mapped[str] = mapped_column(String(20))  # policy | webhook | manual | schedule | api
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    requested_by: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    champion_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    challenger_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    evaluation: Mapped[dict] = mapped_column(default=dict)
    decision: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class Lease(Base):
    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20), default="viewer")
    created_at: Mapped[datetime] = created()
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Bumped at logout: a session cookie carries the generation it was issued under, so a
    # copy of it kept past logout is refused.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class LoginFailure(Base):
    """A failed login, counted per address and per account to slow password guessing."""

    __tablename__ = "login_failures"
    __table_args__ = (Index(None, "address", "at"), Index(None, "email", "at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    address: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(320))


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(20), default="viewer")
    created_at: Mapped[datetime] = created()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class WebhookReceipt(Base):
    """Inbound webhook ids already accepted: a replay is recognised and starts nothing."""

    __tablename__ = "webhook_receipts"
    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(300), unique=True)
    received_at: Mapped[datetime] = created()
    retrain_job_id: Mapped[int | None] = mapped_column(Integer)
