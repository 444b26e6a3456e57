"""Evidently's report carries window data: a value from a pushed record must never run as
script, and the report must not be able to take over the window it is opened in."""

from __future__ import annotations

from monitor.runs.job import monitor_deployment
from monitor.store import get_engine
from tests.factories import churn_frame
from tests.monitor.runs_support import DAY, HOUR, add_window, deploy, runs_of
from tests.web.conftest import bearer
from tests.web.push_support import record as _record

BREAKOUT = "</script><script>top.location='https://evil.example/'</script><!--"


def _report_of_a_hostile_window(client, tokens, sqlite_url) -> int:
    """A window with a pushed record whose category closes the script; its run's id."""
    engine = get_engine(sqlite_url)
    deployment_id = deploy(engine)
    add_window(engine, deployment_id, DAY, churn_frame(300, seed=4), "a")
    hostile = [
        _record(
            f"evil-{index}",
            timestamp=(DAY + HOUR / 2).isoformat() + "Z",
            features={"tenure": 5.0, "charges": 70.5, "plan": BREAKOUT, "region": "eu"},
        )
        for index in range(30)
    ]
    pushed = client.post(
        "/api/v1/deployments/churn-online/predictions",
        json=hostile,
        headers=bearer(tokens["client"]),
    )
    assert pushed.status_code == 200 and pushed.json["inserted"] == 30, pushed.json
    monitor_deployment(engine, "churn-online", DAY, DAY + HOUR, report_rows=5000)
    (run,) = runs_of(engine, deployment_id)
    return run.id


def test_a_pushed_category_cannot_close_the_report_script(admin, tokens, sqlite_url):
    run_id = _report_of_a_hostile_window(admin, tokens, sqlite_url)
    response = admin.get(f"/runs/{run_id}/report", headers={"Sec-Fetch-Dest": "iframe"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "</script><script>top.location" not in html
    assert "evil.example" in html  # the value is there, as data
    assert "\\u003c/script\\u003e\\u003cscript\\u003etop.location" in html
    assert "\\u003c!--" in html
    scripts = _scripts(html)
    assert len(scripts) == 4  # data, `global`, Evidently's library, the call that draws
    assert not any(script.strip().startswith("top.location") for script in scripts)


def _scripts(html: str) -> list[str]:
    """The text of each script element, split where an HTML parser splits them."""
    from html.parser import HTMLParser

    class Scripts(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[str] = []
            self.inside = False

        def handle_starttag(self, tag, attrs) -> None:
            if tag == "script":
                self.inside = True
                self.found.append("")

        def handle_endtag(self, tag) -> None:
            self.inside = self.inside and tag != "script"

        def handle_data(self, data) -> None:
            if self.inside:
                self.found[-1] += data

    parser = Scripts()
    parser.feed(html)
    return parser.found


def test_the_report_is_served_with_a_strict_sandbox(admin, tokens, sqlite_url):
    run_id = _report_of_a_hostile_window(admin, tokens, sqlite_url)
    response = admin.get(f"/runs/{run_id}/report", headers={"Sec-Fetch-Dest": "iframe"})
    csp = [part.strip() for part in response.headers["Content-Security-Policy"].split(";")]
    assert "sandbox allow-scripts" in csp
    assert "frame-ancestors 'self'" in csp and "default-src 'none'" in csp
    assert not any("allow-top-navigation" in p or "allow-same-origin" in p for p in csp)
    assert not any("allow-popups" in p or "allow-forms" in p for p in csp)
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = admin.get(f"/runs/{run_id}").get_data(as_text=True)
    assert 'sandbox="allow-scripts"' in page


def test_opening_the_report_directly_shows_it_framed_in_its_run_page(admin, tokens, sqlite_url):
    run_id = _report_of_a_hostile_window(admin, tokens, sqlite_url)
    direct = admin.get(f"/runs/{run_id}/report", headers={"Sec-Fetch-Dest": "document"})
    assert direct.status_code == 302
    assert direct.headers["Location"] == f"/runs/{run_id}"
    assert "<script" not in direct.get_data(as_text=True)
