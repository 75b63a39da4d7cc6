"""Issue 2 flows end to end: signed requests over HTTP into the bot, Slack answered by the stand-in."""

from __future__ import annotations

import logging
import re
import time
import urllib.request

import pytest

from sandbox.harness import APPROVER, CHANNEL, LEAD
from storage.db import Database
from storage.models import Engagement, EngagementPhase, Member, MemberRole, ProcessedEvent
from tests.e2e.helpers import blocks_text, count, dump, engagement, ephemeral_texts, posts, welcomes


# -- signatures ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw",
    [
        {"signature": None},  # missing
        {"signature": "v0=" + "0" * 64},  # wrong
        {"timestamp": int(time.time()) - 6 * 60},  # stale: more than 5 minutes old
    ],
    ids=["missing", "wrong", "stale"],
)
def test_bad_signatures_get_401_and_change_nothing(harness, kw):
    r = harness.driver.command("/golive", "start Acme Corp", user=LEAD.user_id, channel=CHANNEL, **kw)
    harness.idle()
    assert r.status == 401
    assert count(harness, Engagement) == 0
    assert harness.standin.calls_to("chat.postMessage") == []
    assert posts(harness) == []


# -- start ---------------------------------------------------------------------------------
def test_start_records_engagement_posts_welcome(harness):
    r = harness.command("start Acme Corp size=medium kickoff=2026-12-01 tz=Europe/Berlin")
    assert r.status == 200
    e = engagement(harness)
    assert e is not None
    assert (e.customer_name, e.size, e.timezone, e.country, e.status) == (
        "Acme Corp",
        "medium",
        "Europe/Berlin",
        "DE",
        "active",
    )
    assert str(e.kickoff_on) == "2026-12-01"
    assert e.created_by == LEAD.user_id
    # Lead consultant recorded.
    with harness.services.db.session() as session:
        roles = session.exec(
            MemberRole.__table__.select().join(Member.__table__, Member.id == MemberRole.member_id)
        ).all()
        lead = session.get(Member, roles[0].member_id)
    assert [r.role for r in roles] == ["lead"] and lead.user_id == LEAD.user_id
    assert count(harness, EngagementPhase) == 5
    # The welcome message, posted once, tells both sides what happens.
    [welcome] = welcomes(harness)
    text = blocks_text(welcome["blocks"])
    assert "Acme Corp implementation kicked off" in text
    assert f"<@{LEAD.user_id}>" in text
    assert "For the Acme Corp team" in text and "no slash commands needed" in text
    assert "Discovery" in text and "Go-Live" in text
    assert welcome["text"]  # fallback text for notifications


def test_duplicate_start_names_the_existing_engagement(harness):
    harness.command("start Acme Corp")
    r = harness.command("start Globex", user=LEAD)
    assert r.status == 200
    assert count(harness, Engagement) == 1
    assert len(welcomes(harness)) == 1
    [msg] = ephemeral_texts(harness, LEAD.user_id)
    assert "already runs the Acme Corp implementation" in msg


BAD = [
    ("start Acme kickoff=2026-02-30", "is not a kickoff date I can read"),
    ("start Acme size=huge", "is not a size"),
    ("start Acme tz=Mars/Olympus", "is not a time zone I know"),
    ("start Acme target=soon", "is not a target go-live date I can read"),
    ("start Acme kickoff=2026-12-10 target=2026-12-01", "must be after the kickoff"),
    ("start Acme country=ZZ", "is not a country code"),
    ("start Acme pilot=perhaps", "takes yes or no"),
    ("start Acme flavour=vanilla", "`flavour=` is not an option of `start`"),
]


@pytest.mark.parametrize("text, problem", BAD, ids=[b[1][:20] for b in BAD])
def test_bad_arguments_name_the_problem_show_usage_write_nothing(harness, text, problem):
    r = harness.command(text)
    assert r.status == 200
    assert count(harness, Engagement) == 0 and count(harness, Member) == 0
    assert harness.standin.calls_to("chat.postMessage") == []
    [msg] = ephemeral_texts(harness, LEAD.user_id)
    assert problem in msg
    assert "Usage:" in msg and "/golive start <customer name>" in msg


