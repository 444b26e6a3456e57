"""Policy: breaches become events and retrain requests, held by `consecutive` and the
cooldown, never asked twice for the same breach."""

from __future__ import annotations

from sqlalchemy import select

from monitor.jobs import request_retrain
from monitor.runs.job import monitor_deployment
from monitor.store import get_engine, session_scope
from monitor.store.models import Event, Model, RetrainJob
from tests.factories import churn_frame
from tests.monitor.runs_support import DAY, HOUR, add_window, deploy, runs_of

DRIFTED, CLEAR = 1.0, 0.0


def traffic(engine, deployment_id: int, pattern: list[float]) -> None:
    for index, shift in enumerate(pattern):
        frame = churn_frame(150, seed=10 + index, shift=shift)
        add_window(engine, deployment_id, DAY + index * HOUR, frame, f"w{index}")


def drift_events(engine) -> list[str]:
    with session_scope(engine) as session:
        events = session.scalars(select(Event).where(Event.type == "drift").order_by(Event.id))
        return [event.data["window_start"][11:16] for event in events]


def monitor(engine, windows: int) -> None:
    monitor_deployment(engine, "churn-online", now=DAY + windows * HOUR, report_rows=0)


def test_flapping_does_not_act_before_consecutive_breaches(sqlite_url):
    engine = get_engine(sqlite_url)
    policy = {"drift_share": 0.5, "consecutive": 2}
    deployment_id = deploy(engine, policy=policy)
    traffic(engine, deployment_id, [DRIFTED, CLEAR, DRIFTED, CLEAR, DRIFTED, DRIFTED])

    monitor(engine, 6)

    assert drift_events(engine) == ["05:00"]
    held = runs_of(engine, deployment_id)[4].breaches[0]
    assert held["acted"] is False and "1 of 2" in held["held"]
    assert runs_of(engine, deployment_id)[1].breaches == []


def test_cooldown_holds_repeated_breaches(sqlite_url):
    engine = get_engine(sqlite_url)
    policy = {"drift_share": 0.5, "cooldown": "2h"}
    deployment_id = deploy(engine, policy=policy)
    traffic(engine, deployment_id, [DRIFTED, DRIFTED, CLEAR, DRIFTED, DRIFTED])

    monitor(engine, 5)

    # 00:00 acts; 01:00 is within 2h of it; 03:00 is 3h later and acts; 04:00 is held again.
    assert drift_events(engine) == ["00:00", "03:00"]
    assert "cooldown" in runs_of(engine, deployment_id)[1].breaches[0]["held"]


def test_a_breach_with_retrain_asks_once_with_a_key_from_the_breach(sqlite_url):
    engine = get_engine(sqlite_url)
    policy = {"drift_share": 0.5, "features": {"tenure": 0.2}, "actions": ["alert", "retrain"]}
    deployment_id = deploy(engine, policy=policy)
    traffic(engine, deployment_id, [DRIFTED])

    monitor(engine, 1)
    monitor(engine, 1)

    with session_scope(engine) as session:
        jobs = list(session.scalars(select(RetrainJob)))
        events = sorted(session.scalars(select(Event.type)))
    assert [job.idempotency_key for job in jobs] == [f"policy:{deployment_id}:2026-01-05T00:00:00"]
    assert jobs[0].trigger == "policy" and jobs[0].status == "pending"
    # drift share and tenure, and the window's one announcement of both
    assert events == ["drift", "drift", "retrain.requested", "window.breached"]
    (run,) = runs_of(engine, deployment_id)
    assert {entry["rule"] for entry in run.breaches} == {"drift_share", "feature:tenure"}
    assert all(entry["retrain_job_id"] == jobs[0].id for entry in run.breaches)


def test_performance_and_quality_rules(sqlite_url):
    engine = get_engine(sqlite_url)
    policy = {
        "performance": {"metric": "accuracy", "min": 0.99},
        "estimated_performance": {"metric": "accuracy", "max_drop": 0.0},
        "missing_share": 0.1,
        "new_categories": True,
    }
    deployment_id = deploy(engine, policy=policy)
    frame = churn_frame(150, seed=5)
    frame.loc[:40, "charges"] = None
    frame.loc[:10, "plan"] = "enterprise"
    add_window(engine, deployment_id, DAY, frame, "a", labels=True)

    monitor(engine, 1)

    (run,) = runs_of(engine, deployment_id)
    rules = {entry["rule"]: entry for entry in run.breaches}
    assert rules["performance:accuracy"]["value"] == run.performance["accuracy"]
    assert "missing_share:charges" in rules and "new_categories:plan" in rules
    assert run.quality["plan"]["new_categories"] == ["enterprise"]
    assert all(entry["acted"] for entry in run.breaches)


def test_retrain_requests_are_idempotent_and_respect_the_cooldown(sqlite_url):
    engine = get_engine(sqlite_url)
    deploy(engine)
    with session_scope(engine) as session:
        model = session.scalars(select(Model)).one()
        model.retrain = {"cooldown": "24h"}
        first = request_retrain(session, model.id, "policy", "key-1")
        again = request_retrain(session, model.id, "policy", "key-1")
        held = request_retrain(session, model.id, "policy", "key-2")
        forced = request_retrain(session, model.id, "manual", "key-3", force=True)
        assert first.id == again.id and first.status == "pending"
        assert held.status == "skipped" and held.decision == "cooldown"
        assert forced.status == "pending"
