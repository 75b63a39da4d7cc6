"""Issue 23, part 4: the customer acts where they look.

My tasks has Done, Blocked… and Snooze on each item; "Blocked…" is in the checklist's ⋯ menu and in
Details at any time; a date-change request gives the lead Move / Keep, and the requester an answer;
the checklist shows the customer no box on the implementation team's items (a :lock: line) and a
shared "Add or suggest an item…" whose suggestion goes to the lead privately.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, CONSULTANT, CONTRIBUTOR, LEAD
from storage.models import AuditEvent, Item
from tests.e2e.helpers import (
    at,
    blocks_text,
    button_payload,
    checklists,
    direct_messages,
    ephemeral_texts,
    notified_by,
    nudges,
    posts,
    send_payload,
)
from tests.e2e.test_checklist import checklist_msg, item, menu, option_of, shown_items
from tests.e2e.test_my_tasks import open_my_tasks, rows, text_of


def audit(h, kind: str) -> list[AuditEvent]:
    with h.services.db.read() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.kind == kind)).all())


def actions_of(view: dict, item_id: int) -> dict[str, dict]:
    """The elements of an item's action row in My tasks, by action id prefix."""
    [block] = rows(view, f"task_act:{item_id}")
    return {el["action_id"].split(":")[0]: el for el in block["elements"]}


def thread_replies(h, parent_ts: str) -> list[dict]:
    return h.standin.replies(CHANNEL, parent_ts)


# -- My tasks: Done, Blocked…, Snooze ----------------------------------------------------------
def test_done_in_my_tasks_ticks_the_item_as_the_checklist_does_and_refreshes_it(small):
    h = small  # contributor named; Discovery ends Tue 1 Dec
    at(h, "2026-12-02T09:30:00+01:00")
    h.run_sweep()
    [nudge] = nudges(h)
    five = item(h, "1.5")
    assert f"nudge_done:{five.id}" in str(nudge["blocks"]), "the nudge lists 1.5 with its buttons"
    view = open_my_tasks(h, checklist_msg(h), CONTRIBUTOR)
    done = actions_of(view, five.id)
    assert {"tasks_done", "tasks_blocked", "tasks_snooze"} == set(done)
    hash_at_click = h.standin.view(view["id"])["hash"]
    h.standin.reset_calls()
    h.driver.click_view(view["id"], done["tasks_done"]["action_id"], user=CONTRIBUTOR.user_id)
    h.idle()
    # Ticked as a tick of its box: done by her, audited as item.done.
    got = item(h, "1.5")
    assert (got.status, got.done_by, got.on_behalf) == ("done", CONTRIBUTOR.user_id, False)
    [row] = [a for a in audit(h, "item.done") if a.subject == "1.5"]
    assert row.actor_id == CONTRIBUTOR.user_id
    # The posted checklist folds it and counts it; the nudge that listed it says it is done.
    msg = checklist_msg(h)
    assert five.id not in shown_items(msg) and ":white_check_mark: 1 done" in blocks_text(msg["blocks"])
    stored = h.standin.message(CHANNEL, nudge["ts"])
    assert f"nudge_done:{five.id}" not in str(stored["blocks"])
    assert "done by Cody Contributor" in blocks_text(stored["blocks"])
    # The modal is updated in place, against the hash it had when she clicked.
    first = h.standin.calls_to("views.update")[0]
    assert first.args["view_id"] == view["id"] and first.args.get("hash") == hash_at_click
    after = h.standin.view(view["id"])
    assert ":white_check_mark: 1.5 Walk us through your current setup" in text_of(after)
    assert not rows(after, f"task:{five.id}"), "no longer listed as waiting"


