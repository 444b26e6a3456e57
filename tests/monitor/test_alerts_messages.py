"""What a window's message says Driftwise is doing, folding per incident within a rule's
cooldown, and retrain outcomes as messages of their own."""

from __future__ import annotations

from email import message_from_bytes, policy

from sqlalchemy import select

from monitor.events import emit
from monitor.notify.dispatch import dispatch_due
from monitor.runs.job import monitor_deployment
from monitor.store import get_engine, session_scope
from monitor.store.models import Deployment, Notification, RetrainJob
from tests.factories import add_version, churn_frame
from tests.monitor.notify_support import make_rule, make_settings
from tests.monitor.runs_support import DAY, HOUR, add_window, deploy


def _mails(folder) -> list:
    files = sorted(folder.glob("*.eml"))
    return [message_from_bytes(path.read_bytes(), policy=policy.default) for path in files]


def _text(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def _traffic(engine, deployment_id: int, shifts: list[float], labels: list[bool] | None = None):
    for index, shift in enumerate(shifts):
        frame = churn_frame(150, seed=60 + index, shift=shift)
        labeled = bool(labels and labels[index])
        add_window(engine, deployment_id, DAY + index * HOUR, frame, f"m{index}", labels=labeled)


def test_a_window_message_says_what_driftwise_is_doing(sqlite_url, tmp_path):
    engine = get_engine(sqlite_url)
    settings = make_settings(tmp_path, sqlite_url, (tmp_path / "mail").as_uri())
    policy_ = {"drift_share": 0.5, "consecutive": 2, "actions": ["alert", "retrain"]}
    deployment_id = deploy(engine, policy=policy_)
    with session_scope(engine) as session:
        make_rule(session, targets=["ml@example.com"])  # every event type
    _traffic(engine, deployment_id, [1.0, 1.0])

    monitor_deployment(engine, "churn-online", now=DAY + 2 * HOUR, report_rows=0)
    dispatch_due(settings=settings)

    with session_scope(engine) as session:
        (job,) = session.scalars(select(RetrainJob))
        job_id = job.id
    first, second = _mails(tmp_path / "mail")  # no separate mail for the retrain request
    assert "drift share  " in _text(first) and "waiting for 1 more breaching window" in _text(first)
    assert f"retrain job {job_id} requested" in _text(second)


def test_repeats_fold_per_incident_and_a_new_incident_is_sent(sqlite_url, tmp_path):
    engine = get_engine(sqlite_url)
    settings = make_settings(tmp_path, sqlite_url, (tmp_path / "mail").as_uri())
    policy_ = {"drift_share": 0.5, "performance": {"metric": "accuracy", "min": 0.99}}
    deployment_id = deploy(engine, policy=policy_)
    with session_scope(engine) as session:
        make_rule(session, targets=["ml@example.com"], config={"cooldown": "1d"})
    _traffic(engine, deployment_id, [1.0, 1.0, 1.0, 1.0], labels=[False, False, True, False])

    for hour in range(1, 5):
        monitor_deployment(engine, "churn-online", now=DAY + hour * HOUR, report_rows=0)
        dispatch_due(settings=settings)

    with session_scope(engine) as session:
        statuses = list(session.scalars(select(Notification.status).order_by(Notification.id)))
    # 00:00 drift opens; 01:00 repeats it; 02:00 adds performance; 03:00 repeats both.
    assert statuses == ["sent", "folded", "sent", "folded"]
    first, second = _mails(tmp_path / "mail")
    assert first["Subject"].startswith("[Driftwise] churn-online: drift (")
    assert "drift (" in second["Subject"] and "performance (accuracy)" in second["Subject"]
    assert "accuracy  " in _text(second) and "realized" in _text(second)
    assert "Since the last message: 1 more like it were folded" in _text(second)


def test_retrain_outcomes_are_messages_with_their_numbers_reason_or_error(sqlite_url, tmp_path):
    engine = get_engine(sqlite_url)
    settings = make_settings(tmp_path, sqlite_url, (tmp_path / "mail").as_uri())
    deploy(engine)
    with session_scope(engine) as session:
        make_rule(session, targets=["ml@example.com"], events=["retrain.*"])
        model_id = session.scalars(select(Deployment.model_id)).one()
        scores = {"metric": "roc_auc", "champion_score": 0.71, "challenger_score": 0.78}
        outcomes = [
            (
                "retrain.promoted",
                "churn-online-model version 2: promoted — roc_auc 0.78 beats 0.71",
                "info",
                {"decision": "promoted", "version": 2, **scores},
            ),
            (
                "retrain.rejected",
                "churn-online-model version 3: rejected — no improvement",
                "warning",
                {
                    "decision": "rejected",
                    "version": 3,
                    **scores,
                    "improvement": 0.07,
                    "improvement_interval": [-0.004, 0.15],
                    "confidence": 0.95,
                    "resamples": 1000,
                },
            ),
            (
                "retrain.failed",
                "retraining churn-online-model failed (job 3): TrainingRefused: 12 labeled rows",
                "warning",
                {"error": "TrainingRefused: 12 labeled rows, fewer than 200"},
            ),
        ]
        for job_id, (kind, title, severity, data) in enumerate(outcomes, start=1):
            key = f"{kind}:{job_id}"
            emit(
                session,
                kind,
                key,
                title,
                severity,
                model_id=model_id,
                retrain_job_id=job_id,
                data=data,
            )
    assert dispatch_due(settings=settings)["sent"] == 3

    promoted, rejected, failed = (_text(mail) for mail in _mails(tmp_path / "mail"))
    assert "Decision: promoted" in promoted and "roc_auc  0.71  0.78" in promoted
    assert "challenger v2" in promoted
    assert "rejected — no improvement" in rejected and "Decision: rejected" in rejected
    assert "Improvement: +0.07, 95% interval [-0.004, +0.15]" in rejected
    assert "Resamples: 1000" in rejected
    assert "Error: TrainingRefused: 12 labeled rows, fewer than 200" in failed
    assert "False" not in promoted + rejected + failed


def test_the_resolved_message_names_the_version_that_fixed_it(sqlite_url, tmp_path):
    from monitor.registry.reference import store_reference
    from monitor.registry.versions import promote

    engine = get_engine(sqlite_url)
    settings = make_settings(tmp_path, sqlite_url, (tmp_path / "mail").as_uri())
    deployment_id = deploy(engine, policy={"drift_share": 0.5})
    with session_scope(engine) as session:
        make_rule(session, targets=["ml@example.com"], events=["drift"])
    add_window(engine, deployment_id, DAY, churn_frame(150, 20, 1.0), "a")
    add_window(engine, deployment_id, DAY + HOUR, churn_frame(150, 22, 0.0), "b")
    monitor_deployment(engine, "churn-online", now=DAY + HOUR, report_rows=0)
    with session_scope(engine) as session:
        deployment = session.get(Deployment, deployment_id)
        version = add_version(session, deployment.model_id, 2, b"v2")
        store_reference(session, version, churn_frame(2000))
        for row in promote(session, version, reason="retrain"):
            row.at = DAY + HOUR  # served from the second window on
    monitor_deployment(engine, "churn-online", now=DAY + 2 * HOUR, report_rows=0)
    dispatch_due(settings=settings)

    breach, resolved = _mails(tmp_path / "mail")
    assert (
        resolved["Subject"] == "[Driftwise] churn-online: drift resolved — window 2026-01-05 01:00"
    )
    assert "What fixed it: v2 promoted" in _text(resolved)
    assert "Lasted: 1 hour, 1 breaching window(s)" in _text(resolved)
