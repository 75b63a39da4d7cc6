"""Issue 22: every reminder reaches the person it is for, under Slack's real notification rules.

Read from the stand-in's notification log (standin/notify.py: who Slack notified, by which
message, and why), never from message text: a thread reply notifies only the people it mentions
and the thread's followers, an edit nobody, a mention of someone outside the channel nobody.
Signed requests over real HTTP into the bot; its Web API calls answered by the stand-in.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.engagement.business_days import BusinessCalendar
from bot.reminders.budget import MAX_A_DAY
from sandbox.harness import APPROVER, CHANNEL, CONSULTANT, CONTRIBUTOR, LEAD, SPONSOR, Harness
from storage.models import Item, ItemDependency, Notification
from tests.e2e.helpers import (
    at,
    blocks_text,
    direct_messages,
    ephemeral_texts,
    mention,
    notified_by,
    nudges,
    posts,
    reminder_kind,
    reminder_payload,
    request_signoff,
    welcomes,
)
from tests.e2e.test_checklist import checklist_msg, item

BERLIN = ZoneInfo("Europe/Berlin")


def start(h: Harness, *roles: str) -> Harness:
    """Acme, small, from Mon 30 Nov 2026 in Berlin: Discovery's items (customer 1.5 and 1.6, the
    team's 1.1 to 1.4) are due Tue 1 Dec."""
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    for role in roles:
        h.command(f"role {role}")
    return h


@pytest.fixture
def only_approver(harness: Harness) -> Harness:
    """The usual first week: only the customer's approver is named."""
    return start(harness, f"{mention(APPROVER)} approver")


def sweep(h: Harness, when: str) -> None:
    at(h, when)
    h.run_sweep()
    h.idle()


def properly(h: Harness, message: dict) -> dict[str, str]:
    """Whom a message reached by a mention both its text and blocks carry, or by a DM."""
    return {u: why for u, why in notified_by(h, message).items() if why in ("mention", "direct message")}


def unnamed_dms(h: Harness) -> list[dict]:
    return [m for m in direct_messages(h, LEAD) if m["text"].startswith("Nobody at")]


# -- whom a reminder is for ---------------------------------------------------------------------
def test_an_unassigned_item_with_only_an_approver_named_notifies_the_approver(only_approver):
    h = only_approver
    # Named, she was told what is hers now: her side's items nobody else is named for.
    [named] = [m for m in h.standin.replies(CHANNEL, welcomes(h)[0]["ts"]) if "named approver" in m["text"]]
    assert "*1.5*" in blocks_text(named["blocks"]) and properly(h, named) == {APPROVER.user_id: "mention"}
    sweep(h, "2026-12-02T10:00:00+01:00")
    [nudge] = nudges(h)
    assert nudge["thread_ts"] == checklist_msg(h)["ts"]
    assert properly(h, nudge) == {APPROVER.user_id: "mention"}  # the customer's side hears of it
    assert reminder_payload(nudge)["for"] == [APPROVER.user_id]
    # The team's own overdue items went to the lead, privately: not in the channel.
    [dm] = [m for m in direct_messages(h, LEAD) if reminder_kind(m) == "nudge"]
    assert properly(h, dm) == {LEAD.user_id: "direct message"}
    assert "*1.1*" in blocks_text(dm["blocks"]) and "*1.1*" not in blocks_text(nudge["blocks"])


def test_with_nobody_named_the_lead_is_told_privately_once_and_nothing_goes_into_the_void(harness):
    h = start(harness)
    sweep(h, "2026-12-02T10:00:00+01:00")
    assert nudges(h) == []  # no reminder that would notify nobody
    [told] = unnamed_dms(h)
    assert told["text"].startswith("Nobody at Acme Corp is named for ")
    assert properly(h, told) == {LEAD.user_id: "direct message"}
    text = blocks_text(told["blocks"])
    assert "*1.5*" in text and "*1.6*" in text and "main contact" in text
    assert "team_manage" in str(told["blocks"])  # Team… opens the team form from the DM
    sweep(h, "2026-12-04T10:00:00+01:00")
    everything = "\n".join(blocks_text(m["blocks"]) for m in unnamed_dms(h))
    assert everything.count("*1.5*") == 1 and everything.count("*1.6*") == 1, "told once per item"
    # The Team… button works from the direct message: it opens the form on the engagement.
    h.driver.click(h.standin.im_channel(LEAD.user_id), told["ts"], "team_manage", user=LEAD.user_id)
    h.idle()
    [form] = h.standin.open_views(LEAD.user_id)
    assert "No main contact at the customer yet" in blocks_text(form["view"]["blocks"])


