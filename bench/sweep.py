"""Benchmark: one reminder sweep among many engagements — its time follows what is due.

    .venv/bin/python bench/sweep.py --engagements N --due K [--database-url URL] [--json] [--compare]

Creates N engagements, of which K have overdue customer items at the sweep's moment (each gets
one consolidated nudge) and N-K have nothing due: one of each kind is made by `start_engagement`
(with a contributor named by slash command), the others are copies of it row for row (seconds,
not the minutes 10,000 starts take). Plans them all once (their first sweep, after hours), then
times one sweep, in process, at Wednesday 10:00 in Berlin. Checks that every due engagement got exactly one nudge and nothing else was
sent. `--database-url` is a PostgreSQL server: the benchmark creates a scratch database on it
and drops it afterwards (without it, a temporary SQLite file).

Targets (exit 1 when one is missed):
- nothing due (K = 0): the sweep takes under --max-idle-ms (100 ms) at any N;
- `--compare`: the same K due nudges are also sent among K engagements only (a fresh database);
  among N they may cost at most --max-ratio (twice) as much.

With `--json` the last line is
`{"engagements": N, "due": K, "sweep_ms": …, "sent": …, "peak_mb": …}`
(with `--compare`, the line before it is the same for the run among K).

`peak_mb` is the peak of Python's traced memory while the same sweep runs as a dry run just
before it (everything due planned and its message built, in a transaction rolled back; nothing
sent). Tracing slows Python down, so the timed sweep itself runs untraced.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (the tables)
from bot.clock import Clock
from bot.engagement.lifecycle import build_start_options, start_engagement
from bot.reminders.sweep import Sweeper
from sandbox.harness import CONTRIBUTOR, LEAD, PERSONAS, Harness, scratch_postgres, sqlite_url

SETUP_AT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin: the engagements start
FIRST_PLAN_AT = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)  # Tuesday 17:30 in Berlin: after hours
SWEEP_AT = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # Wednesday 10:00 in Berlin
DUE_KICKOFF = "2026-11-30"  # Discovery's customer items were due Tuesday: overdue at SWEEP_AT
QUIET_KICKOFF = "2026-12-02"  # Discovery's items are due Thursday: nothing due at SWEEP_AT
CLONES_PER_TRANSACTION = 250
NOT_COPIED = {"posted_message", "reminder", "reminder_attempt"}


@dataclass
class Result:
    engagements: int
    due: int
    sweep_ms: float
    sent: int
    peak_mb: float
    setup_s: float
    first_plan_s: float
    ok: bool
    problem: str = ""

    def line(self) -> str:
        return json.dumps(
            {
                "engagements": self.engagements,
                "due": self.due,
                "sweep_ms": round(self.sweep_ms, 1),
                "sent": self.sent,
                "peak_mb": round(self.peak_mb, 1),
            }
        )


# -- a scratch database ----------------------------------------------------------------------
@contextmanager
def scratch_database(server_url: str | None) -> Iterator[str]:
    if not server_url:
        with tempfile.TemporaryDirectory() as d:
            yield sqlite_url(Path(d))
        return
    url = make_url(server_url)
    if url.get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a PostgreSQL server URL (SQLite is the default)")
    with scratch_postgres(server_url) as scratch:
        yield scratch


# -- engagements -----------------------------------------------------------------------------
def start_one(h: Harness, n: int, kickoff: str) -> int:
    """One engagement exactly as `/golive start` makes it, with a customer contributor."""
    services = h.services
    opts = build_start_options(
        name=f"Customer {n}",
        size="small",
        kickoff=kickoff,
        target=None,
        tz="Europe/Berlin",
        country=None,
        pilot=None,
        ingest=None,
        now=SETUP_AT,
        default_tz="UTC",
    )
    with services.db.session() as session:
        e = start_engagement(
            session,
            opts,
            playbook=services.playbook,
            team_id="T0VENDOR",
            channel_id=channel_of(n),
            user_id=LEAD.user_id,
            user_name=LEAD.name,
            now=SETUP_AT,
        )
        return e.id  # type: ignore[return-value]


def channel_of(n: int) -> str:
    return f"C0B{n:06d}"


class Cloner:
    """Copies every row an engagement owns (phases, items, gates, members and roles, its audit
    row and next-check request…), with new ids and the foreign keys mapped, so that N
    engagements made by `start_engagement` take seconds, not minutes. Generic over the tables:
    each row of a table whose foreign key points at a copied row is copied too."""

    def __init__(self, h: Harness, template_id: int) -> None:
        self.db = h.services.db
        # Messages posted in a channel are not the engagement's to copy (and their ts is unique).
        self.tables = [t for t in SQLModel.metadata.sorted_tables if "id" in t.c and t.name not in NOT_COPIED]
        self.rows: dict[str, list[dict[str, Any]]] = {}
        copied: dict[str, set[Any]] = {"engagement": {template_id}}
        with self.db.engine.connect() as conn:
            for t in self.tables:
                if t.name == "engagement":
                    rows = conn.execute(select(t).where(t.c.id == template_id)).mappings().all()
                else:
                    parents = [
                        (fk.parent.name, fk.column.table.name)
                        for fk in t.foreign_keys
                        if fk.column.table.name in copied
                    ]
                    if not parents:
                        continue
                    rows = [
                        r
                        for r in conn.execute(select(t)).mappings().all()
                        if any(r[col] in copied[parent] for col, parent in parents)
                    ]
                if rows:
                    self.rows[t.name] = [dict(r) for r in rows]
                    copied[t.name] = {r["id"] for r in rows}

    def copy(self, numbers: list[int]) -> None:
        with self.db.engine.begin() as conn:
            next_id = {
                name: (conn.execute(text(f'SELECT COALESCE(MAX(id), 0) FROM "{name}"')).scalar() or 0) + 1
                for name in self.rows
            }
            for chunk_start in range(0, len(numbers), CLONES_PER_TRANSACTION):
                chunk = numbers[chunk_start : chunk_start + CLONES_PER_TRANSACTION]
                out: dict[str, list[dict[str, Any]]] = {name: [] for name in self.rows}
                for n in chunk:
                    new_ids: dict[str, dict[Any, int]] = {}
                    for t in self.tables:
                        if t.name not in self.rows:
                            continue
                        mapping = new_ids.setdefault(t.name, {})
                        fks = [
                            (fk.parent.name, fk.column.table.name)
                            for fk in t.foreign_keys
                            if fk.column.table.name in self.rows
                        ]
                        for row in self.rows[t.name]:
                            new = dict(row)
                            mapping[row["id"]] = new["id"] = next_id[t.name]
                            next_id[t.name] += 1
                            for col, parent in fks:
                                if new[col] is not None:
                                    new[col] = new_ids[parent][new[col]]
                            if t.name == "engagement":
                                new["channel_id"], new["customer_name"] = channel_of(n), f"Customer {n}"
                            out[t.name].append(new)
                for t in self.tables:
                    if out.get(t.name):
                        conn.execute(insert(t), out[t.name])
            if conn.dialect.name == "postgresql":
                for name in self.rows:
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT MAX(id) FROM \"{name}\"))"
                        )
                    )


def make_engagements(h: Harness, total: int, due: int) -> list[str]:
    """`total` engagements, the first `due` of which have overdue customer items at SWEEP_AT.
    Returns the due ones' channels (the stand-in knows them; no other channel should hear)."""
    due_channels = [channel_of(n) for n in range(due)]
    for kind_numbers, kickoff in ((list(range(due)), DUE_KICKOFF), (list(range(due, total)), QUIET_KICKOFF)):
        if not kind_numbers:
            continue
        template = start_one(h, kind_numbers[0], kickoff)
        h.command(f"role <@{CONTRIBUTOR.user_id}|cody> contributor", channel=channel_of(kind_numbers[0]))
        # The team's own items are done: what is due is the customer's (the team's overdue items
        # would be reminded privately, to the one lead all copies share, a DM channel paced at
        # one message a second).
        h.command("done 1.1 1.2 1.3 1.4", channel=channel_of(kind_numbers[0]))
        Cloner(h, template).copy(kind_numbers[1:])
    return due_channels