def test_my_tasks_blocked_opens_the_nudges_form_on_top_and_shows_the_block(small):
    h = small
    six = item(h, "1.6")
    view = open_my_tasks(h, checklist_msg(h), CONTRIBUTOR)
    h.driver.click_view(
        view["id"], actions_of(view, six.id)["tasks_blocked"]["action_id"], user=CONTRIBUTOR.user_id
    )
    h.idle()
    stack = h.standin.open_views(CONTRIBUTOR.user_id)
    assert [v["view"]["callback_id"] for v in stack] == ["my_tasks", "nudge_blocked"], "pushed on top"
    h.driver.submit_view(
        stack[1]["id"], {"reason": {"value": "Waiting for our auditors"}}, user=CONTRIBUTOR.user_id
    )
    h.idle()
    assert item(h, "1.6").blocked_reason == "Waiting for our auditors"
    [back] = h.standin.open_views(CONTRIBUTOR.user_id)  # the form closed: My tasks again
    assert back["id"] == view["id"]
    text = text_of(back)
    assert ":no_entry: 1.6 is marked blocked; Lena Lead is told" in text
    assert ":no_entry: blocked: Waiting for our auditors" in text
    assert "tasks_blocked" not in actions_of(back, six.id), "blocked already: no second Blocked…"
    [told] = [m for m in direct_messages(h, LEAD) if "1.6 is blocked" in m["text"]]
    assert notified_by(h, told) == {LEAD.user_id: "direct message"}


def test_my_tasks_snooze_counts_business_days_and_a_date_opens_the_form(small):
    h = small
    at(h, "2026-12-03T10:00:00+01:00")  # Thursday
    five, six = item(h, "1.5"), item(h, "1.6")
    view = open_my_tasks(h, checklist_msg(h), CONTRIBUTOR)
    snooze = actions_of(view, five.id)["tasks_snooze"]
    assert [o["text"]["text"] for o in snooze["options"]] == [
        "1 business day",
        "3 business days",
        "Until a date…",
    ]
    h.driver.click_view(
        view["id"], snooze["action_id"], user=CONTRIBUTOR.user_id, selected_option=f"3:{five.id}"
    )
    h.idle()
    # Three business days from Thursday: Friday, Monday, Tuesday.
    assert item(h, "1.5").snoozed_until == date(2026, 12, 8)
    assert ":zzz: Reminders for 1.5 are snoozed until Tue 8 Dec." in text_of(h.standin.view(view["id"]))
    assert "1.5 · ⚠ overdue since Tue 1 Dec · unassigned · snoozed to Tue 8 Dec" in blocks_text(
        checklist_msg(h)["blocks"]
    )
    [audited] = audit(h, "item.snoozed")
    assert audited.subject == "1.5" and audited.actor_id == CONTRIBUTOR.user_id
    view = h.standin.view(view["id"])
    pick = actions_of(view, six.id)["tasks_snooze"]["action_id"]
    h.driver.click_view(view["id"], pick, user=CONTRIBUTOR.user_id, selected_option=f"pick:{six.id}")
    h.idle()
    stack = h.standin.open_views(CONTRIBUTOR.user_id)
    assert [v["view"]["callback_id"] for v in stack] == ["my_tasks", "nudge_snooze"]
    assert "5 business days" in blocks_text(stack[1]["view"]["blocks"])
    h.driver.submit_view(stack[1]["id"], {"until": {"value": "2026-12-14"}}, user=CONTRIBUTOR.user_id)
    h.idle()
    assert item(h, "1.6").snoozed_until == date(2026, 12, 14)
    assert ":zzz: Reminders for 1.6 are snoozed until Mon 14 Dec." in text_of(
        h.standin.open_views(CONTRIBUTOR.user_id)[0]
    )


def test_a_consultant_marks_a_customer_item_done_for_them_from_my_tasks(small):
    """The team acts on any item, as in the checklist: a customer item assigned to a consultant is
    done on the customer's behalf."""
    h = small
    h.command(f"assign 1.5 <@{CONSULTANT.user_id}|carl>")
    view = open_my_tasks(h, checklist_msg(h), CONSULTANT)
    five = item(h, "1.5")
    h.driver.click_view(
        view["id"], actions_of(view, five.id)["tasks_done"]["action_id"], user=CONSULTANT.user_id
    )
    h.idle()
    got = item(h, "1.5")
    assert (got.status, got.done_by, got.on_behalf) == ("done", CONSULTANT.user_id, True)


