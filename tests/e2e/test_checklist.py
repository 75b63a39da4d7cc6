"""Issue 3 flows: the phase checklist in the channel, ticked by both sides, and its item menu."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from bot.engagement import checklist as cl
from harness import APPROVER, CHANNEL, CONSULTANT, CONTRIBUTOR, CUSTOMER_TEAM, LEAD
from storage.models import EngagementPhase, Item
from tests.e2e.helpers import blocks_text, checklists, engagement, ephemeral_texts, posts, shown


def item(h, ref: str) -> Item:
    phase_no, item_no = (int(x) for x in ref.split("."))
    with h.services.db.session() as s:
        e = engagement(h)
        return cl.find_item(s, e, phase_no, item_no)[1]


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


@pytest.fixture
def started(harness):
    harness.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    return harness


def test_start_posts_the_first_checklist_with_refs_owners_and_progress(started):
    msg = checklist_msg(started, 1)
    text = blocks_text(msg["blocks"])
    assert "1. Discovery — checklist" in text
    assert "0 of 6 done" in text and "░░░░░░░░░░ 0%" in text
    assert "*1.5* Walk us through your current setup" in text
    assert "Customer · unassigned · due Fri 4 Dec" in text
    assert "Vendor · unassigned" in text


def test_customer_ticks_customer_item_and_the_same_message_updates(started):
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
    block = option_of(msg, it.id)
    checkbox = block["elements"][0]
    assert checkbox["initial_options"][0]["value"] == str(it.id)
    assert "Done by Cody Contributor · Mon 30 Nov" in checkbox["initial_options"][0]["description"]["text"]
    assert "1 of 6 done" in blocks_text(msg["blocks"])
    # One live copy: the first one now points to the copy posted again, and only that was updated.
    assert [m["ts"] for m in checklists(started)] == [ts]
    [moved] = [m for m in posts(started) if "checklist moved" in m["text"]]
    assert not [c for c in started.standin.calls_to("chat.update") if c.args["ts"] == moved["ts"] and "done" in c.args["text"]]


def test_customer_cannot_tick_a_vendor_item(started):
    updates_before = len(started.standin.calls_to("chat.update"))
    r, ts = tick(started, "1.1", CONTRIBUTOR)
    assert r.status == 200
    assert item(started, "1.1").status == "open"
    [msg] = ephemeral_texts(started, CONTRIBUTOR.user_id)
    assert "implementation team's item" in msg and "items marked Customer" in msg
    # The message is re-rendered so the box the user ticked goes back to the truth.
    assert len(started.standin.calls_to("chat.update")) > updates_before
    block = option_of(started.standin.message(CHANNEL, ts), item(started, "1.1").id)
    assert "initial_options" not in block["elements"][0]


def test_consultant_ticks_customer_item_on_their_behalf(started):
    tick(started, "1.6", CONSULTANT)
    it = item(started, "1.6")
    assert it.status == "done" and it.on_behalf and it.done_by == CONSULTANT.user_id
    block = option_of(checklist_msg(started), it.id)
    assert "for the customer" in block["elements"][0]["initial_options"][0]["description"]["text"]


def test_untick_reopens(started):
    tick(started, "1.5", CONTRIBUTOR)
    tick(started, "1.5", CONTRIBUTOR, checked=False)
    it = item(started, "1.5")
    assert it.status == "open" and it.done_by is None


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
    assert "Customer · Ada Approver · due" in block["elements"][0]["options"][0]["description"]["text"]
    started.command(f"assign 1.1 <@{CONSULTANT.user_id}|carl>")
    assert item(started, "1.1").assignee_id == CONSULTANT.user_id
    assert "Vendor · Carl Consultant" in blocks_text(checklist_msg(started)["blocks"])


def test_customer_cannot_assign_vendor_items_or_change_dates(started):
    menu(started, "1.1", CONTRIBUTOR, "assign")
    menu(started, "1.5", CONTRIBUTOR, "due")
    assert started.standin.open_views(CONTRIBUTOR.user_id) == []
    msgs = ephemeral_texts(started, CONTRIBUTOR.user_id)
    assert "assign the implementation team's items" in msgs[0]
    assert "change due dates" in msgs[1]


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
        "due Fri 18 Dec"
        in option_of(checklist_msg(started), it.id)["elements"][0]["options"][0]["description"]["text"]
    )
    started.command("due 1.6 2026-12-21")
    assert item(started, "1.6").due_on == date(2026, 12, 21)
    started.command("due 1.6 21/12/2026")
    assert "YYYY-MM-DD" in ephemeral_texts(started, LEAD.user_id)[-1]
    # Recompute the plan: hand-set dates stay, the others follow their phase.
    started.command("plan size=enterprise")
    with started.services.db.session() as s:
        discovery = s.exec(select(EngagementPhase).where(EngagementPhase.number == 1)).one()
    assert item(started, "1.5").due_on == date(2026, 12, 18)
    assert item(started, "1.6").due_on == date(2026, 12, 21)
    assert item(started, "1.1").due_on == discovery.planned_end == date(2026, 12, 10)
    plan_msg = [m for m in posts(started) if "plan updated" in m["text"]]
    assert plan_msg and "These phases moved" in blocks_text(plan_msg[0]["blocks"])


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
    block = option_of(checklist_msg(started), it.id)
    assert block["type"] == "section"
    assert "Not applicable: No ERP &lt;yet&gt; &amp; no CRM" in block["text"]["text"]
    assert "0 of 5 done" in blocks_text(checklist_msg(started)["blocks"])  # not applicable is not done
    menu(started, "1.4", LEAD, "reopen")
    assert item(started, "1.4").status == "open"
    started.command("na 1.3 Tech stack reviewed in the pilot")
    assert item(started, "1.3").na_reason == "Tech stack reviewed in the pilot"


def test_add_custom_item(started):
    started.command('add 1 "Share the SSO metadata" owner=customer')
    it = item(started, "1.7")
    assert (it.title, it.owner_side, it.custom) == ("Share the SSO metadata", "customer", True)
    assert "*1.7* Share the SSO metadata" in blocks_text(checklist_msg(started)["blocks"])
    started.command("add 1 Something owner=partner")
    assert "`owner=` takes customer or vendor" in ephemeral_texts(started, LEAD.user_id)[-1]


def test_side_override_lets_a_customer_user_act_as_vendor(started):
    started.command(f"side <@{APPROVER.user_id}|ada> vendor")
    tick(started, "1.1", APPROVER)
    assert item(started, "1.1").status == "done"


def test_finishing_a_phase_announces_the_next_with_its_checklist(started):
    for n in range(1, 7):
        started.command(f"done 1.{n}")
    with started.services.db.session() as s:
        assert engagement(started).phase_index == 2
        assert s.exec(select(EngagementPhase).where(EngagementPhase.number == 1)).one().completed_at
    announced = [m for m in posts(started) if "Phase 2, Solutioning, starts now" in m["text"]]
    assert len(announced) == 1
    assert checklist_msg(started, 2)


def test_long_titles_are_cut_with_an_ellipsis(started):
    started.command("add 1 " + "Reconcile every legacy invoice " * 6)
    it = item(started, "1.7")
    assert len(it.title) <= 200
    block = option_of(checklist_msg(started), it.id)
    text = block["elements"][0]["options"][0]["text"]["text"]
    assert len(text) == 75 and text.endswith("…")


def _big_playbook(tmp_path, n: int):
    doc = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "bot/engagement/playbooks/default.yaml").read_text()
    )
    doc["phases"][1]["items"] = [
        {"key": f"task_{i}", "title": f"Task {i} " + "with a long descriptive title " * 5, "owner": "vendor"}
        for i in range(n)
    ]
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_sixty_item_phase_renders_within_block_kit_limits(harness_factory, tmp_path):
    h = harness_factory(env={"GOLIVE_PLAYBOOK": str(_big_playbook(tmp_path, 60))})
    h.command("start Acme Corp")
    msgs = checklists(h)
    assert len(msgs) == 2
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
    assert len([i for i in ids if i and i.startswith("item:")]) == 60
    h.command("done 1.60")
    assert "1 of 60 done" in blocks_text(h.standin.message(CHANNEL, msgs[1]["ts"])["blocks"])
    assert h.standin.invalid_block_responses() == []


def test_status_shows_health_with_reason(started, clock):
    from datetime import timedelta

    started.command("status")
    assert "On track" in ephemeral_texts(started, LEAD.user_id)[-1]
    clock.advance(timedelta(days=10))  # Discovery was due Fri 4 Dec
    started.command("status")
    last = shown(ephemeral_texts(started, LEAD.user_id)[-1])
    assert "Late" in last and "6 items are overdue; the oldest, 1.1, was due Fri 4 Dec" in last


def test_status_is_never_stale(started):
    """Status answers are rendered once per state of the engagement: every change shows."""
    h = started
    h.command("status")
    first = ephemeral_texts(h, LEAD.user_id)[-1]
    assert "0 of 36 items done" in first
    h.command("status")
    assert ephemeral_texts(h, LEAD.user_id)[-1] == first  # unchanged state, same answer
    assert h.services.rendered.hits >= 1
    h.command("done 1.1")
    h.command("status")
    assert "1 of 36 items done" in ephemeral_texts(h, LEAD.user_id)[-1]
    tick(h, "1.5", CONTRIBUTOR)
    h.command("status")
    assert "2 of 36 items done" in ephemeral_texts(h, LEAD.user_id)[-1]
    h.command("target 2027-03-01")
    h.command("status")
    assert "Mon 1 Mar 2027" in shown(ephemeral_texts(h, LEAD.user_id)[-1])


def test_add_item_through_the_checklist_button(started):
    msg = checklist_msg(started)
    started.driver.click(CHANNEL, msg["ts"], "add_item", user=CONTRIBUTOR.user_id)
    started.idle()
    assert started.standin.open_views(CONTRIBUTOR.user_id) == []
    assert "Only the implementation team adds items" in ephemeral_texts(started, CONTRIBUTOR.user_id)[-1]
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
    assert "*1.7* Send the SSO metadata" in blocks_text(checklist_msg(started)["blocks"])


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
    ids = []
    for m in _phase_one(h):
        for b in h.standin.message(CHANNEL, m["ts"])["blocks"]:
            bid = str(b.get("block_id") or "")
            if bid.startswith("item:"):
                ids.append(int(bid.split(":")[1]))
    return ids


def test_a_phase_of_forty_long_done_items_stays_within_slacks_text_limit(harness_factory, tmp_path):
    from bot.slack.publish import TEXT_BUDGET
    from standin.validate import MAX_MESSAGE_BLOCKS_TEXT, blocks_text_length

    h = harness_factory(env={"GOLIVE_PLAYBOOK": str(_first_phase_playbook(tmp_path, 40))})
    h.lift_rate_limits()  # dozens of multi-part refreshes in seconds: this tests text budgets
    doer = _add_long_named_doer(h)
    h.command("start Acme Corp kickoff=2026-11-30")
    reason = "Out of scope: the customer's legacy billing platform is retired before go-live " * 6
    for n in range(1, 41):
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
    parts = _phase_one(h)
    assert len(parts) >= 2, "40 long done items do not fit one message"
    shown = _item_ids_shown(h)
    assert len(shown) == 40 and len(set(shown)) == 40, "every item is shown exactly once"
    for m in parts:
        msg = h.standin.message(CHANNEL, m["ts"])
        assert "32 of 32 done" in blocks_text(msg["blocks"]) and msg["edited"], (  # 8 not applicable
            "every part refreshed in place"
        )
    blocks = [b for m in parts for b in h.standin.message(CHANNEL, m["ts"])["blocks"]]
    done = [b for b in blocks if b["type"] == "actions" and b["elements"][0].get("initial_options")]
    na = [b for b in blocks if b["type"] == "section" and "Not applicable: Out of scope" in b["text"]["text"]]
    assert len(done) == 32 and len(na) == 8
    assert all(
        b["elements"][0]["initial_options"][0]["description"]["text"].startswith("Done by Maximiliana")
        for b in done
    )


def test_items_that_outgrow_a_part_get_a_new_one_and_every_part_stays_in_budget(harness_factory, tmp_path):
    from bot.slack.publish import TEXT_BUDGET
    from standin.validate import blocks_text_length

    h = harness_factory(env={"GOLIVE_PLAYBOOK": str(_first_phase_playbook(tmp_path, 30))})
    h.lift_rate_limits()  # dozens of multi-part refreshes in seconds: this tests text budgets
    doer = _add_long_named_doer(h)
    h.command("start Acme Corp kickoff=2026-11-30")
    for n in range(1, 29):  # 1.29 and 1.30 stay open: the phase goes on
        h.command(f"done 1.{n}", user=doer)
    assert len(_phase_one(h)) == 1, "30 items, 28 of them done, fit in one message"
    title = ("Confirm the customer's revenue recognition rules for every multi-year contract " * 3)[:200]
    added = 0
    while len(_phase_one(h)) == 1 and added < 15:
        h.command(f"add 1 {title} owner=customer")
        added += 1
    parts = _phase_one(h)
    assert len(parts) == 2, f"no second part after {added} added items"
    assert added > 1 and len(_item_ids_shown(h)) == 30 + added
    # Shorter again (items reopened): both parts stay in the channel and keep showing items.
    for n in range(1, 11):
        h.command(f"undo 1.{n}")
    assert len(_phase_one(h)) == 2
    per_part = [
        [
            b
            for b in h.standin.message(CHANNEL, m["ts"])["blocks"]
            if str(b.get("block_id", "")).startswith("item:")
        ]
        for m in parts
    ]
    assert all(per_part) and sum(len(p) for p in per_part) == 30 + added
    for c in _checklist_calls(h):
        assert c.response["ok"] is True and blocks_text_length(c.args["blocks"]) <= TEXT_BUDGET


def test_a_refused_tick_redraws_only_that_item_with_a_new_block_id(started):
    ts = checklist_msg(started)["ts"]
    before = {b["block_id"] for b in started.standin.message(CHANNEL, ts)["blocks"] if b.get("block_id")}
    vendor_item = item(started, "1.1")
    started.standin.reset_calls()
    tick(started, "1.1", CONTRIBUTOR)  # refused: a vendor item
    assert item(started, "1.1").status == "open"
    [update] = [c for c in started.standin.calls_to("chat.update") if c.args["ts"] == ts]
    after = {b["block_id"]: b for b in update.args["blocks"] if b.get("block_id")}
    mine = [bid for bid in after if bid.startswith(f"item:{vendor_item.id}:")]
    assert len(mine) == 1 and mine[0] not in before, "the refused item's block is new: the box goes back"
    others = {bid for bid in after if bid.startswith("item:") and bid not in mine}
    assert len(others) == 5 and others <= before, "unchanged items keep their block_id"
    assert "initial_options" not in after[mine[0]]["elements"][0]
    # A second refused tick is a new block again; a successful tick changes only the ticked item.
    tick(started, "1.1", CONTRIBUTOR)
    again = {b["block_id"] for b in started.standin.message(CHANNEL, ts)["blocks"] if b.get("block_id")}
    assert not again & set(mine) and len(again - set(after)) == 1
    tick(started, "1.5", CONTRIBUTOR)
    done = {b["block_id"] for b in started.standin.message(CHANNEL, ts)["blocks"] if b.get("block_id")}
    new = {bid for bid in done - before if bid.startswith("item:")}
    assert [bid.split(":")[1] for bid in new] == [str(item(started, "1.5").id)]
    assert done - new == before - {
        bid for bid in before if bid.startswith(f"item:{item(started, '1.5').id}:")
    }


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
    (d / "checklist.json.j2").write_text(bundled.read_text().replace('"block_id": "item:{{ it.id }}", ', ""))
    h = harness_factory(
        env={"GOLIVE_TEMPLATE_DIR": str(d), "GOLIVE_PLAYBOOK": str(_first_phase_playbook(tmp_path, 60))}
    )
    h.command("start Acme Corp kickoff=2026-11-30")
    parts = _phase_one(h)
    assert len(parts) == 2
    blocks = [h.standin.message(CHANNEL, m["ts"])["blocks"] for m in parts]
    assert sum(1 for bs in blocks for b in bs if b["type"] == "actions" and "tick:" in json.dumps(b)) == 60
    assert all(len(bs) <= 50 and blocks_text_length(bs) <= TEXT_BUDGET for bs in blocks)
    assert not any(str(b.get("block_id", "")).startswith("item:") for bs in blocks for b in bs)
