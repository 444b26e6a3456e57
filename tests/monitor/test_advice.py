"""The serving advisor: four generated traffic shapes with answers computed by hand, the
measured compute, the announcement once a change has held, and the public commands."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from monitor.advice.advise import HOLD, advise, decide, record_advice
from monitor.advice.cost import DAYS_PER_MONTH, Pricing, longest_wait, parse_latency
from monitor.advice.traffic import batch_runs, traffic, volume
from monitor.cli import main
from monitor.store import get_engine, session_scope
from monitor.store.models import Deployment, Event, ModelVersion
from tests.retrain.support import deployment_id, log_traffic, make_model

START = datetime(2026, 3, 1)
PRICING = Pricing.from_config(
    {
        "instance_hourly": 0.5,
        "batch_node_hourly": 0.5,
        "batch_startup_seconds": 300.0,
        "batch_min_billed_seconds": 60.0,
    }
)
LIGHT = {  # a light model: 1 ms a row in batches, 10 ms a one-row request
    "load_seconds": 0.5,
    "request_rows": 1,
    "cold_request_seconds": 0.05,
    "warm_request_seconds": 0.01,
    "batch_rows": 2000,
    "per_row_seconds": 0.001,
}
HEAVY = LIGHT | {"load_seconds": 2.0, "warm_request_seconds": 0.5, "per_row_seconds": 0.5}


def shape(times: list[datetime], total: int | None = None, delay: float | None = None) -> dict:
    """What `deployment_profile` gives for these timestamps (or `total` of this shape)."""
    times = sorted(times)
    total = total or len(times)
    profile = traffic(times) | volume(total, times[0], times[-1])
    profile["runs"] = batch_runs(times, profile["days_observed"], total)
    profile["label_delay"] = {"labels": 10 if delay else 0, "median_seconds": delay}
    return profile


def every(step: timedelta, days: int = 7) -> list[datetime]:
    count = int(timedelta(days=days) / step)
    return [START + step * n for n in range(count)]


def test_a_nightly_burst_behind_a_real_time_endpoint_is_advised_to_run_as_a_nightly_job():
    # 500 predictions a night, 50 a second from 01:00:00, for a week; results within 24 h.
    times = [
        START + timedelta(days=day, hours=1, seconds=n // 50)
        for day in range(7)
        for n in range(500)
    ]
    profile = shape(times)
    result = decide("realtime", profile, LIGHT, PRICING, {"latency_target": 86400.0}, 3)

    # By hand: 500 a day, all between 01:00 and 02:00; one instance (capacity 100 rows/s)
    # costs 0.5 × 730 h; one nightly run at 02:00: 0.5 s load + 500 × 1 ms, billed with
    # 300 s start-up = 301 s, 30.42 times a month at 0.5 an hour.
    assert profile["per_day"] == 500 and profile["busiest_hour"] == 1
    assert result["recommendation"] == "batch" and result["fits"] is False
    assert result["costs"]["realtime"]["monthly"] == pytest.approx(365.0)
    batch = result["costs"]["batch"]
    assert batch["interval_seconds"] == 86400 and batch["run_seconds"] == pytest.approx(1.0)
    assert batch["monthly"] == pytest.approx(DAYS_PER_MONTH * 301 / 3600 * 0.5)
    assert batch["max_result_age_seconds"] == pytest.approx(3600 + 301)
    summary = result["summary"]
    assert summary.startswith("Serve as a batch job")
    assert "100% of requests arrive between 01:00 and 02:00 in bursts of 50" in summary
    assert "as a nightly batch job this costs about $1.27/month instead of $365/month" in summary
    assert "within your 24 h target" in summary
    assert result["running_by_hour"]["batch"][2] == pytest.approx(301 / 3600)


def test_a_steady_stream_scored_in_batch_with_a_one_minute_target_is_advised_real_time():
    profile = shape(every(timedelta(minutes=1)))
    result = decide("batch", profile, LIGHT, PRICING, {"latency_target": 60.0}, 1)

    # No batch schedule keeps results within a minute when start-up alone takes five.
    assert profile["per_day"] == 1440 and profile["active_share"] == 1.0
    assert result["recommendation"] == "realtime" and result["fits"] is False
    assert result["costs"]["batch"] is None
    assert result["costs"]["realtime"]["monthly"] == pytest.approx(365.0)
    assert (
        "a batch job cannot keep results within 1 min (start-up alone takes 5 min)"
        in (result["summary"])
    )


def test_an_interactive_endpoint_with_a_200_ms_target_stays_real_time():
    profile = shape(every(timedelta(seconds=10)), delay=3 * 86400.0)
    result = decide("realtime", profile, LIGHT, PRICING, {"latency_target": 0.2}, 2)

    # The target, not the three-day label delay, says how soon results are needed.
    assert result["recommendation"] == "realtime" and result["fits"] is True
    assert result["costs"]["batch"] is None
    assert result["summary"].startswith("Fits as it is (real-time)")
    assert "labels take 3 d" in result["summary"]


def test_a_heavy_model_where_compute_dominates_stays_real_time():
    # 2 rows a second all day; 0.5 s a row: one instance serves exactly the peak.
    sample = every(timedelta(seconds=30))
    profile = shape(sample, total=2 * 86400 * 7)
    result = decide("realtime", profile, HEAVY, PRICING, {"latency_target": 3600.0}, 4)

    # By hand: hourly runs would leave results older than an hour (3,752 s of work);
    # 15-minute runs: 1,800 rows × 0.5 s + 2 s = 902 s, billed 1,202 s, 96 a day.
    assert profile["per_day"] == pytest.approx(172800)
    realtime, batch = result["costs"]["realtime"], result["costs"]["batch"]
    assert realtime["instances"] == 1 and realtime["monthly"] == pytest.approx(365.0)
    assert batch["interval_seconds"] == 900
    assert batch["run_seconds"] == pytest.approx(902.0)
    assert batch["monthly"] == pytest.approx(96 * DAYS_PER_MONTH * 1202 / 3600 * 0.5)
    assert result["recommendation"] == "realtime" and result["fits"] is True
    assert "compute dominates" in result["summary"] and "24.0 node-hours" in result["summary"]


def test_without_a_target_the_label_delay_says_how_soon_results_are_needed():
    times = [
        START + timedelta(days=day, hours=3, seconds=n) for day in range(7) for n in range(300)
    ]
    result = decide("realtime", shape(times, delay=18 * 3600.0), LIGHT, PRICING, {}, 1)
    assert result["recommendation"] == "batch"
    assert "within the 18 h labels take" in result["summary"]
    no_labels = decide("realtime", shape(times), LIGHT, PRICING, {}, 1)
    assert no_labels["recommendation"] == "realtime" and no_labels["costs"]["batch"] is None
    assert "no latency_target is set" in no_labels["summary"]


def test_the_wait_for_a_run_counts_the_requests_that_wait_longest():
    by_hour = [0] * 24
    by_hour[1] = 99
    by_hour[15] = 1  # one stray request in a hundred at 15:00 does not set the age
    profile = {"by_hour": by_hour, "busiest_hour": 1}
    assert longest_wait(profile, 86400) == 3600
    by_hour[15] = 5
    assert longest_wait(profile, 86400) == 11 * 3600
    assert longest_wait(profile, 900) == 900


def test_latency_targets_read_milliseconds_to_days():
    assert parse_latency("200ms") == pytest.approx(0.2)
    assert parse_latency("24h") == 86400
    assert parse_latency("1.5s") == 1.5
    for bad in ("fast", "0s", "-1h", "10 years"):
        with pytest.raises(ValueError, match="positive duration"):
            parse_latency(bad)


def test_prices_not_set_are_named_as_placeholders():
    assert Pricing.from_config({}).placeholders == ("instance_hourly", "batch_node_hourly")
    assert Pricing.from_config({"instance_hourly": 1.0}).placeholders == ("batch_node_hourly",)


def test_compute_is_measured_once_per_version_on_its_reference(engine: Engine) -> None:
    make_model(engine)
    log_traffic(engine, 200, deployment="churn-online")
    with session_scope(engine) as session:
        deployment = session.get(Deployment, deployment_id(engine))
        first = advise(session, deployment)
        compute = first["inputs"]["compute"]
        assert compute["per_row_seconds"] > 0 and compute["warm_request_seconds"] > 0
        assert compute["load_seconds"] > 0 and compute["batch_rows"] == 2000
        assert first["recommendation"] in ("realtime", "batch")
    with session_scope(engine) as session:
        version = session.scalars(select(ModelVersion)).one()
        assert version.compute["measured_at"] == compute["measured_at"]
        again = advise(session, session.get(Deployment, deployment_id(engine)))
        assert again["inputs"]["compute"]["measured_at"] == compute["measured_at"]


def test_a_page_never_waits_for_a_measurement(engine: Engine) -> None:
    make_model(engine)
    log_traffic(engine, 200, deployment="churn-online")
    with session_scope(engine) as session:
        result = advise(session, session.get(Deployment, deployment_id(engine)), measure=False)
        assert result["recommendation"] is None
        assert "compute has not been measured" in result["summary"]
        assert session.scalars(select(ModelVersion)).one().compute == {}


def test_a_changed_recommendation_is_announced_once_after_it_held_a_week(engine: Engine) -> None:
    make_model(engine)
    change = {"recommendation": "batch", "fits": False, "summary": "Serve as a batch job: …"}
    change["costs"] = {"realtime": {"monthly": 365.0}, "batch": {"monthly": 1.27}}
    with session_scope(engine) as session:
        deployment = session.get(Deployment, deployment_id(engine))
        assert not record_advice(session, deployment, change, START)
        assert not record_advice(session, deployment, change, START + HOLD - timedelta(hours=1))
        assert record_advice(session, deployment, change, START + HOLD)
        assert not record_advice(session, deployment, change, START + 2 * HOLD)
        events = session.scalars(select(Event).where(Event.type == "serving.advice")).all()
        assert len(events) == 1 and events[0].data["recommendation"] == "batch"
        assert events[0].data["costs"] == {"realtime": 365.0, "batch": 1.27}
        # Back to fitting, then the change again: a new hold, a new announcement.
        fits = change | {"recommendation": "realtime", "fits": True}
        assert not record_advice(session, deployment, fits, START + 3 * HOLD)
        assert not record_advice(session, deployment, change, START + 4 * HOLD)
        assert record_advice(session, deployment, change, START + 5 * HOLD)


def test_driftwise_advise_prints_json_for_each_deployment(sqlite_url: str, monkeypatch) -> None:
    monkeypatch.setenv("DRIFTWISE_DATABASE_URL", sqlite_url)
    engine = get_engine(sqlite_url)
    make_model(engine)
    log_traffic(engine, 300, deployment="churn-online")
    with session_scope(engine) as session:
        session.get(Deployment, deployment_id(engine)).serving = {
            "latency_target": 86400.0,
            "pricing": {"instance_hourly": 0.2, "batch_node_hourly": 0.4},
        }
    result = CliRunner().invoke(main, ["advise", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    by_name = {item["deployment"]: item for item in document["deployments"]}
    assert set(by_name) == {"churn-online", "churn-nightly"}
    online = by_name["churn-online"]
    assert online["recommendation"] in ("realtime", "batch") and online["placeholder_prices"] == []
    assert online["costs"]["realtime"]["monthly"] == pytest.approx(0.2 * 730)
    assert online["inputs"]["latency_target_seconds"] == 86400.0
    assert by_name["churn-nightly"]["recommendation"] is None  # no traffic yet
    text = CliRunner().invoke(main, ["advise", "churn-online"])
    assert text.exit_code == 0 and "churn-online (realtime):" in text.output
    missing = CliRunner().invoke(main, ["advise", "nope"])
    assert missing.exit_code == 2 and "no deployment named 'nope'" in missing.output


SPEC_PRICING = """
[pricing]
currency = "EUR"
instance_hourly = 0.3
batch_node_hourly = 0.6
batch_startup = "2m"
"""


def test_the_spec_sets_prices_and_latency_targets_per_deployment(tmp_path, sqlite_url) -> None:
    from monitor.errors import SpecError
    from tests.monitor.test_spec import EXAMPLE, apply

    folder = tmp_path / "spec"
    folder.mkdir()
    for name in ("churn.skops", "reference.csv"):
        (folder / name).write_bytes((EXAMPLE / name).read_bytes())
    text = (EXAMPLE / "spec.toml").read_text().replace("../../tests/samples/", "/nowhere/")
    first = text.index("[[deployments]]") + len("[[deployments]]")
    online = text[:first] + '\nlatency_target = "200ms"\n' + text[first:]
    with_prices = SPEC_PRICING + online.replace(
        'mode = "batch"', 'mode = "batch"\npricing = { batch_node_hourly = 0.25 }', 1
    )
    (folder / "spec.toml").write_text(with_prices)
    apply(folder / "spec.toml")
    with session_scope() as session:
        serving = {d.name: d.serving for d in session.scalars(select(Deployment))}
    assert serving["churn-online"]["latency_target"] == pytest.approx(0.2)
    assert serving["churn-online"]["pricing"] == {
        "currency": "EUR",
        "instance_hourly": 0.3,
        "batch_node_hourly": 0.6,
        "batch_startup_seconds": 120.0,
    }
    assert serving["churn-nightly"]["pricing"]["batch_node_hourly"] == 0.25
    assert serving["churn-nightly"]["latency_target"] is None
    for bad, key, message in (
        ("instance_hourly = -1", "pricing.instance_hourly", "must be positive"),
        ("instance_hourlly = 1", "pricing.instance_hourlly", "unknown key"),
        ('batch_startup = "soon"', "pricing.batch_startup", "not a duration"),
    ):
        (folder / "spec.toml").write_text(f"[pricing]\n{bad}\n" + online)
        with pytest.raises(SpecError, match=rf"{key}: {message}"):
            apply(folder / "spec.toml")
    (folder / "spec.toml").write_text(
        text.replace("[[deployments]]", '[[deployments]]\nlatency_target = "quick"', 1)
    )
    with pytest.raises(SpecError, match=r"deployments\[0\]\.latency_target: not a positive"):
        apply(folder / "spec.toml")


def test_the_deployment_page_and_api_show_the_advice(sqlite_url: str) -> None:
    from tests.web.conftest import ADMIN, build_app, login

    engine = get_engine(sqlite_url)
    make_model(engine)
    log_traffic(engine, 300, deployment="churn-online")
    with session_scope(engine) as session:
        advise(session, session.get(Deployment, deployment_id(engine)))  # measures compute
    client = build_app(sqlite_url).test_client()
    assert login(client, ADMIN).status_code == 302
    page = client.get("/deployments/churn-online").get_data(as_text=True)
    assert "Real-time or batch?" in page and 'id="chart-advice"' in page
    assert "Prices are placeholders (instance_hourly, batch_node_hourly)" in page
    answer = client.get("/api/v1/deployments/churn-online/advice").json
    assert answer["recommendation"] in ("realtime", "batch")
    assert set(answer["costs"]) == {"realtime", "batch"} and answer["inputs"]["version"] == 1
    assert answer["costs"]["realtime"]["monthly"] == pytest.approx(0.10 * 730)
