"""Issue 3 flows: the phase checklist in the channel, ticked by both sides, and its item menu."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from bot.engagement import checklist as cl
from bot.slack.presenters import names_for
from sandbox.harness import APPROVER, CHANNEL, CONSULTANT, CONTRIBUTOR, CUSTOMER_TEAM, LEAD
from storage.models import Engagement, EngagementPhase, Item, Member, UserProfile
from tests.e2e.helpers import (
    blocks_text,
    button_payload,
    checklists,
    direct_messages,
    engagement,
    ephemeral_texts,
    notified_by,
    posts,
    send_payload,
    shown,
)


def item(h, ref: str) -> Item:
    phase_no, item_no = (int(x) for x in ref.split("."))
    with h.services.db.session() as session:
        e = engagement(h)
        return cl.find_item(session, e, phase_no, item_no)[1]


def checklist_msg(h, phase_no: int = 1) -> dict:
    msgs = [m for m in checklists(h) if f"phase {phase_no} " in m["text"]]
    assert msgs, f"no checklist for phase {phase_no}"
    return h.standin.message(CHANNEL, msgs[-1]["ts"])


def option_of(msg: dict, item_id: int) -> dict:
    """The item's block: its block_id is `item:<id>:<version>`."""
    for block in msg["blocks"]:
        if str(block.get("block_id") or "").startswith(f"item:{item_id}:"):
            return block
    raise AssertionError(f"item {item_id} not in message")


def shown_items(msg: dict) -> list[int]:
    """The items with a block in the message, in order."""
    ids = []
    for block in msg["blocks"]:
        bid = str(block.get("block_id") or "")
        if bid.startswith("item:") and "/" not in bid.split(":")[1]:
            ids.append(int(bid.split(":")[1]))
    return ids


def label_and_description(block: dict) -> tuple[str, str]:
    option = block["elements"][0]["options"][0]
    return option["text"]["text"], option["description"]["text"]


def show_all(h, user, phase_no: int = 1) -> dict:
    """Click *Show all* on the phase's checklist; returns the modal's view record."""
    msg = checklist_msg(h, phase_no)
    h.driver.click(CHANNEL, msg["ts"], "checklist_all", user=user.user_id)
    h.idle()
    views = h.standin.open_views(user.user_id)
    assert views, "Show all opened no modal"
    return views[-1]


def modal_row(view: dict, item_id: int) -> dict:
    for block in view["view"]["blocks"]:
        if block.get("block_id") == f"all:{item_id}":
            return block
    raise AssertionError(f"item {item_id} not in the modal")


def tick(h, ref: str, user, checked: bool = True, phase_no: int | None = None):
    it = item(h, ref)
    msg = checklist_msg(h, phase_no or int(ref.split(".")[0]))
    r = h.driver.click(
        CHANNEL,
        msg["ts"],
        f"tick:{it.id}",
        user=user.user_id,
        selected_options=[str(it.id)] if checked else [],
    )
    h.idle()
    return r, msg["ts"]


def menu(h, ref: str, user, verb: str):
    it = item(h, ref)
    msg = checklist_msg(h, int(ref.split(".")[0]))
    h.driver.click(
        CHANNEL, msg["ts"], f"item_menu:{it.id}", user=user.user_id, selected_option=f"{verb}:{it.id}"
    )
    h.idle()
    return it


def test_start_posts_the_first_checklist_grouped_by_side_customer_first(started):
    msg = checklist_msg(started, 1)
    text = blocks_text(msg["blocks"])
    assert "1. Discovery — checklist" in text
    assert "0 of 6 done" in text and "░░░░░░░░░░ 0%" in text
    customer = text.index("*Acme Corp's items* · 2 open")
    vendor = text.index("*The implementation team's items* · 4 open")
    assert customer < vendor, "the customer's items come first"
    it = item(started, "1.5")
    label, description = label_and_description(option_of(msg, it.id))
    assert label == "Walk us through your current setup, tech stack, processes and workflows"
    assert description == f"1.5 · due {it.due_on:%a %-d %b} · unassigned"  # due dates are spread in the phase
    # Customer items (1.5, 1.6) under the first heading, then the team's (1.1 to 1.4), by due date.
    assert shown_items(msg) == [item(started, r).id for r in ("1.5", "1.6", "1.1", "1.2", "1.3", "1.4")]
    assert "My tasks" in text and "Show all" not in text  # nothing is folded yet


def test_no_title_of_the_default_playbook_is_cut(started):
    """Every checkbox label (a customer item) and every :lock: line (the team's) is the item's whole
    title, in every phase's checklist."""
    for n in range(2, 6):
        started.command(f"checklist {n}")
    with started.services.db.session() as session:
        titles = {i.id: i.title for i in session.exec(select(Item)).all()}
    seen = 0
    for n in range(1, 6):
        for block in checklist_msg(started, n)["blocks"]:
            if not str(block.get("block_id", "")).startswith("item:"):
                continue
            item_id = int(block["block_id"].split(":")[1])
            if block["type"] == "actions":
                label, description = label_and_description(block)
                assert label == titles[item_id] and len(label) <= 75 and "…" not in description
            else:
                assert block["text"]["text"].split("\n")[0] == f":lock: {titles[item_id]}"
            seen += 1
    assert seen == len(titles) > 30


def test_the_overdue_marker_is_beside_the_title_not_in_it(started, clock):
    from datetime import timedelta

    clock.advance(timedelta(days=7))  # Discovery ended Fri 4 Dec
    started.command("assign 1.5 me")  # any change refreshes the checklist
    due = item(started, "1.5").due_on
    block = option_of(checklist_msg(started), item(started, "1.5").id)
    label, description = label_and_description(block)
    assert label == "Walk us through your current setup, tech stack, processes and workflows"
    assert description == f"1.5 · ⚠ overdue since {due:%a %-d %b} · Lena Lead"
    assert ":warning: 2 overdue" in blocks_text(checklist_msg(started)["blocks"])


