"""How far a source has been read: its watermark, `read_to`.

Every prediction of the source timestamped before `read_to` is in the store, so a window
that ends at or before it can run. It moves only at the end of a pass that read the source
to its end without an error (every file to its last line, every table file whole, the
query until it returned nothing new):

- to the newest prediction timestamp that pass read, and
- to the moment the pass began less the deployment's settle: whatever was logged by then
  has been read, and a prediction reaches its log within the settle (the same promise that
  makes a window due only `settle` after it closes). A quiet source thus keeps advancing.

A pass that failed, stopped half-way, or left a file whose last line is unfinished leaves
it where it was: the windows after it wait, and `status` says for which source.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from monitor.store.models import Deployment, Source
from monitor.timeutil import iso


def advance(session: Session, source: Source, began: datetime, newest: datetime | None) -> None:
    """Move the watermark after a pass that read the source to its end."""
    deployment = session.get(Deployment, source.deployment_id)
    settled = began - timedelta(seconds=deployment.settle_seconds)
    candidates = [moment for moment in (source.read_to, settled, newest) if moment is not None]
    source.read_to = max(candidates)
    source.caught_up_at = began


def behind(session: Session, deployment_id: int, moment: datetime) -> list[Source]:
    """The deployment's enabled prediction sources not yet read up to `moment`. Pushes and
    `/predict` write as they happen and need no watermark; labels do not hold windows
    (late labels are backfilled)."""
    return list(
        session.scalars(
            select(Source)
            .where(
                Source.deployment_id == deployment_id,
                Source.role == "predictions",
                Source.enabled.is_(True),
                or_(Source.read_to.is_(None), Source.read_to < moment),
            )
            .order_by(Source.id)
        )
    )


def read_to_text(source: Source) -> str:
    return "never read to its end" if source.read_to is None else f"read to {iso(source.read_to)}"
