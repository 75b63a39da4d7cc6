"""What an item waits for, as the team changes it: **Waits for…** in an item's Details (a form
of the items of its phase and the ones before, by phase) and `/golive after`'s answers. The
change itself, its checks (no circle) and the due dates that follow are
`bot.engagement.dependencies`'.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from sqlmodel import col, select

from bot.engagement import checklist as cl
from bot.engagement import dependencies as deps
from bot.engagement.lifecycle import phases_of
from bot.errors import UserError
from bot.refs import parse_id
from bot.services import Services
from bot.slack.publish import refresh_checklist
from handlers.base import Request, actor_for, click_engagement, item_of_click
from handlers.checklist_menu import item_view
from handlers.listening import after_ack, listener
from storage.models import Engagement, EngagementPhase, Item, saved_id

DETAILS_AFTER = re.compile(r"^item_after:(\d+)$")
MAX_CHOICES = 100  # Block Kit: a select's options, over all its groups


def _after_choices(
    session: Any,
    engagement: Engagement,
    phase: EngagementPhase,
    item: Item,
    prereqs: list[tuple[str, Item]],
) -> list[dict[str, Any]]:
    """The items the `after` form offers, by phase, this phase's first then the ones before: the
    open items (and those it already waits for, wherever they are), never the item itself nor
    later phases' other items (Block Kit holds 100 options)."""
    current = {p.id for _ref, p in prereqs}
    top = max([phase.number] + [int(ref.split(".")[0]) for ref, _p in prereqs])
    groups = []
    room = MAX_CHOICES
    for number in range(top, 0, -1):
        rows = session.exec(
            select(Item)
            .join(EngagementPhase, col(EngagementPhase.id) == Item.phase_id)
            .where(EngagementPhase.engagement_id == engagement.id, EngagementPhase.number == number)
            .order_by(col(Item.number))
        ).all()
        named = session.exec(
            select(EngagementPhase).where(
                EngagementPhase.engagement_id == engagement.id, EngagementPhase.number == number
            )
        ).first()
        options = [
            {"value": str(i.id), "text": f"{number}.{i.number} {i.title}"}
            for i in rows
            if i.id in current or (i.id != item.id and i.status == cl.OPEN and number <= phase.number)
        ][:room]
        room -= len(options)
        if options:
            groups.append({"label": f"{number}. {named.name if named else ''}", "options": options})
        if room <= 0:
            break
    return groups


def on_details_after(req: Request) -> None:
    """Waits for… in an item's Details (the team only): Details turns into the `after` form, sent
    with the hash the click saw. When Details changed since (Mark done's answer, from a click made
    before this one), the form the person asked for last is rendered again and still replaces it."""
    req.ack()
    view_id = str(req.view.get("id") or "")
    req.services.slack.update_view_newest(view_id, lambda: _after_view(req), view_hash=req.view.get("hash"))


def _after_view(req: Request) -> dict[str, Any]:
    """Details as the `after` form for the team; for anyone else, Details saying why not."""
    services = req.services
    with services.db.read() as session:
        engagement = click_engagement(req, session)
        phase, item = cl.item_by_id(session, engagement, req.action_number())
        actor = actor_for(req, session, engagement, acting=False)
        choices = (
            _after_choices(session, engagement, phase, item, deps.prerequisites_of(session, saved_id(item)))
            if actor.is_vendor
            else []
        )
    if not actor.is_vendor:
        note = ":lock: The implementation team plans what waits for what."
        return item_view(services, engagement, phase, item, actor, mode="details", note=note)
    return item_view(services, engagement, phase, item, actor, mode="after", choices=choices)


def _after_wanted(req: Request, session: Any, engagement: Engagement) -> list[Item]:
    wanted = []
    for raw in req.field("after") or []:
        _phase, found = cl.item_by_id(session, engagement, parse_id(raw))
        wanted.append(found)
    return wanted


def _has_input(view: dict[str, Any], block_id: str) -> bool:
    return any(b.get("type") == "input" and b.get("block_id") == block_id for b in view.get("blocks") or [])


