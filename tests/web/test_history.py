"""The history pages tell the truth at a glance: drift up for every method, the policy's
metric first with its threshold, a timeline of what happened, versions by number, the
realized metric before the estimate, times with their zone, per-class results."""

from __future__ import annotations

import json
import math
import re

import pytest
from sqlalchemy import select

from monitor.store import get_engine, session_scope
from monitor.store.models import Run
from tests.web.history_support import DRIFTED, QUIET, add_story
from web.charts import drift_strength


def chart_data(page: str) -> dict:
    raw = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.S)
    return json.loads(raw.group(1))


def test_drift_strength_is_up_for_more_drift_with_the_threshold_at_one():
    assert drift_strength(0.05, "K-S p_value", 0.05) == pytest.approx(1.0)
    assert drift_strength(0.0025, "K-S p_value", 0.05) == pytest.approx(2.0)
    assert drift_strength(1.0, "chi-square p_value", 0.05) == 0.0
    assert drift_strength(1e-45, "K-S p_value", 0.05) > drift_strength(0.01, "ks", 0.05) > 1
    assert drift_strength(0.0, "Z-test p_value", 0.05) == pytest.approx(
        math.log(1e-300) / math.log(0.05)
    )
    assert drift_strength(0.3, "Wasserstein distance (normed)", 0.1) == pytest.approx(3.0)
    assert drift_strength(0.05, "Jensen-Shannon distance", 0.1) == pytest.approx(0.5)
    assert drift_strength(None, "ks", 0.05) is None


def test_the_feature_chart_shows_the_drifted_features_of_a_p_value_case(admin, sqlite_url):
    add_story(sqlite_url)
    charts = chart_data(admin.get("/deployments/churn-story").get_data(as_text=True))
    features = {entry["name"]: entry for entry in charts["drift_score"]}
    ranked = [entry["name"] for entry in charts["drift_score"]]
    assert ranked[:2] == list(DRIFTED)  # p = 1e-45 and 1e-12 first, not the p = 0.9 ones
    assert set(ranked) == {*DRIFTED, *QUIET}
    peak = max(value for _, value in features["tenure"]["points"])
    assert peak == pytest.approx(math.log(1e-45) / math.log(0.05))
    assert max(value for _, value in features["region"]["points"]) < 1
    assert "tenure: K-S p_value 1e-45 (threshold 0.05, drifted)" in features["tenure"]["hover"]


def test_the_performance_chart_puts_the_policy_metric_first_and_keeps_its_history(
    admin, sqlite_url
):
    add_story(sqlite_url)  # its newest window has no data
    charts = chart_data(admin.get("/deployments/churn-story").get_data(as_text=True))
    performance = charts["performance"]
    assert performance["main"] == "accuracy" and performance["order"][0] == "accuracy"
    accuracy = performance["metrics"]["accuracy"]
    assert accuracy["label"] == "Accuracy" and accuracy["share"] is True
    assert accuracy["threshold"] == 0.8
    assert len(accuracy["realized"]) == 6 and len(accuracy["estimated"]) == 9
    assert performance["metrics"]["f1"]["label"] == "F1 score"


def test_the_timeline_marks_breach_alert_retrain_and_promotion(admin, sqlite_url):
    add_story(sqlite_url)
    marks = chart_data(admin.get("/deployments/churn-story").get_data(as_text=True))["marks"]
    labels = [mark["label"] for mark in marks]
    assert labels == ["drift breach", "alert sent (email)", "retrain requested", "v2 promoted"]
    assert [mark["time"] for mark in marks] == sorted(mark["time"] for mark in marks)


def test_runs_show_their_version_number_and_the_main_metric_is_realized_first(admin, sqlite_url):
    story = add_story(sqlite_url)
    page = admin.get("/deployments/churn-story").get_data(as_text=True)
    assert "<td>v2</td>" in page and "<td>v1</td>" in page
    # The newest measured window has no labels: its estimate, marked.
    assert "estimated accuracy 0.88 (estimate)" in page
    run = admin.get(f"/runs/{story['v2_run_id']}").get_data(as_text=True)
    assert "<th>Model version</th><td>v2</td>" in run
    overview = admin.get("/").get_data(as_text=True)
    assert "estimated accuracy 0.88 (estimate)" in overview
    with session_scope(get_engine(sqlite_url)) as session:
        newest = session.get(Run, story["run_ids"][8])
        newest.performance = {"accuracy": 0.93}
        newest.labeled_rows = 500
    overview = admin.get("/").get_data(as_text=True)
    assert "accuracy 0.93" in overview and "0.88 (estimate)" not in overview


def test_times_carry_their_zone_and_durations_read_as_words(admin, sqlite_url):
    story = add_story(sqlite_url, timezone="Europe/Berlin")
    page = admin.get("/deployments/churn-story").get_data(as_text=True)
    assert "window 1 hour, times in Europe/Berlin" in page
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d CET", page)
    charts = chart_data(page)
    assert charts["zone"] == "Europe/Berlin"
    run = admin.get(f"/runs/{story['run_ids'][0]}").get_data(as_text=True)
    assert "<td>1 hour</td>" in run and " CET" in run
    overview = admin.get("/").get_data(as_text=True)
    assert re.search(r"\d\d:\d\d CET", overview)
    events = admin.get("/events").get_data(as_text=True)
    assert re.search(r"\d\d:\d\d UTC", events)


def test_a_multiclass_run_with_labels_shows_per_class_metrics_and_a_confusion_matrix(
    admin, sqlite_url
):
    story = add_story(sqlite_url)
    with session_scope(get_engine(sqlite_url)) as session:
        run = session.get(Run, story["run_ids"][0])
        run.classes = {
            "labels": ["0", "1", "2"],
            "per_class": {
                label: {"precision": 0.5 + i / 10, "recall": 0.6, "f1": 0.55, "support": 10 + i}
                for i, label in enumerate(["0", "1", "2"])
            },
            "confusion": [[7, 2, 1], [1, 9, 1], [0, 3, 9]],
        }
    page = admin.get(f"/runs/{story['run_ids'][0]}").get_data(as_text=True)
    assert "<h2>Per class</h2>" in page and "<td>0.7</td>" in page
    assert (
        "<th>predicted 2</th>" in page and "<th>label 2</th><td>0</td><td>3</td><td>9</td>" in page
    )


def test_calendar_windows_read_as_words_on_the_deployment_page(admin, sqlite_url):
    add_story(sqlite_url)
    with session_scope(get_engine(sqlite_url)) as session:
        from monitor.store.models import Deployment

        deployment = session.scalars(
            select(Deployment).where(Deployment.name == "churn-story")
        ).one()
        deployment.window, deployment.timezone = "1mo", "Europe/Berlin"
    page = admin.get("/deployments/churn-story").get_data(as_text=True)
    assert "window 1 month (Europe/Berlin)" in page
