"""Benchmark: one reminder sweep over many engagements — time and peak memory.

Creates N engagements whose customer items are overdue (each gets a consolidated nudge), then
runs one sweep against the Slack stand-in and reports the time per engagement and the peak
Python memory of the sweep.

    .venv/bin/python bench/sweep.py [--engagements 300] [--database-url postgresql://…]

Exits 1 when the sweep takes more than --max-ms per engagement (default 60 ms) or its peak
memory exceeds --max-mb (default 64 MB), or when a nudge was not sent exactly once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bot.clock import Clock
from bot.engagement.lifecycle import build_start_options, start_engagement
from bot.reminders.sweep import Sweeper
from harness import LEAD, PERSONAS, Harness, sqlite_url

START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
SWEEP_AT = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # Wednesday 10:00 in Berlin: Discovery is overdue


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engagements", type=int, default=300)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--max-ms", type=float, default=60.0)
    ap.add_argument("--max-mb", type=float, default=64.0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as d:
        clock = Clock(START)
        h = Harness(args.database_url or sqlite_url(Path(d)), clock=clock).start()
        try:
            s = h.services
            channels = []
            for n in range(args.engagements):
                channel = f"C0B{n:05d}"
                h.standin.add_channel(
                    channel, name=f"b{n}", ext_shared=True, members=[p.user_id for p in PERSONAS]
                )
                opts = build_start_options(
                    name=f"Customer {n}",
                    size="small",
                    kickoff="2026-11-30",
                    target=None,
                    tz="Europe/Berlin",
                    country=None,
                    pilot=None,
                    ingest=None,
                    now=START,
                    default_tz="UTC",
                )
                with s.db.session() as session:
                    start_engagement(
                        session,
                        opts,
                        playbook=s.playbook,
                        team_id="T0VENDOR",
                        channel_id=channel,
                        user_id=LEAD.user_id,
                        user_name=LEAD.name,
                        now=START,
                    )
                channels.append(channel)
            clock.set(SWEEP_AT)
            sweeper = Sweeper(s, worker="bench")
            tracemalloc.start()
            t0 = time.perf_counter()
            report = sweeper.run(SWEEP_AT)
            elapsed = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            sent = Counter(
                c.args["channel"]
                for c in h.standin.calls_to("chat.postMessage")
                if str(c.args.get("text", "")).startswith("Friendly reminder")
            )
        finally:
            h.stop()
    per = elapsed * 1000 / args.engagements
    once = sent == Counter({c: 1 for c in channels})
    print(
        f"{args.engagements} engagements: sweep {elapsed:.2f} s ({per:.1f} ms each), "
        f"peak memory {peak / 2**20:.1f} MB, {len(report.sent)} messages sent"
    )
    ok = per <= args.max_ms and peak / 2**20 <= args.max_mb and once
    print(
        "  OK"
        if ok
        else f"  FAIL: want ≤ {args.max_ms} ms each, ≤ {args.max_mb} MB, each nudge once ({once})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