def test_the_customer_names_their_main_contact_on_the_welcome_and_reminders_reach_them(harness):
    h = start(harness)
    [welcome] = welcomes(h)
    assert "Who is Acme Corp's main contact?" in blocks_text(welcome["blocks"])
    # Picked by the customer's own people, on the welcome (they have no slash commands).
    h.standin.add_member(CHANNEL, "U0MAIN")
    h.standin.add_user("U0MAIN", name="Mia Main", team_id="T0CUST")
    h.standin.add_member(CHANNEL, "U0MAIN")
    h.driver.click(
        CHANNEL, welcome["ts"], "main_contact_pick", user=CONTRIBUTOR.user_id, selected_user="U0MAIN"
    )
    h.idle()
    shown = blocks_text(h.standin.message(CHANNEL, welcome["ts"])["blocks"])
    assert "Main contact at Acme Corp:* Mia Main" in shown and "Who is" not in shown
    # Told once, in the welcome's thread, with what is theirs now.
    [note] = [m for m in h.standin.replies(CHANNEL, welcome["ts"]) if "main contact" in m["text"]]
    assert properly(h, note) == {"U0MAIN": "mention"}
    assert "*1.5*" in blocks_text(note["blocks"]) and "my_tasks" in str(note["blocks"])
    h.driver.click(CHANNEL, welcome["ts"], "main_contact_pick", user=LEAD.user_id, expect_missing=True)
    sweep(h, "2026-12-02T10:00:00+01:00")
    [nudge] = nudges(h)
    assert properly(h, nudge) == {"U0MAIN": "mention"}
    assert unnamed_dms(h) == []
    # A vendor person cannot be the customer's main contact: said privately, nothing changed.
    h.command(f"role {mention(CONSULTANT)} main_contact")
    assert any("speaks for the customer" in t for t in ephemeral_texts(h, LEAD.user_id))


def test_someone_named_who_left_the_channel_is_skipped_for_the_next_in_line(only_approver):
    h = only_approver
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    h.command(f"assign 1.5 {mention(CONTRIBUTOR)}")
    h.standin.remove_member(CHANNEL, CONTRIBUTOR.user_id)  # a mention of them would notify nobody
    sweep(h, "2026-12-02T10:00:00+01:00")
    [nudge] = nudges(h)
    assert properly(h, nudge) == {APPROVER.user_id: "mention"}
    assert not [s for s in h.standin.silences(CONTRIBUTOR.user_id) if s.ts == nudge["ts"]]
    # With nobody left at all, the lead is told who is named but not there.
    h.standin.remove_member(CHANNEL, APPROVER.user_id)
    sweep(h, "2026-12-04T10:00:00+01:00")
    [told] = unnamed_dms(h)
    assert "named: Cody Contributor, Ada Approver, not in the channel" in blocks_text(told["blocks"])


