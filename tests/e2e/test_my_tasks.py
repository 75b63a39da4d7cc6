"""Issue 12, part 1: *My tasks*, for everyone, from any message — a private modal with the clicker's
open items (due dates in their own time zone) and the sign-offs waiting on them."""

from __future__ import annotations

from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, CONSULTANT, CONTRIBUTOR, CUSTOMER_TEAM, LEAD, Persona
from storage.models import Item, SignoffDecision, SignoffRequest
from tests.e2e.helpers import at, blocks_text, checklists, mention, nudges, posts, request_signoff, welcomes
from tests.e2e.test_checklist import item
from tests.e2e.test_sides import PARTNER, join

NINA = Persona("U0NINA", "Nina NewYork", CUSTOMER_TEAM, "Customer contributor in New York")


def open_my_tasks(h, message: dict, user: Persona) -> dict:
    """Click *My tasks* on `message` as `user`; the modal's view record (after its updates)."""
    before = len(h.standin.calls_to("views.open"))
    r = h.driver.click(CHANNEL, message["ts"], "my_tasks", user=user.user_id)
    assert r.status == 200
    h.idle()
    assert len(h.standin.calls_to("views.open")) == before + 1
    [view] = h.standin.open_views(user.user_id)
    return view


def rows(view: dict, prefix: str) -> list[dict]:
    return [b for b in view["view"]["blocks"] if str(b.get("block_id", "")).startswith(prefix)]


def text_of(view: dict) -> str:
    return blocks_text(view["view"]["blocks"])


def test_a_contributor_sees_their_items_first_then_their_sides_with_due_dates_in_their_time(small):
    h = small
    h.standin.add_user(NINA.user_id, name=NINA.name, team_id=CUSTOMER_TEAM, tz="America/New_York")
    h.standin.add_member(CHANNEL, NINA.user_id)
    h.command(f"assign 1.6 {mention(NINA)}")
    h.command("add 1 Send the SSO metadata owner=customer")
    h.command(f"assign 1.7 {mention(NINA)}")
    h.command("due 1.7 2026-12-18")
    view = open_my_tasks(h, welcomes(h)[0], NINA)
    text = text_of(view)
    tasks = rows(view, "task:")
    ids = [int(b["block_id"].split(":")[1]) for b in tasks]
    # Assigned to her, soonest due first; then the customer's items nobody has taken (1.5).
    assert ids == [item(h, "1.6").id, item(h, "1.7").id, item(h, "1.5").id]
    assert text.index("*Assigned to you* · 2") < text.index("*Acme Corp's items nobody has taken yet* · 1")
    # Discovery ends Tue 1 Dec: due at 17:00 in Berlin, 11:00 in New York.
    assert "*1.6* Name your approvers and executive sponsor for sign-offs\ndue Tue 1 Dec, 11:00" in text
    assert "due Fri 18 Dec, 11:00" in text
    assert "Times are in your time zone (America/New_York)" in text and "11:00 your time" in text
    assert "1.1" not in text, "the implementation team's items are theirs"
    assert "4 open items are the implementation team's" in text


def test_the_modal_opens_at_once_and_shows_a_new_persons_own_time_once_slack_told_it(small):
    """The trigger expires within seconds: the modal opens from what the database knows (the
    customer's clock for someone not looked up yet), then users.info gives their zone."""
    h = small
    kai = Persona("U0KAI", "Kai Tokyo", CUSTOMER_TEAM, "Customer contributor in Tokyo")
    h.standin.add_user(kai.user_id, name=kai.name, team_id=CUSTOMER_TEAM, tz="Asia/Tokyo")
    h.standin.add_member(CHANNEL, kai.user_id)
    h.standin.reset_calls()
    view = open_my_tasks(h, welcomes(h)[0], kai)
    methods = [c.method for c in h.standin.calls if c.method in ("views.open", "users.info", "views.update")]
    assert methods == ["views.open", "users.info", "views.update"], "open first, then look the person up"
    [opened] = h.standin.calls_to("views.open")
    assert "Times are on Acme Corp's clock (Europe/Berlin)" in blocks_text(opened.args["view"]["blocks"])
    # Tue 1 Dec 17:00 in Berlin is Wed 2 Dec 01:00 in Tokyo.
    assert "Times are in your time zone (Asia/Tokyo)" in text_of(view)
    assert (
        "*1.5* Walk us through your current setup, tech stack, processes and workflows\ndue Wed 2 Dec, 01:00"
        in text_of(view)
    )


