"""The demo's simulated days: traffic through the real paths, late labels, and the jobs.

Every component runs its own code under a simulated clock (`monitor.timeutil.set_clock`, which
every store time reads), so a prediction logged by the real-time endpoint, a promotion, an event and a
retrain cooldown all carry the simulated day's time, as they would have lived it. The days
end before today, so their windows are closed and monitoring runs them at once.

Day by day: at 00:10 the jobs run (ingest, monitor, retrain, notify) over what came in
before; at 06:00 yesterday's ground truth arrives as JSONL label files; every hour customers
are scored by the real-time deployment over HTTP; at 23:00 the nightly batch job scores
the day's customers with the batch deployment's active version and writes a CSV file.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from monitor.demo.sample_data import CATEGORICAL, NUMERICAL, churn_frame
from monitor.store import session_scope
from monitor.store.lookup import deployment_named
from monitor.store.models import Deployment, ModelVersion, Prediction, RetrainJob, Run
from monitor.timeutil import set_clock

ONLINE, NIGHTLY, MODEL = "churn-online", "churn-nightly", "churn"
FEATURES = NUMERICAL + CATEGORICAL
HOURS = 24
DRIFT_SHIFT = 1.0  # sample_data's `shift`: older, pricier customers who churn differently
# sample_data's `signal`: churn the features predict well enough that the first model beats
# the base rate (measured on its 3,000 training customers: accuracy 0.864 against 0.794 for
# "nobody churns", recall 0.553; on day 1's customers 0.856 against 0.789, recall 0.556).
SIGNAL = 3.0


@dataclass
class Plan:
    days: int
    rows: int  # per day and per deployment
    first_day: datetime  # midnight UTC of day 1

    @property
    def drift_day(self) -> int:
        """The first drifted day (1-based): about half-way, leaving days to recover."""
        return self.days // 2

    def day_start(self, day: int) -> datetime:
        return self.first_day + timedelta(days=day - 1)

    def shift(self, day: int) -> float:
        return DRIFT_SHIFT if day >= self.drift_day else 0.0


@dataclass
class Tally:
    """What the demo sent, for its summary and the end-to-end test to compare with."""

    realtime: int = 0
    batch: int = 0
    labels: int = 0
    served_versions: dict[int, int] = field(default_factory=dict)  # version -> predictions


class Clock:
    """Driftwise's clock (`monitor.timeutil.utcnow`), moved to simulated moments."""

    def __init__(self, start: datetime) -> None:
        self.start = start

    def __enter__(self) -> Clock:
        set_clock(self.start)
        return self

    def __exit__(self, *_exc: object) -> None:
        set_clock(None)

    def move_to(self, moment: datetime) -> None:
        set_clock(moment)


