"""Several replicas on one database: two `golive serve` processes, each with its own sweep clock,
plus two `golive sweep` runs from cron, against one Slack stand-in. Every reminder goes out once,
and 40 concurrent Approve clicks spread over both servers make one decision."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select

from sandbox.harness import APPROVER, CHANNEL, CONTRIBUTOR, LEAD, start_standin
from sandbox.harness.processes import free_port, serve_env, spawn, stop, wait_http
from standin import SlackDriver
from storage.models import AuditEvent, Reminder, SignoffDecision, SignoffRequest
from tests.e2e.helpers import mention


def night_zone(now: datetime) -> str:
    """A fixed-offset zone where it is between 02:00 and 05:00 at `now` (Etc/GMT signs are
    inverted: Etc/GMT-3 is three hours ahead of UTC)."""
    offset = next(o for o in range(-12, 15) if 2 <= (now.hour + o) % 24 < 5)
    return f"Etc/GMT{-offset:+d}"


def rows(url: str, model, *where):  # type: ignore[no-untyped-def]
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with Session(engine) as session:
            return list(session.exec(select(model).where(*where)).all())
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_replicas_and_cron_sweeps_send_each_reminder_once_and_decide_once(request, tmp_path, backend):
    url = (
        request.getfixturevalue("pg_url")
        if backend == "postgresql"
        else f"sqlite:///{tmp_path / 'r.sqlite3'}"
    )
    standin = start_standin()
    env = serve_env(standin, url, GOLIVE_SWEEP_SECONDS="1", LOG_LEVEL="WARNING")
    ports = [free_port(), free_port()]
    servers = [spawn(["serve", "--host", "127.0.0.1", "--port", str(p)], env, tmp_path) for p in ports]
    try:
        for port, proc in zip(ports, servers, strict=True):
            assert wait_http(f"http://127.0.0.1:{port}/healthz", proc) == 200
        a, b = (SlackDriver(standin, bot_url=f"http://127.0.0.1:{p}/slack/events") for p in ports)
        # Real time: both servers sweep every second from the start, so the engagement is started
        # where it is night now (outside the default working hours) and its people are named before
        # its hours open; else a sweep in between spends today's nudge on the lead's private list
        # (nobody named yet on the customer's side) and the customer's comes tomorrow. It started
        # ten days ago, so its Discovery items are overdue.
        now = datetime.now(UTC)
        zone = night_zone(now)
        local_now = now.astimezone(ZoneInfo(zone))
        kickoff = (local_now - timedelta(days=10)).date().isoformat()
        assert (
            a.command(
                "/golive",
                f"start Acme Corp size=small kickoff={kickoff} tz={zone}",
                user=LEAD.user_id,
                channel=CHANNEL,
            ).status
            == 200
        )
        standin.wait_for(
            lambda: [m for m in standin.messages(CHANNEL) if "kicked off" in m["text"]], timeout=15
        )
        for n, who in enumerate(
            (f"{mention(CONTRIBUTOR)} contributor", f"{mention(APPROVER)} approver"), start=1
        ):
            assert a.command("/golive", f"role {who}", user=LEAD.user_id, channel=CHANNEL).status == 200
            standin.wait_for(  # the role is confirmed after users.info, through response_url
                lambda n=n: (
                    len(
                        [
                            e
                            for e in standin.ephemerals(user=LEAD.user_id)
                            if "is now" in (e.get("text") or "")
                        ]
                    )
                    >= n
                ),
                timeout=15,
            )
        # Its customer works every hour of every day (no public holidays): the hours open now.
        assert (
            b.command(
                "/golive", "settings hours=00:00-24:00 days=mon-sun", user=LEAD.user_id, channel=CHANNEL
            ).status
            == 200
        )
        dry = local_now + timedelta(minutes=40)  # its 1-hour-before reminder is due now
        b.command("/golive", f"dryrun {dry:%Y-%m-%d %H:%M}", user=LEAD.user_id, channel=CHANNEL)
        # Both servers sweep every second; two cron sweeps run at the same time.
        crons = [spawn(["sweep"], env, tmp_path) for _ in range(2)]
        for proc in crons:
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0, out

        def posted(prefix: str) -> list[dict]:
            return [m for m in standin.messages(CHANNEL) if prefix in (m.get("text") or "")]

        standin.wait_for(lambda: posted("Friendly reminder") and posted("Go-live dry run"), timeout=30)
        time.sleep(4)  # several more sweeps of both servers
        assert len(posted("Friendly reminder")) == 1
        # (a health change goes to the lead privately: not in the channel)
        sent = [r for r in rows(url, Reminder, Reminder.status == "sent") if r.kind != "health"]
        assert {r.kind for r in sent} >= {"nudge", "dryrun"}
        # Every reminder sent is in the channel exactly once.
        in_channel = {m["ts"] for m in standin.messages(CHANNEL)}
        assert all(r.sent_ts in in_channel for r in sent)
        assert len({r.sent_ts for r in sent}) == len(sent)
        assert (
            len(posted("Go-live dry run")) == len([r for r in sent if r.kind == "dryrun"]) + 1
        )  # + scheduled

        # The request (its items are open: the lead confirms it in a form), then the approver's
        # Approve form submitted 40 times at once, half to each server.
        b.command("/golive", "signoff solution_design", user=LEAD.user_id, channel=CHANNEL)
        [confirm] = standin.wait_for(lambda: standin.open_views(LEAD.user_id), timeout=15)
        a.submit_view(confirm["id"], {}, user=LEAD.user_id)
        [req] = standin.wait_for(lambda: [r for r in rows(url, SignoffRequest) if r.ts], timeout=15)
        a.click(CHANNEL, req.ts, f"signoff_approve:{req.id}", user=APPROVER.user_id)
        [form] = standin.wait_for(lambda: standin.open_views(APPROVER.user_id), timeout=15)
        submits = [a.submit_payload(form["id"], {}, user=APPROVER.user_id) for _ in range(40)]
        with ThreadPoolExecutor(max_workers=40) as pool:
            answers = list(
                pool.map(
                    lambda n: (a if n % 2 else b).send(
                        urlencode({"payload": json.dumps(submits[n])}),
                        "application/x-www-form-urlencoded",
                    ),
                    range(40),
                )
            )
        assert all(r.status == 200 for r in answers)
        standin.wait_for(
            lambda: rows(url, SignoffDecision),
            timeout=15,
            message=f"a decision; the approver was told: {[e.get('text') for e in standin.ephemerals(user=APPROVER.user_id)][-1:]}, the lead: {[e.get('text') for e in standin.ephemerals(user=LEAD.user_id)]}",
        )
        time.sleep(2)
        assert len(rows(url, SignoffDecision)) == 1
        assert len(rows(url, AuditEvent, AuditEvent.kind == "signoff.approved")) == 1
        decided = [m for m in standin.messages(CHANNEL) if "approved" in (m.get("text") or "").lower()]
        assert len([m for m in decided if m["ts"] != req.ts]) == 1
    except AssertionError as exc:
        outs = [stop(p) for p in servers]
        raise AssertionError(
            f"{exc}\n--- server logs ---\n" + "\n".join(o[-4000:] for _c, o in outs)
        ) from None
    finally:
        outs = [stop(p) for p in servers]
        standin.stop()
    for code, out in outs:
        assert code == 0, out
        assert "Traceback" not in out, out
