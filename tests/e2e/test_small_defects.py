"""Issue 12, part 7: the smaller defects found walking through an engagement as the customer would,
each with a test through the stand-in."""

from __future__ import annotations

import json

from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, CONSULTANT, CONTRIBUTOR, LEAD
from storage.models import AuditEvent, Engagement, EngagementPhase
from tests.e2e.helpers import (
    blocks_text,
    engagement,
    last_answer,
    mention,
    posts,
    request_signoff,
)
from tests.e2e.test_checklist import checklist_msg, item, option_of, shown_items


# -- several items in one command ------------------------------------------------------------
def test_done_with_several_items_ticks_them_all(started):
    h = started
    h.command("done 1.1 1.2 1.3")
    assert [item(h, f"1.{n}").status for n in range(1, 5)] == ["done", "done", "done", "open"]
    answer = last_answer(h)
    assert "1.1 Understand" in answer and "1.2 Identify" in answer and "1.3 Analyse" in answer
    assert "3 of 6 done" in blocks_text(checklist_msg(h)["blocks"])
    h.command("undo 1.2,1.3")
    assert [item(h, f"1.{n}").status for n in range(1, 4)] == ["done", "open", "open"]
    h.command("na 1.2 1.3 Covered by the pilot, see its report")
    assert item(h, "1.2").na_reason == item(h, "1.3").na_reason == "Covered by the pilot, see its report"
    h.command(f"assign 1.5 1.6 {mention(APPROVER)}")
    assert item(h, "1.5").assignee_id == item(h, "1.6").assignee_id == APPROVER.user_id


def test_several_items_are_all_or_nothing(started):
    h = started
    h.command("done 1.1 1.99")
    assert "has no item 1.99" in last_answer(h)
    assert item(h, "1.1").status == "open", "nothing is half-written"
    h.command("done 1.1 first")
    assert "`first` is not an item reference" in last_answer(h)
    h.command("done 1.4 1.4")
    # Once: the answer's fallback text and its blocks each say it once.
    assert item(h, "1.4").status == "done" and last_answer(h).count("1.4 Map existing") == 2