class WebClient:
    """A logged-in browser-like client of the demo's web server: the real HTTP path.

    It logs in with a session cookie, as the browser does (an API token works as well)."""

    def __init__(self, base_url: str, email: str, password: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        login = f"{base_url}/login"
        form = {"email": email, "password": password, "csrf_token": self._csrf(login)}
        with self.opener.open(login, data=urllib.parse.urlencode(form).encode()) as response:
            self.csrf = _csrf_in(response.read().decode())

    def _csrf(self, url: str) -> str:
        with self.opener.open(url) as response:
            return _csrf_in(response.read().decode())

    def post_json(self, path: str, body: bytes) -> Any:
        request = urllib.request.Request(
            f"{self.base_url}{path}",
            data=body,
            headers={"Content-Type": "application/json", "X-CSRF-Token": self.csrf},
            method="POST",
        )
        with self.opener.open(request, timeout=60) as response:
            return json.loads(response.read())


def _csrf_in(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if match is None:
        raise RuntimeError("the web UI's page has no CSRF token")
    return match.group(1)


class Story:
    def __init__(
        self,
        engine: Engine,
        plan: Plan,
        folder: Path,
        client: WebClient,
        say: Callable[[str], None],
    ) -> None:
        self.engine, self.plan, self.folder = engine, plan, folder
        self.client, self.say = client, say
        self.tally = Tally()
        self._estimators: dict[int, Any] = {}
        self._shown_run, self._shown_job = 0, 0  # the newest ids already told

    # ---- one simulated day ----

    def live_day(self, day: int, clock: Clock) -> None:
        start = self.plan.day_start(day)
        clock.move_to(start + timedelta(minutes=10))
        if day > 1:
            self.run_jobs(day - 1)
        clock.move_to(start + timedelta(hours=6))
        if day > 1:
            self.write_labels(day - 1)
        customers = churn_frame(
            self.plan.rows, seed=1000 + day, shift=self.plan.shift(day), signal=SIGNAL
        )
        versions = self.serve_realtime(day, customers, clock)
        clock.move_to(start + timedelta(hours=23))
        nightly = churn_frame(
            self.plan.rows, seed=2000 + day, shift=self.plan.shift(day), signal=SIGNAL
        )
        batch_version = self.score_batch(day, nightly)
        drift = " (drifted)" if self.plan.shift(day) else ""
        shown = ", ".join(f"v{v}: {n:,}" for v, n in sorted(versions.items()))
        self.say(
            f"day {day:>2} {start:%Y-%m-%d}{drift}: {self.plan.rows:,} real-time predictions "
            f"over HTTP ({shown}), {self.plan.rows:,} batch rows scored by v{batch_version}"
        )

    def finish(self, clock: Clock) -> None:
        """The last day's jobs, then its labels and a last pass that backfills it."""
        after = self.plan.day_start(self.plan.days + 1)
        clock.move_to(after + timedelta(minutes=10))
        self.run_jobs(self.plan.days)
        clock.move_to(after + timedelta(hours=6))
        self.write_labels(self.plan.days)
        clock.move_to(after + timedelta(hours=6, minutes=10))
        self.run_jobs(self.plan.days, labels_only=True)

    # ---- traffic ----

    def serve_realtime(self, day: int, customers: pd.DataFrame, clock: Clock) -> dict[int, int]:
        """POST each hour's customers to the real-time endpoint; its answers' versions."""
        versions: dict[int, int] = {}
        start = self.plan.day_start(day)
        hours = [customers.iloc[hour::HOURS] for hour in range(HOURS)]
        for hour, rows in enumerate(hours):
            clock.move_to(start + timedelta(hours=hour, minutes=30))
            answers = self._predict(rows[FEATURES].to_dict("records"), f"online-{day}-{hour}")
            for answer in answers:
                versions[answer["model_version"]] = versions.get(answer["model_version"], 0) + 1
            truth = dict(zip([a["request_id"] for a in answers], rows["churned"], strict=True))
            self._keep_truth(ONLINE, day, truth)
        self.tally.realtime += len(customers)
        for version, count in versions.items():
            self.tally.served_versions[version] = self.tally.served_versions.get(version, 0) + count
        return versions

    def _predict(self, rows: list[dict], request_id: str) -> list[dict]:
        body = json.dumps({"features": rows, "request_id": request_id}).encode()
        reply = self.client.post_json(f"/api/v1/deployments/{ONLINE}/predict", body)
        # {"deployment": ..., "predictions": [...]}; a bare list from older builds.
        return reply["predictions"] if isinstance(reply, dict) else reply

    def score_batch(self, day: int, customers: pd.DataFrame) -> int:
        """The nightly job: score with the batch deployment's active version, write a CSV
        for the deployment's csv source to pick up."""
        from retrain.evaluate import predict

        version_id, number, estimator = self._active(NIGHTLY)
        scored = predict(estimator, customers[FEATURES], "classification")
        output = customers[FEATURES].copy()
        output["request_id"] = [f"nightly-{day}-{n}" for n in range(len(customers))]
        output["timestamp"] = self.plan.day_start(day) + timedelta(hours=23)
        output["prediction"] = scored.prediction
        output["probability"] = scored.probability
        output["model_version"] = version_id
        path = self.folder / "batch" / f"scores-day-{day:02d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        output.to_csv(partial, index=False)
        partial.rename(path)  # the source's glob never sees half a file
        self._keep_truth(
            NIGHTLY, day, dict(zip(output["request_id"], customers["churned"], strict=True))
        )
        self.tally.batch += len(customers)
        return number

    def _active(self, deployment: str) -> tuple[int, int, Any]:
        from monitor.registry.artifacts import load_artifact

        with session_scope(self.engine) as session:
            row = deployment_named(session, deployment)
            version = session.get(ModelVersion, row.active_version_id)
            if version.id not in self._estimators:
                self._estimators[version.id] = load_artifact(version.artifact)
            return version.id, version.version, self._estimators[version.id]

    # ---- late labels ----

    def _keep_truth(self, deployment: str, day: int, truth: dict[str, int]) -> None:
        path = self.folder / "truth" / deployment / f"day-{day:02d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        known = json.loads(path.read_text()) if path.exists() else {}
        known.update({key: int(value) for key, value in truth.items()})
        path.write_text(json.dumps(known))

    def write_labels(self, day: int) -> None:
        """The day's outcomes, known a day later, as JSONL label files."""
        stamp = (self.plan.day_start(day + 1) + timedelta(hours=6)).isoformat() + "Z"
        for deployment in (ONLINE, NIGHTLY):
            truth = json.loads(
                (self.folder / "truth" / deployment / f"day-{day:02d}.json").read_text()
            )
            path = self.folder / "labels" / deployment / f"labels-day-{day:02d}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            lines = (
                json.dumps({"request_id": key, "label": value, "timestamp": stamp})
                for key, value in truth.items()
            )
            partial = path.with_suffix(".tmp")
            partial.write_text("\n".join(lines) + "\n")
            partial.rename(path)
            self.tally.labels += len(truth)

    # ---- the jobs ----

    def run_jobs(self, day: int, labels_only: bool = False) -> None:
        """One pass of every job the daemon schedules, in its order, each run once by its
        own task function: ingest each source, monitor each deployment, retrain, notify."""
        from monitor.service.daemon import plan, timing_from_env
        from monitor.service.tasks import run_task

        with session_scope(self.engine) as session:
            jobs = plan(session, timing_from_env())
        results = {job_id: run_task(spec.task, *spec.args) for job_id, spec in jobs.items()}
        ingested = [result for job_id, result in results.items() if job_id.startswith("ingest:")]
        predictions = sum(r.get("inserted", 0) for r in ingested if r.get("role") == "predictions")
        labels = sum(r.get("inserted", 0) for r in ingested if r.get("role") == "labels")
        sent = results.get("notify", {}).get("sent", 0)
        what = "the last labels" if labels_only else f"day {day}"
        self.say(
            f"  jobs after {what}: ingested {predictions:,} batch predictions and "
            f"{labels:,} labels; {sent} alert email(s) written"
        )
        for line in self._new_runs() + self._new_jobs():
            self.say("    " + line)

    def _new_runs(self) -> list[str]:
        with session_scope(self.engine) as session:
            runs = session.scalars(
                select(Run)
                .where(Run.id > self._shown_run)
                .order_by(Run.window_start, Run.deployment_id, Run.id)
            ).all()
            names = dict(session.execute(select(Deployment.id, Deployment.name)).all())
            self._shown_run = max([run.id for run in runs], default=self._shown_run)
            return [describe_run(run, names[run.deployment_id], self.plan) for run in runs]

    def _new_jobs(self) -> list[str]:
        with session_scope(self.engine) as session:
            jobs = session.scalars(
                select(RetrainJob).where(RetrainJob.id > self._shown_job).order_by(RetrainJob.id)
            ).all()
            self._shown_job = max([job.id for job in jobs], default=self._shown_job)
            return [describe_job(job) for job in jobs]


def describe_run(run: Run, deployment: str, plan: Plan) -> str:
    day = (run.window_start - plan.first_day).days + 1
    head = f"{deployment:<13} day {day:>2} {run.kind:<8}"
    if run.status != "ok":
        return f"{head} {run.status} ({run.rows or 0} rows) {run.error or ''}".rstrip()
    parts = []
    if run.kind == "monitor":
        drifted = [name for name, entry in (run.features or {}).items() if entry.get("drifted")]
        parts.append(
            f"drift {run.drift_share or 0:.0%}" + (f" ({', '.join(drifted)})" if drifted else "")
        )
    if (run.performance or {}).get("accuracy") is not None:
        parts.append(f"accuracy {run.performance['accuracy']:.2f} ({run.labeled_rows:,} labels)")
    elif (run.estimated_performance or {}).get("accuracy") is not None:
        parts.append(f"estimated accuracy {run.estimated_performance['accuracy']:.2f}")
    acted = [b for b in run.breaches or [] if b.get("acted")]
    held = [b for b in run.breaches or [] if not b.get("acted")]
    if acted:
        parts.append("ACTED ON: " + "; ".join(b["message"] for b in acted))
    if held:
        reasons = sorted({b.get("held") or "held" for b in held})
        parts.append(f"waiting ({', '.join(reasons)}): " + "; ".join(b["message"] for b in held))
    return f"{head} " + " · ".join(parts)


def describe_job(job: RetrainJob) -> str:
    evaluation = job.evaluation or {}
    head = f"retrain job {job.id} ({job.trigger}): {job.status}"
    if job.decision == "promoted":
        return (
            f"{head}, version {evaluation.get('challenger_version')} PROMOTED — "
            f"{evaluation.get('reason')}"
        )
    return f"{head}, {job.decision}: {evaluation.get('reason') or job.error or ''}".rstrip(": ")


def predictions_by_deployment(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as session:
        rows = session.execute(
            select(Deployment.name, func.count(Prediction.id))
            .join(Prediction, Prediction.deployment_id == Deployment.id, isouter=True)
            .group_by(Deployment.name)
        ).all()
    return {name: count for name, count in rows}