def test_customer_ticks_customer_item_and_it_is_folded_into_the_done_line(started):
    started.command("checklist")  # a consultant posts it again, as in the flow
    r, ts = tick(started, "1.5", CONTRIBUTOR)
    assert r.status == 200
    it = item(started, "1.5")
    assert (it.status, it.done_by, it.done_by_team, it.on_behalf) == (
        "done",
        CONTRIBUTOR.user_id,
        CUSTOMER_TEAM,
        False,
    )
    assert it.done_at is not None
    updates = [c for c in started.standin.calls_to("chat.update") if c.args.get("ts") == ts]
    assert updates, "the checklist was not updated in place"
    msg = started.standin.message(CHANNEL, ts)
    assert it.id not in shown_items(msg), "a done item is folded"
    text = blocks_text(msg["blocks"])
    assert (
        "1 of 6 done" in text
        and ":white_check_mark: 1 done" in text
        and "Acme Corp's items* · 1 open" in text
    )
    # Show all lists it, ticked, with who did it.
    view = show_all(started, CONTRIBUTOR)
    row = modal_row(view, it.id)
    assert row["accessory"]["initial_options"][0]["value"] == str(it.id)
    assert "1.5 · done by Cody Contributor · Mon 30 Nov" in row["text"]["text"]
    # One live copy: the first one now points to the copy posted again, and only that was updated.
    assert [m["ts"] for m in checklists(started)] == [ts]
    [moved] = [m for m in posts(started) if "checklist moved" in m["text"]]
    assert not [
        c
        for c in started.standin.calls_to("chat.update")
        if c.args["ts"] == moved["ts"] and "done" in c.args["text"]
    ]


def test_customer_sees_no_box_on_a_vendor_item_and_a_stale_tick_is_refused(started):
    """The team's items are :lock: lines, with no box a customer could tick; a tick from a client
    that still shows one (an older copy) is refused, only to them, and nothing changes."""
    msg = checklist_msg(started)
    vendor = item(started, "1.1")
    started.driver.click(
        CHANNEL, msg["ts"], f"tick:{vendor.id}", user=CONTRIBUTOR.user_id, expect_missing=True
    )
    block = option_of(msg, vendor.id)
    assert block["type"] == "section" and block["text"]["text"].startswith(":lock: Understand pricing")
    updates_before = len(started.standin.calls_to("chat.update"))
    stale = {
        **msg,
        "blocks": [
            {
                "type": "actions",
                "block_id": "stale",
                "elements": [
                    {
                        "type": "checkboxes",
                        "action_id": f"tick:{vendor.id}",
                        "options": [{"text": {"type": "mrkdwn", "text": "x"}, "value": str(vendor.id)}],
                    }
                ],
            }
        ],
    }
    payload = button_payload(started, stale, f"tick:{vendor.id}", CONTRIBUTOR.user_id)
    payload["actions"][0] |= {"type": "checkboxes", "selected_options": [{"value": str(vendor.id)}]}
    assert send_payload(started, payload).status == 200
    started.idle()
    assert item(started, "1.1").status == "open"
    [text] = ephemeral_texts(started, CONTRIBUTOR.user_id)
    assert "implementation team's item" in text and "under the first heading" in text and "My tasks" in text
    assert len(started.standin.calls_to("chat.update")) > updates_before  # drawn again: the truth


def test_consultant_ticks_customer_item_on_their_behalf(started):
    tick(started, "1.6", CONSULTANT)
    it = item(started, "1.6")
    assert it.status == "done" and it.on_behalf and it.done_by == CONSULTANT.user_id
    assert "for the customer" in modal_row(show_all(started, CONSULTANT), it.id)["text"]["text"]


def test_untick_in_show_all_reopens_and_the_modal_shows_it(started):
    tick(started, "1.5", CONTRIBUTOR)
    it = item(started, "1.5")
    view = show_all(started, CONTRIBUTOR)
    # The customer may tick their side's items, not the team's: no box on those.
    assert "accessory" not in modal_row(view, item(started, "1.1").id)
    started.driver.click_view(view["id"], f"tick:{it.id}", user=CONTRIBUTOR.user_id, selected_options=[])
    started.idle()
    assert item(started, "1.5").status == "open" and item(started, "1.5").done_by is None
    assert "initial_options" not in modal_row(started.standin.view(view["id"]), it.id)["accessory"]
    assert it.id in shown_items(checklist_msg(started)), "back on the checklist"


def test_done_and_undo_commands_update_the_posted_checklist(started):
    started.command("done 1.2")
    assert item(started, "1.2").status == "done"
    assert any(
        "1.2 Identify usage data sources and formats — marked done" in t
        for t in ephemeral_texts(started, LEAD.user_id)
    )
    assert "1 of 6 done" in blocks_text(checklist_msg(started)["blocks"])
    started.command("undo 1.2")
    assert item(started, "1.2").status == "open"
    assert "0 of 6 done" in blocks_text(checklist_msg(started)["blocks"])


def test_bad_item_refs(started):
    started.command("done 9.1")
    started.command("done 1.99")
    started.command("done first")
    msgs = ephemeral_texts(started, LEAD.user_id)
    assert "There is no phase 9; this engagement has phases 1 to 5" in msgs[-3]
    assert "has no item 1.99; it has items 1 to 6" in msgs[-2]
    assert "is not an item reference" in msgs[-1] and "/golive done <item" in msgs[-1]