# -- Blocked… in the ⋯ menu and in Details, before the due date ---------------------------------
def test_blocked_from_the_menu_before_the_due_date(started):
    h = started  # Mon 30 Nov: 1.5 is due later this week, no nudge yet
    assert item(h, "1.5").due_on > date(2026, 11, 30) and not nudges(h)
    msg = checklist_msg(h)
    five = item(h, "1.5")
    options = [o["value"] for o in option_of(msg, five.id)["elements"][1]["options"]]
    assert f"blocked:{five.id}" in options
    menu(h, "1.5", CONTRIBUTOR, "blocked")
    [form] = h.standin.open_views(CONTRIBUTOR.user_id)
    assert form["view"]["callback_id"] == "nudge_blocked"
    h.driver.submit_view(form["id"], {"reason": {"value": "Our ERP admin is away"}}, user=CONTRIBUTOR.user_id)
    h.idle()
    assert item(h, "1.5").blocked_reason == "Our ERP admin is away"
    [notice] = [m for m in posts(h) if m["text"].startswith("1.5 is blocked")]
    assert notice.get("thread_ts") == msg["ts"], "in the checklist's thread"
    assert notified_by(h, notice) == {}, "naming people in the thread, mentioning nobody"
    due = item(h, "1.5").due_on
    assert f"1.5 · due {due:%a %-d %b} · unassigned · ⛔ blocked" in blocks_text(checklist_msg(h)["blocks"])
    assert [m for m in direct_messages(h, LEAD) if "1.5 is blocked" in m["text"]]


def test_details_offers_blocked_and_mark_done_to_whom_they_are_for(started):
    h = started
    menu(h, "1.6", CONTRIBUTOR, "details")
    [details] = h.standin.open_views(CONTRIBUTOR.user_id)
    [actions] = [b for b in details["view"]["blocks"] if b.get("block_id") == "item_actions"]
    assert [el["text"]["text"] for el in actions["elements"]] == ["Mark done", "Blocked…"]
    h.driver.click_view(details["id"], f"item_blocked:{item(h, '1.6').id}", user=CONTRIBUTOR.user_id)
    h.idle()
    stack = h.standin.open_views(CONTRIBUTOR.user_id)
    assert [v["view"].get("callback_id") for v in stack] == [None, "nudge_blocked"], "on top of Details"
    h.driver.close_view(stack[1]["id"], CONTRIBUTOR.user_id)
    h.driver.close_view(stack[0]["id"], CONTRIBUTOR.user_id)
    # The team's item: its Details offers a customer nothing to click; the lead can mark it done.
    menu(h, "1.1", CONTRIBUTOR, "details")
    [theirs] = h.standin.open_views(CONTRIBUTOR.user_id)
    assert not [b for b in theirs["view"]["blocks"] if b["type"] == "actions"]
    h.driver.close_view(theirs["id"], CONTRIBUTOR.user_id)
    menu(h, "1.1", LEAD, "details")
    [lead] = h.standin.open_views(LEAD.user_id)
    h.driver.click_view(lead["id"], f"item_done:{item(h, '1.1').id}", user=LEAD.user_id)
    h.idle()
    assert item(h, "1.1").status == "done"
    updated = h.standin.view(lead["id"])
    assert ":white_check_mark: 1.1 Understand pricing complexity and needs is done." in blocks_text(
        updated["view"]["blocks"]
    )
    assert not [b for b in updated["view"]["blocks"] if b["type"] == "actions"], "nothing left to click"


