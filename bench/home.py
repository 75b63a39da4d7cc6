"""Benchmark: App Home among 10,000 engagements (issue 25, part 5), and `golive report` over them.

    .venv/bin/python bench/home.py [--engagements 10000] [--database-url URL] [--renders 7] [--runs 3] [--json]
        [--profile-report]

Builds the engagements as `/golive start` makes them (`seed()` of bench/ack_latency.py: three
sizes, three time zones, all led by one lead), then gives them a spread of health (a target
passed on every 11th, items overdue on every 7th), and plans them all once (the sweep's planner:
every sort key stored). Two viewers:

- the admin (`GOLIVE_ADMINS`), lead of every engagement: Mine and All are all 10,000;
- a colleague who is not an admin, in 30 % of the channels (`ChannelMember`, 3,000 at 10,000) and
  lead of 40 of those: Mine is 40, All 3,000.

For each viewer and view it times `home_view` (what a views.publish renders) on the first page and
a middle one: the median of `--renders` renders, and the peak of Python's traced memory of one more
render (tracing slows Python down, so the timed renders run untraced). Two more cases: the admin's
All with `STALE_MAX` engagements changed since the sweep (their keys computed when drawn), and a
day later with the sweep not come yet (every key stale: the order as stored). And
`viewers_of` (whom a change re-publishes) for an engagement, among 2,000 people who opened Home
(five of them in each channel), median of 50.

Then `golive report` (CSV, the console script in a process of its own) over the same engagements,
the median of three. `--profile-report` prints where `build_report`'s time goes (cProfile).

`--database-url` is a PostgreSQL server: the benchmark creates a scratch database on it and drops
it afterwards (without it, a temporary SQLite file).

The engagements are seeded once (about seven minutes at 10,000) and measured `--runs` times (3 by
default): each run is every case above, `viewers_of` and the report, and leaves the database as it
found it.

Targets (exit 1 when one is missed in any run): every render's median under 300 ms and its traced
peak under 50 MB; `viewers_of` under 50 ms; `golive report` under 10 s. With `--json` the last
line is

    {"engagements": N, "database": "SQLite" | "PostgreSQL",
     "runs": [{"renders": [{"case": …, "count": …, "page": …, "median_ms": …, "peak_mb": …}, …],
               "viewers_of_ms": …, "report_s": …}, …],
     "setup_s": …, "plan_s": …, "ok": true | false}
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ack_latency import seed  # bench/ is the script's directory: on sys.path
from sqlalchemy import delete, insert, text
from sqlalchemy.engine import make_url
from sqlmodel import col

from bot.clock import Clock
from bot.config import load_settings
from bot.engagement import portfolio
from bot.reminders.planning import Planner
from bot.slack.home import ALL, MINE, PER_PAGE, home_view, remember_viewer, viewers_of
from golive.app import build_services
from sandbox.harness import CONSULTANT, LEAD, scratch_postgres, sqlite_url
from storage.models import ChannelMember, HomeViewer, Member, MemberRole, NextCheckRequest

ROOT = Path(__file__).resolve().parents[1]
RENDER_TARGET_MS = 300.0
PEAK_TARGET_MB = 50.0
VIEWERS_TARGET_MS = 50.0
REPORT_TARGET_S = 10.0
CHANNEL_SHARE = 0.3  # of the channels the colleague is in
LEAD_OF = 40  # engagements the colleague leads
HOME_VIEWERS = 2000  # other people who opened Home, looking at all engagements
PER_CHANNEL = 5  # of them in each channel
COUNT = re.compile(r"(\d+) engagements?, riskiest first")


@dataclass
class Render:
    case: str
    count: int
    page: int
    median_ms: float
    peak_mb: float


@contextmanager
def scratch_database(server_url: str | None) -> Iterator[str]:
    if not server_url:
        with tempfile.TemporaryDirectory() as d:
            yield sqlite_url(Path(d))
        return
    if make_url(server_url).get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a PostgreSQL server URL (SQLite is the default)")
    with scratch_postgres(server_url) as scratch:
        yield scratch


def channel_of(n: int) -> str:
    return f"C0SEED{n:06d}"  # as seed() names them


# -- the portfolio ---------------------------------------------------------------------------
def spread_health(url: str, count: int, now: datetime) -> None:
    """Late (a target passed) on every 11th engagement, items overdue on every 7th (one to five of
    them): the order by risk is not the order by name or id."""
    from storage.db import Database

    db = Database(url)
    today = now.date()
    try:
        with db.engine.begin() as conn:
            conn.execute(
                text("UPDATE engagement SET target_on = :day WHERE id % 11 = 0"),
                {"day": today - timedelta(days=3)},
            )
            conn.execute(
                text(
                    "UPDATE item SET due_on = :day WHERE engagement_id % 7 = 0 "
                    "AND number <= 1 + engagement_id % 5 AND status = 'open'"
                ),
                {"day": today - timedelta(days=4)},
            )
    finally:
        db.dispose()


def add_people(services: Any, count: int, now: datetime) -> None:
    """The colleague's channels and engagements; the other people who opened Home, in the channels."""
    ids = list(range(count))
    theirs = [n for n in ids if n % 10 < round(CHANNEL_SHARE * 10)]
    led = theirs[:: max(1, len(theirs) // LEAD_OF)][:LEAD_OF]
    members = [{"channel_id": channel_of(n), "user_id": CONSULTANT.user_id} for n in theirs]
    others = [f"U0V{v:05d}" for v in range(HOME_VIEWERS)]
    members += [
        {"channel_id": channel_of(n), "user_id": others[(n * PER_CHANNEL + k) % HOME_VIEWERS]}
        for n in ids
        for k in range(PER_CHANNEL)
    ]
    with services.db.session() as session:
        engagement_ids = {
            channel: engagement_id
            for engagement_id, channel in session.execute(text("SELECT id, channel_id FROM engagement"))
        }
        for chunk in range(0, len(members), 5000):
            session.execute(insert(ChannelMember), members[chunk : chunk + 5000])
        session.execute(
            insert(HomeViewer),
            [{"user_id": u, "view": ALL, "page": 1, "opened_at": now} for u in others],
        )
        for n in led:
            member = Member(
                engagement_id=engagement_ids[channel_of(n)],
                user_id=CONSULTANT.user_id,
                team_id="T0VENDOR",
                display_name=CONSULTANT.name,
                added_by=LEAD.user_id,
                added_at=now,
            )
            session.add(member)
            session.flush()
            session.add(MemberRole(member_id=member.id, role="lead"))  # type: ignore[arg-type]


def settle(services: Any) -> None:
    """PostgreSQL: statistics for the planner, as on a database that has been running a while."""
    if services.db.is_sqlite:
        return
    with services.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


# -- measuring -------------------------------------------------------------------------------
def time_render(services: Any, user: str, view: str, page: int, renders: int) -> tuple[float, float, int]:
    """(median ms, traced peak MB, the count shown) of `renders` renders of `user`'s Home."""
    remember_viewer(services, user, view=view)
    remember_viewer(services, user, page=page)
    times = []
    for _ in range(renders):
        t0 = time.perf_counter()
        home = home_view(services, user)
        times.append((time.perf_counter() - t0) * 1000)
    tracemalloc.start()
    try:
        home_view(services, user)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    said = COUNT.search(json.dumps(home["blocks"]))
    return statistics.median(times), peak / 2**20, int(said.group(1)) if said else 0


def pages_of(count: int) -> tuple[int, int]:
    pages = max(1, -(-count // PER_PAGE))
    return 1, max(1, (pages + 1) // 2)


def report_seconds(url: str, now: datetime, runs: int = 3) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GOLIVE_", "DATABASE_URL"))}
    env |= {"DATABASE_URL": url, "SLACK_BOT_TOKEN": "xoxb-bench"}
    times = []
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "report.csv"
        for _ in range(runs):
            t0 = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "golive.cli", "report", "--out", str(out), "--at", now.isoformat()],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            times.append(time.perf_counter() - t0)
            if done.returncode != 0:
                raise SystemExit(f"golive report failed:\n{done.stdout}{done.stderr}")
    return statistics.median(times)


def profile_report(services: Any, now: datetime) -> str:
    from bot.engagement.report import build_report
    from bot.exports.report_render import to_csv

    profiler = cProfile.Profile()
    with services.db.read() as session:
        profiler.enable()
        to_csv(build_report(session, services.playbook, now))
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    return out.getvalue()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seed once, then `--runs` measurements over the same engagements, each one a whole round
    (every render, viewers_of and the report) that leaves the database as it found it."""
    with scratch_database(args.database_url) as url:
        t0 = time.perf_counter()
        seed(url, args.engagements)
        now = datetime.now(UTC).replace(microsecond=0)
        spread_health(url, args.engagements, now)
        setup_s = time.perf_counter() - t0
        settings = load_settings(
            _env_file=None,
            SLACK_BOT_TOKEN="xoxb-bench",
            DATABASE_URL=url,
            GOLIVE_ADMINS=LEAD.user_id,
            SLACK_API_URL="http://127.0.0.1:9/api/",  # never called: nothing here asks Slack
        )
        services = build_services(settings, clock=Clock(now))
        try:
            t0 = time.perf_counter()
            planned = Planner(services).plan_all(now)
            plan_s = time.perf_counter() - t0
            assert planned == args.engagements, planned
            add_people(services, args.engagements, now)
            settle(services)
            runs = []
            for _ in range(args.runs):
                measured = measure(services, args, now)
                services.db.dispose()  # the report runs in a process of its own, on a quiet database
                measured["report_s"] = round(report_seconds(url, now), 2)
                runs.append(measured)
            profile = profile_report(services, now) if args.profile_report else ""
        finally:
            services.db.dispose()
    return {
        "engagements": args.engagements,
        "database": "PostgreSQL" if args.database_url else "SQLite",
        "runs": runs,
        "setup_s": round(setup_s, 1),
        "plan_s": round(plan_s, 1),
        "profile": profile,
    }


def measure(services: Any, args: argparse.Namespace, now: datetime) -> dict[str, Any]:
    """One round: every render case, then viewers_of."""
    renders: list[Render] = []
    cases = [
        ("admin, Mine", LEAD.user_id, MINE, args.engagements),
        ("admin, All", LEAD.user_id, ALL, args.engagements),
        ("colleague, Mine", CONSULTANT.user_id, MINE, LEAD_OF),
        (
            "colleague, All",
            CONSULTANT.user_id,
            ALL,
            sum(1 for n in range(args.engagements) if n % 10 < 3),
        ),
    ]
    for name, user, view, expected in cases:
        for page in pages_of(expected):
            median_ms, peak_mb, count = time_render(services, user, view, page, args.renders)
            if count != expected:
                raise SystemExit(f"{name}: Home says {count} engagements, expected {expected}")
            renders.append(Render(name, count, page, median_ms, peak_mb))
    # The last minute's changes, not planned yet: computed when drawn, merged into the order.
    changed = list(range(1, args.engagements + 1, max(1, args.engagements // portfolio.STALE_MAX)))
    changed = changed[: portfolio.STALE_MAX]
    with services.db.session() as session:
        session.execute(insert(NextCheckRequest), [{"engagement_id": i, "at": now} for i in changed])
    median_ms, peak_mb, count = time_render(services, LEAD.user_id, ALL, 1, args.renders)
    renders.append(Render(f"admin, All, {portfolio.STALE_MAX} changed", count, 1, median_ms, peak_mb))
    with services.db.session() as session:  # as it was, for the next round
        session.execute(delete(NextCheckRequest).where(col(NextCheckRequest.engagement_id).in_(changed)))
    # Just after midnight, before the sweep's tick: every key stale, the order as stored.
    services.clock.set(now + timedelta(days=1))
    median_ms, peak_mb, count = time_render(services, LEAD.user_id, ALL, 1, args.renders)
    renders.append(Render("admin, All, a day later", count, 1, median_ms, peak_mb))
    services.clock.set(now)
    times = []
    for n in range(50):
        t0 = time.perf_counter()
        found = viewers_of(services, 1 + (n * 37) % args.engagements)
        times.append((time.perf_counter() - t0) * 1000)
    assert PER_CHANNEL <= len(found) <= PER_CHANNEL + 3, found
    return {"renders": [asdict(r) for r in renders], "viewers_of_ms": round(statistics.median(times), 2)}


def table(measured: dict[str, Any]) -> str:
    head = f"{'Home':<26} {'engagements':>11} {'page':>5} {'median ms':>10} {'peak MB':>8}"
    lines = [head, "-" * len(head)]
    for r in measured["renders"]:
        lines.append(
            f"{r['case']:<26} {r['count']:>11} {r['page']:>5} {r['median_ms']:>10.1f} {r['peak_mb']:>8.1f}"
        )
    lines.append(f"{'viewers_of':<26} {'':>11} {'':>5} {measured['viewers_of_ms']:>10.2f}")
    lines.append(f"golive report (CSV): {measured['report_s']:.2f} s")
    return "\n".join(lines)


def failures_of(measured: dict[str, Any]) -> list[str]:
    failures = [
        f"{r['case']} page {r['page']}: {r['median_ms']:.0f} ms"
        for r in measured["renders"]
        if r["median_ms"] >= RENDER_TARGET_MS
    ]
    failures += [
        f"{r['case']} page {r['page']}: {r['peak_mb']:.1f} MB"
        for r in measured["renders"]
        if r["peak_mb"] >= PEAK_TARGET_MB
    ]
    if measured["viewers_of_ms"] >= VIEWERS_TARGET_MS:
        failures.append(f"viewers_of {measured['viewers_of_ms']:.1f} ms")
    if measured["report_s"] >= REPORT_TARGET_S:
        failures.append(f"golive report {measured['report_s']:.1f} s")
    return failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engagements", type=int, default=10000)
    ap.add_argument("--database-url", default=None, help="a PostgreSQL server (default: SQLite)")
    ap.add_argument("--renders", type=int, default=7, help="renders timed per case (the median is kept)")
    ap.add_argument("--runs", type=int, default=3, help="rounds measured over the one seeded database")
    ap.add_argument("--json", action="store_true", help="end with one JSON line")
    ap.add_argument("--profile-report", action="store_true", help="print where golive report's time goes")
    args = ap.parse_args()
    if args.engagements < 100:
        ap.error("--engagements: at least 100 (the colleague leads 40 of the channels they are in)")
    result = run(args)
    failures = []
    for n, measured in enumerate(result["runs"], 1):
        print(f"App Home among {args.engagements} engagements, {result['database']}, run {n} of {args.runs}:")
        print(table(measured))
        failures += [f"run {n}: {f}" for f in failures_of(measured)]
    print(
        f"setup (seed + spread): {result['setup_s']:.1f} s; planning every engagement: {result['plan_s']:.1f} s"
    )
    profile = result.pop("profile")
    if profile:
        print(profile)
    result["ok"] = not failures
    print(
        f"targets: render < {RENDER_TARGET_MS:.0f} ms and < {PEAK_TARGET_MB:.0f} MB, viewers_of < "
        f"{VIEWERS_TARGET_MS:.0f} ms, report < {REPORT_TARGET_S:.0f} s, in every run"
    )
    print("OK" if not failures else "FAIL: " + "; ".join(failures))
    if args.json:
        print(json.dumps(result))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
