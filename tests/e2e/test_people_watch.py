"""Who is on the project (issue 28, part 2): the lead is told privately, and only once, when a role
the playbook requires is empty after the kickoff, when a role's holder leaves the channel, and
when nobody on the customer's side has acted for five business days."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select

from sandbox.harness import APPROVER, CHANNEL, CONSULTANT, CONTRIBUTOR, LEAD
from storage.models import AuditEvent
from tests.e2e.helpers import blocks_text
from tests.e2e.test_checklist import tick
from tests.e2e.test_signoffs import mention

SILENT = "has ticked, decided or replied to anything"


def lead_dms(h) -> list[str]:  # type: ignore[no-untyped-def]
    im = h.standin.im_channel(LEAD.user_id)
    return [(m.get("text") or "") + "\n" + blocks_text(m.get("blocks") or []) for m in h.standin.messages(im)]


def told(h) -> list[str]:  # type: ignore[no-untyped-def]
    with h.services.db.read() as session:
        return list(
            session.exec(select(AuditEvent.subject).where(AuditEvent.kind == "people.lead_told")).all()
        )


def test_an_empty_required_role_tells_the_lead_once_after_the_kickoff(harness):
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    h.run_sweep()  # kickoff day: nothing yet
    assert not [t for t in lead_dms(h) if "Nobody is named" in t]
    h.clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    h.run_sweep()
    empty = [t for t in lead_dms(h) if "Nobody is named" in t]
    assert len(empty) == 2, empty  # approver and main contact, the default playbook's required roles
    assert any("approver" in t and "role @person approver" in t for t in empty)
    assert any("main contact" in t and "role @person main_contact" in t for t in empty)
    h.clock.set(datetime(2026, 12, 1, 11, 0, tzinfo=UTC))
    h.run_sweep()
    assert len([t for t in lead_dms(h) if "Nobody is named" in t]) == 2  # told once
    assert sorted(k for k in told(h) if k.startswith("role_empty:")) == [
        "role_empty:approver",
        "role_empty:main_contact",
    ]


def test_a_role_holder_leaving_the_channel_tells_the_lead_once(harness):
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(APPROVER)} approver")
    h.driver.member_left_channel(APPROVER.user_id, CHANNEL)
    h.idle()
    left = [t for t in lead_dms(h) if "left the channel" in t]
    assert len(left) == 1, lead_dms(h)
    assert "approver" in left[0] and "role @person approver" in left[0]
    h.driver.member_left_channel(APPROVER.user_id, CHANNEL)  # the event again
    h.idle()
    assert len([t for t in lead_dms(h) if "left the channel" in t]) == 1
    h.driver.member_left_channel(CONTRIBUTOR.user_id, CHANNEL)  # holds no role: nothing to tell
    h.idle()
    assert len([t for t in lead_dms(h) if "left the channel" in t]) == 1


def test_five_silent_business_days_tell_the_lead_once(harness):
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    tick(h, "1.5", CONTRIBUTOR)  # Monday 30 Nov: the customer acts
    h.clock.set(datetime(2026, 12, 4, 9, 0, tzinfo=UTC))  # Friday: four business days since
    h.run_sweep()
    assert not [t for t in lead_dms(h) if SILENT in t]
    h.clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))  # Monday: five
    h.run_sweep()
    silent = [t for t in lead_dms(h) if SILENT in t]
    assert len(silent) == 1, lead_dms(h)
    assert "since 2026-11-30" in silent[0] and "Next step" in silent[0]
    h.clock.set(datetime(2026, 12, 8, 9, 0, tzinfo=UTC))
    h.run_sweep()
    assert len([t for t in lead_dms(h) if SILENT in t]) == 1


def test_home_shows_the_customer_people_active_this_week(harness):
    from tests.e2e.test_home import open_home

    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    text = blocks_text(open_home(h, LEAD)["view"]["blocks"])
    assert "0 customer people active this week" in text, text
    tick(h, "1.5", CONTRIBUTOR)
    text = blocks_text(open_home(h, LEAD)["view"]["blocks"])
    assert "1 customer person active this week" in text, text
    h.clock.set(datetime(2026, 12, 8, 9, 0, tzinfo=UTC))  # eight days later: not this week any more
    text = blocks_text(open_home(h, LEAD)["view"]["blocks"])
    assert "0 customer people active this week" in text, text


def test_the_checks_and_the_home_count_on_postgresql(harness_factory, pg_url):
    """The GROUP BY of the customer's last acts and the DISTINCT of Home's count are
    dialect-sensitive: the silence, the empty role and the count on PostgreSQL too."""
    from tests.e2e.test_home import open_home

    h = harness_factory(pg_url)
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    tick(h, "1.5", CONTRIBUTOR)
    assert "1 customer person active this week" in blocks_text(open_home(h, LEAD)["view"]["blocks"])
    h.clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    h.run_sweep()
    assert len([t for t in lead_dms(h) if SILENT in t]) == 1, lead_dms(h)
    assert len([t for t in lead_dms(h) if "Nobody is named" in t]) == 2


def test_the_it_admin_is_given_in_the_team_form_listed_and_required_by_a_playbook(harness_factory, tmp_path):
    """The customer's IT admin (issue 28 §2) is a customer role like the others: a playbook that
    requires one tells the lead while it is empty; the team form gives it; the team list shows it."""
    from importlib import resources

    from sandbox.harness import SPONSOR

    text = resources.files("bot.engagement").joinpath("playbooks/default.yaml").read_text(encoding="utf-8")
    path = tmp_path / "it.yaml"
    path.write_text(text.replace("required_roles: [approver, main_contact]", "required_roles: [it_admin]"))
    h = harness_factory(env={"GOLIVE_PLAYBOOK": str(path)})
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    h.run_sweep()
    empty = [t for t in lead_dms(h) if "Nobody is named" in t]
    assert len(empty) == 1, lead_dms(h)
    assert "Nobody is named IT admin for Acme Corp" in empty[0] and "role @person it_admin" in empty[0]
    assert [k for k in told(h) if k.startswith("role_empty:")] == ["role_empty:it_admin"]

    h.command("team")
    listing = h.standin.ephemerals(channel=CHANNEL, user=LEAD.user_id)[-1]
    h.driver.click_ephemeral(CHANNEL, listing["ts"], "team_manage", user=LEAD.user_id)
    h.idle()
    [view] = h.standin.open_views(LEAD.user_id)
    options = [
        o["value"]
        for b in view["view"]["blocks"]
        if b.get("block_id") == "role"
        for o in b["element"]["options"]
    ]
    assert "it_admin" in options
    h.driver.click_view(
        view["id"], "value", block_id="person", selected_user=SPONSOR.user_id, user=LEAD.user_id
    )
    h.idle()
    r = h.driver.submit_view(
        view["id"], {"person": {"value": SPONSOR.user_id}, "role": {"value": "it_admin"}}, user=LEAD.user_id
    )
    assert r.json["response_action"] == "update", r.json
    form = blocks_text(h.standin.view(view["id"])["view"]["blocks"])
    assert "Sam Sponsor is now an IT admin" in form and "*IT admin*" in form, form
    h.idle()

    h.command("team")
    team = blocks_text(h.standin.ephemerals(channel=CHANNEL, user=LEAD.user_id)[-1]["blocks"])
    assert "IT admin" in team and SPONSOR.user_id in team, team
    named = [
        m
        for m in h.standin.messages(CHANNEL)
        if "you are named *IT admin*" in blocks_text(m.get("blocks") or [])
    ]
    assert len(named) == 1 and "come to you for access" in blocks_text(named[0]["blocks"])

    # Held now: the next check tells nothing more, and nothing about it is told twice.
    h.clock.set(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    h.run_sweep()
    assert len([t for t in lead_dms(h) if "Nobody is named" in t]) == 1


def thread_replies(h) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with h.services.db.read() as session:
        return [
            (a.actor_id, a.subject)
            for a in session.exec(
                select(AuditEvent).where(AuditEvent.kind == "thread.replied").order_by(col(AuditEvent.id))
            ).all()
        ]


def test_a_customer_reply_in_a_bot_thread_counts_as_acting(harness):
    """Replies in the bot's threads count (issue 28 §2): they reset the five-silent-days clock and
    count on Home, once per person, thread and day; someone not known yet is looked up."""
    from tests.e2e.test_checklist import checklist_msg
    from tests.e2e.test_home import open_home

    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    thread = checklist_msg(h, 1)["ts"]
    h.clock.set(datetime(2026, 12, 3, 10, 0, tzinfo=UTC))  # Thursday
    sent = h.driver.post_message(CONTRIBUTOR.user_id, CHANNEL, "We are on it", thread_ts=thread)
    assert sent.response is not None and sent.response.status == 200 and sent.withheld is None
    h.idle()
    h.driver.post_message(CONTRIBUTOR.user_id, CHANNEL, "One more thing", thread_ts=thread)  # same day
    # Ada holds no role and the bot never looked her up: users.info says she is the customer's
    h.driver.post_message(APPROVER.user_id, CHANNEL, "Agreed, all", thread_ts=thread, broadcast=True)
    h.idle()
    assert thread_replies(h) == [(CONTRIBUTOR.user_id, thread), (APPROVER.user_id, thread)]
    assert "2 customer people active this week" in blocks_text(open_home(h, LEAD)["view"]["blocks"])
    h.clock.set(datetime(2026, 12, 4, 10, 0, tzinfo=UTC))  # the next day: a row again
    h.driver.post_message(CONTRIBUTOR.user_id, CHANNEL, "Friday update", thread_ts=thread)
    h.idle()
    assert thread_replies(h)[-1] == (CONTRIBUTOR.user_id, thread) and len(thread_replies(h)) == 3

    h.clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))  # five business days since the kickoff
    h.run_sweep()
    assert not [t for t in lead_dms(h) if SILENT in t], lead_dms(h)
    h.clock.set(datetime(2026, 12, 11, 9, 0, tzinfo=UTC))  # five since Friday's reply
    h.run_sweep()
    silent = [t for t in lead_dms(h) if SILENT in t]
    assert len(silent) == 1 and "since 2026-12-04" in silent[0], lead_dms(h)


def test_what_is_not_the_customer_replying_in_a_bot_thread_does_not_count(harness):
    """A top-level message, a reply in a thread the bot did not start, the vendor's replies, the
    bot's own and an edit count for nobody; what the payload alone tells apart writes nothing."""
    from storage.models import InboxRequest, ProcessedEvent
    from tests.e2e.test_checklist import checklist_msg
    from tests.e2e.test_home import open_home

    def written(h) -> tuple[int, int]:  # type: ignore[no-untyped-def]
        with h.services.db.read() as session:
            seen = len(session.exec(select(ProcessedEvent.event_id)).all())
        with h.services.db.inbox.read() as session:
            return seen, len(session.exec(select(InboxRequest.id)).all())

    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    thread = checklist_msg(h, 1)["ts"]
    h.clock.set(datetime(2026, 12, 3, 10, 0, tzinfo=UTC))
    before = written(h)
    top = h.driver.post_message(CONTRIBUTOR.user_id, CHANNEL, "A question for everyone")
    assert top.response is not None and top.response.status == 200
    h.driver.post_message(APPROVER.user_id, CHANNEL, "An answer", thread_ts=top.event["ts"])
    h.driver.post_message(LEAD.user_id, CHANNEL, "On it", thread_ts=thread)
    bot_reply = {"type": "message", "channel": CHANNEL, "user": "U0BOT", "bot_id": "B0BOT", "text": "x"}
    h.driver.event(bot_reply | {"ts": "1764756000.000900", "thread_ts": thread, "channel_type": "channel"})
    edited = {"type": "message", "user": CONTRIBUTOR.user_id, "text": "edited", "ts": "1764756000.000100"}
    h.driver.event(
        {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": CHANNEL,
            "channel_type": "channel",
            "ts": "1764756000.000950",
            "message": edited | {"thread_ts": thread},
        }
    )
    h.idle()
    assert written(h) == before  # no dedupe row, no inbox row: read, answered, forgotten
    h.driver.post_message(CONSULTANT.user_id, CHANNEL, "Me too", thread_ts=thread)  # looked up: vendor
    h.idle()
    assert thread_replies(h) == []
    assert "0 customer people active this week" in blocks_text(open_home(h, LEAD)["view"]["blocks"])
    h.clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    h.run_sweep()
    silent = [t for t in lead_dms(h) if SILENT in t]
    assert len(silent) == 1 and "since the kickoff" in silent[0], lead_dms(h)