# -- a date-change request: Move / Keep ---------------------------------------------------------
def _ask_to_move(h, ref: str, to: str, why: str = "Our CFO is away until the 10th") -> dict:
    menu(h, ref, CONTRIBUTOR, "due")
    [form] = h.standin.open_views(CONTRIBUTOR.user_id)
    h.driver.submit_view(
        form["id"], {"due": {"value": to}, "reason": {"value": why}}, user=CONTRIBUTOR.user_id
    )
    h.idle()
    [dm] = [m for m in direct_messages(h, LEAD) if f"asks to move {ref}" in m["text"]]
    return dm


def test_the_lead_moves_a_date_as_asked_and_the_requester_is_answered(started):
    h = started
    before = item(h, "1.5").due_on
    dm = _ask_to_move(h, "1.5", "2026-12-11")
    labels = [el["text"]["text"] for b in dm["blocks"] if b["type"] == "actions" for el in b["elements"]]
    assert labels == ["Move to Fri 11 Dec", f"Keep {before:%a %-d %b}"]
    stale = h.standin.message(dm["channel"], dm["ts"])  # the message as the lead's client shows it now
    h.driver.click(dm["channel"], dm["ts"], "ask_move", user=LEAD.user_id)
    h.idle()
    got = item(h, "1.5")
    assert got.due_on == date(2026, 12, 11) and got.due_set_by_hand
    [dated] = [a for a in audit(h, "item.due") if a.subject == "1.5"]
    assert dated.actor_id == LEAD.user_id
    assert "1.5 · due Fri 11 Dec · unassigned" in blocks_text(checklist_msg(h)["blocks"])
    # The answer: in the checklist's thread, mentioning her (in its text too), so she is notified.
    [answer] = [m for m in thread_replies(h, checklist_msg(h)["ts"]) if "moved 1.5" in m["text"]]
    assert answer["text"].startswith(f"<@{CONTRIBUTOR.user_id}> Lena Lead moved 1.5 to Fri 11 Dec")
    assert f"<@{CONTRIBUTOR.user_id}>" in answer["blocks"][0]["text"]["text"]
    assert notified_by(h, answer) == {CONTRIBUTOR.user_id: "mention"}
    # The lead's message is now what was decided, with nothing left to click.
    decided = h.standin.message(dm["channel"], dm["ts"])
    assert "Lena Lead moved *1.5*" in blocks_text(decided["blocks"])
    assert not [b for b in decided["blocks"] if b["type"] == "actions"]
    # A second click (an older copy of the message) changes nothing.
    replies_before = len(thread_replies(h, checklist_msg(h)["ts"]))
    payload = button_payload(h, stale, "ask_keep", LEAD.user_id)
    payload["container"]["channel_id"] = payload["channel"]["id"] = dm["channel"]
    send_payload(h, payload)
    h.idle()
    assert item(h, "1.5").due_on == date(2026, 12, 11)
    assert len(audit(h, "item.due")) == 1
    assert len(thread_replies(h, checklist_msg(h)["ts"])) == replies_before
    assert "already answered (moved)" in ephemeral_texts(h, LEAD.user_id)[-1]


def test_the_lead_keeps_the_date_and_the_requester_is_told(started):
    h = started
    before = item(h, "1.6").due_on
    dm = _ask_to_move(h, "1.6", "2026-12-18")
    h.driver.click(dm["channel"], dm["ts"], "ask_keep", user=LEAD.user_id)
    h.idle()
    assert item(h, "1.6").due_on == before and not item(h, "1.6").due_set_by_hand
    assert not audit(h, "item.due")
    [answer] = [m for m in thread_replies(h, checklist_msg(h)["ts"]) if "kept 1.6" in m["text"]]
    assert "kept *1.6* Name your approvers" in answer["blocks"][0]["text"]["text"]
    assert f"due *{before:%a %-d %b}*" in answer["blocks"][0]["text"]["text"]
    assert notified_by(h, answer) == {CONTRIBUTOR.user_id: "mention"}
    decided = h.standin.message(dm["channel"], dm["ts"])
    assert "kept *1.6*" in blocks_text(decided["blocks"]) and "asked for Fri 18 Dec" in blocks_text(
        decided["blocks"]
    )
    assert not [b for b in decided["blocks"] if b["type"] == "actions"]


