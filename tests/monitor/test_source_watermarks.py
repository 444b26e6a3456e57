"""Windows wait for their sources, and late predictions run a window again: through
`driftwise ingest`, `monitor`, `runs --json` and `status --json`, on both databases."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, select, text

from monitor.cli import main
from monitor.ingest.engine import ingest
from monitor.store import session_scope
from monitor.store.models import Event, Source
from monitor.timeutil import iso, parse_timestamp, utcnow
from tests.factories import add_source, churn_model_spec, make_deployment, scores_table
from tests.monitor.test_windows import DEPLOYMENT, EXAMPLE, write_predictions

HOUR = timedelta(hours=1)
REPLICA = """
[[deployments.sources]]
name = "replica"
kind = "jsonl"
path = "{folder}/../replica.jsonl"  # beside the glob's folder, not in it
"""


def cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result.output


def hours_ago(hours: int) -> datetime:
    return utcnow().replace(minute=0, second=0, microsecond=0) - hours * HOUR


def setup(tmp_path: Path, replica: bool = False) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    spec = tmp_path / "spec.toml"
    text = DEPLOYMENT + (REPLICA if replica else "")
    spec.write_text(churn_model_spec(EXAMPLE) + text.format(folder=folder))
    cli("apply", str(spec))
    return folder


def monitor_runs() -> dict[tuple[str, int], dict]:
    runs = json.loads(cli("runs", "churn-online", "--json"))["runs"]
    return {(run["window_start"], run["seq"]): run for run in runs if run["kind"] == "monitor"}


def deployment_status() -> dict:
    (deployment,) = json.loads(cli("status", "--json"))["deployments"]
    return deployment


def test_a_window_waits_for_a_source_not_yet_read_past_its_end(db_url: str, tmp_path: Path):
    folder = setup(tmp_path, replica=True)
    first = hours_ago(3)
    write_predictions(folder / "a.jsonl", first, 40, "a")
    write_predictions(folder / "b.jsonl", first + HOUR, 40, "bb")
    cli("ingest", code=3)  # the replica's file is not there yet: that source fails

    assert "0 run(s)" in cli("monitor", "--no-reports")
    status = deployment_status()
    read_to = {source["name"]: source["read_to"] for source in status["sources"]}
    assert read_to.pop("replica") is None
    (logs,) = read_to.values()  # the glob's source, read to its end
    assert parse_timestamp(logs) >= first + 2 * HOUR
    waiting = status["waiting"]
    assert waiting["first_window_start"] == iso(first)
    assert [source["name"] for source in waiting["sources"]] == ["replica"]
    assert "FileNotFoundError" in waiting["sources"][0]["last_error"]
    assert any(
        "waiting for source replica (never read to its end)" in w for w in status["warnings"]
    )
    text = cli("status")
    assert "waiting for source replica" in text and "(not yet read to its end)" in text

    write_predictions(tmp_path / "replica.jsonl", first, 30, "ccc")  # the stalled source's rows
    cli("ingest")
    assert "0 no_data" not in cli("monitor", "--no-reports")
    runs = monitor_runs()
    assert runs[(iso(first), 0)]["sampled_from"] == 70  # 40 + 30 late: all of them
    assert runs[(iso(first + HOUR), 0)]["sampled_from"] == 40
    assert deployment_status()["waiting"] is None


def test_a_source_failing_for_long_holds_windows_no_longer_than_the_wait(
    db_url: str, tmp_path: Path, monkeypatch
):
    folder = setup(tmp_path, replica=True)
    first = hours_ago(3)
    write_predictions(folder / "a.jsonl", first, 40, "a")
    cli("ingest", code=3)
    monkeypatch.setenv("DRIFTWISE_SOURCE_WAIT_SECONDS", "60")

    assert "3 run(s): 2 no_data, 1 ok" in cli("monitor", "--no-reports")
    runs = monitor_runs()
    assert runs[(iso(first), 0)]["status"] == "ok"
    for run in runs.values():
        assert (
            "ran without waiting longer than 1 minute for source replica (never read to its end)"
            in run["warnings"]
        )


def test_late_predictions_run_a_window_again_and_resolve_its_no_data_event(
    db_url: str, tmp_path: Path
):
    folder = setup(tmp_path)
    first = hours_ago(4)
    write_predictions(folder / "a.jsonl", first, 40, "a")
    write_predictions(folder / "c.jsonl", first + 2 * HOUR, 40, "cc")
    cli("ingest")
    cli("monitor", "--no-reports")
    runs = monitor_runs()
    assert runs[(iso(first + HOUR), 0)]["status"] == "no_data"
    assert runs[(iso(first), 0)]["sampled_from"] == 40

    # After an outage, the rows logged meanwhile arrive: into a window that ran with 40 rows
    # and into the one recorded as empty.
    write_predictions(folder / "late-a.jsonl", first + timedelta(minutes=5), 25, "dddd")
    write_predictions(folder / "late-b.jsonl", first + HOUR, 40, "eeeee")
    cli("ingest")
    assert "2 run(s): 2 ok" in cli("monitor", "--no-reports")
    assert "0 run(s)" in cli("monitor", "--no-reports")
    runs = monitor_runs()
    assert runs[(iso(first), 1)]["sampled_from"] == 65
    assert runs[(iso(first + HOUR), 1)]["status"] == "ok"
    assert runs[(iso(first + HOUR), 1)]["sampled_from"] == 40
    assert (iso(first + 2 * HOUR), 1) not in runs  # it did not grow

    with session_scope(create_engine(db_url)) as session:
        window = iso(first + HOUR)
        events = {
            event.type: event
            for event in session.scalars(select(Event))
            if event.data.get("window_start") == window
        }
        assert events["no_data"].data["resolved_by_run"] == runs[(iso(first + HOUR), 1)]["id"]
        resolved = events["no_data.resolved"]
        assert resolved.severity == "info" and resolved.data["rows"] == 40
        assert resolved.data["event_id"] == events["no_data"].id


def test_a_sql_source_is_read_to_its_newest_row_and_a_failing_query_holds_it(
    engine: Engine, tmp_path: Path
):
    remote = create_engine(f"sqlite:///{tmp_path}/scores.db")
    ahead = (utcnow() + 2 * HOUR).replace(microsecond=0)  # rows stamped past the clock
    scores_table(
        remote,
        [{"id": f"s-{n}", "ts": (ahead - n * HOUR).isoformat() + "Z", "seq": n} for n in range(3)],
    )
    with session_scope(engine) as session:
        deployment = make_deployment(session)
        config = {"url": str(remote.url), "query": "SELECT * FROM scores", "watermark": "seq"}
        config |= {"request_id": "id", "timestamp": "ts"}
        add_source(session, deployment.id, "scores", "sql", **config)

    (tally,) = ingest(engine)
    assert tally.inserted == 3 and tally.read_to_end, tally
    with session_scope(engine) as session:
        source = session.scalar(select(Source))
        assert source.read_to == ahead
        caught_up = source.caught_up_at
        assert caught_up is not None

    with remote.begin() as connection:
        connection.execute(text("DROP TABLE scores"))  # the scoring database breaks
    (tally,) = ingest(engine)
    assert tally.errors
    with session_scope(engine) as session:
        source = session.scalar(select(Source))
        assert (source.read_to, source.caught_up_at) == (ahead, caught_up)
    remote.dispose()