# -- the item menu -------------------------------------------------------------------------
def test_assign_through_the_menu_and_the_command(started):
    it = menu(started, "1.5", CONTRIBUTOR, "assign")  # customers may assign customer items
    [view] = started.standin.open_views(CONTRIBUTOR.user_id)
    started.driver.submit_view(
        view["id"], {"assignee": {"value": APPROVER.user_id}}, user=CONTRIBUTOR.user_id
    )
    started.idle()
    assert item(started, "1.5").assignee_id == APPROVER.user_id
    block = option_of(checklist_msg(started), it.id)
    assert label_and_description(block)[1] == f"1.5 · due {it.due_on:%a %-d %b} · Ada Approver"
    started.command(f"assign 1.1 <@{CONSULTANT.user_id}|carl>")
    one = item(started, "1.1")
    assert one.assignee_id == CONSULTANT.user_id
    assert f"1.1 · due {one.due_on:%a %-d %b} · Carl Consultant" in blocks_text(
        checklist_msg(started)["blocks"]
    )


def test_the_menu_answers_a_customer_with_what_they_may_do(started):
    """The ⋯ menu is one for both sides; a customer choosing a team-only entry gets a useful
    answer, never a refusal after the click."""
    menu(started, "1.1", CONTRIBUTOR, "assign")  # the team's item: its details, with why
    [view] = started.standin.open_views(CONTRIBUTOR.user_id)
    assert "submit" not in view["view"] and "implementation team's item" in blocks_text(
        view["view"]["blocks"]
    )
    started.driver.close_view(view["id"], CONTRIBUTOR.user_id)
    assert not ephemeral_texts(started, CONTRIBUTOR.user_id), "nothing was refused"


def test_a_customer_asks_to_change_the_date_and_the_lead_is_told(started):
    due = item(started, "1.5").due_on
    menu(started, "1.5", CONTRIBUTOR, "due")
    [view] = started.standin.open_views(CONTRIBUTOR.user_id)
    assert view["view"]["title"]["text"] == "Ask to change the date"
    bad = started.driver.submit_view(
        view["id"], {"due": {"value": "2026-01-05"}, "reason": {"value": "x" * 10}}, user=CONTRIBUTOR.user_id
    )
    assert bad.json["response_action"] == "errors" and set(bad.json["errors"]) == {"due"}
    started.driver.submit_view(
        view["id"],
        {"due": {"value": "2026-12-11"}, "reason": {"value": "Our CFO is away until the 10th"}},
        user=CONTRIBUTOR.user_id,
    )
    started.idle()
    assert item(started, "1.5").due_on == due, "only the team changes dates"
    [note] = [m for m in posts(started) if "asks to move 1.5" in m["text"]]
    assert note.get("thread_ts") == checklist_msg(started)["ts"], "the note is in the checklist's thread"
    text = note["blocks"][0]["text"]["text"]
    # Both named in the thread, not mentioned (a mention would make them follow it)…
    assert "Cody Contributor asks" in text and "Lena Lead is told" in text and "<@" not in text
    was = f"{due:%a %-d %b}"
    assert f"from {was} to *Fri 11 Dec*" in text and "Our CFO is away until the 10th" in text
    assert "Lena Lead is told and answers here" in text
    # …and the lead is told privately, by a direct message that notifies them.
    [told] = [m for m in direct_messages(started, LEAD) if "asks to move 1.5" in m["text"]]
    assert notified_by(started, told) == {LEAD.user_id: "direct message"}
    assert "Our CFO is away until the 10th" in blocks_text(told["blocks"])
    assert {"Move to Fri 11 Dec", f"Keep {was}"} <= set(blocks_text(told["blocks"]).split("\n"))
    # Asking that an item be dropped: the reason is needed.
    menu(started, "1.6", CONTRIBUTOR, "na")
    [view] = started.standin.open_views(CONTRIBUTOR.user_id)
    empty = started.driver.submit_view(
        view["id"], {"reason": {"value": " "}}, user=CONTRIBUTOR.user_id, enforce_required=False
    )
    assert set(empty.json["errors"]) == {"reason"}
    started.driver.submit_view(view["id"], {"reason": {"value": "We have no ERP"}}, user=CONTRIBUTOR.user_id)
    started.idle()
    assert item(started, "1.6").status == "open"
    assert [m for m in posts(started) if "asks to drop 1.6" in m["text"]]


def test_due_date_through_the_menu_and_the_command_survives_a_replan(started):
    it = menu(started, "1.5", LEAD, "due")
    [view] = started.standin.open_views(LEAD.user_id)
    bad = started.driver.submit_view(view["id"], {"due": {"value": "2026-01-05"}}, user=LEAD.user_id)
    assert bad.json["response_action"] == "errors" and "today" in bad.json["errors"]["due"]
    started.driver.submit_view(view["id"], {"due": {"value": "2026-12-18"}}, user=LEAD.user_id)
    started.idle()
    got = item(started, "1.5")
    assert got.due_on == date(2026, 12, 18) and got.due_set_by_hand
    assert (
        label_and_description(option_of(checklist_msg(started), it.id))[1]
        == "1.5 · due Fri 18 Dec · unassigned"
    )
    started.command("due 1.6 2026-12-21")
    assert item(started, "1.6").due_on == date(2026, 12, 21)
    started.command("due 1.6 21/12/2026")
    assert "YYYY-MM-DD" in ephemeral_texts(started, LEAD.user_id)[-1]
    # Recompute the plan: hand-set dates stay, the others follow their phase.
    started.command("plan size=enterprise")
    with started.services.db.session() as session:
        discovery = session.exec(select(EngagementPhase).where(EngagementPhase.number == 1)).one()
    assert item(started, "1.5").due_on == date(2026, 12, 18)
    assert item(started, "1.6").due_on == date(2026, 12, 21)
    assert item(started, "1.1").due_on == discovery.planned_end == date(2026, 12, 10)
    plan_msg = [m for m in posts(started) if "plan updated" in m["text"]]
    assert plan_msg and "These phases moved" in blocks_text(plan_msg[0]["blocks"])
    # Under the live checklist whose dates it moved, not a new top-level message.
    assert plan_msg[0].get("thread_ts") == checklist_msg(started)["ts"]
    assert not [m for m in started.standin.top_level(CHANNEL) if "plan updated" in m["text"]]