def test_unknown_subcommand(harness):
    harness.command("launch Acme")
    [msg] = ephemeral_texts(harness, LEAD.user_id)
    assert "I don't know the subcommand `launch`" in msg
    assert "/golive help" in msg


def test_oversized_customer_name(harness):
    harness.command("start " + "Acme " * 40)
    [msg] = ephemeral_texts(harness, LEAD.user_id)
    assert "keep it under 120" in msg
    assert count(harness, Engagement) == 0


def test_channel_ping_in_customer_name_is_harmless(harness):
    # With should_escape, Slack sends a typed @channel as <!channel> and a typed "<" as &lt;.
    harness.command("start <!channel> &lt;!here&gt; Corp")
    e = engagement(harness)
    assert e.customer_name == "@channel <!here> Corp"
    [welcome] = welcomes(harness)
    everything = dump(welcome)
    assert "<!channel>" not in everything and "<!here>" not in everything
    assert "&lt;!here&gt; Corp" in blocks_text(welcome["blocks"])


# -- status and help -----------------------------------------------------------------------
def test_status_shows_customer_size_phase_dates_progress(harness):
    harness.command("start Acme Corp size=small kickoff=2026-12-01 target=2026-12-23 tz=Europe/Berlin")
    harness.command("status")
    [msg] = ephemeral_texts(harness, LEAD.user_id)
    assert "Acme Corp — implementation status" in msg
    assert "Small (2–4 weeks)" in msg
    assert "1 of 5 · Discovery" in msg
    assert "Tue 1 Dec 2026" in msg and "Target go-live" in msg and "Wed 23 Dec 2026" in msg
    assert "Progress" in msg


def test_status_without_engagement_says_how_to_start(harness):
    harness.command("status")
    [msg] = ephemeral_texts(harness, LEAD.user_id)
    assert "No engagement runs in this channel yet" in msg and "/golive start" in msg


def test_help_lists_every_subcommand(harness):
    harness.command("help")
    [msg] = ephemeral_texts(harness, LEAD.user_id)
    for spec in harness.services.commands:
        assert f"/golive {spec.usage}"[:60] in msg, spec.name


# -- the start modal -----------------------------------------------------------------------
def test_start_without_name_opens_modal_and_validates(harness):
    harness.command("start")
    [view] = harness.standin.open_views(LEAD.user_id)
    assert view["view"]["callback_id"] == "start_engagement"
    vid = view["id"]
    bad = harness.driver.submit_view(
        vid,
        {
            "customer": {"value": "Initech"},
            "tz": {"value": "Atlantis/Deep"},
            "size": {"value": "enterprise"},
            "kickoff": {"value": "2026-12-07"},
            "ingest": {"value": "api"},
        },
        user=LEAD.user_id,
    )
    assert bad.json["response_action"] == "errors"
    assert "tz" in bad.json["errors"] and "time zone" in bad.json["errors"]["tz"]
    assert count(harness, Engagement) == 0
    ok = harness.driver.submit_view(
        vid,
        {
            "customer": {"value": "Initech"},
            "tz": {"value": "America/Chicago"},
            "size": {"value": "enterprise"},
            "kickoff": {"value": "2026-12-07"},
            "ingest": {"value": "api"},
            "pilot": {"value": ["yes"]},
        },
        user=LEAD.user_id,
    )
    harness.idle()
    assert ok.status == 200 and not ok.json
    e = engagement(harness)
    assert (e.customer_name, e.size, e.timezone, e.country, e.ingest, e.pilot) == (
        "Initech",
        "enterprise",
        "America/Chicago",
        "US",
        "api",
        True,
    )
    assert "Initech implementation kicked off" in blocks_text(welcomes(harness)[0]["blocks"])


def test_start_where_the_bot_is_not_a_member(harness):
    harness.standin.add_channel("C0NOBOT", name="no-bot", members=[LEAD.user_id], bot_member=False)
    harness.command("start Acme", channel="C0NOBOT")
    assert count(harness, Engagement) == 0
    texts = " ".join(ephemeral_texts(harness, LEAD.user_id))
    assert "Invite me" in texts and "Nothing was created" in texts


