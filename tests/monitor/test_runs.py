"""Monitoring runs: Evidently's and scikit-learn's own numbers, exactly-once windows,
empty windows, stale claims, deterministic sampling."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta

import orjson
import pytest
from click.testing import CliRunner
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
from sklearn import metrics as skm
from sqlalchemy import select

from monitor.cli import main
from monitor.runs.job import monitor_deployment
from monitor.runs.window import load_window
from monitor.store import session_scope
from monitor.store.models import Event, MetricPoint, Model, Run
from monitor.timeutil import utcnow
from tests.factories import CHURN_CATEGORICAL, CHURN_NUMERICAL, churn_frame
from tests.monitor.runs_support import DAY, HOUR, NOW, add_window, deploy, runs_of

FEATURES = [*CHURN_NUMERICAL, *CHURN_CATEGORICAL]


def evidently_scores(reference, current) -> dict[str, float]:
    definition = DataDefinition(
        numerical_columns=CHURN_NUMERICAL, categorical_columns=[*CHURN_CATEGORICAL, "prediction"]
    )
    columns = [*FEATURES, "prediction"]
    snapshot = Report([DataDriftPreset(columns=columns)]).run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    scores = {}
    for metric in snapshot.dict()["metrics"]:
        if metric["config"]["type"].endswith(":ValueDrift"):
            scores[metric["config"]["column"]] = (metric["value"], metric["config"]["method"])
    return scores


def test_stored_numbers_are_evidentlys_and_scikit_learns(engine):
    reference = churn_frame(2000)
    deployment_id = deploy(engine, reference=reference)
    current = churn_frame(400, seed=3, shift=0.4)
    add_window(engine, deployment_id, DAY, current, "a", labels=True)

    passed = monitor_deployment(engine, "churn-online", DAY, DAY + HOUR, report_rows=400)

    (run,) = [run for run in runs_of(engine, deployment_id) if run.id in passed.runs]
    assert run.status == "ok" and run.rows == 400 and not run.sampled and run.sampled_from == 400
    expected = evidently_scores(reference, current)
    for name in FEATURES:
        assert run.features[name]["score"] == pytest.approx(expected[name][0], rel=1e-9, abs=1e-12)
    assert run.features["tenure"]["method"] == "wasserstein" and run.features["tenure"]["drifted"]
    assert run.prediction_drift["score"] == pytest.approx(expected["prediction"][0], rel=1e-9)
    assert run.drift_share == sum(entry["drifted"] for entry in run.features.values()) / 4
    truth, predicted = current["churned"], current["prediction"]
    assert run.labeled_rows == 400
    assert run.performance["accuracy"] == pytest.approx(skm.accuracy_score(truth, predicted))
    assert run.performance["f1"] == pytest.approx(skm.f1_score(truth, predicted, zero_division=0))
    assert run.performance["recall"] == pytest.approx(skm.recall_score(truth, predicted))
    assert run.performance["roc_auc"] == pytest.approx(
        skm.roc_auc_score(truth, current["probability"])
    )
    snapshot = orjson.loads(gzip.decompress(run.snapshot))
    assert snapshot["metadata"]["current_rows"] == "400" and run.report_rows == 400
    with session_scope(engine) as session:
        points = {
            (point.metric, point.column): point.value
            for point in session.scalars(select(MetricPoint).where(MetricPoint.run_id == run.id))
        }
    assert points[("drift_score", "tenure")] == run.features["tenure"]["score"]
    assert points[("performance.f1", "")] == run.performance["f1"]
    assert points[("rows", "")] == 400


def test_rerunning_the_monitor_does_nothing_new(engine):
    deployment_id = deploy(engine)
    add_window(engine, deployment_id, DAY, churn_frame(120, seed=1), "a")
    add_window(engine, deployment_id, DAY + HOUR, churn_frame(120, seed=2), "b")

    first = monitor_deployment(engine, "churn-online", now=DAY + 2 * HOUR, report_rows=0)
    second = monitor_deployment(engine, "churn-online", now=DAY + 2 * HOUR, report_rows=0)

    assert len(first.runs) == 2 and second.runs == []
    assert [run.status for run in runs_of(engine, deployment_id)] == ["ok", "ok"]


def test_empty_and_thin_windows_are_recorded_with_events(sqlite_url):
    from monitor.store import get_engine

    engine = get_engine(sqlite_url)
    deployment_id = deploy(engine, min_rows=50)
    add_window(engine, deployment_id, DAY, churn_frame(120), "a")
    add_window(engine, deployment_id, DAY + 2 * HOUR, churn_frame(10, seed=1), "c")

    monitor_deployment(engine, "churn-online", now=DAY + 3 * HOUR, report_rows=0)

    statuses = [(run.window_start, run.status, run.rows) for run in runs_of(engine, deployment_id)]
    assert statuses == [
        (DAY, "ok", 120),
        (DAY + HOUR, "no_data", 0),
        (DAY + 2 * HOUR, "insufficient_data", 10),
    ]
    with session_scope(engine) as session:
        types = sorted(session.scalars(select(Event.type)))
    assert types == ["insufficient_data", "no_data"]


def test_a_stale_claim_is_taken_over_and_a_live_one_is_left_alone(sqlite_url):
    from monitor.store import get_engine

    engine = get_engine(sqlite_url)
    deployment_id = deploy(engine)
    add_window(engine, deployment_id, DAY, churn_frame(100), "a")
    add_window(engine, deployment_id, DAY + HOUR, churn_frame(100, seed=1), "b")
    with session_scope(engine) as session:
        for start, lease in ((DAY, -60), (DAY + HOUR, 600)):
            session.add(
                Run(
                    deployment_id=deployment_id,
                    window_start=start,
                    window_end=start + HOUR,
                    kind="monitor",
                    status="running",
                    claimed_by="crashed-worker",
                    lease_until=utcnow() + timedelta(seconds=lease),
                    attempts=1,
                )
            )

    passed = monitor_deployment(engine, "churn-online", now=DAY + 2 * HOUR, report_rows=0)

    stale, live = runs_of(engine, deployment_id)
    assert passed.runs == [stale.id]
    assert stale.status == "ok" and stale.attempts == 2 and stale.claimed_by != "crashed-worker"
    assert live.status == "running" and live.claimed_by == "crashed-worker"


def test_a_large_window_is_sampled_in_the_database_the_same_way_every_time(engine):
    deployment_id = deploy(engine, max_rows=200)
    add_window(engine, deployment_id, DAY, churn_frame(1000, seed=4), "a")

    monitor_deployment(engine, "churn-online", DAY, DAY + HOUR, report_rows=0)

    (run,) = runs_of(engine, deployment_id)
    assert run.sampled and run.rows == 200 and run.sampled_from == 1000
    assert run.reference_rows == 200  # the reference is capped per side too
    with session_scope(engine) as session:
        model = session.scalars(select(Model)).one()
        first = load_window(session, model, deployment_id, DAY, DAY + HOUR, 200)
        again = load_window(session, model, deployment_id, DAY, DAY + HOUR, 200)
    assert len(first.frame) == 200 and first.frame.equals(again.frame)


def test_runs_json_lists_what_the_spec_promises(sqlite_url):
    from monitor.store import get_engine

    engine = get_engine(sqlite_url)
    deployment_id = deploy(engine, policy={"drift_share": 0.5})
    add_window(engine, deployment_id, DAY, churn_frame(150, shift=1.0), "a")
    monitor_deployment(engine, "churn-online", now=NOW, report_rows=0)

    result = CliRunner().invoke(main, ["runs", "churn-online", "--json"])

    assert result.exit_code == 0, result.output
    runs = json.loads(result.output)["runs"]
    ok = next(run for run in runs if run["status"] == "ok")
    for key in ("window_start", "window_end", "kind", "rows", "reference_rows", "sampled_from"):
        assert key in ok
    assert set(ok["features"]["tenure"]) >= {"score", "method", "threshold", "drifted"}
    assert ok["drift_share"] == 0.5 and ok["breaches"][0]["rule"] == "drift_share"
    assert ok["estimated_performance"]["estimate"] is True
    metrics = ok["estimated_performance"]["metrics"]
    assert metrics and all(isinstance(value, float) for value in metrics.values())
    assert len(runs) == 24  # the day's other windows are recorded as no_data


def test_a_deferred_report_describes_the_first_rows_of_the_sample(sqlite_url):
    from monitor.report.evidently_report import load_snapshot
    from monitor.runs.reports import build_pending_reports
    from monitor.store import get_engine

    engine = get_engine(sqlite_url)
    deployment_id = deploy(engine, max_rows=200)
    add_window(engine, deployment_id, DAY, churn_frame(1000, seed=4), "a")
    monitor_deployment(engine, "churn-online", DAY, DAY + HOUR, report_rows=0)
    assert runs_of(engine, deployment_id)[0].snapshot is None

    assert build_pending_reports(engine, rows=100) == 1
    assert build_pending_reports(engine, rows=100) == 0

    (run,) = runs_of(engine, deployment_id)
    assert run.report_rows == 100
    snapshot = load_snapshot(run.snapshot)
    assert "first 100 rows by sample key of 1000" in snapshot.dump_dict()["metadata"]["rows"]
    assert "<html" in snapshot.get_html_str(as_iframe=False)[:2000].lower()