def test_blocked_snoozed_and_overdue_items_say_so(small):
    h = small
    from datetime import date

    ids = item(h, "1.5").id, item(h, "1.6").id
    with h.services.db.session() as session:
        five = session.get(Item, ids[0])
        five.blocked_reason = "Waiting for the auditors <Q1>"
        six = session.get(Item, ids[1])
        six.snoozed_until = date(2026, 12, 9)
        session.add(five)
        session.add(six)
    at(h, "2026-12-03T10:00:00+01:00")
    text = text_of(open_my_tasks(h, welcomes(h)[0], CONTRIBUTOR))
    assert ":warning: overdue — was due Tue 1 Dec, 17:00" in text
    assert ":no_entry: blocked: Waiting for the auditors &lt;Q1&gt;" in text
    assert ":zzz: reminders snoozed until Wed 9 Dec" in text


def test_an_approver_approves_from_my_tasks_and_the_request_is_decided(small):
    h = small
    request_signoff(h, "solution_design")
    view = open_my_tasks(h, checklists(h)[-1], APPROVER)
    text = text_of(view)
    assert "*Sign-offs waiting on you* · 1" in text and "*Solution design sign-off*" in text
    [request] = [m for m in posts(h) if m["text"].startswith("Sign-off requested")]
    link = next(
        el
        for b in view["view"]["blocks"]
        for el in b.get("elements", [])
        if el.get("action_id", "").startswith("tasks_open")
    )
    assert link["url"].startswith("https://") and request["ts"].replace(".", "") in link["url"]
    approve = next(
        el
        for b in view["view"]["blocks"]
        for el in b.get("elements", [])
        if el.get("action_id", "").startswith("tasks_approve")
    )
    assert (
        approve["confirm"]["text"]["type"] == "plain_text" and "*" not in approve["confirm"]["text"]["text"]
    )
    h.driver.click_view(view["id"], approve["action_id"], user=APPROVER.user_id)
    h.idle()
    with h.services.db.read() as session:
        [decision] = session.exec(select(SignoffDecision)).all()
    assert (decision.decision, decision.user_id) == ("approved", APPROVER.user_id)
    updated = h.standin.view(view["id"])
    assert ":white_check_mark: You approved Solution design sign-off" in text_of(updated)
    assert "Sign-offs waiting on you" not in text_of(updated)
    stored = h.standin.message(CHANNEL, request["ts"])
    assert stored["text"].startswith("Approved: Solution design sign-off")


def test_request_changes_from_my_tasks_opens_the_form_on_top_of_the_modal(small):
    """The form is pushed on top of My tasks (an update of My tasks never replaces it); sent, it
    closes and My tasks under it shows what happened."""
    h = small
    request_signoff(h, "solution_design")
    view = open_my_tasks(h, welcomes(h)[0], APPROVER)
    [act] = rows(view, "signoff_act:")
    changes = next(el for el in act["elements"] if el["action_id"].startswith("tasks_changes"))
    h.driver.click_view(view["id"], changes["action_id"], user=APPROVER.user_id)
    h.idle()
    tasks, form = h.standin.open_views(APPROVER.user_id)
    assert tasks["id"] == view["id"] and form["view"]["callback_id"] == "tasks_changes"
    assert form["previous_view_id"] == view["id"]
    h.driver.submit_view(form["id"], {"reason": {"value": "Add the EMEA entity"}}, user=APPROVER.user_id)
    h.idle()
    with h.services.db.read() as session:
        request = session.exec(select(SignoffRequest)).one()
    assert request.status == "changes_requested"
    [shown] = h.standin.open_views(APPROVER.user_id)
    assert shown["id"] == view["id"]
    assert ":memo: You requested changes to Solution design sign-off" in text_of(shown)
    assert "Sign-offs waiting on you" not in text_of(shown)
    replies = h.standin.replies(CHANNEL, request.ts)
    assert any("Add the EMEA entity" in blocks_text(m.get("blocks") or []) for m in replies)


