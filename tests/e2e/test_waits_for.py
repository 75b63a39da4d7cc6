"""Issue 23, part 3: what waits for what, as people see and change it — "waiting on 1.5" on the
checklist's line and in My tasks, the team's **Waits for…** in an item's Details, and
`/golive after`. The due dates follow the prerequisites; a circle is refused, nothing written.

Signed requests over real HTTP into the bot; its Web API calls answered by the stand-in.
"""

from __future__ import annotations

from sqlmodel import select

from bot.engagement import checklist as cl
from sandbox.harness import CHANNEL, CONTRIBUTOR, LEAD, Harness
from storage.models import Item, ItemDependency
from tests.e2e.helpers import blocks_text, last_answer
from tests.e2e.test_checklist import checklist_msg, item, menu, option_of
from tests.e2e.test_my_tasks import open_my_tasks, text_of


def waits(h: Harness) -> set[tuple[str, str]]:
    """(item, prerequisite) references of every dependency of the engagement."""
    refs = {}
    for ref in (f"1.{n}" for n in range(1, 9)):
        try:
            refs[item(h, ref).id] = ref
        except Exception:
            break
    with h.services.db.read() as session:
        rows = session.exec(select(ItemDependency)).all()
    return {
        (refs[d.item_id], refs[d.requires_id]) for d in rows if d.item_id in refs and d.requires_id in refs
    }


def line_of(h: Harness, ref: str) -> str:
    return blocks_text([option_of(checklist_msg(h), item(h, ref).id)])


def test_the_checklist_and_my_tasks_say_what_an_item_waits_on(small):
    h = small
    # The playbook: the team's 1.4 (map the workflows) waits for the customer's 1.5 (walk-through).
    assert ("1.4", "1.5") in waits(h)
    assert "⏳ waiting on 1.5" in line_of(h, "1.4")
    assert "waiting on" not in line_of(h, "1.5")
    h.command(f"assign 1.4 <@{LEAD.user_id}|lead>")
    view = open_my_tasks(h, checklist_msg(h), LEAD)
    assert "*1.4* Map existing processes" in text_of(view)
    assert ":hourglass_flowing_sand: waiting on 1.5" in text_of(view)
    # Once 1.5 is done, 1.4 no longer says so.
    h.command("done 1.5")
    h.idle()
    assert "waiting on" not in line_of(h, "1.4")


def test_after_makes_an_item_wait_its_date_follows_and_a_circle_is_refused(started):
    h = started
    before = item(h, "1.3").due_on
    h.command("after 1.3 1.5")
    h.idle()
    assert ("1.3", "1.5") in waits(h)
    answer = last_answer(h)
    assert answer.startswith("1.3 Analyse the current tech stack and tooling now waits for 1.5 (open).")
    three, five = item(h, "1.3"), item(h, "1.5")
    assert three.due_on > five.due_on and three.due_on >= before
    assert f"It is due {three.due_on:%a %-d %b} (following what it waits for)." in answer
    assert "⏳ waiting on 1.5" in line_of(h, "1.3")
    # Asking shows it, with how to change it.
    h.command("after 1.3")
    h.idle()
    assert "1.3 Analyse the current tech stack and tooling waits for 1.5 (open)." in last_answer(h)
    # 1.5 cannot wait for 1.3 in turn (nor through 1.4, which waits for 1.5): refused, nothing written.
    h.command("after 1.5 1.3")
    h.idle()
    assert "they would wait for each other; nothing was changed" in last_answer(h)
    assert ("1.5", "1.3") not in waits(h)
    h.command("after 1.5 1.4")
    h.idle()
    assert "they would wait for each other" in last_answer(h) and ("1.5", "1.4") not in waits(h)
    # Removing what it does not wait for says so; removing what it does restores the date.
    h.command("after 1.3 remove 1.2")
    h.idle()
    assert "1.3 does not wait for 1.2; nothing was changed." in last_answer(h)
    h.command("after 1.3 remove 1.5")
    h.idle()
    assert ("1.3", "1.5") not in waits(h) and item(h, "1.3").due_on == before
    assert "now waits for nothing" in last_answer(h)
    assert "waiting on" not in line_of(h, "1.3")
    # Bad text: a friendly answer that says what to write.
    h.command("after 1.3 soon")
    h.idle()
    assert "`soon` is not an item reference" in last_answer(h) and "after 2.3 1.5 2.1" in last_answer(h)


