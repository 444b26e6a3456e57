"""Quarantine you can see and replay: records grouped by reason, and a retry that re-reads
them with the source's current spec.

A retry deletes the quarantined rows it re-reads and writes what they give (records,
or quarantine rows with their new reason) in the same transaction, under the source's
lease: a retry killed at any moment leaves each record either still quarantined or
ingested, exactly once (inserts skip request ids the deployment already has).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor.errors import LeaseLost, SourceNotFound
from monitor.ingest import engine as ingest_engine
from monitor.ingest.kinds import kind_style, load_kind
from monitor.service import leases
from monitor.service.claims import delete_claimed
from monitor.store.db import session_scope
from monitor.store.lookup import deployment_named
from monitor.store.models import Deployment, Quarantine, Source
from monitor.timeutil import iso

EXAMPLES = 3
RETRY_CHUNK = 1000


def _sources(session: Session, deployment: str | None, source: str | None) -> list[Source]:
    query = select(Source).join(Deployment, Source.deployment_id == Deployment.id)
    if deployment is not None:
        query = query.where(Deployment.id == deployment_named(session, deployment).id)
    if source is not None:
        query = query.where(Source.name == source)
    found = list(session.scalars(query.order_by(Source.id)))
    if source is not None and not found:
        raise SourceNotFound(f"no source named {source!r}")
    return found


def summary(
    session: Session, deployment: str | None = None, source: str | None = None
) -> list[dict[str, Any]]:
    """Quarantined records grouped by deployment, source and reason: counts and examples,
    largest groups first."""
    query = select(
        Quarantine.deployment_id,
        Quarantine.source_id,
        Quarantine.reason,
        func.count(),
        func.max(Quarantine.created_at),
    ).group_by(Quarantine.deployment_id, Quarantine.source_id, Quarantine.reason)
    if source is not None:
        ids = [s.id for s in _sources(session, deployment, source)]
        query = query.where(Quarantine.source_id.in_(ids))
    elif deployment is not None:
        query = query.where(Quarantine.deployment_id == deployment_named(session, deployment).id)
    groups = session.execute(query.order_by(func.count().desc()).limit(200)).all()
    names = dict(session.execute(select(Deployment.id, Deployment.name)).all())
    sources = dict(session.execute(select(Source.id, Source.name)).all())
    result = []
    for dep_id, source_id, reason, count, latest in groups:
        where = [Quarantine.reason == reason, _is(Quarantine.source_id, source_id)]
        where.append(_is(Quarantine.deployment_id, dep_id))
        examples = session.scalars(
            select(Quarantine).where(*where).order_by(Quarantine.id).limit(EXAMPLES)
        ).all()
        result.append(
            {
                "deployment": names.get(dep_id),
                "source": sources.get(source_id),
                "reason": reason,
                "count": count,
                "latest": iso(latest),
                "examples": [
                    {"location": q.location, "raw": q.raw[:300].decode("utf-8", "replace")}
                    for q in examples
                ],
            }
        )
    return result


def _is(column, value):
    return column.is_(None) if value is None else column == value


def top_reasons(session: Session, source_id: int, limit: int = 3) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Quarantine.reason, func.count())
        .where(Quarantine.source_id == source_id)
        .group_by(Quarantine.reason)
        .order_by(func.count().desc(), Quarantine.reason)
        .limit(limit)
    ).all()
    return [{"reason": reason, "count": count} for reason, count in rows]


@dataclass
class Retried:
    """What a retry of one source's quarantine did."""

    source: str
    deployment: str
    retried: int = 0
    inserted: int = 0
    duplicate: int = 0
    quarantined: int = 0
    errors: list[str] = field(default_factory=list)


def retry(
    engine: Engine, deployment: str | None = None, source: str | None = None
) -> list[Retried]:
    """Re-read the quarantined records of the matching sources with their current spec."""
    with session_scope(engine) as session:
        wanted = {s.id for s in _sources(session, deployment, source)}
        jobs = [
            job for job in ingest_engine.load_jobs(session, deployment) if job.source_id in wanted
        ]
    return [_retry_source(engine, job) for job in jobs]


def _retry_source(engine: Engine, job) -> Retried:
    done = Retried(job.name, job.deployment)
    with session_scope(engine) as session:
        if not leases.acquire(session, job.lease, job.holder, ingest_engine.lease_seconds()):
            done.errors.append("skipped: another process is reading this source")
            return done
        last = session.scalar(
            select(func.max(Quarantine.id)).where(Quarantine.source_id == job.source_id)
        )
    try:
        after = 0
        while last is not None and after < last:
            after = _retry_chunk(engine, job, after, last, done)
    except LeaseLost as error:
        done.errors.append(str(error))
    finally:
        with session_scope(engine) as session:
            leases.release(session, job.lease, job.holder)
    return done


def _retry_chunk(engine: Engine, job, after: int, last: int, done: Retried) -> int:
    """One transaction: up to RETRY_CHUNK rows deleted and re-read; returns the last id."""
    kind = load_kind(job.kind)
    with session_scope(engine) as session:
        rows = session.scalars(
            select(Quarantine)
            .where(
                Quarantine.source_id == job.source_id, Quarantine.id > after, Quarantine.id <= last
            )
            .order_by(Quarantine.id)
            .limit(RETRY_CHUNK)
        ).all()
        if not rows:
            return last
        ids = [row.id for row in rows]
        if not delete_claimed(session, Quarantine, ids):
            raise LeaseLost("another retry took these records first")
        batch = job.new_batch()
        _reread(job, kind, rows, batch)
        read, inserted, quarantined = batch.write(session, getattr(kind, "join", None))
        source = session.get(Source, job.source_id)
        source.records_quarantined += quarantined - len(rows)
        source.records_inserted += inserted
        source.records_duplicate += read - inserted - quarantined
        done.retried += len(rows)
        done.inserted += inserted
        done.quarantined += quarantined
        done.duplicate += read - inserted - quarantined
        return ids[-1]


def _reread(job, kind, rows: list[Quarantine], batch) -> None:
    style = kind_style(job.kind)
    if style == "lines":
        from monitor.ingest.readers.lines import add_line

        for row in rows:
            for line in row.raw.split(b"\n"):
                add_line(batch, kind, job, line.rstrip(b"\r"), row.location)
    elif style == "table":
        from monitor.ingest.readers.table import reread_rows

        reread_rows(job, rows, batch)
    else:
        for row in rows:  # a query's rows are read again only by moving its watermark back
            batch.quarantine(row.location, row.raw, row.reason)
