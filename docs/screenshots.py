"""The README's screenshots, from a running `make demo` (after its story):

    .venv/bin/python docs/screenshots.py http://127.0.0.1:8080

Logs in with the demo's admin and saves the overview, churn-online's deployment page, its
newest breaching run with a report (else its newest run with one), and the churn model's
page to docs/screenshots/.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

FOLDER = Path(__file__).resolve().parent / "screenshots"
ADMIN, PASSWORD = "admin@example.com", "driftwise-demo"


def main(base: str) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(base + "/login")
        page.fill("input[name=email]", ADMIN)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector(".spark .main-svg")
        page.screenshot(path=str(FOLDER / "overview.png"), full_page=True)
        page.goto(base + "/deployments/churn-online")
        page.wait_for_selector("#chart-performance .main-svg")
        page.wait_for_timeout(500)
        page.screenshot(path=str(FOLDER / "deployment.png"), full_page=True)
        # A breaching run shows the report agreeing with the verdict; else the newest.
        breached = page.locator("table.grid tr:has(td div) a[href^='/runs/']")
        links = [breached.nth(i).get_attribute("href") for i in range(breached.count())]
        runs = page.locator("table.grid a[href^='/runs/']")
        links += [runs.nth(i).get_attribute("href") for i in range(runs.count())]
        for link in links:
            page.goto(base + link)
            if page.locator("iframe.report").count():
                break
        report = page.frame_locator("iframe.report")
        report.locator("text=tenure").first.wait_for(timeout=60_000)
        page.wait_for_timeout(6000)  # Evidently draws its widgets after loading
        # Waiting for a feature's name scrolls the report to it: back to its top, where
        # Evidently's verdict on the dataset stands.
        report.locator("body").evaluate("() => window.scrollTo(0, 0)")
        page.locator("iframe.report").scroll_into_view_if_needed()  # painted only in view
        page.wait_for_timeout(1000)
        page.screenshot(path=str(FOLDER / "run.png"), full_page=True)
        page.goto(base + "/models/churn")
        page.screenshot(path=str(FOLDER / "model.png"), full_page=True)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"))