def test_moving_to_a_saturday_after_the_go_live_is_done_and_said(started):
    h = started
    dm = _ask_to_move(h, "1.5", "2027-01-30")  # a Saturday, after the planned go-live (Tue 19 Jan)
    h.driver.click(dm["channel"], dm["ts"], "ask_move", user=LEAD.user_id)
    h.idle()
    assert item(h, "1.5").due_on == date(2027, 1, 30)
    decided = blocks_text(h.standin.message(dm["channel"], dm["ts"])["blocks"])
    assert "is a Saturday, not a working day; the next business day is Mon 1 Feb 2027" in decided
    assert "1.5 is now due after the planned go-live (Tue 19 Jan 2027)" in decided


# -- the checklist: no box on the team's items, and a shared "Add or suggest" -------------------
def test_the_checklist_shows_no_box_on_the_teams_items_and_the_team_marks_them_done_from_the_menu(started):
    h = started
    msg = checklist_msg(h)
    for ref in ("1.1", "1.2", "1.3", "1.4"):
        block = option_of(msg, item(h, ref).id)
        assert block["type"] == "section" and block["text"]["text"].startswith(":lock: ")
        assert "checkboxes" not in str(block)
        menu_options = [o["text"]["text"] for o in block["accessory"]["options"]]
        assert menu_options == ["Mark done", "Assign…", "Change the due date…", "Not applicable…", "Details"]
    for ref in ("1.5", "1.6"):
        assert option_of(msg, item(h, ref).id)["elements"][0]["type"] == "checkboxes"
    footer = [
        el["text"]["text"]
        for b in msg["blocks"]
        if b.get("block_id") == "checklist_footer"
        for el in b["elements"]
    ]
    assert "Add or suggest an item…" in footer and "Add item…" not in footer
    menu(h, "1.2", CONSULTANT, "done")
    got = item(h, "1.2")
    assert got.status == "done" and got.done_by == CONSULTANT.user_id
    assert [a.actor_id for a in audit(h, "item.done")] == [CONSULTANT.user_id]
    assert item(h, "1.2").id not in shown_items(checklist_msg(h)) and not ephemeral_texts(
        h, CONSULTANT.user_id
    )


def test_a_customers_suggestion_goes_privately_to_the_lead_who_adds_it(started):
    h = started
    msg = checklist_msg(h)
    posted_before = len(posts(h))
    h.driver.click(CHANNEL, msg["ts"], "add_item", user=CONTRIBUTOR.user_id)
    h.idle()
    [form] = h.standin.open_views(CONTRIBUTOR.user_id)
    assert (
        form["view"]["callback_id"] == "item_suggest" and form["view"]["title"]["text"] == "Suggest an item"
    )
    labels = [b["label"]["text"] for b in form["view"]["blocks"] if b["type"] == "input"]
    assert labels == ["What should be on the checklist?", "Who would do it?", "Why?"]
    empty = h.driver.submit_view(
        form["id"], {"title": {"value": " "}}, user=CONTRIBUTOR.user_id, enforce_required=False
    )
    assert set(empty.json["errors"]) == {"title"}
    h.driver.submit_view(
        form["id"],
        {
            "title": {"value": "Share the SSO metadata <xml>"},
            "owner": {"value": "customer"},
            "why": {"value": "IT needs it"},
        },
        user=CONTRIBUTOR.user_id,
    )
    h.idle()
    [thanks] = h.standin.open_views(CONTRIBUTOR.user_id)
    assert "Thank you! Lena Lead has your suggestion" in blocks_text(thanks["view"]["blocks"])
    assert len(posts(h)) == posted_before, "nothing in the channel: the suggestion is private"
    assert item_count(h) == 0, "nothing added before the lead says so"
    [dm] = [m for m in direct_messages(h, LEAD) if "suggests an item" in m["text"]]
    assert notified_by(h, dm) == {LEAD.user_id: "direct message"}
    assert "Share the SSO metadata &lt;xml&gt;" in blocks_text(dm["blocks"]) and "IT needs it" in blocks_text(
        dm["blocks"]
    )
    stale = h.standin.message(dm["channel"], dm["ts"])
    h.driver.click(dm["channel"], dm["ts"], "suggest_add", user=LEAD.user_id)
    h.idle()
    added = item(h, "1.7")
    assert (added.title, added.owner_side, added.custom) == ("Share the SSO metadata <xml>", "customer", True)
    assert added.id in shown_items(checklist_msg(h))
    [answer] = [m for m in thread_replies(h, checklist_msg(h)["ts"]) if "added your suggestion" in m["text"]]
    assert notified_by(h, answer) == {CONTRIBUTOR.user_id: "mention"}
    decided = h.standin.message(dm["channel"], dm["ts"])
    assert "Lena Lead added *1.7*" in blocks_text(decided["blocks"])
    assert not [b for b in decided["blocks"] if b["type"] == "actions"]
    # A second click adds nothing.
    payload = button_payload(h, stale, "suggest_add", LEAD.user_id)
    payload["container"]["channel_id"] = payload["channel"]["id"] = dm["channel"]
    send_payload(h, payload)
    h.idle()
    assert item_count(h) == 1


