"""Issue 13, part 5: `golive report` on a seeded portfolio, in both formats, through the CLI.

The portfolio (tests/e2e/portfolio.py) holds live engagements on time and late, active ones
ahead, at risk and late, a cancelled one, a sign-off still waiting, and two hostile customer
names. The CSV is read back with the csv module (numbers, the summary rows, no live formula);
the HTML is parsed (every chart an inline PNG that decodes, no script, no external resource,
the names escaped). The browser test opens the same HTML in Chromium.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from bot.people.audit import FORMULA_START
from tests.e2e.portfolio import FORMULA_NAME, HTML_NAME, NOW, SEEDS, seed_portfolio


def golive(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GOLIVE_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "golive.cli", *args],
        cwd=cwd,
        env=env | {"DATABASE_URL": url},
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory) -> tuple[str, Path]:
    where = tmp_path_factory.mktemp("portfolio")
    url = f"sqlite:///{(where / 'portfolio.sqlite3').as_posix()}"
    seed_portfolio(url)
    return url, where


def report(portfolio, fmt: str) -> bytes:
    url, where = portfolio
    proc = golive("report", "--format", fmt, "--at", NOW.isoformat(), url=url, cwd=where)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return proc.stdout


def test_the_csv_report_per_engagement_and_across_them(portfolio):
    rows = list(csv.DictReader(io.StringIO(report(portfolio, "csv").decode("utf-8"))))
    engagements = {r["customer"]: r for r in rows if r["row"] == "engagement"}
    assert len(engagements) == len(SEEDS)
    assert list(rows[0])[:10] == [
        "row",
        "engagement_id",
        "customer",
        "size",
        "status",
        "phase",
        "kickoff",
        "planned_golive",
        "forecast_golive",
        "days_late",
    ]
    # Live on time, live late, live early: the actual go-live against the planned one.
    north, contoso, fabrikam, stark = (
        engagements[n] for n in ("Northwind Traders", "Contoso", "Fabrikam", "Stark Industries")
    )
    assert (north["status"], north["days_late"], north["on_time"]) == ("live", "0", "yes")
    assert (contoso["days_late"], contoso["on_time"]) == ("4", "no")
    assert (fabrikam["days_late"], fabrikam["on_time"]) == ("-2", "yes")
    assert (stark["days_late"], stark["on_time"]) == ("10", "no")
    assert north["planned_golive"] == "2026-09-25" == north["forecast_golive"]
    # Actual business days in each phase; the current one so far.
    assert [
        north[f"days_{k}"] for k in ("discovery", "solutioning", "configurations", "testing", "golive")
    ] == [
        "2",
        "4",
        "6",
        "4",
        "3",
    ]
    globex = engagements["Globex"]
    assert globex["status"] == "active" and globex["phase"] == "Configurations" and globex["health"] == "Late"
    assert globex["current_phase"] == "configurations" and int(globex["current_phase_days"]) > 10
    assert globex["days_configurations"] == "" and globex["days_solutioning"] == "11"
    assert engagements["Initech"]["health"] == "On track" and int(engagements["Initech"]["days_late"]) <= 0
    # Sign-off waits: approved ones from the first request to the approval; one still waiting.
    umbrella = engagements["Umbrella"]
    assert umbrella["signoffs_waiting"] == "Alerts, access and approval workflows sign-off (4 business days)"
    assert umbrella["signoff_wait_alerts_access_workflows"] == "4"
    assert int(north["signoff_wait_final_golive"]) >= 1
    # The cancelled one has no forecast and counts in no rate.
    cancelled = next(r for r in engagements.values() if r["status"] == "cancelled")
    assert cancelled["forecast_golive"] == "" and cancelled["days_late"] == "" and cancelled["on_time"] == ""
    # Across engagements.
    summary = {r["customer"]: r for r in rows if r["row"] == "summary"}
    assert summary["went live on time"]["on_time"] == "50% (2 of 4)"
    assert summary["active, forecast on time"]["on_time"].endswith("of 4)")
    medians = {r["size"]: r for r in rows if r["row"] == "median_by_size"}
    assert set(medians) == {"small", "medium", "enterprise", "all"}
    # small Discovery: Northwind 2, Contoso 3, the HTML-named one 2 -> 2; enterprise: 11 and 9 -> 10
    assert float(medians["small"]["days_discovery"]) == 2.0
    assert float(medians["enterprise"]["days_discovery"]) == 10.0
    assert float(medians["small"]["days_golive"]) == 3.5  # Northwind 3, Contoso 4
    [waits] = [r for r in rows if r["row"] == "median_signoff_wait"]
    assert float(waits["signoff_wait_solution_design"]) > 0


def test_the_csv_report_runs_no_formula(portfolio):
    raw = report(portfolio, "csv").decode("utf-8")
    rows = list(csv.reader(io.StringIO(raw)))
    for row in rows:
        for cell in row:
            if cell.startswith(FORMULA_START):
                float(cell)  # only a number (a negative one) may start like a formula
    names = [r[2] for r in rows[1:]]
    assert "'" + FORMULA_NAME in names and FORMULA_NAME not in names
    assert HTML_NAME in names  # text in a CSV, shown as text


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        self.text.append(data)


def test_the_html_report_is_one_self_contained_page_with_charts(portfolio):
    html = report(portfolio, "html").decode("utf-8")
    page = Page()
    page.feed(html)
    tags = [t for t, _a in page.tags]
    assert "script" not in tags and "link" not in tags and "iframe" not in tags
    # every name escaped: the hostile one is text in the page, never markup
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; &amp; Sons" in html
    assert HTML_NAME in "".join(page.text)
    images = [a for t, a in page.tags if t == "img"]
    assert len(images) == 4  # lateness, phases, sign-off waits, time to value
    for attrs in images:
        src = attrs["src"] or ""
        assert src.startswith("data:image/png;base64,") and attrs.get("alt")
        picture = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert picture.format == "PNG" and picture.size[0] >= 900 and picture.size[1] >= 200
        colours = picture.convert("RGB").getcolors(maxcolors=1 << 20) or []
        assert len(colours) > 20, "a chart, not a blank image"
    # no resource from anywhere else
    for _t, attrs in page.tags:
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not value or value.startswith("data:"), value
    text = " ".join(" ".join(page.text).split())
    assert "Went live on time 50% 2 of 4 live engagements" in text
    for heading in (
        "Engagements",
        "Time in each phase",
        "Time per phase by size",
        "Sign-off waiting times",
        "Time to value",
    ):
        assert heading in text
    assert "4 waiting" in text  # Umbrella's sign-off


def test_the_report_writes_a_file_and_refuses_bad_options(portfolio, tmp_path):
    url, where = portfolio
    out = tmp_path / "report.html"
    proc = golive("report", "--format", "html", "--out", str(out), url=url, cwd=where)
    assert proc.returncode == 0 and out.read_bytes().startswith(b"<!DOCTYPE html>")
    assert f"wrote {out}: html, {len(SEEDS)} engagements" in proc.stderr.decode()
    bad = golive("report", "--format", "pdf", url=url, cwd=where)
    assert (
        bad.returncode == 2
        and "--format 'pdf' is not a report format; use csv or html" in bad.stderr.decode()
    )
    nowhere = golive("report", "--out", str(tmp_path / "missing" / "r.csv"), url=url, cwd=where)
    assert nowhere.returncode == 2 and "cannot write it" in nowhere.stderr.decode()
    assert not (tmp_path / "missing").exists()


def test_the_report_reads_postgresql_too(pg_url):
    from bot.engagement.report import build_report
    from storage.db import Database
    from tests.e2e.portfolio import PLAYBOOK

    seed_portfolio(pg_url)
    db = Database(pg_url)
    try:
        with db.read() as session:
            data = build_report(session, PLAYBOOK, NOW)
    finally:
        db.dispose()
    assert len(data.rows) == len(SEEDS)
    assert str(data.went_live_on_time) == "50% (2 of 4)"
    assert data.median_phase_days["small"]["discovery"] == 2.0


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_report_computed_by_several_processes_is_the_same_report(database, portfolio, request):
    """`golive report` shares a big portfolio's engagements among processes by id: the parts put
    together are the report one process makes, row for row and in every figure across them."""
    from bot.engagement.report import build_report
    from storage.db import Database
    from tests.e2e.portfolio import PLAYBOOK

    if database == "sqlite":
        url = portfolio[0]
    else:
        url = request.getfixturevalue("pg_url")
        seed_portfolio(url)
    db = Database(url)
    try:
        with db.read() as session:
            alone = build_report(session, PLAYBOOK, NOW)
            shared = build_report(session, PLAYBOOK, NOW, database_url=url, jobs=3, parallel_from=1)
            small = build_report(session, PLAYBOOK, NOW, database_url=url, jobs=3)  # too few to share
    finally:
        db.dispose()
    assert len(alone.rows) == len(SEEDS) and [r.id for r in shared.rows] == sorted(r.id for r in alone.rows)
    assert shared == alone and small == alone


FORKED = """
import sys, threading
from datetime import datetime
from bot.engagement.report import build_report
from bot.exports.report_render import to_csv
from storage.db import Database
from tests.e2e.portfolio import PLAYBOOK
assert threading.active_count() == 1  # as in `golive report`: the workers are forked
db = Database(sys.argv[1])
with db.read() as session:
    data = build_report(session, PLAYBOOK, datetime.fromisoformat(sys.argv[2]), database_url=sys.argv[1],
                        jobs=2, parallel_from=1)