def on_after_submit(req: Request) -> None:
    """The `after` form: the item waits for exactly the items chosen. A circle is refused under the
    field, with the form still open; the change, the due dates that follow it and the refreshed
    checklists come after the ack (the submission in the inbox first), with a private confirmation."""
    services = req.services
    item_id = parse_id(req.metadata.get("item"))
    try:
        with services.db.read() as session:  # the checks, without writing
            engagement = click_engagement(req, session)
            _phase, item = cl.item_by_id(session, engagement, item_id)
            actor = actor_for(req, session, engagement)
            deps.check_prerequisites(
                session, engagement, actor, item, _after_wanted(req, session, engagement)
            )
    except UserError as exc:
        if not _has_input(req.view, "after"):
            # "Nothing is open…": Slack takes errors only under an input block of the form
            # (a key that names none is refused), so the refusal is answered as any other.
            raise
        req.ack(response_action="errors", errors={"after": exc.message})
        return
    after_ack(req, lambda r: _set_after(r, item_id))


def _set_after(req: Request, item_id: int) -> Callable[[], None]:
    """The item waits for exactly the items chosen. Already so (a replay of a submission done):
    nothing added or removed, nothing written (`deps.set_prerequisites`)."""
    services = req.services
    now = services.clock.now()
    with services.db.session() as session:
        engagement, phase, item, actor = item_of_click(req, session, item_id)
        added, removed = deps.set_prerequisites(
            session, engagement, actor, item, _after_wanted(req, session, engagement), now
        )
        text = after_confirmation(session, phase, item, added, removed)
        engagement_id, channel = saved_id(engagement), engagement.channel_id
        numbers = [p.number for p in phases_of(session, saved_id(engagement)) if p.number >= phase.number]
    if added or removed:
        for number in numbers:  # later items may follow its new date
            refresh_checklist(services, engagement_id, number, channel=channel)
    said = services.notice(text)
    return lambda: req.reply(said)


def _state(item: Item) -> str:
    return {cl.OPEN: "open", cl.DONE: "done"}.get(item.status, "not applicable")


def waits_for_text(session: Any, phase: EngagementPhase, item: Item, command: str) -> str:
    """What an item waits for, and how to change it (`/golive after 2.3`)."""
    ref = f"{phase.number}.{item.number}"
    now_waits = deps.prerequisites_of(session, saved_id(item))
    if not now_waits:
        return (
            f"{ref} {item.title} waits for nothing. Make it wait with `{command} after {ref} <items>`, "
            f"e.g. `{command} after {ref} 1.5`."
        )
    listed = ", ".join(f"{r} ({_state(p)})" for r, p in now_waits)
    return (
        f"{ref} {item.title} waits for {listed}. Change it with `{command} after {ref} <more items>`, "
        f"`{command} after {ref} remove <item>` or `{command} after {ref} none`."
    )


def after_confirmation(
    session: Any, phase: EngagementPhase, item: Item, added: list[Item], removed: list[Item]
) -> str:
    """What a change of an item's prerequisites did, in a line or two: what it waits for now and
    its due date (which follows them)."""
    ref = f"{phase.number}.{item.number}"
    now_waits = deps.prerequisites_of(session, saved_id(item))
    if not added and not removed:
        head = f"{ref} already waits for exactly that; nothing changed."
    elif now_waits:
        listed = ", ".join(f"{r} ({_state(p)})" for r, p in now_waits)
        head = f"{ref} {item.title} now waits for {listed}."
    else:
        head = f"{ref} {item.title} now waits for nothing."
    session.refresh(item)
    if item.due_on is None:
        return head
    how = "set by hand, so it stays" if item.due_set_by_hand else "following what it waits for"
    return f"{head} It is due {item.due_on.strftime('%a %-d %b')} ({how})."


def register(app: App, services: Services) -> None:
    app.action(DETAILS_AFTER)(listener(services, on_details_after))
    app.view("item_after")(listener(services, on_after_submit))
