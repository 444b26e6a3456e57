"""A file source's cursor: how far each file has been read."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.store.models import IngestedFile


def file_cursor(session: Session, source_id: int, path: str) -> IngestedFile:
    cursor = session.scalar(
        select(IngestedFile).where(IngestedFile.source_id == source_id, IngestedFile.path == path)
    )
    if cursor is None:
        cursor = IngestedFile(
            source_id=source_id, path=path, offset=0, line=0, size=0, records=0, done=False
        )
        session.add(cursor)
        session.flush()
    return cursor