sys.stdout.buffer.write(to_csv(data))
"""


def test_forked_workers_write_the_csv_the_command_line_writes(portfolio):
    url = portfolio[0]
    root = Path(__file__).resolve().parents[2]
    forked = subprocess.run(
        [sys.executable, "-c", FORKED, url, NOW.isoformat()], cwd=root, capture_output=True, timeout=120
    )
    assert forked.returncode == 0, forked.stderr.decode()[-2000:]
    assert forked.stdout == report(portfolio, "csv")


def test_an_empty_database_makes_an_empty_report_not_an_error(tmp_path):
    url = f"sqlite:///{(tmp_path / 'empty.sqlite3').as_posix()}"
    from storage.migrate import upgrade

    upgrade(url)
    html = golive("report", "--format", "html", url=url, cwd=tmp_path)
    assert html.returncode == 0, html.stderr.decode()[-2000:]
    assert b"No engagement yet" in html.stdout and b"<img" not in html.stdout
    rows = list(csv.DictReader(io.StringIO(golive("report", url=url, cwd=tmp_path).stdout.decode())))
    assert [r["row"] for r in rows] == ["summary", "summary", "median_by_size", "median_signoff_wait"]
    assert rows[0]["on_time"] == "— (none yet)"
    missing = golive("report", url=f"sqlite:///{(tmp_path / 'nothing.sqlite3').as_posix()}", cwd=tmp_path)
    assert missing.returncode == 2 and b"run `golive db upgrade`" in missing.stderr
