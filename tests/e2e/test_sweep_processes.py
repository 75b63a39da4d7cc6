"""`golive sweep` as real processes: two at once on one database send every reminder once;
`--dry-run` prints and changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest
from sqlmodel import select

from sandbox.harness import BOT_TOKEN, CONTRIBUTOR, LEAD, PERSONAS
from storage.models import Reminder

ENGAGEMENTS = 24
AT = "2026-12-02T10:00:00+01:00"  # Wednesday, inside Berlin working hours


def env_for(h) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GOLIVE_", "DATABASE_URL"))}
    base |= {
        "SLACK_API_URL": h.standin.api_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "DATABASE_URL": h.database_url,
        "LOG_LEVEL": "WARNING",
    }
    return base


def sweep(h, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "golive.cli", "sweep", "--at", AT, *args],
        env=env_for(h),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def many_engagements(h) -> list[str]:
    channels = []
    for n in range(ENGAGEMENTS):
        channel = f"C0CUST{n:03d}"
        h.standin.add_channel(
            channel, name=f"cust-{n}", ext_shared=True, members=[p.user_id for p in PERSONAS]
        )
        h.command(f"start Customer {n} size=small kickoff=2026-11-30 tz=Europe/Berlin", channel=channel)
        h.command(f"role <@{CONTRIBUTOR.user_id}|cody> contributor", channel=channel)
        channels.append(channel)
    return channels


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_send_each_reminder_once(harness_factory, request, backend):
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    h = harness_factory(url)
    channels = many_engagements(h)
    before = len(h.standin.calls_to("chat.postMessage"))
    h.standin.set_latency("chat.postMessage", 0.1)  # slow enough that both processes are busy at once
    # What is tested is the claim, not Slack's limits: the lead's direct messages (a reminder of
    # the team's items and a health alert from each of 24 engagements) would otherwise hit the
    # per-channel limit and leave a reminder pending for its retry a minute later, as they should.
    h.lift_rate_limits()
    procs = [sweep(h), sweep(h)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    nudges = Counter(
        c.args["channel"]
        for c in h.standin.calls_to("chat.postMessage")[before:]
        if "Friendly reminder" in str(c.args.get("text", "")) and c.status == 200
    )
    assert nudges == Counter({c: 1 for c in channels})
    with h.services.db.session() as session:
        rows = session.exec(select(Reminder).where(Reminder.kind == "nudge")).all()
    unsent = [
        (r.engagement_id, r.status, r.attempts, r.last_error, r.next_attempt_at)
        for r in rows
        if r.status != "sent"
    ]
    assert len(rows) == ENGAGEMENTS and not unsent, (unsent, outputs)
    # Both processes did part of the work (the claim, not luck, kept them apart).
    sent_counts = [o.count("sent nudge →") for o in outputs]  # (health alerts to the lead go too)
    assert sum(sent_counts) == ENGAGEMENTS and min(sent_counts) > 0, outputs


def test_dry_run_prints_and_changes_nothing(harness):
    h = harness
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role <@{CONTRIBUTOR.user_id}|cody> contributor")
    before = len(h.standin.calls)
    p = sweep(h, "--dry-run")
    out = p.communicate(timeout=60)[0]
    assert p.returncode == 0, out
    assert "1 would be sent" in out and "would send nudge" in out and "1.5" in out
    assert len(h.standin.calls) == before
    with h.services.db.session() as session:
        assert session.exec(select(Reminder).where(Reminder.kind == "nudge")).all() == []
    p = sweep(h)
    out = p.communicate(timeout=60)[0]
    assert out.count("sent nudge →") == 1, out
    assert LEAD.user_id  # the lead's engagement was the one nudged