def item_count(h) -> int:
    """Items added by hand (custom ones)."""
    with h.services.db.read() as session:
        return len([i for i in session.exec(select(Item)).all() if i.custom])


def test_the_checklist_with_the_teams_lock_lines_stays_within_slacks_limits(harness_factory, tmp_path):
    """Sixty long items, half the team's: every part under 50 blocks and the text budget, valid."""
    import yaml

    from bot.slack.publish import TEXT_BUDGET
    from standin.validate import blocks_text_length
    from tests.e2e.test_checklist import _first_phase_playbook

    path = _first_phase_playbook(tmp_path, 60)
    doc = yaml.safe_load(path.read_text())
    for n, it in enumerate(doc["phases"][1]["items"]):
        it["owner"] = "vendor" if n % 2 else "customer"
    path.write_text(yaml.safe_dump(doc))
    h = harness_factory(env={"GOLIVE_PLAYBOOK": str(path)})
    h.lift_rate_limits()
    h.command("start Acme Corp kickoff=2026-11-30")
    parts = [h.standin.message(CHANNEL, m["ts"]) for m in checklists(h) if "phase 1 " in m["text"]]
    assert len(parts) >= 2
    locks = 0
    for p in parts:
        assert len(p["blocks"]) <= 50 and blocks_text_length(p["blocks"]) <= TEXT_BUDGET
        locks += sum(
            1 for b in p["blocks"] if b["type"] == "section" and b["text"]["text"].startswith(":lock: ")
        )
    assert locks == 30
    assert h.standin.invalid_block_responses() == []


def test_an_approver_sees_in_my_tasks_how_much_of_a_gate_is_still_open_before_approving(small):
    """Approve in My tasks says, as the request's own form does, what is still open of what the
    approver certifies, in the row and in the confirm."""
    import re

    from tests.e2e.helpers import request_signoff

    h = small
    request_signoff(h, "solution_design")
    view = open_my_tasks(h, checklist_msg(h), APPROVER)
    found = re.search(r":warning: (\d+) of (\d+) of its items are still open", text_of(view))
    assert found and 0 < int(found.group(1)) <= int(found.group(2))
    approve = next(
        el
        for b in view["view"]["blocks"]
        for el in b.get("elements", [])
        if el.get("action_id", "").startswith("tasks_approve")
    )
    assert (
        f"with {found.group(1)} of {found.group(2)} of its items still open"
        in approve["confirm"]["text"]["text"]
    )