def test_not_applicable_with_reason_then_reopen(started):
    it = menu(started, "1.4", LEAD, "na")
    [view] = started.standin.open_views(LEAD.user_id)
    bad = started.driver.submit_view(
        view["id"], {"reason": {"value": "   "}}, user=LEAD.user_id, enforce_required=False
    )
    assert bad.json["response_action"] == "errors"
    started.driver.submit_view(view["id"], {"reason": {"value": "No ERP <yet> & no CRM"}}, user=LEAD.user_id)
    started.idle()
    got = item(started, "1.4")
    assert got.status == "na" and got.na_reason == "No ERP <yet> & no CRM"
    msg = checklist_msg(started)
    assert it.id not in shown_items(msg)
    # Not applicable is counted apart from done (issue 13): 0 of the 5 that apply are done.
    assert "0 of 5 done" in blocks_text(
        msg["blocks"]
    ) and ":heavy_minus_sign: 1 not applicable" in blocks_text(msg["blocks"])
    all_items = show_all(started, LEAD)
    row = modal_row(all_items, it.id)
    assert "not applicable: No ERP &lt;yet&gt; &amp; no CRM" in row["text"]["text"]
    started.driver.click_view(all_items["id"], f"item_reopen:{it.id}", user=LEAD.user_id)
    started.idle()
    assert item(started, "1.4").status == "open"
    assert modal_row(started.standin.view(all_items["id"]), it.id)["accessory"]["type"] == "checkboxes"
    assert it.id in shown_items(checklist_msg(started))
    started.command("na 1.3 Tech stack reviewed in the pilot")
    assert item(started, "1.3").na_reason == "Tech stack reviewed in the pilot"
    started.command("undo 1.3")  # undo brings an item marked not applicable back
    assert item(started, "1.3").status == "open"


def test_only_the_team_reopens_not_applicable_items(started):
    started.command("na 1.6 No tax software")
    view = show_all(started, CONTRIBUTOR)
    row = modal_row(view, item(started, "1.6").id)
    assert "accessory" not in row and ":heavy_minus_sign:" in row["text"]["text"]


def test_add_custom_item(started):
    started.command('add 1 "Share the SSO metadata" owner=customer')
    it = item(started, "1.7")
    assert (it.title, it.owner_side, it.custom) == ("Share the SSO metadata", "customer", True)
    msg = checklist_msg(started)
    assert label_and_description(option_of(msg, it.id)) == (
        "Share the SSO metadata",
        "1.7 · due Fri 4 Dec · unassigned",
    )
    assert shown_items(msg)[:3] == [item(started, r).id for r in ("1.5", "1.6", "1.7")], (
        "under the customer's heading"
    )
    started.command("add 1 Something owner=partner")
    assert "`owner=` takes customer or vendor" in ephemeral_texts(started, LEAD.user_id)[-1]


def test_side_override_lets_a_customer_user_act_as_vendor(started):
    started.command(f"side <@{APPROVER.user_id}|ada> vendor")
    menu(started, "1.1", APPROVER, "done")  # the team's items are marked done from ⋯
    assert item(started, "1.1").status == "done"


def test_finishing_a_phase_announces_the_next_with_its_checklist(started):
    for n in range(1, 7):
        started.command(f"done 1.{n}")
    with started.services.db.session() as session:
        assert engagement(started).phase_index == 2
        assert session.exec(select(EngagementPhase).where(EngagementPhase.number == 1)).one().completed_at
    announced = [m for m in posts(started) if "Phase 2, Solutioning, starts now" in m["text"]]
    assert len(announced) == 1
    assert checklist_msg(started, 2)


def test_long_titles_wrap_and_are_never_cut(started):
    wrapping = "Reconcile every legacy invoice line for the multi-year contracts of the EMEA region"
    started.command(f"add 1 {wrapping} owner=customer")
    long = "Reconcile every legacy invoice " * 6
    started.command(f"add 1 {long} owner=customer")
    msg = checklist_msg(started)
    label, description = label_and_description(option_of(msg, item(started, "1.7").id))
    assert len(label) <= 75 and len(description) <= 75
    assert label.endswith("…") and description.startswith("…")
    assert label[:-1] + " " + description[1:].split(" — ")[0] == wrapping
    # Too long even for that: the whole title has a block of its own, above its checkbox.
    it = item(started, "1.8")
    title_block = next(
        b for b in msg["blocks"] if str(b.get("block_id", "")).startswith(f"item:{it.id}/title:")
    )
    assert title_block["text"]["text"] == long.strip()
    assert label_and_description(option_of(msg, it.id)) == ("Done", "1.8 · due Fri 4 Dec · unassigned")


