"""End to end in a real headless Chromium (Debian's package, driven by Playwright):
log in, see the overview, a deployment's charts, a run's Evidently report, press retrain.
Screenshots go to a temporary folder, or to docs/screenshots/ for the README when
DRIFTWISE_UPDATE_SCREENSHOTS=1. Any browser console error fails."""

from __future__ import annotations

import itertools
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.store import get_engine, session_scope
from monitor.store.models import Label, Prediction, RetrainJob
from monitor.timeutil import utcnow
from tests.factories import churn_frame, churn_model
from tests.web.conftest import ADMIN, PASSWORD, add_history, build_app
from tests.web.history_support import DRIFTED, add_story

pytestmark = [pytest.mark.slow, pytest.mark.browser]

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() == "true"


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "Debian's chromium is not installed (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(f"CI must run the browser test: {message}")
        pytest.skip(message)
    return path


@pytest.fixture
def server(sqlite_url: str) -> Iterator[str]:
    """The app served by waitress on a free loopback port, with a history to show."""
    from waitress import create_server

    from monitor.report.evidently_report import build_snapshot

    model = churn_model()
    snapshot = build_snapshot(model, churn_frame(300, 1), churn_frame(200, 2, 1.0), 300, {})
    app = build_app(sqlite_url)
    deployment_id, _ = add_history(sqlite_url, "churn-online", windows=24, snapshot=snapshot)
    add_history(sqlite_url, "churn-nightly-batch", windows=8, peak=0.3, mode="batch")
    add_nightly_traffic(sqlite_url, deployment_id)
    wsgi = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{wsgi.effective_port}"
    finally:
        wsgi.close()
        thread.join(timeout=5)


def add_nightly_traffic(url: str, deployment_id: int) -> None:
    """A real-time endpoint that gets its predictions in one burst a night, labels a day later."""
    night = utcnow().replace(hour=2, minute=0, second=0, microsecond=0) - timedelta(days=7)
    with session_scope(get_engine(url)) as session:
        for day in range(7):
            for index in range(120):
                request_id = f"n{day}-{index}"
                moment = night + timedelta(days=day, milliseconds=index)
                session.add(
                    Prediction(
                        deployment_id=deployment_id,
                        request_id=request_id,
                        timestamp=moment,
                        features="{}",
                        prediction="1",
                        sample_key=index,
                    )
                )
                session.add(
                    Label(
                        deployment_id=deployment_id,
                        request_id=request_id,
                        value="1",
                        timestamp=moment + timedelta(days=1),
                    )
                )


def test_a_person_logs_in_reads_the_history_and_requests_a_retrain(server, sqlite_url, tmp_path):
    executable = chromium_path()
    update = os.environ.get("DRIFTWISE_UPDATE_SCREENSHOTS") == "1"
    SCREENSHOTS = DOCS_SCREENSHOTS if update else tmp_path  # noqa: N806
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on(
            "requestfailed",
            lambda r: problems.append(f"request failed: {r.url}"),
        )
        page.on(
            "response",
            lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"),
        )
        page.on("dialog", lambda dialog: dialog.accept())

        page.goto(server + "/")
        assert page.url.startswith(server + "/login")
        page.fill("input[name=email]", ADMIN)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(server + "/")
        page.wait_for_selector(".spark .main-svg")
        assert page.locator("table.overview tbody tr").count() == 2
        page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=True)

        # A p-value case: the chart shows the features whose p-values collapsed, and the
        # timeline on it shows the promotion of v2.
        add_story(sqlite_url)
        page.goto(server + "/deployments/churn-story")
        page.wait_for_selector("#chart-features .main-svg")
        legend = page.locator("#chart-features .legendtext").all_text_contents()
        assert legend[:2] == list(DRIFTED)
        for chart in ("#chart-drift-share", "#chart-features", "#chart-performance"):
            marks = page.locator(f"{chart} .annotation-text").all_text_contents()
            assert "v2 promoted" in marks and "drift breach" in marks, (chart, marks)
        # The breach and its alert a minute apart: their labels side by side, not on top.
        boxes = [
            label.bounding_box()
            for label in page.locator("#chart-drift-share .annotation-text").all()
        ]
        for one, other in itertools.combinations(boxes, 2):
            apart = (
                one["x"] + one["width"] <= other["x"] + 1
                or other["x"] + other["width"] <= one["x"] + 1
                or one["y"] + one["height"] <= other["y"] + 1
                or other["y"] + other["height"] <= one["y"] + 1
            )
            assert apart, (one, other)
        page.goto(server + "/")

        page.click("text=churn-online")
        page.wait_for_selector("#chart-drift-share .main-svg")
        page.wait_for_selector("#chart-features .main-svg")
        page.wait_for_selector("#chart-hours .main-svg")
        assert page.locator(".js-plotly-plot").count() >= 6
        assert "looks like batch work" in page.inner_text(".verdict")
        page.screenshot(path=str(SCREENSHOTS / "deployment.png"), full_page=True)

        page.locator("table.grid a[href^='/runs/']").first.click()
        report = page.frame_locator("iframe.report")
        report.locator("text=tenure").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SCREENSHOTS / "run.png"), full_page=True)

        page.goto(server + "/models/churn-online-model")
        page.click("#retrain-now")
        page.wait_for_selector("text=Retrain job")
        page.screenshot(path=str(SCREENSHOTS / "model.png"), full_page=True)
        browser.close()

    assert problems == []
    with session_scope(get_engine(sqlite_url)) as session:
        manual = select(func.count()).select_from(RetrainJob).where(RetrainJob.trigger == "manual")
        assert session.scalar(manual) == 1
    for name in ("overview", "deployment", "run", "model"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000


@pytest.fixture
def hostile_server(sqlite_url: str) -> Iterator[tuple[str, int]]:
    """The app on waitress with one run whose window holds a script-closing category."""
    from waitress import create_server

    from tests.web.test_report_sandbox import _report_of_a_hostile_window
    from web.auth import create_token

    app = build_app(sqlite_url)
    with session_scope(get_engine(sqlite_url)) as session:
        tokens = {"client": create_token(session, "app", "client")}
    run_id = _report_of_a_hostile_window(app.test_client(), tokens, sqlite_url)
    wsgi = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{wsgi.effective_port}", run_id
    finally:
        wsgi.close()
        thread.join(timeout=5)


def test_a_hostile_report_opened_directly_cannot_take_the_window_away(hostile_server):
    executable = chromium_path()
    server, run_id = hostile_server
    from playwright.sync_api import sync_playwright

    elsewhere: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.on("request", lambda r: r.url.startswith(server) or elsewhere.append(r.url))
        page.goto(server + "/login")
        page.fill("input[name=email]", ADMIN)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(server + "/")

        page.goto(f"{server}/runs/{run_id}/report")
        assert page.url == f"{server}/runs/{run_id}"  # shown framed, not as the top document
        frame = page.frame_locator("iframe.report")
        frame.locator("text=tenure").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        # Even script running in the report cannot move the window it is framed in.
        report = next(f for f in page.frames if f.url.endswith("/report"))
        outcome = report.evaluate(
            "() => { try { top.location.href = 'https://evil.example/'; return 'moved' }"
            " catch (error) { return error.name } }"
        )
        page.wait_for_timeout(500)
        assert page.url == f"{server}/runs/{run_id}", outcome
        browser.close()
    assert not any("evil.example" in url for url in elsewhere), elsewhere
