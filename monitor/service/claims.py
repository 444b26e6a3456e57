"""Claims of long work (a retrain job, a monitor run, a source being read): short leases,
renewed by a heartbeat while the work runs, released at once by a process that stops.

A holder that dies stops renewing, so its work is taken over when the short lease lapses;
a daemon that stops past its grace releases every claim it still holds (`abandon_all`)
so the next daemon starts it at once. After `stop_claiming()` nothing new is claimed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_stopping = threading.Event()
_held: set[Heartbeat] = set()
_held_lock = threading.Lock()


def worker_id(detail: str | None = None) -> str:
    """Who holds a claim: `host:pid`, plus `detail` when one process holds several (a
    thread, a daemon instance). Written on the rows it claims, shown by `status`."""
    base = f"{socket.gethostname()}:{os.getpid()}"
    return f"{base}:{detail}" if detail else base


def compare_and_set(session: Session, table: Any, conditions: list, values: dict) -> bool:
    """Set `values` on the one row of `table` matching every condition; True if it did.
    Two processes racing for the same row never both win, on any database."""
    changed = session.execute(
        update(table)
        .where(*conditions)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    return changed == 1


def delete_claimed(session: Session, table: Any, ids: list[int]) -> bool:
    """Delete the rows of `table` with these ids; True if every one was still there. Work
    that takes rows by deleting them goes on only if True; on False another process took
    some first and writes what they give."""
    deleted = session.execute(
        delete(table).where(table.id.in_(ids)).execution_options(synchronize_session=False)
    ).rowcount
    return deleted == len(ids)


def stop_claiming() -> None:
    """From now on this process claims no new work (a stop signal arrived)."""
    _stopping.set()


def stopping() -> bool:
    return _stopping.is_set()


def heartbeat_every(lease_seconds: float) -> float:
    """Three renewals per lease: one lost to a slow database still leaves the claim live."""
    return max(lease_seconds / 3, 0.05)


class Heartbeat:
    """Renews a claim every `every` seconds from a thread of its own while the work runs.

    `renew()` returns False when the claim is no longer ours (then renewing stops);
    `release()` gives the claim back (called by `abandon_all`, never after the work ended).
    """

    def __init__(
        self, what: str, every: float, renew: Callable[[], bool], release: Callable[[], None]
    ) -> None:
        self.what, self.every = what, every
        self._renew, self._release = renew, release
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {what}", daemon=True)
        self.lost = False

    def __enter__(self) -> Heartbeat:
        with _held_lock:
            _held.add(self)
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._done.set()
        with _held_lock:
            _held.discard(self)
        self._thread.join(self.every + 5)

    def _beat(self) -> None:
        while not self._done.wait(self.every):
            try:
                if not self._renew():
                    self.lost = True
                    log.warning("claim of %s was taken over; no longer renewing", self.what)
                    return
            except Exception as error:  # noqa: BLE001 - the next beat tries again
                log.warning("could not renew the claim of %s: %s", self.what, error)

    def abandon(self) -> None:
        """Stop renewing and give the claim back now."""
        self._done.set()
        self._thread.join(self.every + 5)
        try:
            self._release()
            log.warning("released the claim of %s", self.what)
        except Exception as error:  # noqa: BLE001 - the short lease lapses anyway
            log.warning("could not release the claim of %s: %s", self.what, error)


def abandon_all() -> int:
    """Release every claim this process still holds; how many there were."""
    with _held_lock:
        held = list(_held)
        _held.clear()
    for heartbeat in held:
        heartbeat.abandon()
    return len(held)
