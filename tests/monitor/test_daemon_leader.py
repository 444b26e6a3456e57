"""Several real daemons on one database: one leads, the work is done once, and a standby
takes over within the bound when the leader dies."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from monitor.store import get_engine, session_scope
from monitor.store.models import AlertRule, Notification, Run
from monitor.timeutil import utcnow, window_start
from tests.factories import make_deployment
from tests.monitor.daemon_support import holder_pid, leader
from tests.monitor.notify_support import Receiver
from tests.monitor.runs_support import add_hours
from tests.processes import FAST, daemon, wait_for

pytestmark = pytest.mark.slow

HOUR = timedelta(hours=1)
LEASE = float(FAST["DRIFTWISE_SCHEDULER_LEASE_SECONDS"])
HEARTBEAT = float(FAST["DRIFTWISE_SCHEDULER_HEARTBEAT_SECONDS"])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def test_two_daemons_run_every_window_once_and_send_every_notification_once(
    engine: Engine, db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    first_window = window_start(utcnow(), 3600) - 3 * HOUR
    with session_scope(engine) as session:
        deployment = make_deployment(
            session,
            min_rows=10,
            policy={"drift_share": 0.1, "consecutive": 1, "actions": ["alert"]},
        )
        deployment.created_at = first_window
        deployment.schedule_seconds = 1
        deployment_id = deployment.id
        session.add(
            AlertRule(
                channel="webhook", targets=[receiver.url], events=["*"], config={"secret": "s"}
            )
        )
    add_hours(engine, deployment_id, first_window, 3, rows=400, shift=2.0)

    def settled() -> bool:
        with session_scope(engine) as session:
            runs = session.scalar(
                select(func.count()).select_from(Run).where(Run.status.in_(["ok", "no_data"]))
            )
            statuses = set(session.scalars(select(Notification.status)))
        return runs == 3 and statuses == {"sent"}

    daemons = [daemon(db_url, tmp_path / f"daemon{n}.log") for n in range(2)]
    try:
        wait_for(settled, 120, "every window run and every notification sent", tuple(daemons))
        holder = leader(engine)
        assert holder_pid(holder) in {process.pid for process in daemons}
        time.sleep(2 * HEARTBEAT)  # the standby keeps standing by
        assert leader(engine) == holder
    finally:
        codes = [process.terminate() for process in daemons]
    assert codes == [0, 0]
    with session_scope(engine) as session:
        runs = session.scalars(select(Run)).all()
        sent = session.scalar(
            select(func.count()).select_from(Notification).where(Notification.status == "sent")
        )
    assert len(runs) == len({(run.window_start, run.kind) for run in runs}) == 3
    assert sent >= 3, "each drifting window is an event with a notification"
    delivered = Counter(delivery.headers.get("webhook-id") for delivery in receiver.deliveries)
    assert len(delivered) == sent
    assert set(delivered.values()) == {1}, delivered
    assert leader(engine) is None


def test_a_standby_leads_within_the_bound_after_the_leader_is_killed(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    daemons = [daemon(db_url, tmp_path / f"daemon{n}.log") for n in range(2)]
    try:
        first = wait_for(lambda: leader(engine), 60, "a leader", tuple(daemons))
        killed = next(process for process in daemons if process.pid == holder_pid(first))
        standby = next(process for process in daemons if process is not killed)
        wait_for(lambda: "starting" in standby.output(), 60, "the standby", (standby,))
        time.sleep(2 * HEARTBEAT)
        assert leader(engine) == first, "the standby must not take a live lease"
        killed.kill()
        died = time.monotonic()
        second = wait_for(
            lambda: holder_pid(leader(engine)) == standby.pid, 30, "the standby to lead", (standby,)
        )
        took = time.monotonic() - died
        assert second
        # The lease may have just been renewed: it lapses `LEASE` later; the standby
        # notices at its next poll. One second of slack for a busy machine.
        assert took <= LEASE + HEARTBEAT + 1.0, f"took {took:.1f}s"
        assert "is the leader" in standby.output()
    finally:
        for process in daemons:
            if process.alive():
                assert process.terminate() == 0
    assert leader(engine) is None


def test_run_serves_the_web_and_leads_in_one_process(sqlite_url: str, tmp_path: Path) -> None:
    import urllib.request

    from tests.monitor.notify_support import free_port
    from tests.processes import Process

    port = free_port()
    engine = get_engine(sqlite_url)
    process = Process(
        ["run", "--port", str(port)], sqlite_url, tmp_path / "run.log", DRIFTWISE_SECRET_KEY="k"
    )
    try:
        holder = wait_for(lambda: leader(engine), 60, "the daemon to lead", (process,))
        assert holder_pid(holder) == process.pid

        def page() -> int | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as reply:
                    return reply.status
            except OSError:
                return None

        assert wait_for(page, 60, "the web server", (process,)) == 200
    finally:
        code = process.terminate()
    assert code == 0
    assert leader(engine) is None