# -- each kind of reminder ----------------------------------------------------------------------
def test_dry_run_reminders_notify_the_people_taking_part(only_approver):
    h = only_approver
    h.command("dryrun 2026-12-16 10:00")
    announcement = next(m for m in posts(h) if "Go-live dry run scheduled" in m["text"])
    # The announcement asks them to take part: it notifies them.
    assert properly(h, announcement) == {LEAD.user_id: "mention", APPROVER.user_id: "mention"}
    sweep(h, "2026-12-09T10:00:00+01:00")  # 7 days before
    [week] = [m for m in posts(h) if reminder_kind(m) == "dryrun"]
    assert week["thread_ts"] == announcement["ts"]
    assert properly(h, week) == {LEAD.user_id: "mention", APPROVER.user_id: "mention"}
    # Who takes part is kept with the dry run, and changed by the command…
    h.command(f"dryrun people {mention(CONTRIBUTOR)} {mention(LEAD)}")
    taking_part = blocks_text(h.standin.message(CHANNEL, announcement["ts"])["blocks"])
    assert f"*Taking part:* <@{CONTRIBUTOR.user_id}> <@{LEAD.user_id}>" in taking_part
    assert h.standin.message(CHANNEL, announcement["ts"])["edited"]  # an edit: it notifies nobody
    sweep(h, "2026-12-15T10:00:00+01:00")  # 1 business day before
    day_before = [m for m in posts(h) if reminder_kind(m) == "dryrun"][-1]
    assert set(properly(h, day_before)) == {CONTRIBUTOR.user_id, LEAD.user_id}
    # …or the form on the announcement (the implementation team's).
    h.driver.click(CHANNEL, announcement["ts"], "dryrun_people", user=CONTRIBUTOR.user_id)
    h.idle()
    assert h.standin.open_views(CONTRIBUTOR.user_id) == []
    h.driver.click(CHANNEL, announcement["ts"], "dryrun_people", user=LEAD.user_id)
    h.idle()
    [form] = h.standin.open_views(LEAD.user_id)
    h.driver.submit_view(
        form["id"], {"people": {"value": [APPROVER.user_id, SPONSOR.user_id]}}, user=LEAD.user_id
    )
    h.idle()
    sweep(h, "2026-12-16T09:00:00+01:00")  # 1 hour before
    hour = [m for m in posts(h) if reminder_kind(m) == "dryrun"][-1]
    assert properly(h, hour) == {APPROVER.user_id: "mention", SPONSOR.user_id: "mention"}
    # Back to the default.
    h.command("dryrun people default")
    sweep(h, "2026-12-16T10:00:00+01:00")  # it starts
    now = [m for m in posts(h) if reminder_kind(m) == "dryrun"][-1]
    assert set(properly(h, now)) == {LEAD.user_id, APPROVER.user_id}


def test_sign_off_reminders_notify_the_approvers_of_that_gate(harness):
    h = start(
        harness, f"{mention(CONTRIBUTOR)} contributor", f"{mention(SPONSOR)} approver gate=solution_design"
    )
    h.command(f"role {mention(APPROVER)} approver gate=integration_workflows")
    request_signoff(h, "solution_design")
    request = next(m for m in posts(h) if m["text"].startswith("Sign-off requested"))
    [note] = h.standin.replies(CHANNEL, request["ts"])
    assert properly(h, note) == {SPONSOR.user_id: "mention"}  # only that gate's approver
    sweep(h, "2026-12-03T10:00:00+01:00")
    [nudge] = [m for m in h.standin.replies(CHANNEL, request["ts"]) if reminder_kind(m) == "nudge"]
    assert properly(h, nudge) == {SPONSOR.user_id: "mention"}  # following already, mentioned again


def test_the_teams_items_are_reminded_privately_and_the_digest_names_each_owner(only_approver):
    h = only_approver
    h.command(f"assign 1.2 {mention(CONSULTANT)}")
    sweep(h, "2026-12-02T10:00:00+01:00")
    carl = [m for m in direct_messages(h, CONSULTANT) if reminder_kind(m) == "nudge"]
    [lena] = [m for m in direct_messages(h, LEAD) if reminder_kind(m) == "nudge"]
    assert len(carl) == 1 and properly(h, carl[0]) == {CONSULTANT.user_id: "direct message"}
    assert "*1.2*" in blocks_text(carl[0]["blocks"]) and "*1.2*" not in blocks_text(lena["blocks"])
    assert "*1.1*" in blocks_text(lena["blocks"])  # nobody took it: its lead's
    # Mark done works from the direct message.
    i2 = item(h, "1.2")
    h.driver.click(carl[0]["channel"], carl[0]["ts"], f"nudge_done:{i2.id}", user=CONSULTANT.user_id)
    h.idle()
    assert item(h, "1.2").status == "done"
    sweep(h, "2026-12-07T09:30:00+01:00")  # Monday: the digest names every item's owner
    [digest] = [m for m in posts(h) if reminder_kind(m) == "digest"]
    text = blocks_text(digest["blocks"])
    assert "*1.1* Understand your pricing complexity" in text.replace("\u2019", "'") or "*1.1*" in text
    vendor = text.split("owes this week")[-1]
    # The team's items name their owner: mentioned when the lead has room left today, else named.
    assert f"<@{LEAD.user_id}>" in vendor or "Lena Lead" in vendor
    assert APPROVER.user_id in properly(h, digest)