def _big_playbook(tmp_path, n: int, owner: str = "vendor"):
    doc = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "bot/engagement/playbooks/default.yaml").read_text()
    )
    doc["phases"][1]["items"] = [
        {"key": f"task_{i}", "title": f"Task {i} " + "with a long descriptive title " * 5, "owner": owner}
        for i in range(n)
    ]
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_sixty_item_phase_renders_within_block_kit_limits(harness_factory, tmp_path):
    h = harness_factory(env={"GOLIVE_PLAYBOOK": str(_big_playbook(tmp_path, 60, owner="customer"))})
    h.command("start Acme Corp")
    msgs = checklists(h)
    assert len(msgs) == 3  # long titles: two blocks an item
    ids = set()
    for m in msgs:
        stored = h.standin.message(CHANNEL, m["ts"])
        assert len(stored["blocks"]) <= 50
        for b in stored["blocks"]:
            for el in b.get("elements", []):
                assert len(el.get("options", [])) <= 10
            if b["type"] == "section":
                assert len(b["text"]["text"]) <= 3000
            ids.add(b.get("block_id"))
        assert m["text"]
    assert len([i for i in ids if i and i.startswith("item:") and "/" not in i]) == 60
    h.command("done 1.60")
    assert "1 of 60 done" in blocks_text(h.standin.message(CHANNEL, msgs[2]["ts"])["blocks"])
    assert h.standin.invalid_block_responses() == []


def test_status_shows_health_with_reason(started, clock):
    from datetime import timedelta

    started.command("status")
    assert "On track" in ephemeral_texts(started, LEAD.user_id)[-1]
    clock.advance(timedelta(days=10))  # Discovery ended Fri 4 Dec
    started.command("status")
    last = shown(ephemeral_texts(started, LEAD.user_id)[-1])
    assert "Late" in last and re.search(
        r"\d+ items are overdue; the oldest, 1\.\d, was due \w{3} \d+ Dec", last
    )


def test_status_is_never_stale(started):
    """Status answers are rendered once per state of the engagement: every change shows."""
    h = started
    h.command("status")
    first = ephemeral_texts(h, LEAD.user_id)[-1]
    assert "0 of 35 items done" in first
    h.command("status")
    assert ephemeral_texts(h, LEAD.user_id)[-1] == first  # unchanged state, same answer
    assert h.services.rendered.hits >= 1
    h.command("done 1.1")
    h.command("status")
    assert "1 of 35 items done" in ephemeral_texts(h, LEAD.user_id)[-1]
    tick(h, "1.5", CONTRIBUTOR)
    h.command("status")
    assert "2 of 35 items done" in ephemeral_texts(h, LEAD.user_id)[-1]
    h.command("target 2027-03-01")
    h.command("status")
    assert "Mon 1 Mar 2027" in shown(ephemeral_texts(h, LEAD.user_id)[-1])


def test_add_item_through_the_checklist_button(started):
    msg = checklist_msg(started)
    started.driver.click(CHANNEL, msg["ts"], "add_item", user=CONTRIBUTOR.user_id)
    started.idle()
    [suggest] = started.standin.open_views(CONTRIBUTOR.user_id)  # a customer suggests (test_customer_acts)
    assert suggest["view"]["callback_id"] == "item_suggest" and not ephemeral_texts(
        started, CONTRIBUTOR.user_id
    )
    started.driver.click(CHANNEL, msg["ts"], "add_item", user=LEAD.user_id)
    started.idle()
    [view] = started.standin.open_views(LEAD.user_id)
    started.driver.submit_view(
        view["id"],
        {"title": {"value": "Send the SSO metadata"}, "owner": {"value": "customer"}},
        user=LEAD.user_id,
    )
    started.idle()
    it = item(started, "1.7")
    assert (it.title, it.owner_side) == ("Send the SSO metadata", "customer")
    assert label_and_description(option_of(checklist_msg(started), it.id))[0] == "Send the SSO metadata"


def test_details_shows_the_whole_item(started):
    started.command("add 1 " + "Reconcile every legacy invoice " * 5)
    menu(started, "1.7", CONTRIBUTOR, "details")
    [view] = started.standin.open_views(CONTRIBUTOR.user_id)
    assert ("Reconcile every legacy invoice " * 5).strip() in blocks_text(view["view"]["blocks"])
    assert "submit" not in view["view"]


def test_a_deployment_overrides_a_template(harness_factory, tmp_path):
    d = tmp_path / "tpl"
    d.mkdir()
    (d / "welcome.json.j2").write_text(
        '{"text": "Hello {{ e.customer_name }}", "blocks": ['
        '{"type": "section", "text": {"type": "mrkdwn", "text": "Custom welcome for *{{ e.customer_name }}*"}}]}'
    )
    h = harness_factory(env={"GOLIVE_TEMPLATE_DIR": str(d)})
    h.command("start &lt;Acme&gt; &amp; Co")  # as Slack sends it with should_escape
    first = posts(h)[0]
    assert first["text"] == "Hello &lt;Acme&gt; &amp; Co"
    assert first["blocks"][0]["text"]["text"] == "Custom welcome for *&lt;Acme&gt; &amp; Co*"
    # Templates not overridden still come from the package.
    assert checklists(h)


# -- Slack's real limits: a text budget per message, and a new block_id per changed item ----------
LONG_NAME = "Maximiliana Alexandra Konstantinopoulou-Wolfeschlegelsteinhausen (Finance Ops)"


def _first_phase_playbook(tmp_path, n: int, owner: str = "vendor"):
    """The default playbook with `n` items of 200-character titles in phase 1 (Discovery; phase 0, the pilot, is left out)."""
    doc = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "bot/engagement/playbooks/default.yaml").read_text()
    )
    doc["phases"][1]["items"] = [
        {
            "key": f"item_{i}",
            "title": (f"Task {i:02d} reconcile " + "every legacy invoice line " * 10)[:200],
            "owner": owner,
        }
        for i in range(n)
    ]
    path = tmp_path / "worst.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _checklist_calls(h) -> list:
    return [
        c
        for c in h.standin.calls
        if c.method in ("chat.postMessage", "chat.update") and "checklist:" in str(c.args.get("text"))
    ]


def _phase_one(h) -> list[dict]:
    return [m for m in checklists(h) if "phase 1 " in m["text"]]


