"""Decisions on evidence, through the public commands: `retrain --wait`, `jobs`, `status`,
the model page and `apply`."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from monitor.cli import main
from monitor.jobs import NO_DAEMON, request_retrain
from monitor.store import get_engine, session_scope
from monitor.store.models import Deployment, Event, Lease, Model, ModelVersion, RetrainJob
from monitor.timeutil import utcnow
from tests.retrain.support import log_traffic, make_model

EXAMPLE = Path(__file__).parents[2] / "examples" / "churn"
TIE = {"recipe": "tests.retrain.support:champion_recipe"}


def _run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _wait(*extra: str) -> tuple[int, dict, str]:
    result = CliRunner().invoke(
        main, ["retrain", "churn", "--wait", "--json", *extra], catch_exceptions=False
    )
    return result.exit_code, json.loads(result.stdout), result.stderr


def _events(engine, kind: str) -> list[Event]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Event).where(Event.type == kind)))


def test_a_clear_win_is_promoted_with_its_interval_recorded_everywhere(sqlite_url):
    engine = get_engine(sqlite_url)
    make_model(engine, {"min_holdout_rows": 200})
    log_traffic(engine, 800, shift=1.5)

    code, job, _ = _wait()
    assert code == 0 and (job["status"], job["decision"]) == ("succeeded", "promoted")
    evaluation = job["evaluation"]
    low, high = evaluation["improvement_interval"]
    assert 0 < low < evaluation["improvement"] < high
    assert (evaluation["confidence"], evaluation["resamples"]) == (0.95, 1000)
    assert f"95% interval [{low:+.4f}, {high:+.4f}]" in evaluation["reason"]

    listed = json.loads(_run("jobs", "churn", "--json").output)
    assert listed[0]["evaluation"]["improvement_interval"] == [low, high]
    assert "95% interval" in _run("jobs", "churn").output
    (event,) = _events(engine, "retrain.promoted")
    assert event.data["improvement_interval"] == [low, high]
    assert event.data["confidence"] == 0.95 and event.data["resamples"] == 1000
    assert "95% interval" in event.title

    from tests.web.conftest import build_app
    from web.auth import create_token

    app = build_app(sqlite_url)
    with session_scope(engine) as session:
        token = create_token(session, "reader")
    api = app.test_client().get(
        f"/api/v1/jobs/{job['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 200
    assert api.json["evaluation"]["improvement_interval"] == [low, high]
    assert api.json["evaluation"]["resamples"] == 1000
    page = _model_page(app)
    assert f"95% interval [{low:+.4f}, {high:+.4f}] over 1000 resamples" in page


def test_a_tie_is_rejected_as_not_shown_to_be_better_and_exits_3(sqlite_url):
    engine = get_engine(sqlite_url)
    make_model(engine, TIE)
    log_traffic(engine, 800, shift=1.5)

    code, job, stderr = _wait()
    assert code == 3 and (job["status"], job["decision"]) == ("rejected", "rejected")
    evaluation = job["evaluation"]
    assert evaluation["improvement"] == 0 and evaluation["improvement_interval"] == [0.0, 0.0]
    assert "not shown to be better" in evaluation["reason"]
    assert "improvement +0.0000, 95% interval [+0.0000, +0.0000]" in evaluation["reason"]
    assert "rejected" in stderr
    with session_scope(engine) as session:
        assert {d.active_version_id for d in session.scalars(select(Deployment))} == {
            session.scalar(select(ModelVersion.id).where(ModelVersion.version == 1))
        }


def test_confidence_zero_decides_on_the_point_estimate_as_before(sqlite_url):
    engine = get_engine(sqlite_url)
    make_model(engine, {**TIE, "confidence": 0})
    log_traffic(engine, 800, shift=1.5)

    code, job, _ = _wait()
    assert code == 0 and job["decision"] == "promoted"
    assert job["evaluation"]["improvement_interval"] is None
    assert "meets 0.0" in job["evaluation"]["reason"]


def test_a_straddling_interval_is_rejected_even_with_a_positive_improvement(sqlite_url):
    engine = get_engine(sqlite_url)
    make_model(engine)
    log_traffic(engine, 600, shift=1.5)  # 150 holdout rows, few of them negatives

    code, job, _ = _wait()
    evaluation = job["evaluation"]
    low, high = evaluation["improvement_interval"]
    assert evaluation["improvement"] > 0 and low < 0 < high
    assert code == 3 and job["decision"] == "rejected"
    assert evaluation["reason"].endswith("not shown to be better (lower bound below 0.0)")


def test_a_holdout_below_min_holdout_rows_fails_the_job_and_exits_4(sqlite_url):
    engine = get_engine(sqlite_url)
    make_model(engine, {"min_holdout_rows": 200})
    log_traffic(engine, 600, shift=2.0)

    code, job, stderr = _wait()
    assert code == 4 and job["status"] == "failed"
    assert "holdout of 150 rows" in job["error"] and "min_holdout_rows 200" in job["error"]
    assert "min_holdout_rows 200" in stderr


def test_wait_runs_the_pending_job_a_policy_asked_for(sqlite_url):
    engine = get_engine(sqlite_url)
    model_id = make_model(engine)
    log_traffic(engine, 600, shift=2.0)
    with session_scope(engine) as session:
        pending = request_retrain(session, model_id, "policy", "breach:7", reason="drift")
        session.flush()
        pending_id = pending.id

    code, job, _ = _wait()
    assert code == 0 and job["id"] == pending_id and job["trigger"] == "policy"
    with session_scope(engine) as session:
        assert len(session.scalars(select(RetrainJob)).all()) == 1


def test_training_counts_back_from_the_newest_labeled_prediction(sqlite_url):
    engine = get_engine(sqlite_url)
    make_model(engine, {"training_window": "7d"})
    replayed = utcnow() - timedelta(days=60)
    log_traffic(engine, 600, shift=2.0, start=replayed)

    code, job, _ = _wait()
    assert code == 0, job["error"]
    assert job["evaluation"]["training"]["labeled_rows"] == 600

    with session_scope(engine) as session:
        model = session.get(RetrainJob, job["id"]).model_id
    with session_scope(engine) as session:
        from monitor.store.models import Model

        row = session.get(Model, model)
        row.retrain = {**row.retrain, "training_window_from": "now"}
    code, job, _ = _wait("--key", "clock")
    assert code == 4 and "0 labeled rows since" in job["error"]


def test_pending_jobs_without_a_daemon_are_named_by_status_and_the_model_page(sqlite_url):
    engine = get_engine(sqlite_url)
    model_id = make_model(engine)
    with session_scope(engine) as session:
        job = request_retrain(session, model_id, "policy", "breach:1")
        session.flush()
        job.created_at = utcnow() - timedelta(hours=3)

    report = json.loads(_run("status", "--json").output)
    (pending,) = report["pending_retrain_jobs"]
    assert pending["model"] == "churn" and 3 * 3600 <= pending["age_seconds"] < 3 * 3600 + 60
    assert report["unattended"] == NO_DAEMON
    text = _run("status").output
    assert "(churn, policy): pending for 3h" in text and NO_DAEMON in text

    from tests.web.conftest import build_app

    app = build_app(sqlite_url)
    assert "no daemon is running: start `driftwise run` or `driftwise daemon`" in _model_page(app)

    with session_scope(engine) as session:
        session.add(
            Lease(name="scheduler", holder="d1", expires_at=utcnow() + timedelta(minutes=1))
        )
    assert json.loads(_run("status", "--json").output)["unattended"] is None
    assert NO_DAEMON not in _model_page(app)


def _model_page(app) -> str:
    from tests.web.conftest import ADMIN, login

    client = app.test_client()
    assert login(client, ADMIN).status_code == 302
    response = client.get("/models/churn")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def apply_example(tmp_path, line: str, changed: str):
    folder = tmp_path / "spec"
    folder.mkdir()
    for name in ("churn.skops", "reference.csv"):
        shutil.copy(EXAMPLE / name, folder / name)
    text = (EXAMPLE / "spec.toml").read_text()
    assert line in text
    (folder / "spec.toml").write_text(text.replace(line, changed, 1))
    return CliRunner().invoke(main, ["apply", str(folder / "spec.toml")])


@pytest.mark.parametrize(
    ("line", "wrong"),
    [
        ('metric = "roc_auc"', 'metric = "auc"'),
        (
            'performance = { metric = "f1", min = 0.3 }',
            'performance = { metric = "auc", min = 0.3 }',
        ),
        (
            'cooldown = "6h"',
            'cooldown = "6h"\nestimated_performance = { metric = "r2", min = 0.3 }',
        ),
    ],
)
def test_apply_refuses_a_metric_the_task_does_not_have(db_url, tmp_path, line, wrong):
    result = apply_example(tmp_path, line, wrong)
    assert result.exit_code == 2
    metric = "r2" if "r2" in wrong else "auc"
    assert f"metric: unknown classification metric {metric!r}" in result.stderr
    assert "(known: accuracy, precision, recall, f1, roc_auc)" in result.stderr
    with session_scope() as session:
        assert session.scalars(select(ModelVersion)).all() == []


def test_apply_keeps_the_evidence_settings_given(db_url, tmp_path):
    line = "min_improvement = 0.0"
    given = apply_example(tmp_path, line, f"{line}\nconfidence = 0.99\nmin_holdout_rows = 50")
    assert given.exit_code == 0, given.output
    with session_scope() as session:
        retrain = session.scalars(select(Model)).one().retrain
    assert (retrain["confidence"], retrain["min_holdout_rows"]) == (0.99, 50)


def test_apply_stores_the_evidence_defaults(db_url, tmp_path):
    line = "min_improvement = 0.0"
    assert apply_example(tmp_path, line, line).exit_code == 0
    with session_scope() as session:
        retrain = session.scalars(select(Model)).one().retrain
    assert (retrain["confidence"], retrain["min_holdout_rows"]) == (0.95, 200)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("confidence = 1", "confidence: must be at least 0 and below 1, got 1"),
        ("confidence = -0.5", "confidence: must be at least 0 and below 1, got -0.5"),
        ('confidence = "high"', "confidence: expected"),
        ("min_holdout_rows = 0", "min_holdout_rows: must be at least 1"),
        ("min_holdout_rows = 2.5", "min_holdout_rows: expected an integer"),
    ],
)
def test_apply_refuses_evidence_settings_out_of_range(db_url, tmp_path, setting, message):
    line = "min_improvement = 0.0"
    result = apply_example(tmp_path, line, f"{line}\n{setting}")
    assert result.exit_code == 2
    assert message in result.stderr
    with session_scope() as session:
        assert session.scalars(select(ModelVersion)).all() == []


def test_a_canary_no_better_than_the_champion_is_rejected_with_its_interval(sqlite_url):
    from monitor.demo.sample_data import CATEGORICAL, NUMERICAL, churn_frame
    from monitor.ingest.records import validate_label
    from monitor.ingest.store import insert_labels
    from monitor.registry.artifacts import dump_artifact
    from monitor.store.models import Model
    from retrain import serving
    from retrain.canary import decide_all, start_canary
    from retrain.upload import upload_version
    from tests.retrain import support

    engine = get_engine(sqlite_url)
    model_id = make_model(engine, {"canary_min_labeled": 30}, batch=False)
    same, _ = support.fitted()  # the champion's very pipeline, trained again
    with session_scope(engine) as session:
        model = session.get(Model, model_id)
        candidate = upload_version(session, model, dump_artifact(same))
        start_canary(session, model, candidate, 0.5)
    frame = churn_frame(300, seed=31)
    ids = [f"c-{n}" for n in range(300)]
    serving.predict(engine, "churn-online", frame[NUMERICAL + CATEGORICAL].to_dict("records"), ids)
    labels = [
        validate_label({"request_id": rid, "label": int(y)})
        for rid, y in zip(ids, frame["churned"], strict=True)
    ]
    with engine.begin() as connection:
        insert_labels(connection, support.deployment_id(engine), labels)

    assert decide_all(engine) == {"churn-online": "rejected"}
    (event,) = _events(engine, "canary.rejected")
    low, high = event.data["improvement_interval"]
    assert low < 0 < high and event.data["confidence"] == 0.95
    assert "not shown to be better" in event.title


def test_a_multiclass_canary_decides_on_macro_roc_auc_of_the_logged_probabilities(sqlite_url):
    """Each version's logged class probabilities give its realized macro one-vs-rest ROC AUC
    and the interval of the candidate's improvement; a clearly better candidate wins."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from monitor.ingest.records import ModelSchema, validate_label, validate_prediction
    from monitor.ingest.store import insert_labels, insert_predictions
    from retrain.canary import decide_all
    from tests import factories

    engine = get_engine(sqlite_url)
    retrain = {"metric": "roc_auc", "canary_min_labeled": 100, "min_improvement": 0.0}
    with session_scope(engine) as session:
        reference = factories.churn_frame(50)
        champion = factories.make_model(session, "tri", reference, retrain=retrain)
        candidate = factories.add_version(session, champion.model_id, 2)
        deployment = factories.serve_version(session, champion, "tri-online")
        deployment.candidate_version_id, deployment.canary_share = candidate.id, 0.5
        versions, target = {1: champion.id, 2: candidate.id}, deployment.id
    rng = np.random.default_rng(5)
    truth = rng.choice(["a", "b", "c"], 600)
    sharpness = np.where(np.arange(600) % 2, 0.5, 3.0)  # even rows: the candidate, sharper
    logits = rng.normal(0, 1, (600, 3)) + sharpness[:, None] * (truth[:, None] == list("abc"))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    schema = ModelSchema(tuple(factories.CHURN_NUMERICAL), tuple(factories.CHURN_CATEGORICAL))
    features = reference[list(schema.numerical + schema.categorical)].iloc[0].to_dict()
    start = utcnow() - timedelta(hours=1)
    records = [
        validate_prediction(
            {
                "request_id": f"m-{n}",
                "timestamp": start + timedelta(seconds=n),
                "features": features,
                "prediction": "abc"[int(probabilities[n].argmax())],
                "probabilities": dict(zip("abc", probabilities[n].tolist(), strict=True)),
                "model_version": 2 - n % 2,  # the candidate first: the canary began
            },
            schema,
        )
        for n in range(600)
    ]
    labels = [validate_label({"request_id": f"m-{n}", "label": truth[n]}) for n in range(600)]
    with engine.begin() as connection:
        insert_predictions(connection, target, records, version_ids=versions)
        insert_labels(connection, target, labels)

    assert decide_all(engine) == {"tri-online": "promoted"}
    (event,) = _events(engine, "canary.promoted")
    for side, rows in (("champion", slice(1, None, 2)), ("candidate", slice(0, None, 2))):
        expected = roc_auc_score(truth[rows], probabilities[rows], multi_class="ovr")
        assert event.data[side] == pytest.approx(expected, abs=1e-12)
    low, high = event.data["improvement_interval"]
    assert 0 < low < event.data["improvement"] < high and event.data["resamples"] == 1000
