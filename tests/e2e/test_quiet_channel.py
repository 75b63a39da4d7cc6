"""Issue 12, parts 2 to 4, under Slack's real notification rules (issue 22): people are told when
they are given work (once, in a thread, by a mention that notifies them); a quiet channel
(reminders in threads, each a reply that notifies the people it is for, earlier ones kept true);
escalation in private.

Signed requests over real HTTP into the bot; its Web API calls answered by the stand-in, which
validates Block Kit, enforces Slack's rate limits and scopes, and refuses a reply under a message
that is not a top-level message of the channel.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, CONTRIBUTOR, LEAD, SPONSOR
from storage.models import AuditEvent, NudgeMessage
from tests.e2e.helpers import (
    approve_request,
    at,
    blocks_text,
    ephemeral_texts,
    mention,
    notified_by,
    nudges,
    reminder_kind,
    reminder_payload,
    request_signoff,
    welcomes,
)
from tests.e2e.test_checklist import checklist_msg, item, menu, tick


def top_level(h) -> list[dict]:
    return h.standin.top_level(CHANNEL)


def thread(h, parent_ts: str) -> list[dict]:
    return h.standin.replies(CHANNEL, parent_ts)


def mentioning(messages: list[dict], user) -> list[dict]:
    return [m for m in messages if f"<@{user.user_id}>" in blocks_text(m["blocks"])]


def lead_dms(h) -> list[dict]:
    """The escalations the lead got in private (their DMs also carry reminders of their own items)."""
    dm = h.standin.im_channel(LEAD.user_id)
    return [m for m in h.standin.messages(dm) if m["text"].startswith("Stuck at")] if dm else []


def sweep_on(h, *days: str, hour: str = "10:00") -> None:
    for day in days:
        at(h, f"{day}T{hour}:00+01:00")
        h.run_sweep()
    h.idle()  # and what the sweep queued (a replaced nudge collapsed)


# -- part 2: people are told when they are given work ------------------------------------------
def test_assigning_and_dating_an_item_mention_the_assignee_once_in_the_checklist_thread(small):
    h = small
    parent = checklist_msg(h)["ts"]
    tops = len(top_level(h))
    h.command(f"assign 1.5 {mention(APPROVER)}")
    [note] = mentioning(thread(h, parent), APPROVER)[-1:]
    text = blocks_text(note["blocks"])
    assert text.count(f"<@{APPROVER.user_id}>") == 1
    assert "*1.5* Walk us through your current setup" in text and "is yours now" in text
    assert "assigned by Lena Lead" in text and f"<@{LEAD.user_id}>" not in text  # named, not pinged
    assert notified_by(h, note) == {APPROVER.user_id: "mention"}  # in its text too: a push names her
    h.command(f"assign 1.5 {mention(APPROVER)}")  # no change: nothing to tell
    h.command("due 1.5 2026-12-10")
    told = mentioning(thread(h, parent), APPROVER)
    assert len(told) == 2  # assigned, dated (being named approver was told in the welcome's thread)
    assert "is now due Thu 10 Dec 2026" in blocks_text(told[-1]["blocks"])
    assert notified_by(h, told[-1]) == {APPROVER.user_id: "mention"}
    # Through the item's menu, by a customer: the new assignee is told.
    menu(h, "1.6", CONTRIBUTOR, "assign")
    [view] = h.standin.open_views(CONTRIBUTOR.user_id)
    h.driver.submit_view(view["id"], {"assignee": {"value": SPONSOR.user_id}}, user=CONTRIBUTOR.user_id)
    h.idle()
    [sponsor_note] = mentioning(thread(h, parent), SPONSOR)
    assert "*1.6* Name your approvers" in blocks_text(sponsor_note["blocks"])
    # Taking an item yourself tells nobody.
    before = len(thread(h, parent))
    h.command("assign 1.1 me")
    assert len(thread(h, parent)) == before
    assert len(top_level(h)) == tops  # never a new top-level message


def test_naming_an_approver_and_requesting_a_sign_off_mention_them_in_a_thread(small):
    h = small
    # Roles are told in the welcome's thread: a checklist's thread would make them follow it, and
    # Slack would notify them of every reminder there.
    parent = welcomes(h)[0]["ts"]
    [named] = mentioning(thread(h, parent), APPROVER)  # the fixture named Ada approver
    assert "you are named approver of this implementation's sign-offs" in blocks_text(named["blocks"])
    assert notified_by(h, named)[APPROVER.user_id] == "mention"
    assert not mentioning(thread(h, checklist_msg(h)["ts"]), APPROVER)
    h.command(f"role {mention(SPONSOR)} approver gate=solution_design")
    [sam] = [m for m in mentioning(thread(h, parent), SPONSOR) if "approver" in blocks_text(m["blocks"])]
    assert "approver of *Solution design sign-off*" in blocks_text(sam["blocks"])
    tops = len(top_level(h))
    request_signoff(h, "solution_design")
    assert len(top_level(h)) == tops + 1  # the request itself
    request = top_level(h)[-1]
    assert f"<@{APPROVER.user_id}>" not in blocks_text(request["blocks"])  # named, not pinged
    [note] = thread(h, request["ts"])
    text = blocks_text(note["blocks"])
    assert text.count(f"<@{APPROVER.user_id}>") == 1 and text.count(f"<@{SPONSOR.user_id}>") == 1
    assert notified_by(h, note) == {APPROVER.user_id: "mention", SPONSOR.user_id: "mention"}


def test_a_thread_note_whose_answer_was_lost_is_looked_for_in_its_thread_not_doubled(harness_factory):
    h = harness_factory(env={"GOLIVE_SLACK_TIMEOUT": "1"})
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    parent = checklist_msg(h)["ts"]
    h.standin.reset_calls()
    h.standin.set_latency("chat.postMessage", 1.6)
    h.driver.command("/golive", f"assign 1.5 {mention(APPROVER)}", user=LEAD.user_id, channel=CHANNEL)
    h.standin.wait_for(lambda: h.standin.calls_to("chat.postMessage"), message="the note")
    h.standin.set_latency("chat.postMessage", 0)
    h.idle(timeout=15)
    assert len(mentioning(thread(h, parent), APPROVER)) == 1, "posted once: it had landed"
    [looked] = h.standin.calls_to("conversations.replies")
    assert looked.args.get("ts") == parent


# -- part 3: a quiet channel -------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_weeks_of_reminders_add_at_most_four_top_level_messages(harness_factory, request, backend):
    h = harness_factory(request.getfixturevalue("pg_url") if backend == "postgresql" else None)
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    h.command(f"role {mention(APPROVER)} approver")
    h.command(f"role {mention(SPONSOR)} sponsor")
    h.lift_rate_limits()
    request_signoff(h, "solution_design")  # waits for Ada: nudged after 2 business days
    h.command("dryrun 2026-12-16 10:00")  # its reminders come within the two weeks
    h.command(f"assign 1.5 {mention(CONTRIBUTOR)}")
    before = {m["ts"] for m in top_level(h)}
    day = date(2026, 12, 1)
    while day <= date(2026, 12, 14):  # two weeks of sweeps, three a day
        for hour in ("09:05", "11:00", "15:30"):
            at(h, f"{day.isoformat()}T{hour}:00+01:00")
            h.run_sweep()
        day += timedelta(days=1)
    added = [m for m in top_level(h) if m["ts"] not in before]
    assert len(added) <= 4, [m["text"][:60] for m in added]
    assert all(reminder_kind(m) == "digest" for m in added)
    # The reminders did go out, in threads: nudges under the checklist and the request, the
    # dry-run reminders under its announcement; each notified someone.
    request = next(m for m in top_level(h) if m["text"].startswith("Sign-off requested"))
    assert nudges(h) and all(m.get("thread_ts") for m in nudges(h))
    assert [m for m in thread(h, request["ts"]) if reminder_kind(m) == "nudge"]
    assert all(notified_by(h, m) for m in nudges(h))
    announcement = next(m for m in top_level(h) if "Go-live dry run scheduled" in m["text"])
    assert [m for m in thread(h, announcement["ts"]) if "in 7 days" in m["text"]]


def test_a_nudge_shows_what_happened_to_its_items_wherever_it_happened(small):
    h = small
    sweep_on(h, "2026-12-02")
    [nudge] = nudges(h)
    i6 = item(h, "1.6")
    tick(h, "1.5", CONTRIBUTOR)  # ticked in the checklist, not on the nudge
    shown = h.standin.message(CHANNEL, nudge["ts"])
    assert shown["edited"] and "done by Cody Contributor" in blocks_text(shown["blocks"])
    acts = {b["block_id"] for b in shown["blocks"] if b["type"] == "actions"}
    assert acts == {f"nudge_act:{i6.id}"}  # 1.5's buttons are gone, 1.6 keeps its own
    # Blocked from the nudge, then unblocked by a consultant: the nudge says the block is cleared.
    h.driver.click(CHANNEL, nudge["ts"], f"nudge_blocked:{i6.id}", user=CONTRIBUTOR.user_id)
    h.idle()
    [view] = h.standin.open_views(CONTRIBUTOR.user_id)
    h.driver.submit_view(view["id"], {"reason": {"value": "Legal first"}}, user=CONTRIBUTOR.user_id)
    h.idle()
    notice = next(m for m in h.standin.messages(CHANNEL) if "is blocked" in m["text"])
    assert notice["thread_ts"] == nudge["thread_ts"]  # in the thread, naming the lead without a ping…
    assert notified_by(h, notice) == {CONTRIBUTOR.user_id: "following the thread"}
    [told] = [m for m in h.standin.messages(h.standin.im_channel(LEAD.user_id)) if "is blocked" in m["text"]]
    assert notified_by(h, told) == {LEAD.user_id: "direct message"}  # …who is told privately
    assert "blocked: Legal first" in blocks_text(h.standin.message(CHANNEL, nudge["ts"])["blocks"])
    h.command("unblock 1.6")
    text = blocks_text(h.standin.message(CHANNEL, nudge["ts"])["blocks"])
    assert "block cleared by Lena Lead; reminders resume" in text and "blocked: Legal first" not in text
    assert not [b for b in h.standin.message(CHANNEL, nudge["ts"])["blocks"] if b["type"] == "actions"]
    assert "Nothing waiting here any more" in text


def test_a_sign_off_nudge_goes_under_its_request_and_says_when_it_is_decided(small):
    h = small
    request_signoff(h, "solution_design")
    request = top_level(h)[-1]
    sweep_on(h, "2026-12-03")
    [nudge] = [m for m in thread(h, request["ts"]) if reminder_kind(m) == "nudge"]
    assert f"<@{APPROVER.user_id}>" in blocks_text(nudge["blocks"])
    assert notified_by(h, nudge)[APPROVER.user_id] == "mention"
    with h.services.db.read() as session:
        from storage.models import SignoffRequest

        req = session.exec(select(SignoffRequest)).one()
    approve_request(h, request["ts"], req.id, APPROVER)
    h.idle()
    text = blocks_text(h.standin.message(CHANNEL, nudge["ts"])["blocks"])
    assert "approved by Ada Approver" in text and "Approve or request changes" not in text
    # The decision itself is announced in the request's thread, not at the top level.
    decided = [m for m in thread(h, request["ts"]) if "Ada Approver approved" in m["text"]]
    assert decided and not [m for m in top_level(h) if "approved" in m["text"]]


def test_a_new_overdue_item_gets_a_new_reply_that_takes_over_the_old_one(small):
    h = small
    h.command("due 1.4 2026-12-04")  # a vendor item: its person is reminded privately
    h.command("add 1 Send the logo owner=customer")
    h.command("due 1.7 2026-12-07")
    sweep_on(h, "2026-12-02")
    [first] = nudges(h)
    sweep_on(h, "2026-12-08")  # 1.7 is overdue now: not in the first nudge
    second = [m for m in nudges(h) if m["ts"] != first["ts"]]
    assert len(second) == 1 and second[0]["thread_ts"] == first["thread_ts"]
    text = blocks_text(second[0]["blocks"])
    assert "*1.7* Send the logo" in text and "*1.5*" in text and "*1.6*" in text  # took over
    old = h.standin.message(CHANNEL, first["ts"])
    assert "replaced by a newer one" in blocks_text(old["blocks"]) and not [
        b for b in old["blocks"] if b["type"] == "actions"
    ]


# -- part 4: escalation in private first -------------------------------------------------------
def test_stuck_work_goes_to_the_lead_privately_and_the_sponsor_only_on_their_click(small):
    h = small
    sweep_on(h, "2026-12-02", "2026-12-04")
    assert lead_dms(h) == []
    sweep_on(h, "2026-12-08")  # a third reminder: two went by without progress
    [dm] = lead_dms(h)
    text = blocks_text(dm["blocks"])
    assert "*1.5* Walk us through" in text and "*1.6* Name your approvers" in text
    assert "Cody Contributor" in text and f"<@{CONTRIBUTOR.user_id}>" not in text
    assert [e["action_id"] for b in dm["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        "escalation_again",
        "escalation_snooze",
        "escalation_sponsor",
    ]
    sweep_on(h, "2026-12-10", "2026-12-14")
    later = lead_dms(h)[1:]  # Discovery's items are told once, not at every reminder (Solutioning's
    assert later and not [m for m in later if "*1.5*" in blocks_text(m["blocks"])]  # came due since)
    # The bot never brings the sponsor in by itself: the one message naming them is the one that
    # told them, when the lead named them sponsor.
    [named] = mentioning(h.standin.messages(CHANNEL), SPONSOR)
    assert "you are named *sponsor*" in blocks_text(named["blocks"])
    dm_channel = h.standin.im_channel(LEAD.user_id)
    h.driver.click(dm_channel, dm["ts"], "escalation_sponsor", user=LEAD.user_id)
    h.idle()
    [note] = [m for m in mentioning(h.standin.messages(CHANNEL), SPONSOR) if m["ts"] != named["ts"]]
    assert note["thread_ts"] == checklist_msg(h)["ts"]
    assert notified_by(h, note)[SPONSOR.user_id] == "mention"
    assert "could you help move this along?" in blocks_text(note["blocks"])
    assert "Asked by Lena Lead" in blocks_text(note["blocks"])
    handled = h.standin.message(dm_channel, dm["ts"])
    assert "Lena Lead asked Sam Sponsor for help" in blocks_text(handled["blocks"])
    assert not [b for b in handled["blocks"] if b["type"] == "actions"]
    h.driver.click(dm_channel, dm["ts"], "escalation_again", user=LEAD.user_id, expect_missing=True)
    with h.services.db.read() as session:
        assert [
            e.kind for e in session.exec(select(AuditEvent).where(AuditEvent.kind.like("escalation.%")))
        ] == ["escalation.sponsor"]


def test_the_lead_nudges_again_now_or_snoozes(small):
    h = small
    sweep_on(h, "2026-12-02", "2026-12-04", "2026-12-08")
    [dm] = lead_dms(h)
    first = nudges(h)[-1]  # the live one
    dm_channel = h.standin.im_channel(LEAD.user_id)
    h.driver.click(dm_channel, dm["ts"], "escalation_again", user=LEAD.user_id)
    h.idle()
    assert "asked to nudge them again" in blocks_text(h.standin.message(dm_channel, dm["ts"])["blocks"])
    h.run_sweep()
    h.idle()
    # Cody had today's nudge and the week's digest (caught up on Tuesday): two notifications, the
    # day's budget. The lead's "again" waits for the next working morning…
    assert [m for m in nudges(h) if m["ts"] > first["ts"]] == []
    sweep_on(h, "2026-12-09", hour="09:00")
    fresh = [
        m
        for m in nudges(h)
        if m["ts"] > first["ts"] and reminder_payload(m)["key"].startswith("nudge-again:")
    ]
    assert len(fresh) == 1  # (replaced since by the day's nudge for newly due items, in the same thread)
    posted = h.standin.message(CHANNEL, fresh[0]["ts"])
    assert f"<@{CONTRIBUTOR.user_id}>" in (
        posted["versions"][0]["text"] if posted["versions"] else posted["text"]
    )
    # …and is not held back by the two-day spacing (Cody heard of them yesterday).
    assert notified_by(h, fresh[0])[CONTRIBUTOR.user_id] == "mention"
    assert "replaced by a newer one" in blocks_text(h.standin.message(CHANNEL, first["ts"])["blocks"])
    assert item(h, "1.5").nudge_count == 1  # the ladder starts again
    sweep_on(h, "2026-12-11", "2026-12-15")  # two more without progress: the lead hears again
    second = lead_dms(h)[-1]
    assert second["ts"] != dm["ts"]
    h.driver.click(dm_channel, second["ts"], "escalation_snooze", user=LEAD.user_id, selected_option="3")
    h.idle()
    assert [str(item(h, r).snoozed_until) for r in ("1.5", "1.6")] == ["2026-12-18", "2026-12-18"]
    note = blocks_text(h.standin.message(dm_channel, second["ts"])["blocks"])
    assert "Lena Lead snoozed 1.4, 1.5, 1.6," in note and "until Fri 18 Dec" in note
    live = [m for m in nudges(h) if not h.standin.message(CHANNEL, m["ts"])["text"].startswith("Earlier")]
    assert ":zzz:" in blocks_text(h.standin.message(CHANNEL, live[-1]["ts"])["blocks"])


def test_only_the_implementation_team_acts_on_an_escalation(small):
    h = small
    sweep_on(h, "2026-12-02", "2026-12-04", "2026-12-08")
    [dm] = lead_dms(h)
    # A forged click from someone else, on the lead's DM: refused, nothing changes.
    from tests.e2e.helpers import button_payload, send_payload

    payload = button_payload(h, dm, "escalation_again", CONTRIBUTOR.user_id)
    payload["container"]["channel_id"] = payload["channel"]["id"] = h.standin.im_channel(LEAD.user_id)
    send_payload(h, payload)
    h.idle()
    with h.services.db.read() as session:
        assert (
            session.exec(select(NudgeMessage).where(NudgeMessage.kind == "escalation")).one().status == "open"
        )
    told = ephemeral_texts(h, CONTRIBUTOR.user_id) + [
        blocks_text(m["blocks"]) for m in h.standin.messages(h.standin.im_channel(CONTRIBUTOR.user_id) or "")
    ]
    assert "Only the implementation team acts on stuck work" in told[-1]


def test_a_new_person_for_an_item_gets_a_new_reply_that_mentions_them(small):
    h = small
    sweep_on(h, "2026-12-02")
    [first] = nudges(h)
    h.command(f"assign 1.5 {mention(APPROVER)}")  # told once, in the thread
    sweep_on(h, "2026-12-04")
    [second] = [m for m in nudges(h) if m["ts"] != first["ts"]]
    assert second["thread_ts"] == first["thread_ts"]
    text = blocks_text(second["blocks"])
    assert f"<@{APPROVER.user_id}>" in text and "*1.5*" in text and "*1.6*" in text
    assert "replaced by a newer one" in blocks_text(h.standin.message(CHANNEL, first["ts"])["blocks"])
    assert notified_by(h, second)[APPROVER.user_id] == "mention"
    with h.services.db.read() as session:
        live = session.exec(
            select(NudgeMessage).where(NudgeMessage.status == "live", NudgeMessage.channel_id == CHANNEL)
        ).all()
    assert [r.ts for r in live] == [second["ts"]]  # one live nudge per thread