def _add_long_named_doer(h) -> str:
    h.standin.add_user("U0LONGNAME", name="max", team_id=h.standin.team_id, display_name=LONG_NAME)
    h.standin.add_member(CHANNEL, "U0LONGNAME")
    return "U0LONGNAME"


def _item_ids_shown(h) -> list[int]:
    """The item ids in the phase 1 checklist parts as they stand in the channel, in order."""
    return [i for m in _phase_one(h) for i in shown_items(h.standin.message(CHANNEL, m["ts"]))]


def test_a_phase_of_forty_long_items_stays_within_slacks_text_limit(harness_factory, tmp_path):
    """40 items with 200-character titles, assigned to someone with a very long name, most of them
    then done or not applicable: every part of every post and update stays within the budget."""
    from bot.slack.publish import TEXT_BUDGET
    from standin.validate import MAX_MESSAGE_BLOCKS_TEXT, blocks_text_length

    h = harness_factory(env={"GOLIVE_PLAYBOOK": str(_first_phase_playbook(tmp_path, 40))})
    h.lift_rate_limits()  # dozens of multi-part refreshes in seconds: this tests text budgets
    doer = _add_long_named_doer(h)
    h.command("start Acme Corp kickoff=2026-11-30")
    h.command("assign " + " ".join(f"1.{n}" for n in range(1, 41)) + f" <@{doer}|max>")
    parts = _phase_one(h)
    assert len(parts) >= 2, "40 long open items do not fit one message"
    shown = _item_ids_shown(h)
    assert len(shown) == 40 and len(set(shown)) == 40, "every open item is shown exactly once"
    reason = "Out of scope: the customer's legacy billing platform is retired before go-live " * 6
    for n in range(1, 37):
        if n % 5 == 0:
            h.command(f"na 1.{n} {reason}", user=doer)
        else:
            h.command(f"done 1.{n}", user=doer)
    calls = _checklist_calls(h)
    assert len(calls) > 40
    for c in calls:
        assert c.response["ok"] is True, c.response
        measured = blocks_text_length(c.args["blocks"])
        assert measured <= TEXT_BUDGET < MAX_MESSAGE_BLOCKS_TEXT, (c.method, measured)
        assert len(c.args["blocks"]) <= 50
    assert sorted(_item_ids_shown(h)) == sorted(item(h, f"1.{n}").id for n in range(37, 41))
    last = h.standin.message(CHANNEL, _phase_one(h)[-1]["ts"])
    assert ":white_check_mark: 29 done · :heavy_minus_sign: 7 not applicable" in blocks_text(last["blocks"])
    # Show all lists all 40 within a modal's 100 blocks, titles whole.
    view = show_all(h, LEAD)
    assert len(view["view"]["blocks"]) <= 100
    rows = [b for b in view["view"]["blocks"] if str(b.get("block_id", "")).startswith("all:")]
    assert len(rows) == 40 and all("…" not in b["text"]["text"].split("\n")[0] for b in rows)


def test_items_that_outgrow_a_part_get_a_new_one_and_every_part_stays_in_budget(harness_factory, tmp_path):
    from bot.slack.publish import TEXT_BUDGET
    from standin.validate import blocks_text_length

    h = harness_factory(env={"GOLIVE_PLAYBOOK": str(_first_phase_playbook(tmp_path, 12))})
    h.lift_rate_limits()  # dozens of multi-part refreshes in seconds: this tests text budgets
    h.command("start Acme Corp kickoff=2026-11-30")
    assert len(_phase_one(h)) == 1, "12 items fit in one message"
    title = ("Confirm the customer's revenue recognition rules for every multi-year contract " * 3)[:200]
    added = 0
    while len(_phase_one(h)) == 1 and added < 25:
        h.command(f"add 1 {title} owner=customer")
        added += 1
    parts = _phase_one(h)
    assert len(parts) == 2, f"no second part after {added} added items"
    assert added > 1 and len(_item_ids_shown(h)) == 12 + added
    # Fewer open items again (most are done): both parts stay in the channel and keep showing items.
    h.command("done " + " ".join(f"1.{n}" for n in range(1, 12 + added - 3)))
    assert len(_phase_one(h)) == 2
    per_part = [shown_items(h.standin.message(CHANNEL, m["ts"])) for m in parts]
    assert all(per_part) and sum(len(p) for p in per_part) == 4
    for c in _checklist_calls(h):
        assert c.response["ok"] is True and blocks_text_length(c.args["blocks"]) <= TEXT_BUDGET


def test_a_refused_tick_redraws_only_that_item_with_a_new_block_id(started):
    from tests.e2e.test_sides import PARTNER, join

    join(started, PARTNER)  # of another organisation: reads along, ticks nothing
    ts = checklist_msg(started)["ts"]
    before = {b["block_id"] for b in started.standin.message(CHANNEL, ts)["blocks"] if b.get("block_id")}
    refused = item(started, "1.6")  # the refused one (a customer item, with a box)
    started.standin.reset_calls()
    tick(started, "1.6", PARTNER)  # refused: someone of neither side
    assert item(started, "1.6").status == "open"
    [update] = [c for c in started.standin.calls_to("chat.update") if c.args["ts"] == ts]
    after = {b["block_id"]: b for b in update.args["blocks"] if b.get("block_id")}
    mine = [bid for bid in after if bid.startswith(f"item:{refused.id}:")]
    assert len(mine) == 1 and mine[0] not in before, "the refused item's block is new: the box goes back"
    others = {bid for bid in after if bid.startswith("item:") and bid not in mine}
    assert len(others) == 5 and others <= before, "unchanged items keep their block_id"
    assert "initial_options" not in after[mine[0]]["elements"][0]
    # A second refused tick is a new block again; a successful tick changes only the ticked item.
    tick(started, "1.6", PARTNER)
    again = {b["block_id"] for b in started.standin.message(CHANNEL, ts)["blocks"] if b.get("block_id")}
    assert not again & set(mine) and len(again - set(after)) == 1
    tick(started, "1.5", CONTRIBUTOR)  # done: folded, its block gone; the others keep theirs
    done = {b["block_id"] for b in started.standin.message(CHANNEL, ts)["blocks"] if b.get("block_id")}
    five, four = item(started, "1.5").id, item(started, "1.4").id
    assert not {bid for bid in done if bid.startswith(f"item:{five}:")}
    # 1.4 waited on 1.5: its line no longer says so, so it is drawn anew; the rest as before.
    changed = {f"item:{five}:", f"item:{four}:"}
    assert {bid for bid in done if bid.startswith("item:") and not bid.startswith(f"item:{four}:")} == {
        bid for bid in before if bid.startswith("item:") and not bid.startswith(tuple(changed))
    }, "the other items are drawn as before the refused ticks"
    [four_now] = [
        b
        for b in started.standin.message(CHANNEL, ts)["blocks"]
        if b.get("block_id", "").startswith(f"item:{four}:")
    ]
    assert "waiting on" not in blocks_text([four_now]) and four_now["block_id"] not in before


