"""What the private modals show: *My tasks* and a checklist's *Show all*.

A modal is opened for one person, so, unlike the checklist message both sides share, it shows
only what that person may do, their own side first, and times in their own time zone. A modal
holds at most 100 blocks: long lists end with "and N more".
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session

from bot.engagement.checklist import DONE, NA, OPEN, items_of
from bot.engagement.dependencies import waiting_refs
from bot.engagement.lifecycle import local_today
from bot.engagement.tasks import Task, Tasks, WaitingSignoff
from bot.people.sides import CUSTOMER, VENDOR, Actor
from bot.slack.presenters import SIDES, item_row, names_for, phase_data
from storage.models import Engagement, EngagementPhase, saved_id

MAX_VIEW_BLOCKS = 100
MAX_SIGNOFFS = 10
TASK_BLOCKS = 2  # blocks of one item in My tasks


def zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def deadline(engagement: Engagement, day: date) -> datetime:
    """When an item due on `day` (the customer's local date) is due: the end of that working day
    on the customer's clock."""
    hour, minute = (int(x) for x in engagement.work_end.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(engagement.timezone))


def _when(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%a %-d %b, %H:%M")


# -- My tasks ------------------------------------------------------------------------------------
def _task_row(
    engagement: Engagement, task: Task, tz: ZoneInfo, today: date, actor: Actor, waiting: list[str] | None
) -> dict[str, Any]:
    item = task.item
    return {
        "waiting": waiting or [],  # the open items it waits for
        # Done, Blocked… and Snooze, with the checklist's rules: customers act on their side's
        # items, the implementation team on any.
        "can_act": engagement.status == "active"
        and (actor.is_vendor or (actor.is_customer and item.owner_side == CUSTOMER)),
        "id": item.id,
        "ref": task.ref,
        "title": item.title,
        "owner": item.owner_side,
        "due": _when(deadline(engagement, item.due_on), tz) if item.due_on else None,
        "overdue": item.due_on is not None and item.due_on < today,
        "blocked": item.blocked_reason,
        "snoozed_until": item.snoozed_until if item.snoozed_until and item.snoozed_until > today else None,
    }


def _signoff_row(
    w: WaitingSignoff, tz: ZoneInfo, actor: Actor, items: dict[int, tuple[int, int]]
) -> dict[str, Any]:
    open_count, total = items.get(w.gate.id or 0, (0, 0))
    return {
        "open_count": open_count,  # of the items the gate certifies: the approver sees it first
        "total": total,
        "request_id": w.request.id,
        "title": w.gate.title,
        "phase": w.phase.number,
        "phase_name": w.phase.name,
        "version": w.request.version,
        "requested": _when(w.request.requested_at, tz),
        "waits_for_dryrun": w.waits_for_dryrun,
        "can_decide": actor.side == CUSTOMER and not w.waits_for_dryrun,
        "ts": w.request.ts,
        "channel": w.request.channel_id,
        "link": None,  # a permalink, filled in once Slack gave it (after the modal opened)
    }


def tasks_context(
    engagement: Engagement,
    actor: Actor,
    tasks: Tasks,
    *,
    viewer_tz: str | None,
    now: datetime,
    gate_items: dict[int, tuple[int, int]] | None = None,
    waiting: dict[int, list[str]] | None = None,
) -> dict[str, Any]:
    """The My tasks modal's context. `viewer_tz`: the person's time zone (users.info), or None
    when it is not known yet (then the customer's clock is shown, and said so). `gate_items`: of
    each waiting sign-off's gate, (open, total) of the items it certifies. `waiting`: item id → the
    open items it waits for."""
    after = waiting or {}
    items = gate_items or {}
    own = zone(viewer_tz)
    tz = own or ZoneInfo(engagement.timezone)
    today = local_today(now, engagement.timezone)
    signoffs = [_signoff_row(w, tz, actor, items) for w in tasks.signoffs[:MAX_SIGNOFFS]]
    with_customer = [_signoff_row(w, tz, actor, items) for w in tasks.with_customer[:MAX_SIGNOFFS]]
    # Fixed blocks: a note, the intro, the clock note, four headings with their dividers, four
    # "and N more" lines, the footer and its divider: 17. An item takes two: its line and its
    # buttons (Done, Blocked…, Snooze).
    budget = MAX_VIEW_BLOCKS - 17 - 2 * len(signoffs) - len(with_customer)
    rows = max(budget // TASK_BLOCKS, 0)
    assigned = [
        _task_row(engagement, t, tz, today, actor, after.get(saved_id(t.item))) for t in tasks.assigned[:rows]
    ]
    rows -= len(assigned)
    unassigned = [
        _task_row(engagement, t, tz, today, actor, after.get(saved_id(t.item)))
        for t in tasks.unassigned[: max(rows, 0)]
    ]
    work_end = deadline(engagement, today)
    return {
        "customer_name": engagement.customer_name,
        "side": actor.side,
        "has_side": actor.has_side,
        "viewer": actor.name,
        "assigned": assigned,
        "assigned_more": len(tasks.assigned) - len(assigned),
        "unassigned": unassigned,
        "unassigned_more": len(tasks.unassigned) - len(unassigned),
        "signoffs": signoffs,
        "signoffs_more": len(tasks.signoffs) - len(signoffs),
        "with_customer": with_customer,
        "with_customer_more": len(tasks.with_customer) - len(with_customer),
        "other_side_open": tasks.other_side_open,
        "empty": tasks.empty,
        "own_tz": own is not None,
        "tz": str(tz.key),
        "customer_tz": engagement.timezone,
        "work_end": work_end.strftime("%H:%M"),
        "work_end_yours": work_end.astimezone(tz).strftime("%H:%M"),
    }


# -- Show all ------------------------------------------------------------------------------------
def all_items_context(
    session: Session, engagement: Engagement, phase: EngagementPhase, actor: Actor, now: datetime
) -> dict[str, Any]:
    """The Show all modal: every item of the phase, by side (the viewer's side first), each with
    what this viewer may do to it."""
    items = items_of(session, saved_id(phase))
    names = names_for(session, saved_id(engagement))
    today = local_today(now, engagement.timezone)
    active = engagement.status == "active"
    waiting = waiting_refs(session, saved_id(engagement))
    order = (VENDOR, CUSTOMER) if actor.side == VENDOR else SIDES
    # Fixed blocks: the intro, two headings, two "and N more" lines, the hint.
    budget = MAX_VIEW_BLOCKS - 6
    groups = []
    for side in order:
        mine = [i for i in items if i.owner_side == side]
        if not mine:
            continue
        rows = []
        for item in mine[: max(budget, 0)]:
            row = item_row(phase, item, names, today, engagement.timezone, waiting.get(saved_id(item)))
            may_tick = actor.is_vendor or (actor.is_customer and item.owner_side == CUSTOMER)
            row["can_tick"] = active and may_tick and item.status in (OPEN, DONE)
            row["can_reopen"] = active and actor.is_vendor and item.status == NA
            rows.append(row)
        budget -= len(rows)
        groups.append(
            {
                "side": side,
                "rows": rows,
                "more": len(mine) - len(rows),
                "open": sum(1 for i in mine if i.status == OPEN),
                "done": sum(1 for i in mine if i.status == DONE),
                "na": sum(1 for i in mine if i.status == NA),
            }
        )
    done = sum(1 for i in items if i.status in (DONE, NA))
    if not active:
        hint = "This engagement is no longer active: its checklist is kept for the record."
    elif actor.is_vendor:
        hint = "Untick a done item to reopen it; Reopen brings back an item marked not applicable."
    elif actor.is_customer:
        hint = (
            "Tick what your team finished; untick to reopen. The implementation team ticks its own "
            "items and marks items not applicable."
        )
    else:
        hint = "You can read along; the implementation team can give you a side in this engagement."
    return {
        "customer_name": engagement.customer_name,
        "phase": phase_data(phase),
        "progress": {"done": done, "total": len(items)},
        "groups": groups,
        "hint": hint,
    }