# -- retries, errors, rate limits ----------------------------------------------------------
def test_retried_event_is_handled_once(harness):
    harness.driver.app_home_opened(LEAD.user_id, event_id="Ev0001")
    harness.driver.app_home_opened(LEAD.user_id, event_id="Ev0001", retry_num=1, retry_reason="http_timeout")
    harness.idle()
    assert len(harness.standin.calls_to("views.publish")) == 1
    assert count(harness, ProcessedEvent) == 1
    harness.driver.app_home_opened(LEAD.user_id, event_id="Ev0002")
    harness.idle()
    assert len(harness.standin.calls_to("views.publish")) == 2


def test_home_tab_lists_my_engagements(harness):
    harness.command("start Acme Corp")
    harness.driver.app_home_opened(LEAD.user_id)
    harness.idle()
    home = harness.standin.home(LEAD.user_id)
    assert "Acme Corp" in blocks_text(home["view"]["blocks"])


def test_member_joined_learns_the_home_team(harness):
    harness.command("start Acme Corp")
    harness.driver.member_joined_channel(APPROVER.user_id, CHANNEL)
    harness.idle()
    with harness.services.db.session() as session:
        from sqlmodel import select

        m = session.exec(select(Member).where(Member.user_id == APPROVER.user_id)).one()
    assert m.team_id == APPROVER.team_id


def test_exception_gives_apology_with_reference_and_logs_it(harness_factory, tmp_path, caplog):
    broken = tmp_path / "templates"
    broken.mkdir()
    (broken / "status.json.j2").write_text('{"text": "x", "blocks": [}')
    h = harness_factory(env={"GOLIVE_TEMPLATE_DIR": str(broken)})
    h.command("start Acme Corp")
    with caplog.at_level(logging.ERROR):
        h.command("status")
    [msg] = ephemeral_texts(h, LEAD.user_id)
    assert "Traceback" not in msg and "TemplateError" not in msg
    ref = re.search(r"reference: `([0-9a-f]{10})`", msg).group(1)
    logged = [r for r in caplog.records if ref in r.getMessage()]
    assert logged and logged[0].exc_info is not None


def test_rate_limited_post_is_retried_after_the_ack(harness):
    """The post's 429 is waited out on an outbox worker, for the Retry-After Slack sent, never in
    the request that was acked. Read from what the bot did with the 429 (it held the channel's
    posts for Retry-After: the pacer's hold, whose arithmetic tests/unit/test_pacing.py checks on
    a fake clock), not from the wall clock between the two calls."""
    import threading

    outbox = harness.bot.outbox
    holds: list[tuple[str, str | None, float, str]] = []
    real_hold = outbox.pacer.hold

    def hold(method: str, channel: str | None, seconds: float) -> None:
        holds.append((method, channel, seconds, threading.current_thread().name))
        real_hold(method, channel, seconds)

    outbox.pacer.hold = hold  # type: ignore[method-assign]
    waits = outbox.waits
    harness.standin.fail_next("chat.postMessage", status=429, retry_after=1)
    r = harness.driver.command("/golive", "start Acme Corp", user=LEAD.user_id, channel=CHANNEL)
    harness.idle()
    assert r.status == 200
    posts_calls = harness.standin.calls_to("chat.postMessage")
    assert [c.status for c in posts_calls][:2] == [429, 200]
    [(method, channel, seconds, thread)] = holds
    assert (method, channel, seconds) == ("chat.postMessage", CHANNEL, 1.0)
    assert thread.startswith("golive-outbox-"), thread
    assert outbox.waits == waits + 1
    assert len(welcomes(harness)) == 1


# -- health --------------------------------------------------------------------------------
def test_healthz_reflects_the_database(harness):
    with urllib.request.urlopen(harness.server.url + "/healthz") as resp:
        assert resp.status == 200
    working = harness.services.db
    harness.services.db = Database("postgresql://nobody@127.0.0.1:1/none")  # a database that does not answer
    try:
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(harness.server.url + "/healthz")
        assert exc.value.code == 503
    finally:
        harness.services.db = working