def test_block_ids_follow_the_rendered_state(started):
    ts = checklist_msg(started)["ts"]
    first = {b["block_id"] for b in started.standin.message(CHANNEL, ts)["blocks"] if b.get("block_id")}
    started.command("assign 1.2 me")
    second = {b["block_id"] for b in started.standin.message(CHANNEL, ts)["blocks"] if b.get("block_id")}
    assert {bid.split(":")[1] for bid in second - first} == {str(item(started, "1.2").id)}
    started.command("assign 1.2 me")  # nothing changed: same blocks
    third = {b["block_id"] for b in started.standin.message(CHANNEL, ts)["blocks"] if b.get("block_id")}
    assert third == second


def test_an_overridden_checklist_template_is_split_by_measuring_each_part(harness_factory, tmp_path):
    """A deployment's checklist template whose item blocks carry no `item:<id>` block_id: parts
    are still measured (each candidate rendered) and stay within Slack's limits."""
    from bot.slack.publish import TEXT_BUDGET
    from standin.validate import blocks_text_length

    bundled = Path(__file__).resolve().parents[2] / "messages/templates/checklist.json.j2"
    d = tmp_path / "tpl"
    d.mkdir()
    (d / "checklist.json.j2").write_text(
        re.sub(r'"block_id": "item:\{\{ it.id \}\}(/title)?", ', "", bundled.read_text())
    )
    h = harness_factory(
        env={
            "GOLIVE_TEMPLATE_DIR": str(d),
            "GOLIVE_PLAYBOOK": str(_first_phase_playbook(tmp_path, 60, owner="customer")),
        }
    )
    h.command("start Acme Corp kickoff=2026-11-30")
    parts = _phase_one(h)
    assert len(parts) >= 3  # 60 items of two blocks each
    blocks = [h.standin.message(CHANNEL, m["ts"])["blocks"] for m in parts]
    assert sum(1 for bs in blocks for b in bs if b["type"] == "actions" and "tick:" in json.dumps(b)) == 60
    assert all(len(bs) <= 50 and blocks_text_length(bs) <= TEXT_BUDGET for bs in blocks)
    assert not any(str(b.get("block_id", "")).startswith("item:") for bs in blocks for b in bs)


def test_forty_items_of_both_sides_are_grouped_customer_first_each_by_due_date(harness_factory, tmp_path):
    """A 40-item phase, half the customer's: in every part, the customer's open items come before
    the team's, each group by due date; a group that goes on in the next part says "(continued)"."""
    doc = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "bot/engagement/playbooks/default.yaml").read_text()
    )
    doc["phases"][1]["items"] = [
        {
            "key": f"item_{i}",
            "title": (f"Task {i:02d} reconcile " + "every legacy invoice line " * 10)[:200],
            "owner": "vendor" if i % 2 else "customer",
        }
        for i in range(40)
    ]
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(doc))
    h = harness_factory(env={"GOLIVE_PLAYBOOK": str(path)})
    h.lift_rate_limits()
    h.command("start Acme Corp kickoff=2026-11-30")
    # Later items get earlier dates: the order by due date is not the order of the playbook.
    for n in (37, 38, 39, 40):
        h.command(f"due 1.{n} 2026-12-01")
    h.command("done 1.1 1.2")
    parts = _phase_one(h)
    assert len(parts) >= 2
    shown = _item_ids_shown(h)
    with h.services.db.read() as session:
        rows = {i.id: i for i in session.exec(select(Item)).all()}
    owners = [rows[i].owner_side for i in shown]
    assert len(shown) == 38 and owners == ["customer"] * 19 + ["vendor"] * 19
    for side in ("customer", "vendor"):
        dues = [(rows[i].due_on, rows[i].number) for i in shown if rows[i].owner_side == side]
        assert dues == sorted(dues)
    assert [rows[i].number for i in shown[:2]] == [37, 39], "the earliest due first"
    texts = [blocks_text(h.standin.message(CHANNEL, m["ts"])["blocks"]) for m in parts]
    assert "*Acme Corp's items* · 19 open" in texts[0]
    assert any("(continued)" in t for t in texts[1:])
    assert ":white_check_mark: 2 done (1 of Acme Corp's, 1 of the team's)" in texts[-1]
    for m in parts:
        stored = h.standin.message(CHANNEL, m["ts"])
        assert len(stored["blocks"]) <= 50