def settle(h: Harness) -> None:
    """PostgreSQL: statistics for the planner and no autovacuum pass during the timed sweep, as
    on a database that has been running for a while (autovacuum analyzes tables after bulk
    inserts; here the inserts happened a second ago)."""
    db = h.services.db
    if db.is_sqlite:
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


# -- measuring -------------------------------------------------------------------------------
def traced_peak_mb(sweeper: Sweeper) -> float:
    """Peak traced Python memory of a dry run of the sweep at SWEEP_AT (plans and builds, sends
    nothing, writes nothing)."""
    tracemalloc.start()
    try:
        report = sweeper.run(SWEEP_AT, dry_run=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not report.sent
    return peak / 2**20


def run(engagements: int, due: int, database_url: str | None) -> Result:
    with scratch_database(database_url) as url:
        clock = Clock(SETUP_AT)
        h = Harness(url, clock=clock).start()
        try:
            # The stand-in knows the channels that should hear from the bot (the due ones) and
            # the quiet template's, where a contributor is named by slash command.
            for n in [*range(due), *([due] if due < engagements else [])]:
                h.standin.add_channel(
                    channel_of(n), name=f"b{n}", ext_shared=True, members=[p.user_id for p in PERSONAS]
                )
            t0 = time.perf_counter()
            due_channels = make_engagements(h, engagements, due)
            setup_s = time.perf_counter() - t0
            sweeper = Sweeper(h.services, worker="bench")
            clock.set(FIRST_PLAN_AT)
            t0 = time.perf_counter()
            first = sweeper.run(FIRST_PLAN_AT)
            first_plan_s = time.perf_counter() - t0
            if first.sent or first.failed:
                return Result(
                    engagements, due, 0, 0, 0, setup_s, first_plan_s, False, "the first plan sent something"
                )
            settle(h)
            before = len(h.standin.calls)
            clock.set(SWEEP_AT)
            peak_mb = traced_peak_mb(sweeper)
            t0 = time.perf_counter()
            report = sweeper.run(SWEEP_AT)
            sweep_ms = (time.perf_counter() - t0) * 1000
            posts = [
                c for c in h.standin.calls[before:] if c.method == "chat.postMessage" and c.status == 200
            ]
        finally:
            h.stop()
    nudged = Counter(c.args["channel"] for c in posts if "Friendly reminder" in str(c.args.get("text", "")))
    problem = ""
    if nudged != Counter(due_channels):
        problem = f"nudges by channel differ from one per due engagement ({sum(nudged.values())} sent)"
    elif len(posts) != due or report.failed or report.retried:
        problem = f"other messages or failures: {len(posts)} posts, {report.failed[:3]} {report.retried[:3]}"
    return Result(
        engagements,
        due,
        sweep_ms,
        len(report.sent),
        peak_mb,
        setup_s,
        first_plan_s,
        not problem,
        problem,
    )


def table(results: list[Result]) -> str:
    head = f"{'engagements':>11}  {'due':>5}  {'sweep ms':>9}  {'ms per due':>10}  {'sent':>5}  {'peak MB':>7}  {'setup s':>7}  {'first plan s':>12}"
    lines = [head, "-" * len(head)]
    for r in results:
        per = f"{r.sweep_ms / r.due:.2f}" if r.due else "-"
        lines.append(
            f"{r.engagements:>11}  {r.due:>5}  {r.sweep_ms:>9.1f}  {per:>10}  {r.sent:>5}  {r.peak_mb:>7.1f}  "
            f"{r.setup_s:>7.1f}  {r.first_plan_s:>12.1f}"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engagements", type=int, required=True, help="engagements in the database (N)")
    ap.add_argument("--due", type=int, required=True, help="how many of them have a nudge due (K)")
    ap.add_argument("--database-url", default=None, help="a PostgreSQL server (default: SQLite)")
    ap.add_argument("--json", action="store_true", help="end with one JSON line")
    ap.add_argument("--compare", action="store_true", help="also send the K nudges among K engagements only")
    ap.add_argument("--max-idle-ms", type=float, default=100.0)
    ap.add_argument("--max-ratio", type=float, default=2.0)
    args = ap.parse_args()
    if not 0 <= args.due <= args.engagements or args.engagements < 1:
        ap.error("need 1 ≤ engagements and 0 ≤ due ≤ engagements")
    if args.compare and args.due == 0:
        ap.error("--compare needs due nudges (--due K > 0)")

    results = []
    if args.compare:
        results.append(run(args.due, args.due, args.database_url))
    results.append(run(args.engagements, args.due, args.database_url))
    main_run = results[-1]
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"One reminder sweep, {backend}, at Wednesday 10:00 in Berlin:")
    print(table(results))
    failures = [f"{r.engagements}/{r.due}: {r.problem}" for r in results if not r.ok]
    if args.due == 0 and main_run.sweep_ms >= args.max_idle_ms:
        failures.append(f"nothing due took {main_run.sweep_ms:.1f} ms (target < {args.max_idle_ms:.0f} ms)")
    if args.compare:
        ratio = main_run.sweep_ms / max(results[0].sweep_ms, 1e-9)
        print(
            f"{args.due} nudges among {args.engagements} engagements cost {ratio:.2f}× "
            f"what they cost among {args.due} (target ≤ {args.max_ratio:.1f}×)"
        )
        if ratio > args.max_ratio:
            failures.append(f"ratio {ratio:.2f} > {args.max_ratio}")
    print("OK" if not failures else "FAIL: " + "; ".join(failures))
    if args.json:
        for r in results:
            print(r.line())
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