def test_a_snoozed_item_notifies_its_person_again_when_the_snooze_ends(only_approver):
    h = only_approver
    sweep(h, "2026-12-02T10:00:00+01:00")
    [nudge] = nudges(h)
    i5 = item(h, "1.5")
    h.driver.click(
        CHANNEL, nudge["ts"], f"nudge_snooze:{i5.id}", user=APPROVER.user_id, selected_option=f"1:{i5.id}"
    )
    h.idle()
    sweep(h, "2026-12-03T10:00:00+01:00")  # the snooze is over: reminded again, a day after the last
    woke = nudges(h)[-1]
    assert woke["ts"] != nudge["ts"] and f"item:{i5.id}" in reminder_payload(woke)["subjects"]
    assert properly(h, woke) == {APPROVER.user_id: "mention"}


# -- being named ---------------------------------------------------------------------------------
def test_being_named_tells_the_person_once_with_what_is_theirs(only_approver):
    h = only_approver
    [welcome] = welcomes(h)
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    told = [m for m in h.standin.replies(CHANNEL, welcome["ts"]) if f"<@{CONTRIBUTOR.user_id}>" in m["text"]]
    assert len(told) == 1 and properly(h, told[0]) == {CONTRIBUTOR.user_id: "mention"}
    text = blocks_text(told[0]["blocks"])
    assert "named *contributor*" in text and "*1.5*" in text and "my_tasks" in str(told[0]["blocks"])
    h.command(f"role {mention(CONTRIBUTOR)} remove contributor")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")  # named again: already told
    assert (
        len(
            [m for m in h.standin.replies(CHANNEL, welcome["ts"]) if f"<@{CONTRIBUTOR.user_id}>" in m["text"]]
        )
        == 1
    )
    h.command(f"role {mention(SPONSOR)} sponsor")
    [sam] = [m for m in h.standin.replies(CHANNEL, welcome["ts"]) if f"<@{SPONSOR.user_id}>" in m["text"]]
    assert properly(h, sam) == {SPONSOR.user_id: "mention"}
    # Four items given to one person in one command make one message, not four.
    h.command("add 1 Send the logo owner=customer")
    h.command("add 1 Send the brand colours owner=customer")
    parent = checklist_msg(h)["ts"]
    before = len(h.standin.replies(CHANNEL, parent))
    h.command(f"assign 1.5 1.6 1.7 1.8 {mention(CONTRIBUTOR)}")
    new = h.standin.replies(CHANNEL, parent)[before:]
    assert len(new) == 1
    assert properly(h, new[0]) == {CONTRIBUTOR.user_id: "mention"}
    assert all(f"*{r}*" in blocks_text(new[0]["blocks"]) for r in ("1.5", "1.6", "1.7", "1.8"))


# -- the budget and escalation -------------------------------------------------------------------
REMINDERS = ("nudge", "dryrun", "digest")


def reminders_to(h: Harness, user: str) -> list:
    """The notifications `user` got from reminder messages (nudges, dry-run reminders, digests)."""
    out = []
    for n in h.standin.notifications(user):
        message = h.standin.message(n.channel, n.ts)
        if message is not None and reminder_kind(message) in REMINDERS:
            out.append(n)
    return out


def test_nobody_gets_more_than_two_reminders_a_day_and_what_waits_goes_the_next_day(only_approver):
    h = only_approver
    h.command("checklist 2")  # Solutioning's checklist: its items' reminders go in its thread
    h.command("due 2.5 2026-12-02")  # an item of Ada's there
    request_signoff(h, "solution_design")  # Ada's sign-off: nudged from Thu 3 Dec, in its own thread
    sweep(h, "2026-12-03T10:00:00+01:00")
    # Three threads have something for Ada; the third waits for tomorrow.
    assert len(reminders_to(h, APPROVER.user_id)) == MAX_A_DAY
    with h.services.db.read() as session:
        sent = {
            (r.subject)
            for r in session.exec(
                select(Notification).where(Notification.user_id == APPROVER.user_id, Notification.reminder)
            )
        }
    waiting = {"signoff:1", f"item:{item(h, '1.5').id}", f"item:{item(h, '2.5').id}"} - sent
    assert len(waiting) == 1
    sweep(h, "2026-12-04T10:00:00+01:00")
    friday = reminders_to(h, APPROVER.user_id)[MAX_A_DAY:]
    assert len(friday) == 1, "what the budget held went out the next working day"
    assert waiting <= set(reminder_payload(h.standin.message(friday[0].channel, friday[0].ts))["subjects"])