# -- undo in a finished phase --------------------------------------------------------------------
def test_undo_in_a_finished_phase_reopens_it_and_the_engagement_goes_back_to_it(started):
    h = started
    h.command("done " + " ".join(f"1.{n}" for n in range(1, 7)))
    assert engagement(h).phase_index == 2
    phases_announced = len([m for m in posts(h) if "starts now" in m["text"]])
    h.command("undo 1.3")
    answer = last_answer(h)
    assert "Discovery was complete and is open again" in answer
    with h.services.db.read() as session:
        discovery = session.exec(select(EngagementPhase).where(EngagementPhase.number == 1)).one()
        kinds = [a.kind for a in session.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert discovery.completed_at is None and engagement(h).phase_index == 1
    assert kinds[-2:] == ["phase.reopened", "item.undone"]
    text = blocks_text(checklist_msg(h, 1)["blocks"])
    assert "phase complete" not in text and "5 of 6 done" in text
    # Done again: the engagement is back on phase 2, which is not announced a second time.
    h.command("done 1.3")
    assert engagement(h).phase_index == 2
    assert len([m for m in posts(h) if "starts now" in m["text"]]) == phases_announced
    assert ":white_check_mark: phase complete" in blocks_text(checklist_msg(h, 1)["blocks"])


# -- who may be given an item --------------------------------------------------------------------
def test_the_teams_item_cannot_be_assigned_to_the_customer(started):
    h = started
    h.command(f"assign 1.1 {mention(CONTRIBUTOR)}")
    assert item(h, "1.1").assignee_id is None
    assert "implementation team's item, so it goes to someone on the team" in last_answer(h)
    assert "owner=customer" in last_answer(h)
    h.command(f"assign 1.5 {mention(CONSULTANT)}")  # the customer's item may go to the team
    assert item(h, "1.5").assignee_id == CONSULTANT.user_id


def test_the_assign_form_says_why_under_the_field(started):
    h = started
    msg = checklist_msg(h)
    one = item(h, "1.1")
    h.driver.click(
        CHANNEL, msg["ts"], f"item_menu:{one.id}", user=LEAD.user_id, selected_option=f"assign:{one.id}"
    )
    h.idle()
    [view] = h.standin.open_views(LEAD.user_id)
    h.driver.click_view(
        view["id"], "value", block_id="assignee", selected_user=APPROVER.user_id, user=LEAD.user_id
    )
    h.idle()
    r = h.driver.submit_view(view["id"], {"assignee": {"value": APPROVER.user_id}}, user=LEAD.user_id)
    assert r.json["response_action"] == "errors"
    assert "pick someone on the team (Ada Approver could not tick it)" in r.json["errors"]["assignee"]
    assert item(h, "1.1").assignee_id is None


# -- forms show every error at once, under the right field ---------------------------------------
def test_the_start_form_shows_every_error_at_once_each_under_its_field(harness):
    h = harness
    h.command("start")
    [view] = h.standin.open_views(LEAD.user_id)
    r = h.driver.submit_view(
        view["id"],
        {
            "customer": {"value": "Initech"},
            "kickoff": {"value": "2026-12-10"},
            "target": {"value": "2026-12-01"},
            "tz": {"value": "Mars/Olympus"},
            "country": {"value": "Atlantis"},
        },
        user=LEAD.user_id,
    )
    errors = r.json["errors"]
    assert set(errors) == {"target", "tz", "country"}
    assert "must be after the kickoff" in errors["target"], "the target's error is under Target"
    assert "`" not in "".join(errors.values())
    assert h.standin.open_views(LEAD.user_id)


def test_the_settings_form_shows_every_error_at_once_and_confirms_a_save(started):
    h = started
    h.command("settings")
    [view] = h.standin.open_views(LEAD.user_id)
    bad = {
        "tz": {"value": "Mars/Base"},
        "hours": {"value": "17:00-09:00"},
        "days": {"value": []},
        "cadence": {"value": "2"},
    }
    r = h.driver.submit_view(view["id"], bad, user=LEAD.user_id, enforce_required=False)
    assert set(r.json["errors"]) == {"tz", "hours", "days"}
    good = {
        "tz": {"value": "Europe/Berlin"},
        "country": {"value": ""},
        "hours": {"value": "08:00-16:00"},
        "days": {"value": ["mon", "tue", "wed", "thu", "fri"]},
        "cadence": {"value": "1"},
    }
    h.driver.submit_view(view["id"], good, user=LEAD.user_id)
    h.idle()
    answer = last_answer(h)
    assert answer.startswith(":white_check_mark: Saved.") and "08:00-16:00" in answer
    assert "each item at most every business day." in answer and "day(s)" not in answer


# -- help, and commands after the engagement ended ----------------------------------------------
def test_help_shows_every_usage_line_whole(harness):
    from bot.commands import build_commands

    harness.command("help")
    text = last_answer(harness)
    for spec in build_commands():
        assert f"/golive {spec.usage}".replace("<", "&lt;").replace(">", "&gt;") in text.replace(
            "<", "&lt;"
        ).replace(">", "&gt;"), spec.name
    assert "…" not in text


def test_after_go_live_commands_say_it_is_live_and_point_to_status_and_audit(started):
    h = started
    with h.services.db.session() as session:
        e = session.exec(select(Engagement)).one()
        e.status = "live"
        session.add(e)
    h.command("done 1.1")
    answer = last_answer(h)
    assert "The Acme Corp implementation is live" in answer and "No engagement runs" not in answer
    assert "/golive status" in answer and "/golive audit" in answer
    h.command("status")
    assert "Live" in last_answer(h)


def test_after_cancel_the_checklists_lose_their_checkboxes_and_say_so(started):
    h = started
    h.command("checklist 2")
    h.command("cancel")
    eph = h.standin.ephemerals(channel=CHANNEL, user=LEAD.user_id)[-1]
    h.driver.click_ephemeral(CHANNEL, eph["ts"], "cancel_engagement", user=LEAD.user_id)
    h.idle()
    for n in (1, 2):
        msg = checklist_msg(h, n)
        assert msg["text"].endswith("(cancelled).")
        assert not [b for b in msg["blocks"] if b["type"] == "actions"], "nothing left to click"
        assert "engagement cancelled" in blocks_text(msg["blocks"])
        assert shown_items(msg), "the open items stay, as text"
    [notice] = [m for m in posts(h) if "was cancelled" in m["text"]]
    assert "reminder(s)" not in notice["text"] and "/golive audit" in notice["text"]
    h.command("done 1.1")
    assert "was cancelled" in last_answer(h)


# -- wording -----------------------------------------------------------------------------------
def test_the_approve_confirm_reads_naturally_and_so_do_decisions(started):
    h = started
    h.command(f"role {mention(APPROVER)} approver")
    request_signoff(h, "solution_design")
    [request] = [m for m in posts(h) if m["text"].startswith("Sign-off requested")]
    button = next(
        el
        for b in request["blocks"]
        for el in b.get("elements", [])
        if el.get("action_id", "").startswith("signoff_approve")
    )
    assert "confirm" not in button  # the form comes after the permission check
    h.driver.click(CHANNEL, request["ts"], button["action_id"], user=APPROVER.user_id)
    h.idle()
    [form] = h.standin.open_views(APPROVER.user_id)
    text = blocks_text(form["view"]["blocks"])
    assert text.startswith("You approve *Solution design sign-off* (version 1) for Acme Corp.")
    assert "fingerprint" not in text.lower() and "4 of 4 of its items are still open" in text
    h.driver.submit_view(form["id"], {}, user=APPROVER.user_id)
    h.idle()
    [decided] = [m for m in posts(h) if "Ada Approver approved Solution design sign-off" in m["text"]]
    assert decided["text"].endswith("approved Solution design sign-off with 4 of 4 of its items still open")
    assert "approved by" not in blocks_text(decided["blocks"])


def test_no_maybe_plural_wording(started):
    h = started
    h.command("settings cadence=2")
    assert "every 2 business days." in last_answer(h)
    h.command("nudges")
    assert "every 2 business days." in last_answer(h) and "(s)" not in last_answer(h)
    h.command(f"role {mention(APPROVER)} approver")
    h.command(f"role {mention(APPROVER)} remove")
    assert "Removed" in last_answer(h) and "role(s)" not in last_answer(h) and "approver" in last_answer(h)
    h.command("plan size=small")
    assert "phase(s)" not in last_answer(h)
    assert not [m for m in posts(h) if "(s)" in json.dumps(m["blocks"])]


def test_the_checklist_line_of_a_refused_customer_tick_points_to_their_items(started):
    """The team's item has no box a customer could tick (a :lock: line); its ⋯ → Mark done answers
    a customer with where their own items are, and changes nothing."""
    h = started
    one = item(h, "1.1")
    msg = checklist_msg(h)
    h.driver.click(
        CHANNEL, msg["ts"], f"item_menu:{one.id}", user=CONTRIBUTOR.user_id, selected_option=f"done:{one.id}"
    )
    h.idle()
    [view] = h.standin.open_views(CONTRIBUTOR.user_id)
    text = blocks_text(view["view"]["blocks"])
    assert "they mark it done" in text and "*My tasks* lists yours" in text
    assert item(h, "1.1").status == "open"
    assert option_of(checklist_msg(h), one.id)["text"]["text"].startswith(f":lock: {one.title}\n")


def test_a_command_takes_at_most_fifty_items(started):
    h = started
    h.command("done " + " ".join(f"1.{n}" for n in range(1, 52)))
    assert "give at most 50 at once" in last_answer(h)
    assert item(h, "1.1").status == "open"
