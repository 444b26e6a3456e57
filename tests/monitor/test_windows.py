"""Windows: calendar boundaries in a zone, the first window at the first prediction, late
predictions rerunning an empty window, and `driftwise monitor --rerun`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from monitor.cli import main
from monitor.runs.job import monitor_deployment
from monitor.store import session_scope
from monitor.store.models import Deployment, MetricPoint, Run
from monitor.timeutil import Calendar, human_duration
from tests.commands import run_cli
from tests.factories import churn_frame, churn_model_spec
from tests.monitor.runs_support import DAY, HOUR, add_window, deploy, runs_of

EXAMPLE = Path(__file__).parents[2] / "examples" / "churn"


def test_weeks_start_on_monday_and_months_are_calendar_months_in_the_zone():
    week = Calendar.parse("1w")
    start = week.start_of(datetime(2026, 12, 3, 8))  # a Thursday
    assert (start, week.end_of(start)) == (datetime(2026, 11, 30), datetime(2026, 12, 7))
    month = Calendar.parse("1mo", "Europe/Berlin")
    march = month.start_of(datetime(2026, 3, 15))
    # Midnight in Berlin, in UTC: winter time on 1 March, summer time on 1 April.
    assert (march, month.end_of(march)) == (datetime(2026, 2, 28, 23), datetime(2026, 3, 31, 22))
    assert month.start_of(datetime(2026, 2, 28, 23)) == march
    assert month.start_of(datetime(2026, 2, 28, 22, 59)) == datetime(2026, 1, 31, 23)
    quarter = Calendar.parse("3mo")
    assert quarter.between(datetime(2026, 2, 1), datetime(2026, 10, 1)) == [
        (datetime(2026, 4, 1), datetime(2026, 7, 1)),
        (datetime(2026, 7, 1), datetime(2026, 10, 1)),
    ]
    day = Calendar.parse("1d", "America/New_York")
    assert day.start_of(datetime(2026, 1, 5, 3)) == datetime(2026, 1, 4, 5)
    assert Calendar.parse("1h").start_of(datetime(2026, 1, 5, 3, 59)) == datetime(2026, 1, 5, 3)
    assert day.before(datetime(2026, 1, 4, 5)) == datetime(2026, 1, 3, 5)


def test_bad_windows_and_zones_are_named():
    with pytest.raises(ValueError, match="not a duration"):
        Calendar.parse("monthly")
    with pytest.raises(ValueError, match="not a time zone"):
        Calendar.parse("1d", "Mars/Olympus")


def test_durations_read_as_words():
    assert human_duration(86400) == "1 day"
    assert human_duration(300) == "5 minutes"
    assert human_duration(90000) == "1 day 1 hour"
    assert human_duration(2.5) == "2.5 s"
    assert Calendar.parse("1mo", "Europe/Berlin").describe() == "1 month (Europe/Berlin)"
    assert Calendar.parse("2w").describe() == "2 weeks"


def test_a_deployment_starts_at_its_first_prediction(engine):
    deployment_id = deploy(engine)  # created a day before its first prediction
    add_window(engine, deployment_id, DAY + 20 * HOUR, churn_frame(100, seed=1), "a")

    monitor_deployment(engine, "churn-online", now=DAY + 23 * HOUR, report_rows=0)

    runs = runs_of(engine, deployment_id)
    assert sorted((run.window_start, run.status) for run in runs) == [
        (DAY + 20 * HOUR, "ok"),
        (DAY + 21 * HOUR, "no_data"),
        (DAY + 22 * HOUR, "no_data"),
    ]
    assert monitor_deployment(engine, "churn-online", DAY, DAY + 20 * HOUR).runs == []


def test_a_monthly_window_in_a_zone_runs_the_calendar_month(engine):
    deployment_id = deploy(engine, min_rows=20)
    with session_scope(engine) as session:
        deployment = session.get(Deployment, deployment_id)
        deployment.window, deployment.timezone = "1mo", "Europe/Berlin"
    add_window(engine, deployment_id, datetime(2026, 2, 28, 23, 0), churn_frame(60), "a")

    monitor_deployment(engine, "churn-online", now=datetime(2026, 4, 2), report_rows=0)

    (run,) = runs_of(engine, deployment_id)
    assert (run.window_start, run.window_end, run.rows) == (
        datetime(2026, 2, 28, 23),
        datetime(2026, 3, 31, 22),
        60,
    )


def test_late_predictions_run_an_empty_window_again(engine):
    deployment_id = deploy(engine, min_rows=50)
    add_window(engine, deployment_id, DAY, churn_frame(100), "a")
    add_window(engine, deployment_id, DAY + 2 * HOUR, churn_frame(10, seed=2), "c")
    monitor_deployment(engine, "churn-online", now=DAY + 3 * HOUR, report_rows=0)

    add_window(engine, deployment_id, DAY + HOUR, churn_frame(100, seed=1), "b")
    add_window(engine, deployment_id, DAY + 2 * HOUR, churn_frame(100, seed=3), "d")
    again = monitor_deployment(engine, "churn-online", now=DAY + 3 * HOUR, report_rows=0)
    assert monitor_deployment(engine, "churn-online", now=DAY + 3 * HOUR).runs == []

    runs = runs_of(engine, deployment_id)
    newest = {run.window_start: run for run in sorted(runs, key=lambda run: run.seq)}
    assert len(again.runs) == 2 and len(runs) == 5
    assert [(newest[DAY + h * HOUR].status, newest[DAY + h * HOUR].seq) for h in range(3)] == [
        ("ok", 0),
        ("ok", 1),
        ("ok", 1),
    ]
    assert newest[DAY + 2 * HOUR].rows == 110
    with session_scope(engine) as session:
        rows = session.scalars(
            select(MetricPoint.value).where(
                MetricPoint.metric == "rows", MetricPoint.time == DAY + 2 * HOUR
            )
        ).all()
    assert rows == [110]  # the thin run's point is replaced, not kept beside


DEPLOYMENT = """
[[deployments]]
name = "churn-online"
model = "churn"
mode = "realtime"
window = "1h"
settle = "1s"
min_rows = 20

