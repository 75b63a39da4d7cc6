"""`golive report --format html` opened in a real browser (Debian's Chromium, driven by Playwright).

The report of a seeded portfolio is made by the CLI, as the head of implementation would make
it, and opened from disk: one self-contained page whose charts load from the page itself, whose
tables hold every engagement, and where a customer named like a script is shown, never run. A
screenshot is kept in test-artifacts/report.png.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.test_sandbox_browser import CHROMIUM_ARGS, system_chromium
from tests.e2e.portfolio import HTML_NAME, NOW, SEEDS, seed_portfolio

REPO = Path(__file__).resolve().parents[2]
ARTIFACT = REPO / "test-artifacts" / "report.png"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    path = system_chromium()
    if path is None:
        pytest.skip("no system Chromium: install Debian's chromium package (apt-get install chromium)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    url = f"sqlite:///{(tmp_path / 'portfolio.sqlite3').as_posix()}"
    seed_portfolio(url)
    out = tmp_path / "report.html"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GOLIVE_"))}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "golive.cli",
            "report",
            "--format",
            "html",
            "--out",
            str(out),
            "--at",
            NOW.isoformat(),
        ],
        cwd=tmp_path,
        env=env | {"DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wrote" in proc.stderr and "9 engagements" in proc.stderr
    return out


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(8000)
    try:
        yield pg
    finally:
        context.close()


def test_the_html_report_opens_in_a_browser_with_its_charts_and_every_engagement(
    page: Page, report_file: Path
):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report_file.as_uri())
    page.wait_for_load_state("load")
    assert page.title() == "Implementation report — 30 Nov 2026"
    assert page.locator("h1").inner_text() == "Implementation report"
    # Self-contained: nothing but the file itself (and its data: images) was fetched.
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    # Four charts (the fourth: time to value), each decoded by the browser into a real picture.
    images = page.locator("figure img")
    assert images.count() == 4
    for n in range(4):
        width = images.nth(n).evaluate("img => img.complete ? img.naturalWidth : 0")
        assert width > 600, n
        assert images.nth(n).get_attribute("src").startswith("data:image/png;base64,")  # type: ignore[union-attr]
    # Every engagement is a row of the first table; the hostile name is text, not a script.
    rows = page.locator("main > div.scroll").first.locator("tbody tr")
    assert rows.count() == len(SEEDS)
    assert dialogs == [], "a customer's name ran as a script"
    assert page.locator("script").count() == 0
    assert rows.nth(7).locator("td").first.inner_text() == HTML_NAME
    # The summary cards: 2 of the 4 live engagements went live on time.
    cards = page.locator(".card")
    assert "50%" in cards.nth(0).inner_text() and "2 of 4 live engagements" in cards.nth(0).inner_text()
    body = page.locator("body").inner_text()
    for heading in ("Engagements", "Time per phase by size", "Sign-off waiting times"):
        assert heading in body
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACT), full_page=True)
    assert ARTIFACT.stat().st_size > 50_000