def test_no_two_reminders_about_one_item_within_two_business_days(only_approver):
    h = only_approver
    h.command("settings cadence=1")  # the team asked for daily nudges…
    sweep(h, "2026-12-02T10:00:00+01:00")
    sweep(h, "2026-12-03T10:00:00+01:00")  # …but Ada heard of 1.5 and 1.6 yesterday
    sweep(h, "2026-12-04T10:00:00+01:00")
    i5 = item(h, "1.5")
    about = [m for m in nudges(h) if f"item:{i5.id}" in reminder_payload(m)["subjects"]]
    assert len(about) == 2 and all(properly(h, m) == {APPROVER.user_id: "mention"} for m in about)
    assert item(h, "1.5").last_nudged_at.date() == date(2026, 12, 4)  # Wednesday, then Friday


def test_escalation_counts_only_reminders_that_notified_someone(only_approver):
    h = only_approver
    i5, i6 = item(h, "1.5"), item(h, "1.6")
    sweep(h, "2026-12-02T10:00:00+01:00")  # reminder 1
    first = nudges(h)[0]
    h.driver.click(CHANNEL, first["ts"], f"nudge_done:{i6.id}", user=APPROVER.user_id)  # progress on 1.6
    h.idle()
    assert h.standin.message(CHANNEL, first["ts"])["edited"]  # kept true by an edit…
    assert item(h, "1.5").nudge_count == 1  # …which is no reminder
    sweep(h, "2026-12-04T10:00:00+01:00")  # reminder 2
    assert not [m for m in direct_messages(h, LEAD) if m["text"].startswith("Stuck at")]
    sweep(h, "2026-12-08T10:00:00+01:00")  # reminder 3: two went by without progress
    [stuck] = [m for m in direct_messages(h, LEAD) if m["text"].startswith("Stuck at")]
    notifying = [
        m for m in nudges(h) if f"item:{i5.id}" in reminder_payload(m)["subjects"] and properly(h, m)
    ]
    assert len(notifying) == 3 == item(h, "1.5").nudge_count
    assert "*1.5*" in blocks_text(stuck["blocks"]) and "reminder 3" in blocks_text(stuck["blocks"])
    assert properly(h, stuck) == {LEAD.user_id: "direct message"}


