"""`driftwise daemon` and `driftwise run`: the scheduler that keeps every deployment
watched, with one leader among any number of daemons on the same database.

APScheduler (3.x) keeps its jobs in memory, rebuilt from the database when the leader
starts and whenever deployments, sources or models change. It runs a job at most once and
forgets a run killed mid-way: correctness lives in our tables (run rows, leases,
idempotency keys), so a job repeated by a new leader does nothing twice.

Only the holder of the `scheduler` lease schedules. It renews the lease every heartbeat;
a standby polls at the same pace and takes over once the lease has expired, so a dead
leader is replaced within `lease + heartbeat` seconds. SIGTERM and SIGINT stop new runs
and new claims, let running jobs finish (bounded, renewing the lease meanwhile), release
what they still hold (a retrain job back to `pending`), then release the lease.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from monitor.logs import configure_logging
from monitor.service import claims, leases, schedule_info
from monitor.service.executors import Executor, make_executor
from monitor.service.tasks import scheduled_models
from monitor.settings import current_settings, load_settings
from monitor.store import get_engine, session_scope
from monitor.store.models import Deployment, Model, Source
from monitor.timeutil import utcnow

log = logging.getLogger(__name__)

LEASE = "scheduler"
MONITOR_EVERY_MAX = 300  # a deployment without a schedule is checked this often at most

_executor: Executor | None = None  # the running daemon's, for run_job


@dataclass(frozen=True)
class Timing:
    """Seconds (see `timing_from_env` for the settings they come from)."""

    lease: float = 15.0
    heartbeat: float = 5.0
    shutdown: float = 30.0
    threads: int = 4
    ingest: float = 60.0
    retrain: float = 30.0
    notify: float = 15.0
    housekeeping: float = 3600.0
    misfire_grace: int = 60


def timing_from_env(env: dict[str, str] | None = None) -> Timing:
    """The daemon's timing from the settings (of `env`, if given)."""
    settings = current_settings() if env is None else load_settings(env)
    return Timing(
        lease=settings.scheduler_lease_seconds,
        heartbeat=settings.scheduler_heartbeat_seconds,
        shutdown=settings.shutdown_seconds,
        threads=settings.daemon_threads,
        ingest=settings.ingest_every_seconds,
        retrain=settings.retrain_every_seconds,
        notify=settings.notify_every_seconds,
        housekeeping=settings.housekeeping_every_seconds,
        misfire_grace=settings.misfire_grace_seconds,
    )


@dataclass(frozen=True)
class JobSpec:
    task: str
    args: tuple
    seconds: float


ADVISE_EVERY = 3600.0  # serving advice moves slowly: traffic over weeks, a week's hold
REPORTS_EVERY = 60.0  # Evidently's reports, built apart from the monitor passes


def plan(session: Session, timing: Timing) -> dict[str, JobSpec]:
    """Every job the leader should schedule, by job id, from the database as it is now."""
    jobs: dict[str, JobSpec] = {}
    for (source_id,) in session.execute(
        select(Source.id).where(Source.enabled.is_(True)).order_by(Source.id)
    ):
        jobs[f"ingest:{source_id}"] = JobSpec("ingest_source", (source_id,), timing.ingest)
    for name, window, schedule in session.execute(
        select(Deployment.name, Deployment.window_seconds, Deployment.schedule_seconds)
    ):
        every = schedule or min(window, MONITOR_EVERY_MAX)
        jobs[f"monitor:{name}"] = JobSpec("monitor_deployment", (name,), float(every))
    for model_id, seconds in scheduled_models(session):
        every = float(min(seconds, MONITOR_EVERY_MAX))
        jobs[f"retrain-schedule:{model_id}"] = JobSpec("scheduled_retrain", (model_id,), every)
    jobs["retrain"] = JobSpec("retrain_pending", (), timing.retrain)
    jobs["notify"] = JobSpec("notify", (), timing.notify)
    jobs["housekeeping"] = JobSpec("housekeeping", (), timing.housekeeping)
    jobs["advise"] = JobSpec("advise", (), ADVISE_EVERY)
    jobs["reports"] = JobSpec("build_reports", (), REPORTS_EVERY)
    following = session.scalar(
        select(Model.id).where(Model.artifact_uri.like("models:/%@%")).limit(1)
    )
    if following is not None:
        every = current_settings().mlflow_poll_seconds
        jobs["follow-registry"] = JobSpec("follow_registry", (), every)
    return jobs