[[deployments.sources]]
kind = "jsonl"
path = "{folder}/*.jsonl"
"""


def write_predictions(path: Path, start: datetime, rows: int, prefix: str) -> None:
    frame = churn_frame(rows, seed=len(prefix))
    with path.open("w") as out:
        for index, record in enumerate(frame.to_dict("records")):
            moment = start + timedelta(minutes=index * 50 / rows)
            line = {
                "request_id": f"{prefix}-{index}",
                "timestamp": moment.isoformat() + "Z",
                "model_version": 1,
                "features": {
                    name: record[name] for name in ("tenure", "charges", "plan", "region")
                },
                "prediction": int(record["prediction"]),
                "probability": float(record["probability"]),
            }
            out.write(json.dumps(line) + "\n")


def test_late_predictions_and_a_rerun_through_the_commands(db_url: str, tmp_path: Path):
    folder = tmp_path / "logs"
    folder.mkdir()
    spec = tmp_path / "spec.toml"
    spec.write_text(churn_model_spec(EXAMPLE) + DEPLOYMENT.format(folder=folder))
    start = datetime(2026, 1, 1)
    write_predictions(folder / "a.jsonl", start, 40, "a")
    write_predictions(folder / "c.jsonl", start + 2 * HOUR, 40, "cc")
    run_cli("apply", str(spec))
    run_cli("ingest")
    window = ["--start", "2026-01-01T00:00:00Z", "--end", "2026-01-01T03:00:00Z"]
    first = run_cli("monitor", "--no-reports", *window)
    assert "3 run(s): 2 ok, 1 no_data" in first

    write_predictions(folder / "b.jsonl", start + HOUR, 40, "bbb")
    assert '"inserted": 40' in run_cli("ingest", "--json")
    late = run_cli("monitor", "--no-reports", *window)  # the next pass over those windows
    assert "1 run(s): 1 ok" in late
    assert "0 run(s)" in run_cli("monitor", "--no-reports", *window)

    rerun = run_cli("monitor", "--no-reports", "--rerun", *window)
    assert "3 run(s): 3 ok" in rerun
    runs = json.loads(run_cli("runs", "churn-online", "--json"))["runs"]
    by_window: dict[str, list] = {}
    for run in runs:
        by_window.setdefault(run["window_start"], []).append((run["seq"], run["status"]))
    assert sorted(by_window["2026-01-01T01:00:00Z"]) == [(0, "no_data"), (1, "ok"), (2, "ok")]
    assert sorted(by_window["2026-01-01T00:00:00Z"]) == [(0, "ok"), (1, "ok")]
    bad = CliRunner().invoke(main, ["monitor", "--rerun"])
    assert bad.exit_code != 0 and "--rerun needs --start" in bad.output


def test_a_spec_names_a_bad_time_zone(tmp_path: Path):
    spec = tmp_path / "spec.toml"
    text = (churn_model_spec(EXAMPLE) + DEPLOYMENT.format(folder=tmp_path)).replace(
        'window = "1h"', 'window = "1mo"\ntimezone = "Mars/Olympus"'
    )
    spec.write_text(text)
    result = CliRunner().invoke(main, ["apply", "--check", str(spec)])
    assert result.exit_code != 0
    assert "deployments[0].timezone" in result.output and "not a time zone" in result.output


def test_runs_json_keeps_seq(engine):
    deployment_id = deploy(engine)
    add_window(engine, deployment_id, DAY, churn_frame(60), "a")
    monitor_deployment(engine, "churn-online", now=DAY + HOUR, report_rows=0)
    with session_scope(engine) as session:
        assert session.scalars(select(Run.seq)).all() == [0]