def _tick_as_sent(h, msg: dict, item_id: int, user, *, channel: str = CHANNEL):
    """A tick of `item_id` on the checklist message `msg`, as a client sends it (whether or not
    the message shows that item), clicked in `channel`."""
    box = {
        "type": "actions",
        "block_id": "as-sent",
        "elements": [
            {
                "type": "checkboxes",
                "action_id": f"tick:{item_id}",
                "options": [{"text": {"type": "mrkdwn", "text": "x"}, "value": str(item_id)}],
            }
        ],
    }
    payload = button_payload(h, {**msg, "blocks": [box]}, f"tick:{item_id}", user.user_id)
    payload["actions"][0] |= {"type": "checkboxes", "selected_options": [{"value": str(item_id)}]}
    payload["container"]["channel_id"] = payload["channel"]["id"] = channel
    assert send_payload(h, payload).status == 200
    h.idle()


def test_a_tick_acts_only_on_an_item_of_the_ticked_messages_engagement_while_it_is_active(started):
    """A tick is read with the lookups every click uses: the engagement of the message ticked (by
    the ledger, in the channel it was clicked in, while active) and the item, which must be that
    engagement's. Anything else is refused, said to the user, and changes nothing."""
    h = started
    h.standin.add_channel(
        "C0OTHER", name="other-impl", ext_shared=True, members=[LEAD.user_id, CONTRIBUTOR.user_id]
    )
    h.command("start Other Corp size=small tz=Europe/Berlin", channel="C0OTHER")
    msg = checklist_msg(h)
    mine = item(h, "1.5")
    with h.services.db.read() as session:
        other = session.exec(
            select(Item).where(Item.engagement_id != mine.engagement_id, Item.owner_side == "customer")
        ).first()

    def status(item_id: int) -> str:
        with h.services.db.read() as session:
            return session.get(Item, item_id).status

    _tick_as_sent(h, msg, other.id, CONTRIBUTOR)  # another engagement's item on this message
    assert status(other.id) == "open"
    assert "no longer belongs to this engagement" in ephemeral_texts(h, CONTRIBUTOR.user_id)[-1]
    # This message's item clicked in another channel: no message of the bot's is there with that
    # ts, so it is nobody's (issue 25), never taken for that channel's engagement.
    _tick_as_sent(h, msg, mine.id, CONTRIBUTOR, channel="C0OTHER")
    assert status(mine.id) == "open"
    assert (
        "couldn't find that message among the ones I posted"
        in ephemeral_texts(h, CONTRIBUTOR.user_id, "C0OTHER")[-1]
    )
    _tick_as_sent(h, msg, mine.id, CONTRIBUTOR)  # its own item, in its channel: ticked
    assert status(mine.id) == "done" and item(h, "1.5").done_by == CONTRIBUTOR.user_id
    with h.services.db.session() as session:  # cancelled (the command asks for a confirmation first)
        session.get(Engagement, mine.engagement_id).status = "cancelled"
    six = item(h, "1.6")
    _tick_as_sent(h, msg, six.id, CONTRIBUTOR)
    assert status(six.id) == "open"
    assert "no longer active" in ephemeral_texts(h, CONTRIBUTOR.user_id)[-1]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_names_a_checklist_shows_come_from_users_info_else_from_the_member_row(
    harness_factory, request, backend
):
    """`names_for` (one statement for a whole engagement): every member, assignee and whoever
    ticked an item, named by users.info (display name, else real name, else user name) whenever
    there is a profile, else by the member's recorded name; nobody of another engagement. The
    same as asking for those people by id (`only`, another path)."""
    h = harness_factory(request.getfixturevalue("pg_url") if backend == "postgresql" else None)
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.standin.add_channel("C0OTHER", name="other-impl", ext_shared=True, members=[LEAD.user_id])
    h.command("start Other Corp size=small tz=Europe/Berlin", channel="C0OTHER")
    now = h.clock.now()
    acme = engagement(h)
    with h.services.db.session() as session:
        other = session.exec(select(Engagement).where(Engagement.channel_id == "C0OTHER")).one()
        for user_id, display, real, name in [
            ("U0PARTIAL", "", "", "partial"),  # a profile wins over the member row, even its user name
            ("U0REAL", "", "Real Rita", "rita"),
            ("U0ASSIGN", "Asha", "Asha A", "asha"),  # assigned, not a member
            ("U0DONE", "Dora", "", "dora"),  # ticked an item, not a member
            ("U0ELSE", "Elsewhere", "", "else"),  # a member of the other engagement only
        ]:
            session.add(
                UserProfile(user_id=user_id, display_name=display, real_name=real, name=name, fetched_at=now)
            )
        for eid, user_id, display in [
            (acme.id, "U0PARTIAL", "Member Name"),
            (acme.id, "U0REAL", ""),
            (acme.id, "U0NOPROF", "Only Member"),  # no profile: the member row's name
            (acme.id, "U0NONAME", ""),  # neither: no name to show
            (other.id, "U0ELSE", "Elsewhere"),
        ]:
            session.add(
                Member(
                    engagement_id=eid,
                    user_id=user_id,
                    display_name=display,
                    added_by=LEAD.user_id,
                    added_at=now,
                )
            )
        first, second = session.exec(
            select(Item).where(Item.engagement_id == acme.id).order_by(Item.id)  # type: ignore[arg-type]
        ).all()[:2]
        first.assignee_id, second.done_by = "U0ASSIGN", "U0DONE"
        session.add(first)
        session.add(second)
    with h.services.db.read() as session:
        names = names_for(session, acme.id)
        assert {k: v for k, v in names.items() if k != LEAD.user_id} == {
            "U0PARTIAL": "partial",
            "U0REAL": "Real Rita",
            "U0ASSIGN": "Asha",
            "U0DONE": "Dora",
            "U0NOPROF": "Only Member",
        }
        assert names[LEAD.user_id] == LEAD.name  # the lead who started it, from users.info
        assert names_for(session, acme.id, only={*names, "U0NONAME"}) == names
