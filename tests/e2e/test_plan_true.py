"""Issue 23, part 3: a plan that stays true — prerequisites, due dates spread over the phase and
following what they wait for, what a dry run settles, a forecast that never goes before the dry
run, and health changes told to the lead.

Signed requests over real HTTP into the bot; its Web API calls answered by the stand-in; who was
notified is read from the stand-in's notification log.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from sandbox.harness import CHANNEL, CONTRIBUTOR, LEAD, Harness
from storage.models import Engagement, Item, ItemDependency
from tests.e2e.helpers import (
    at,
    blocks_text,
    direct_messages,
    ephemeral_texts,
    mention,
    notified_by,
    nudges,
    reminder_kind,
    reminder_payload,
)
from tests.e2e.test_checklist import item


def items_by_key(h: Harness) -> dict[str, Item]:
    with h.services.db.read() as session:
        return {i.key: i for i in session.exec(select(Item)).all()}


def test_due_dates_are_spread_over_the_phase_and_follow_prerequisites(harness):
    h = harness
    # Medium, from Mon 30 Nov: Solutioning runs Mon 7 to Tue 15 Dec.
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    items = items_by_key(h)
    end = items["historical_export"].due_on  # no share: the phase's last day
    assert end == date(2026, 12, 15)
    assert items["walk_through_details"].due_on < items["pricing_models"].due_on < end
    # The demo comes after the pricing models and the walk-through: a business day after both.
    assert items["solution_demo"].due_on > max(
        items["pricing_models"].due_on, items["walk_through_details"].due_on
    )
    with h.services.db.read() as session:
        waits = {(d.item_id, d.requires_id) for d in session.exec(select(ItemDependency))}
    assert (items["solution_demo"].id, items["pricing_models"].id) in waits
    # Go-live: what the dry run settles is due on its day, what it needs the business day before.
    h.command("dryrun 2026-12-16 10:00")
    items = items_by_key(h)
    assert items["dry_run"].due_on == items["dry_run_attend"].due_on == date(2026, 12, 16)
    assert items["allow_list"].due_on == date(2026, 12, 15) == items["production_migration"].due_on


def test_an_item_waiting_on_another_is_reminded_to_the_prerequisites_owner(small):
    h = small
    # 1.4 (the team's "Map existing processes") waits for the customer's 1.5 ("Walk us through").
    at(h, "2026-12-02T10:00:00+01:00")
    h.run_sweep()
    h.idle()
    [nudge] = nudges(h)
    i4, i5 = item(h, "1.4"), item(h, "1.5")
    assert f"item:{i4.id}" in reminder_payload(nudge)["subjects"]
    text = blocks_text(nudge["blocks"])
    assert "*1.4* Map existing processes" in text and "waiting on 1.5" in text
    assert "It waits for 1.5: once that is done, it can move." in text
    assert f"nudge_act:{i4.id}" not in str(nudge["blocks"])  # the customer cannot tick the team's item
    assert notified_by(h, nudge)[CONTRIBUTOR.user_id] == "mention"
    # The lead's own reminder does not carry it: it waits on the customer.
    [dm] = [m for m in direct_messages(h, LEAD) if reminder_kind(m) == "nudge"]
    assert f"item:{i4.id}" not in reminder_payload(dm)["subjects"]
    # Once 1.5 is done, the nudge says 1.4 can move.
    h.driver.click(CHANNEL, nudge["ts"], f"nudge_done:{i5.id}", user=CONTRIBUTOR.user_id)
    h.idle()
    assert "1.5 done: it can move now" in blocks_text(h.standin.message(CHANNEL, nudge["ts"])["blocks"])


def test_a_passed_dry_run_ticks_the_items_it_settles(small):
    h = small
    h.command("dryrun 2026-12-16 10:00")
    at(h, "2026-12-16T10:00:00+01:00")
    h.run_sweep()
    h.idle()
    with h.services.db.read() as session:
        from storage.models import DryRunAttempt

        attempt = session.exec(select(DryRunAttempt)).one()
    h.driver.click(CHANNEL, attempt.ts, "dryrun_passed", user=LEAD.user_id)
    h.idle()
    items = items_by_key(h)
    assert items["dry_run"].status == "done" and items["dry_run_attend"].status == "done"
    assert items["dry_run_attend"].done_by == LEAD.user_id and items["dry_run_attend"].on_behalf
    said = [m for m in h.standin.messages(CHANNEL) if "dry run passed" in m["text"]]
    assert said and "ticked" in said[-1]["text"]


def test_the_forecast_never_puts_go_live_before_the_dry_run(small):
    h = small
    # Small: the plan ends Fri 18 Dec. A dry run after that pushes the forecast go-live to it.
    h.command("target 2026-12-18")
    h.command("dryrun 2026-12-17 10:00")
    h.command("status")
    before = ephemeral_texts(h, LEAD.user_id)[-1]
    with h.services.db.session() as session:
        e = session.exec(select(Engagement)).one()
        from datetime import UTC, datetime

        e.dryrun_at = datetime(2026, 12, 23, 9, 0, tzinfo=UTC)  # moved past the target (by hand, here)
        session.add(e)
    h.command("nudges pause")  # (any change: the status is drawn again)
    h.command("status")
    after = ephemeral_texts(h, LEAD.user_id)[-1]
    assert after != before and "Wed 23 Dec" in after.split("forecast go-live")[1][:40]


def test_a_change_of_health_tells_the_lead_privately_once(small):
    h = small
    h.command("dryrun 2026-12-16 10:00")  # (without one, two weeks before go-live is a risk already)
    at(h, "2026-12-01T10:00:00+01:00")  # on track
    h.run_sweep()
    assert not [m for m in direct_messages(h, LEAD) if "is now" in m["text"]]
    at(h, "2026-12-08T10:00:00+01:00")  # a week of nothing: Discovery's items overdue, the forecast slips
    h.run_sweep()
    h.idle()
    told = [m for m in direct_messages(h, LEAD) if m["text"].startswith("Acme Corp is now")]
    assert len(told) == 1 and notified_by(h, told[0]) == {LEAD.user_id: "direct message"}
    assert "(was on track)" in told[0]["text"] and ("at risk" in told[0]["text"] or "late" in told[0]["text"])
    assert told[0]["text"].split(": ", 1)[1]  # with the reason
    h.command(f"role {mention(CONTRIBUTOR)} contributor")  # a change: looked at again, same level
    at(h, "2026-12-08T11:00:00+01:00")
    h.run_sweep()
    h.idle()
    assert len([m for m in direct_messages(h, LEAD) if m["text"].startswith("Acme Corp is now")]) == 1