def test_without_the_message_subscription_no_reply_reaches_the_bot(harness):
    """Slack sends message events only to an app subscribed to them with the history scope: the
    manifest asks for both, and without them the reply never comes."""
    from bot.slack.manifest import bot_events, scopes

    assert {"message.channels", "message.groups"} <= set(bot_events())
    assert {"channels:history", "groups:history"} <= set(scopes())
    h = harness
    h.standin.set_subscriptions([e for e in bot_events() if not e.startswith("message.")])
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    from tests.e2e.test_checklist import checklist_msg

    held = h.driver.post_message(CONTRIBUTOR.user_id, CHANNEL, "hi", thread_ts=checklist_msg(h, 1)["ts"])
    assert held.response is None and held.withheld == "message.channels"
    h.idle()
    assert thread_replies(h) == []


def test_a_reply_counts_once_a_day_on_postgresql(harness_factory, pg_url):
    """The ledger lookup and the once-a-day check (a time-zone-aware bound) on PostgreSQL too."""
    from tests.e2e.test_checklist import checklist_msg
    from tests.e2e.test_home import open_home

    h = harness_factory(pg_url)
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    thread = checklist_msg(h, 1)["ts"]
    h.clock.set(datetime(2026, 12, 3, 22, 30, tzinfo=UTC))  # 23:30 in Berlin, Thursday
    h.driver.post_message(CONTRIBUTOR.user_id, CHANNEL, "late", thread_ts=thread)
    h.idle()
    h.clock.set(datetime(2026, 12, 3, 22, 50, tzinfo=UTC))
    h.driver.post_message(CONTRIBUTOR.user_id, CHANNEL, "later", thread_ts=thread)
    h.idle()
    assert len(thread_replies(h)) == 1
    h.clock.set(datetime(2026, 12, 3, 23, 10, tzinfo=UTC))  # past midnight in Berlin: a new day
    h.driver.post_message(CONTRIBUTOR.user_id, CHANNEL, "next day", thread_ts=thread)
    h.idle()
    assert len(thread_replies(h)) == 2
    assert "1 customer person active this week" in blocks_text(open_home(h, LEAD)["view"]["blocks"])