# -- two weeks, as the issue walked them ---------------------------------------------------------
def test_two_weeks_of_reminders_with_only_the_approver_named(only_approver):
    h = only_approver
    h.lift_rate_limits()
    request_signoff(h, "solution_design")
    h.command("dryrun 2026-12-16 10:00")
    before = {m["ts"] for m in h.standin.top_level(CHANNEL)}
    day_of: dict[int, date] = {}  # stand-in notification seq -> the bot's local day it came on
    day = date(2026, 12, 1)
    while day <= date(2026, 12, 14):
        for hour in ("09:05", "11:00", "15:30"):
            seen = {n.seq for n in h.standin.notifications()}
            sweep(h, f"{day.isoformat()}T{hour}:00+01:00")
            day_of.update({n.seq: day for n in h.standin.notifications() if n.seq not in seen})
        day += timedelta(days=1)
    # Every reminder message, in the channel and in direct messages.
    channels = [CHANNEL] + [c for c in (h.standin.im_channel(p.user_id) for p in (LEAD, CONSULTANT)) if c]
    sent = [m for c in channels for m in h.standin.messages(c) if reminder_kind(m) in REMINDERS]
    kinds = {reminder_kind(m) for m in sent}
    assert kinds == {"nudge", "dryrun", "digest"}, kinds
    with h.services.db.read() as session:
        waiting = {d.item_id for d in session.exec(select(ItemDependency))}
        # An item that waits for another is reminded to that one's owner: its side is theirs.
        sides = {f"item:{i.id}": i.owner_side for i in session.exec(select(Item)) if i.id not in waiting}
    customer = {APPROVER.user_id, CONTRIBUTOR.user_id, SPONSOR.user_id}
    for m in sent:
        payload = reminder_payload(m)
        reached = properly(h, m)
        intended = set(payload.get("for") or [])
        assert intended & set(reached), f"{m['text'][:80]!r} reached none of {intended}: {notified_by(h, m)}"
        for subject in payload.get("subjects") or []:  # each on the right side
            if sides.get(subject) == "customer" or subject.startswith("signoff:"):
                assert set(reached) & customer, (m["text"][:80], reached)
            elif sides.get(subject) == "vendor":
                assert set(reached) <= {LEAD.user_id, CONSULTANT.user_id}, (m["text"][:80], reached)
    # Nobody got more than two reminder notifications a day (Slack's to followers included)…
    per_day: dict[tuple[str, date], int] = defaultdict(int)
    about: dict[tuple[str, str], list[date]] = defaultdict(list)
    calendar = BusinessCalendar("DE", (0, 1, 2, 3, 4))
    by_ts = {(m["channel"], m["ts"]): m for m in sent}
    for user in {n.user for m in sent for n in h.standin.notifications(channel=m["channel"], ts=m["ts"])}:
        for n in h.standin.notifications(user):
            message = by_ts.get((n.channel, n.ts))
            if message is None:
                continue
            local = day_of[n.seq]
            per_day[(user, local)] += 1
            for subject in reminder_payload(message).get("subjects") or []:
                if n.reason in ("mention", "direct message"):
                    about[(user, subject)].append(local)
    assert per_day and max(per_day.values()) <= MAX_A_DAY, {k: v for k, v in per_day.items() if v > MAX_A_DAY}
    # …nor two about the same item within two business days.
    for (user, subject), days in about.items():
        for earlier, later in itertools.pairwise(days):
            assert calendar.count(earlier + timedelta(days=1), later) >= 2, (user, subject, days)
    # Escalation counted only reminders that notified someone.
    with h.services.db.read() as session:
        for i in session.exec(select(Item).where(Item.nudge_count > 0)):
            notifying = [
                m
                for m in sent
                if reminder_kind(m) == "nudge"
                and f"item:{i.id}" in reminder_payload(m)["subjects"]
                and properly(h, m)
            ]
            assert i.nudge_count == len(notifying), (i.title, i.nudge_count, len(notifying))
    assert [m for m in direct_messages(h, LEAD) if m["text"].startswith("Stuck at")]
    # And the channel stayed quiet: the week's digests are the only new top-level messages.
    added = [m for m in h.standin.top_level(CHANNEL) if m["ts"] not in before]
    assert len(added) <= 4 and all(reminder_kind(m) == "digest" for m in added)


def test_golive_nudges_and_the_settings_form_say_whom_each_reminder_notifies(only_approver):
    h = only_approver
    h.command("dryrun 2026-12-16 10:00")
    at(h, "2026-12-02T08:00:00+01:00")
    h.command("nudges")
    [said] = ephemeral_texts(h, LEAD.user_id)[-1:]
    nxt = said.split("*Next nudge:*")[1].split("*Scheduled*")[0]
    assert "1.5 Walk us through" in nxt and "→ Ada Approver _(mention (approvers))_" in nxt
    assert "1.1 Understand" in nxt and "→ Lena Lead _(privately)_" in nxt
    assert "Dry-run reminder (7 days before) — Wed 9 Dec 10:00 → Lena Lead, Ada Approver" in said
    assert "Go-live day message" in said and "mentions nobody" in said
    h.command("settings")
    [form] = h.standin.open_views(LEAD.user_id)
    coming = next(b for b in form["view"]["blocks"] if b.get("block_id") == "coming_up")["text"]["text"]
    assert "Ada Approver" in coming and "Dry-run reminder (7 days before)" in coming


def test_a_team_items_private_reminder_shows_it_was_ticked_in_the_channel(only_approver):
    h = only_approver
    sweep(h, "2026-12-02T10:00:00+01:00")
    [dm] = [m for m in direct_messages(h, LEAD) if reminder_kind(m) == "nudge"]
    h.command("done 1.1")
    shown = h.standin.message(dm["channel"], dm["ts"])
    assert shown["edited"] and "done by Lena Lead" in blocks_text(shown["blocks"])
    assert properly(h, dm) == {LEAD.user_id: "direct message"}  # the edit notified nobody again