def test_request_changes_from_my_tasks_needs_a_reason(small):
    h = small
    request_signoff(h, "solution_design")
    view = open_my_tasks(h, welcomes(h)[0], APPROVER)
    h.driver.click_view(
        view["id"],
        next(
            el["action_id"]
            for el in rows(view, "signoff_act:")[0]["elements"]
            if el["action_id"].startswith("tasks_changes")
        ),
        user=APPROVER.user_id,
    )
    h.idle()
    form = h.standin.open_views(APPROVER.user_id)[-1]
    r = h.driver.submit_view(form["id"], {"reason": {"value": "   "}}, user=APPROVER.user_id)
    assert r.json == {"response_action": "errors", "errors": {"reason": "Say what needs to change."}}
    with h.services.db.read() as session:
        assert session.exec(select(SignoffRequest)).one().status == "open"


def test_a_contributor_cannot_approve_and_sees_no_approve_button(small):
    h = small
    request_signoff(h, "solution_design")
    view = open_my_tasks(h, welcomes(h)[0], CONTRIBUTOR)
    assert "Sign-offs waiting on you" not in text_of(view)
    assert not rows(view, "signoff_act:")


def test_a_consultant_sees_the_teams_work_and_what_waits_on_the_customer(small):
    h = small
    h.command(f"assign 1.2 {mention(CONSULTANT)}")
    request_signoff(h, "solution_design")
    view = open_my_tasks(h, welcomes(h)[0], CONSULTANT)
    text = text_of(view)
    assert "*Assigned to you* · 1" in text and "*1.2* Identify usage data sources and formats" in text
    assert "*The implementation team's items nobody has taken yet* · 3" in text
    # London is an hour behind Berlin: due Tue 1 Dec 17:00 Berlin is 16:00 for Carl.
    assert "due Tue 1 Dec, 16:00" in text and "Times are in your time zone (Europe/London)" in text
    assert "*Sign-offs waiting on Acme Corp* · 1" in text and "Solution design sign-off · version 1" in text
    # The customer's items are not listed (1.4 of the team says it is waiting on 1.5, no more).
    assert "*1.5*" not in text and "2 open items are Acme Corp's" in text


def test_someone_of_no_side_gets_a_polite_explanation(small):
    h = small
    join(h, PARTNER)
    text = text_of(open_my_tasks(h, welcomes(h)[0], PARTNER))
    assert "nothing here is yours to do" in text
    assert "from another organisation than Acme Corp" in text and "side @you customer" in text
    assert "Lena Lead" in text


def test_my_tasks_is_on_every_nudge_and_the_digest(small):
    h = small
    at(h, "2026-12-02T09:30:00+01:00")
    h.run_sweep()
    [nudge] = nudges(h)
    assert "*1.5* Walk us through your current setup" in text_of(open_my_tasks(h, nudge, CONTRIBUTOR))
    h.driver.close_view(h.standin.open_views(CONTRIBUTOR.user_id)[0]["id"], CONTRIBUTOR.user_id)
    at(h, "2026-12-07T09:30:00+01:00")  # Monday: the weekly digest
    h.run_sweep()
    [digest] = [m for m in posts(h) if "Weekly digest" in m["text"]]
    assert "*The implementation team's items nobody has taken yet*" in text_of(open_my_tasks(h, digest, LEAD))


def test_a_long_list_stays_within_a_modals_blocks_and_says_how_many_more(harness_factory, tmp_path):
    from tests.e2e.test_checklist import _first_phase_playbook

    h = harness_factory(env={"GOLIVE_PLAYBOOK": str(_first_phase_playbook(tmp_path, 120, owner="customer"))})
    h.lift_rate_limits()
    h.command("start Acme Corp kickoff=2026-11-30")
    view = open_my_tasks(h, welcomes(h)[0], CONTRIBUTOR)
    assert len(view["view"]["blocks"]) <= 100
    total = 120  # Discovery's items; later phases' unassigned work is not owed yet
    shown = len(rows(view, "task:"))
    assert total > shown > 35  # each with its line and its buttons: two blocks
    assert len(rows(view, "task_act:")) == shown
    assert f"*Acme Corp's items nobody has taken yet* · {total}" in text_of(view)
    assert f"…and {total - shown} more" in text_of(view)