def run_job(task: str, *args: Any, expires: float | None = None) -> str:
    """What every scheduled job calls (by the textual reference `monitor.service.daemon:run_job`)."""
    if _executor is None:
        raise RuntimeError("no daemon is running in this process")
    return _executor.submit(task, *args, expires=expires)


def next_after(scheduled: datetime, seconds: float) -> datetime:
    """The first run of an interval job after now (naive UTC), as coalescing runs it."""
    if scheduled.tzinfo is not None:
        scheduled = scheduled.astimezone(UTC).replace(tzinfo=None)
    late = max((utcnow() - scheduled).total_seconds(), 0.0)
    return scheduled + timedelta(seconds=(late // seconds + 1) * seconds)


class Daemon:
    """One daemon: leader or standby, moving between the two as the lease decides."""

    def __init__(
        self,
        engine: Engine,
        executor: Executor,
        timing: Timing | None = None,
        holder: str | None = None,
    ) -> None:
        self.engine = engine
        self.executor = executor
        self.timing = timing or timing_from_env()
        self.holder = holder or claims.worker_id(uuid.uuid4().hex[:6])
        self.scheduler: BackgroundScheduler | None = None
        self.specs: dict[str, JobSpec] = {}
        self.renewed = 0.0  # monotonic time of the last renewal

    @property
    def leading(self) -> bool:
        return self.scheduler is not None

    def serve(self, stop: threading.Event) -> bool:
        """Lead or stand by until `stop` is set; True if running jobs finished in time."""
        log.info("daemon %s starting (%s executor)", self.holder, self.executor.name)
        while not stop.is_set():
            self.step()
            stop.wait(self.timing.heartbeat)
        return self.shutdown()

    def step(self) -> bool:
        """One heartbeat: renew or try to take the lease, start or stop scheduling, reload."""
        try:
            with session_scope(self.engine) as session:
                holds = leases.acquire(session, LEASE, self.holder, self.timing.lease)
            if holds:
                self.renewed = time.monotonic()
        except SQLAlchemyError as error:
            log.warning("could not renew the scheduler lease: %s", error)
            # Keep leading only while the lease surely has not lapsed for the others.
            margin = self.timing.lease - self.timing.heartbeat
            holds = self.leading and time.monotonic() - self.renewed < margin
        if holds and not self.leading:
            self._lead()
        elif not holds and self.leading:
            log.warning("daemon %s lost the scheduler lease; standing by", self.holder)
            self._stand_down()
        if self.leading:
            try:
                self.reload()
            except SQLAlchemyError as error:
                log.warning("could not reload the schedule: %s", error)
        return self.leading

    def reload(self) -> None:
        """Bring the scheduler's jobs in line with the database."""
        with session_scope(self.engine) as session:
            wanted = plan(session, self.timing)
        if wanted == self.specs:
            return
        # No transaction may stay open while the scheduler's lock is sought: a job
        # finishing meanwhile records its run under that lock, and would wait for ours.
        for job_id in set(self.specs) - set(wanted):
            self.scheduler.remove_job(job_id)
        changed = [job_id for job_id, spec in wanted.items() if self.specs.get(job_id) != spec]
        for job_id in changed:
            self._add(job_id, wanted[job_id])
        next_runs = {job_id: self._next(job_id) for job_id in changed}
        self.specs = wanted
        with session_scope(self.engine) as session:
            for job_id, next_run in next_runs.items():
                schedule_info.record(session, job_id, "scheduled", None, next_run)
            schedule_info.forget(session, set(wanted))
        log.info("schedule: %d jobs", len(wanted))

    def shutdown(self) -> bool:
        """Claim nothing new, wait (bounded) for running jobs, release what they still
        hold, release the lease."""
        clean = True
        if self.scheduler is not None:
            clean = self._finish_running()
            self.scheduler = None
        if not clean:
            log.warning("released %d claims of unfinished work", claims.abandon_all())
        try:
            with session_scope(self.engine) as session:
                leases.release(session, LEASE, self.holder)
        except SQLAlchemyError as error:
            log.warning("could not release the scheduler lease: %s", error)
        log.info("daemon %s stopped%s", self.holder, "" if clean else " (jobs abandoned)")
        return clean

    def _lead(self) -> None:
        global _executor
        _executor = self.executor
        scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(self.timing.threads)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.timing.misfire_grace,
            },
        )
        scheduler.add_listener(self._ran, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        scheduler.start()
        self.scheduler, self.specs = scheduler, {}
        log.info("daemon %s is the leader", self.holder)

    def _stand_down(self) -> None:
        self.scheduler.shutdown(wait=False)
        self.scheduler, self.specs = None, {}

    def _add(self, job_id: str, spec: JobSpec) -> None:
        self.scheduler.add_job(
            "monitor.service.daemon:run_job",
            IntervalTrigger(seconds=spec.seconds, timezone=UTC),
            args=[spec.task, *spec.args],
            kwargs={"expires": spec.seconds},
            id=job_id,
            name=job_id,
            next_run_time=datetime.now(UTC),
            replace_existing=True,
        )

    def _next(self, job_id: str) -> datetime | None:
        job = self.scheduler.get_job(job_id)
        if job is None or job.next_run_time is None:
            return None
        return job.next_run_time.astimezone(UTC).replace(tzinfo=None)

    def _ran(self, event: JobExecutionEvent) -> None:
        if event.exception is not None:
            log.error("job %s failed: %r", event.job_id, event.exception)
            outcome = f"error: {type(event.exception).__name__}: {event.exception}"
        else:
            outcome = str(event.retval)
        # Not scheduler.get_job(): a shutting-down scheduler holds its lock while it waits
        # for this very job, so asking it would deadlock.
        spec = self.specs.get(event.job_id)
        next_run = next_after(event.scheduled_run_time, spec.seconds) if spec else None
        try:
            with session_scope(self.engine) as session:
                schedule_info.record(session, event.job_id, outcome, utcnow(), next_run)
        except SQLAlchemyError as error:
            log.warning("could not record the run of %s: %s", event.job_id, error)

    def _finish_running(self) -> bool:
        """Shut the scheduler down, renewing the lease while its running jobs finish."""
        finisher = threading.Thread(
            target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True
        )
        finisher.start()
        deadline = time.monotonic() + self.timing.shutdown
        while finisher.is_alive() and time.monotonic() < deadline:
            finisher.join(min(self.timing.heartbeat, max(deadline - time.monotonic(), 0)))
            if finisher.is_alive():
                try:
                    with session_scope(self.engine) as session:
                        leases.acquire(session, LEASE, self.holder, self.timing.lease)
                except SQLAlchemyError:
                    pass
        return not finisher.is_alive()


def build_daemon() -> Daemon:
    from monitor.cli import require_schema

    settings = load_settings()  # every setting, a retention too, fails now, not later
    timing = timing_from_env()
    require_schema()
    return Daemon(get_engine(settings.database_url), make_executor(settings.executor), timing)


def on_stop_signals(handler) -> None:
    """On SIGTERM or SIGINT this process claims no new work, then `handler` stops it."""

    def stop(*_: Any) -> None:
        claims.stop_claiming()
        handler()

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, stop)


@click.command()
def daemon() -> None:
    """Run the scheduler: ingest, monitor, retrain, notify, housekeeping."""
    configure_logging()
    runner = build_daemon()
    stop = threading.Event()
    on_stop_signals(stop.set)
    if not runner.serve(stop):
        os._exit(0)  # jobs still running past the bound: their claims expire and are retaken


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="Web server threads.")
def run(host: str, port: int, threads: int) -> None:
    """The daemon and the web server in one process: a single machine's Driftwise."""
    from waitress import create_server

    from web import create_app

    configure_logging()
    runner = build_daemon()
    server = create_server(create_app(), host=host, port=port, threads=threads, ident="driftwise")
    stop = threading.Event()
    outcome: list[bool] = []
    worker = threading.Thread(
        target=lambda: outcome.append(runner.serve(stop)), name="driftwise-daemon"
    )

    def halt() -> None:
        if not stop.is_set():
            stop.set()
            raise SystemExit(0)  # breaks waitress's loop in the main thread

    on_stop_signals(halt)
    worker.start()
    click.echo(f"Driftwise on http://{host}:{port} (daemon {runner.holder})")
    try:
        server.run()
    finally:
        stop.set()
        server.close()
        worker.join()
    if outcome != [True]:
        os._exit(0)
