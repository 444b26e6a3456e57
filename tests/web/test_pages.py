"""Pages render the history, escape what came from data, and show Evidently's report."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta

import orjson
import pytest

from monitor.advice.traffic import traffic, verdict
from tests.factories import churn_frame, churn_model
from tests.web.conftest import add_history


@pytest.fixture(scope="module")
def snapshot() -> bytes:
    """A real Evidently snapshot on small frames, stored as the runs table stores it."""
    from monitor.report.evidently_report import build_snapshot

    model = churn_model()
    blob = build_snapshot(
        model, churn_frame(300, seed=1), churn_frame(200, seed=2, shift=1.0), 300, {"run": "test"}
    )
    assert "metric_results" in orjson.loads(gzip.decompress(blob)) or blob
    return blob


def test_overview_shows_each_deployment_with_health_and_trend(admin, sqlite_url):
    add_history(sqlite_url, "churn-online", incident=True)
    add_history(sqlite_url, "churn-batch", windows=2, peak=0.3)
    page = admin.get("/").get_data(as_text=True)
    assert "churn-online" in page and "churn-batch" in page
    assert "h-drift" in page  # the newest churn-online window breached drift_share 0.5
    assert "h-healthy" in page  # churn-batch's newest window did not
    assert 'class="spark" data-points="[[&#34;' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page


def test_deployment_page_has_chart_data_runs_profile_and_escapes(admin, sqlite_url):
    add_history(sqlite_url)
    response = admin.get("/deployments/churn-online")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="chart-data"' in page and 'id="chart-drift-share"' in page
    assert "plotly.min.js" in page
    assert "drift &lt;i&gt;high&lt;/i&gt;" in page
    assert "Too few predictions" in page  # the profile's plain sentence
    assert "<b>evil" not in page


def test_a_page_beyond_the_last_shows_no_runs(admin, sqlite_url):
    add_history(sqlite_url)
    response = admin.get("/deployments/churn-online?page=" + "9" * 40)
    assert response.status_code == 200 and "No runs yet." in response.get_data(as_text=True)


def test_run_page_escapes_feature_names_and_frames_the_report(admin, sqlite_url, snapshot):
    _, run_id = add_history(sqlite_url, snapshot=snapshot)
    page = admin.get(f"/runs/{run_id}").get_data(as_text=True)
    assert "&lt;b&gt;evil&lt;/b&gt;" in page and "<b>evil</b>" not in page
    assert f'src="/runs/{run_id}/report"' in page
    assert 'sandbox="allow-scripts"' in page


def test_the_report_route_serves_evidently_html_sandboxed(admin, sqlite_url, snapshot):
    _, run_id = add_history(sqlite_url, snapshot=snapshot)
    response = admin.get(f"/runs/{run_id}/report")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" in html.lower() and "tenure" in html
    assert "sandbox allow-scripts" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "https://" not in html.split("<script", 1)[0]  # no external stylesheet or font


def test_a_run_without_a_report_says_so(admin, sqlite_url):
    _, run_id = add_history(sqlite_url)
    assert "stored no Evidently report" in admin.get(f"/runs/{run_id}").get_data(as_text=True)
    assert admin.get(f"/runs/{run_id}/report").status_code == 404


def test_model_page_shows_versions_jobs_and_champion_vs_challenger(admin, sqlite_url):
    add_history(sqlite_url)
    page = admin.get("/models/churn-online-model").get_data(as_text=True)
    assert "v2" in page and "candidate" in page and "rejected" in page
    assert "Promote" in page and "Roll back churn-online" in page
    assert '<tr class="decisive"><td>roc_auc (decides)</td><td>0.8</td><td>0.79</td></tr>' in page
    assert "<td>f1</td><td>0.61</td><td>0.6</td>" in page
    assert "no improvement" in page


def test_events_page_shows_notifications_and_failed_attempts(admin, sqlite_url):
    add_history(sqlite_url)
    page = admin.get("/events").get_data(as_text=True)
    assert "ml@example.com" in page and "connection refused" in page
    assert "&lt;script&gt;" in page


def test_unknown_things_are_404_pages(admin):
    assert admin.get("/deployments/nope").status_code == 404
    assert admin.get("/runs/999999999999").status_code == 404
    assert admin.get("/models/nope").status_code == 404
    assert admin.get("/deployments/nope?page=" + "9" * 40).status_code == 404


def test_plotly_is_served_locally(client):
    response = client.get("/static/vendor/plotly.min.js")
    assert response.status_code == 200 and len(response.data) > 1_000_000
    assert response.mimetype == "text/javascript"


def _times(start: datetime, count: int, step: timedelta) -> list[datetime]:
    return [start + step * index for index in range(count)]


def test_profile_calls_nightly_bursts_on_a_realtime_endpoint_batch_work():
    night = datetime(2026, 1, 1, 2)
    times = []
    for day in range(7):
        times += [night + timedelta(days=day)] * 200  # 200 at the same second, nightly
    profile = traffic(times) | {"label_delay": {"median_seconds": 86400}}
    assert profile["busiest_3h_share"] == 1.0 and profile["median_batch"] == 200
    sentence = verdict("realtime", profile)
    assert "looks like batch work" in sentence and "1.0 days" in sentence


def test_profile_calls_steady_single_records_on_a_batch_deployment_real_time_traffic():
    times = _times(datetime(2026, 1, 1), 2000, timedelta(minutes=7))
    profile = traffic(times) | {"label_delay": {"median_seconds": None}}
    assert profile["hours_active"] == 24
    assert "looks like real-time traffic" in verdict("batch", profile)
    assert verdict("realtime", profile) == "The traffic fits real-time serving."


def test_health_names_each_kind_of_window():
    from monitor.store.models import Run
    from monitor.views import run_health as health

    def run(**fields) -> Run:
        return Run(**({"status": "ok", "rows": 100, "breaches": []} | fields))

    assert health(None) == "no data"
    assert health(run()) == "healthy"
    assert health(run(status="no_data", rows=0)) == "no data"
    assert health(run(status="insufficient_data", rows=12)) == "too few rows"
    assert health(run(status="error")) == "error"
    assert health(run(breaches=[{"type": "drift"}])) == "drift"
    assert health(run(breaches=[{"type": "drift"}, {"type": "performance"}])) == "performance"
    assert health(run(breaches=[{"type": "estimated_performance"}])) == "performance"


def test_opening_a_run_never_builds_its_report_and_the_background_build_shows_it(admin, sqlite_url):
    from monitor.runs.job import monitor_deployment
    from monitor.runs.reports import build_reports
    from monitor.store import get_engine
    from tests.monitor.runs_support import DAY, HOUR, add_window, deploy, runs_of

    engine = get_engine(sqlite_url)
    deployment_id = deploy(engine)
    add_window(engine, deployment_id, DAY, churn_frame(400, seed=4), "a")
    monitor_deployment(engine, "churn-online", DAY, DAY + HOUR, report_rows=0)
    (run,) = runs_of(engine, deployment_id)
    assert run.snapshot is None
    page = admin.get(f"/runs/{run.id}").get_data(as_text=True)
    assert 'id="report-pending"' in page and f"/runs/{run.id}/report/status" in page
    assert admin.get(f"/runs/{run.id}/report/status").get_json() == {"state": "pending"}
    response = admin.get(f"/runs/{run.id}/report")
    assert response.status_code == 404
    assert "not built yet" in response.get_data(as_text=True)
    (run,) = runs_of(engine, deployment_id)
    assert run.snapshot is None and run.report_rows is None  # nothing was built inline

    assert build_reports(engine, [run.id]) == 1  # what the monitor pass does after its runs
    assert admin.get(f"/runs/{run.id}/report/status").get_json() == {"state": "ready"}
    page = admin.get(f"/runs/{run.id}").get_data(as_text=True)
    assert f'src="/runs/{run.id}/report"' in page and 'id="report-pending"' not in page
    response = admin.get(f"/runs/{run.id}/report")
    assert response.status_code == 200 and "tenure" in response.get_data(as_text=True)
    (run,) = runs_of(engine, deployment_id)
    assert run.report_rows == 400


def test_late_labels_show_in_the_performance_chart_and_the_label_coverage(admin, sqlite_url):
    import json
    import re

    from monitor.runs.job import monitor_deployment
    from monitor.store import get_engine
    from tests.monitor.runs_support import DAY, HOUR, add_labels, add_window, deploy

    engine = get_engine(sqlite_url)
    deployment_id = deploy(engine)
    frame = churn_frame(300, seed=4)
    ids = add_window(engine, deployment_id, DAY, frame, "a")
    monitor_deployment(engine, "churn-online", DAY, DAY + HOUR, report_rows=0)
    add_labels(engine, deployment_id, list(zip(ids, frame["churned"].tolist(), strict=True)))
    monitor_deployment(engine, "churn-online", DAY, DAY + HOUR, report_rows=0)  # the backfill
    page = admin.get("/deployments/churn-online").get_data(as_text=True)
    raw = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.S)
    charts = json.loads(raw.group(1))
    accuracy = charts["performance"]["metrics"]["accuracy"]
    assert accuracy["realized"][0][1] > 0.5
    assert accuracy["estimated"] and accuracy["label"] == "Accuracy"
    assert [value for _, value in charts["coverage"]] == [1.0]