def test_waits_for_in_details_is_the_teams_and_a_circle_is_refused_in_the_form(started):
    h = started
    four, five, two = item(h, "1.4"), item(h, "1.5"), item(h, "1.2")
    # A customer's Details of 1.4 says what it waits for, and offers no Waits for…
    menu(h, "1.4", CONTRIBUTOR, "details")
    [theirs] = h.standin.open_views(CONTRIBUTOR.user_id)
    text = blocks_text(theirs["view"]["blocks"])
    assert "Waits for: *1.5* Walk us through" in text and "open" in text
    assert "Waits for…" not in str(theirs["view"]["blocks"])
    # The lead's Details has the button; it turns Details into the form, 1.5 already chosen.
    menu(h, "1.4", LEAD, "details")
    [details] = h.standin.open_views(LEAD.user_id)
    h.driver.click_view(details["id"], f"item_after:{four.id}", user=LEAD.user_id)
    h.idle()
    form = h.standin.view(details["id"])["view"]
    assert form["callback_id"] == "item_after"
    [select_block] = [b for b in form["blocks"] if b.get("block_id") == "after"]
    element = select_block["element"]
    assert [o["value"] for o in element["initial_options"]] == [str(five.id)]
    offered = [o["value"] for g in element["option_groups"] for o in g["options"]]
    assert str(four.id) not in offered and str(two.id) in offered
    # 1.5 and 1.2: saved, the checklist line follows, the lead is told privately.
    h.driver.submit_view(details["id"], {"after": {"value": [str(five.id), str(two.id)]}}, user=LEAD.user_id)
    h.idle()
    assert {("1.4", "1.5"), ("1.4", "1.2")} <= waits(h)
    assert "now waits for 1.2 (open), 1.5 (open)" in last_answer(h)
    assert "⏳ waiting on 1.2, 1.5" in line_of(h, "1.4")
    # The form refuses a circle under the field: 1.5 cannot wait for 1.4, which waits for it.
    menu(h, "1.5", LEAD, "details")
    opened = [v for v in h.standin.open_views(LEAD.user_id) if v["id"] != details["id"]]
    view_id = opened[-1]["id"]
    h.driver.click_view(view_id, f"item_after:{five.id}", user=LEAD.user_id)
    h.idle()
    refused = h.driver.submit_view(view_id, {"after": {"value": [str(four.id)]}}, user=LEAD.user_id)
    assert refused.json["response_action"] == "errors"
    assert "they would wait for each other" in refused.json["errors"]["after"]
    assert ("1.5", "1.4") not in waits(h)


def test_the_form_with_nothing_to_wait_for_is_refused_in_a_message_not_under_a_missing_field(small):
    """Slack shows a form's errors only under its input blocks ("errors: a key-value map where the
    key is the block_id of an input block"); the form with nothing open to wait for has none, so
    a refusal of it (here: the engagement was cancelled meanwhile) comes as a private message."""
    h = small
    one = item(h, "1.1")
    with h.services.db.session() as session:  # everything else of phase 1 was ticked meanwhile
        for other in session.exec(select(Item).where(Item.phase_id == one.phase_id, Item.id != one.id)).all():
            other.status = cl.DONE
            session.add(other)
    menu(h, "1.1", LEAD, "details")
    [details] = h.standin.open_views(LEAD.user_id)
    h.driver.click_view(details["id"], f"item_after:{one.id}", user=LEAD.user_id)
    h.idle()
    form = h.standin.view(details["id"])["view"]
    assert form["callback_id"] == "item_after"
    assert [b.get("block_id") for b in form["blocks"] if b["type"] == "input"] == []
    assert "Nothing is open in this phase" in blocks_text(form["blocks"])
    h.command("cancel")
    eph = h.standin.ephemerals(channel=CHANNEL, user=LEAD.user_id)[-1]
    h.driver.click_ephemeral(CHANNEL, eph["ts"], "cancel_engagement", user=LEAD.user_id)
    h.idle()
    answer = h.driver.submit_view(details["id"], {}, user=LEAD.user_id)
    h.idle()
    assert (answer.json or {}).get("response_action") != "errors"
    assert h.standin.invalid_block_responses() == []
    assert "no longer active" in last_answer(h)
