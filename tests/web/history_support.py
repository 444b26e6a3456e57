"""A deployment's story for the history pages: p-value drift in two features, a breach
alerted, a retrain, v2 promoted, recovery, and a newest window without data."""

from __future__ import annotations

from datetime import timedelta

from monitor.store import get_engine, session_scope
from monitor.store.models import Event, ModelVersion, Notification, Run
from monitor.timeutil import utcnow
from tests.factories import add_version, make_deployment

POLICY = {"drift_share": 0.5, "performance": {"metric": "accuracy", "min": 0.8}}
DRIFTED = ("tenure", "charges")  # the features whose p-values collapse
QUIET = ("plan", "region")


def _features(drifting: bool) -> dict:
    features = {}
    for name in DRIFTED:
        score = (1e-45 if name == "tenure" else 1e-12) if drifting else 0.6
        features[name] = {"score": score, "method": "K-S p_value", "threshold": 0.05}
        features[name]["drifted"] = drifting
    for name, score in zip(QUIET, (0.35, 0.9), strict=True):
        features[name] = {
            "score": score,
            "method": "chi-square p_value",
            "threshold": 0.05,
            "drifted": False,
        }
    return features


def add_story(url: str, name: str = "churn-story", timezone: str | None = None) -> dict:
    """Ten hourly windows; returns the ids and times a test checks."""
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    with session_scope(get_engine(url)) as session:
        deployment = make_deployment(session, name=name, policy=POLICY)
        deployment.timezone = timezone
        v1 = session.get(ModelVersion, deployment.active_version_id)
        v2 = add_version(session, deployment.model_id, 2, b"v2", "champion", v1.id)
        runs = []
        for index in range(10):
            start = now - timedelta(hours=10 - index)
            drifting = index in (4, 5, 6)
            labeled = index <= 5
            run = Run(
                deployment_id=deployment.id,
                window_start=start,
                window_end=start + timedelta(hours=1),
                kind="monitor",
                status="ok" if index < 9 else "no_data",
                model_version_id=v2.id if index >= 7 else v1.id,
                rows=500 if index < 9 else 0,
                sampled_from=500 if index < 9 else 0,
                labeled_rows=500 if labeled else 0,
                drift_share=(0.5 if drifting else 0.0) if index < 9 else None,
                features=_features(drifting) if index < 9 else {},
                performance={"accuracy": 0.7 if drifting else 0.9, "f1": 0.6} if labeled else {},
                estimated_performance={"accuracy": 0.88} if index < 9 else {},
                breaches=[
                    {"rule": "drift_share", "type": "drift", "message": "50% drifted"},
                ]
                if drifting
                else [],
            )
            session.add(run)
            session.flush()
            runs.append(run)
        breach = _event(session, deployment, "drift", runs[4], f"{name}: 50% of features drifted")
        session.add(
            Notification(
                event_id=breach.id,
                channel="email",
                target="ml@example.com",
                status="sent",
                attempts=1,
                sent_at=runs[4].window_end + timedelta(minutes=6),
            )
        )
        _event(session, deployment, "retrain.requested", runs[5], f"{name}: retrain requested")
        promoted = Event(
            type="retrain.promoted",
            severity="info",
            dedup_key=f"story:promoted:{name}",
            model_id=deployment.model_id,
            title=f"{name}-model version 2: promoted — accuracy 0.91 vs 0.70",
            created_at=runs[6].window_end + timedelta(minutes=20),
        )
        session.add(promoted)
        session.flush()
        return {
            "deployment_id": deployment.id,
            "run_ids": [run.id for run in runs],
            "v2_run_id": runs[8].id,
        }


def _event(session, deployment, kind: str, run: Run, title: str) -> Event:
    event = Event(
        type=kind,
        severity="warning",
        dedup_key=f"story:{kind}:{deployment.name}",
        deployment_id=deployment.id,
        model_id=deployment.model_id,
        run_id=run.id,
        title=title,
        created_at=run.window_end + timedelta(minutes=5),
    )
    session.add(event)
    session.flush()
    return event
