"""Posted nudges and escalations as they stand now: rendering them from the database, and
keeping the live ones true when what they list changes (an item ticked anywhere, snoozed,
blocked or unblocked, a sign-off decided).

A nudge is a thread reply (`NudgeMessage`, kind `nudge`) listing entries — items and sign-offs,
each with the people it is for and those it mentioned — or, for the implementation team's own
items, a direct message to their person (topic `dm:<user>`). Each entry shows its state now: open (with its buttons), done,
snoozed, blocked, block cleared, or decided; only open items keep buttons. A nudge replaced by a
newer one in its thread is collapsed to one line. An escalation (kind `escalation`) is the
direct message to the lead consultant naming stuck entries, with what the lead may do about them.

What is due and when a nudge is edited or posted anew is decided by `bot.reminders.nudges`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from bot.engagement.lifecycle import local_today
from bot.people.roles import people_with
from bot.services import Services
from bot.slack.sending import Sending, UpdateJob
from messages import Message
from storage.models import (
    Engagement,
    Item,
    Member,
    NudgeMessage,
    SignoffDecision,
    SignoffRequest,
    id_col,
    saved_id,
)

NUDGE = "nudge"
ESCALATION = "escalation"
UNNAMED = "unnamed"  # the lead told privately that nobody can be notified of some entries
BLOCKED_DM = "blocked_dm"  # the lead told privately that an item is blocked
LEAD_DM = "lead_dm"  # the lead told privately of something asked of them (a date, changes)
LIVE, REPLACED = "live", "replaced"
OPEN, HANDLED = "open", "handled"
DIRECT_PREFIX = "dm:"
# Ledger kinds of the bot's direct messages about an engagement: a click on one acts on that
# engagement, although the message is not in its channel.
DIRECT_KINDS = frozenset({NUDGE, ESCALATION, UNNAMED, BLOCKED_DM, LEAD_DM})


def direct_topic(user: str) -> str:
    """The topic of the direct messages reminding `user` of their items."""
    return f"{DIRECT_PREFIX}{user}"


def load_entries(row: NudgeMessage) -> list[dict[str, Any]]:
    return list(json.loads(row.entries or "[]"))


def names_of(session: Session, engagement_id: int) -> dict[str, str]:
    """Display names of the engagement's members, by user id."""
    return {
        m.user_id: m.display_name or m.user_id
        for m in session.exec(select(Member).where(Member.engagement_id == engagement_id))
    }


def entry_states(
    session: Session, engagement: Engagement, entries: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """The entries with their `state` and `note` now, read from the database."""
    names = names_of(session, saved_id(engagement))
    today = local_today(now, engagement.timezone)
    out = []
    for raw in entries:
        e = dict(raw)
        e["state"], e["note"] = "open", ""
        if e.get("kind") == "item":
            item = session.get(Item, e.get("id"))
            if item is None or item.engagement_id != engagement.id:
                e["state"], e["note"] = "done", "no longer on the checklist"
            elif item.status == "done":
                e["state"], e["note"] = "done", f"done by {names.get(item.done_by or '', 'someone')}"
            elif item.status == "na":
                e["state"], e["note"] = "done", "marked not applicable"
            elif item.blocked_reason:
                e["state"], e["note"] = "blocked", f"blocked: {item.blocked_reason}"
            elif e.get("waits_on_ids") and all(
                (p := session.get(Item, pid)) is None or p.status != "open" for pid in e["waits_on_ids"]
            ):
                # It waited for others' work, which is done: it is no longer waiting on them.
                e["state"], e["note"] = "done", f"{', '.join(e.get('waits_on') or [])} done: it can move now"
            elif e.get("cleared_by"):
                who = names.get(str(e["cleared_by"]), "a consultant")
                e["state"], e["note"] = "cleared", f"block cleared by {who}; reminders resume"
            elif item.snoozed_until and item.snoozed_until > today:
                e["state"], e["note"] = "snoozed", f"snoozed until {item.snoozed_until:%a %-d %b}"
        elif e.get("kind") == "changes":
            request = session.get(SignoffRequest, e.get("id"))
            if request is None or request.status != "changes_requested":
                e["state"], e["note"] = "done", "requested again"
        else:
            request = session.get(SignoffRequest, e.get("id"))
            if request is None:
                e["state"], e["note"] = "done", "no longer requested"
            elif request.status != "open":
                e["state"], e["note"] = "done", _decided(session, request)
        out.append(e)
    return out


def _decided(session: Session, request: SignoffRequest) -> str:
    if request.status == "superseded":
        return "replaced by a newer request"
    decision = session.exec(select(SignoffDecision).where(SignoffDecision.request_id == request.id)).first()
    who = decision.display_name if decision is not None else "the approver"
    return f"approved by {who}" if request.status == "approved" else f"changes requested by {who}"


def render_nudge(
    services: Services,
    session: Session,
    engagement: Engagement,
    entries: list[dict[str, Any]],
    now: datetime,
    *,
    direct: bool = False,
) -> Message:
    """A nudge as it stands now. It mentions the people of the entries it reminds (in its text
    too: a push shows the text), and names those of the entries it only carries over."""
    states = entry_states(session, engagement, entries, now)
    pinged = list(dict.fromkeys(u for e in states if e["state"] == "open" for u in e.get("mentions") or []))
    return services.renderer.message(
        "nudge.json.j2",
        customer_name=engagement.customer_name,
        entries=states,
        pinged=pinged,
        names=names_of(session, saved_id(engagement)),
        direct=direct,
        channel=engagement.channel_id,
        command=services.command,
    )


def render_row(services: Services, session: Session, row: NudgeMessage, now: datetime) -> Message | None:
    """A posted nudge or escalation as it stands now."""
    engagement = session.get(Engagement, row.engagement_id)
    if engagement is None:
        return None
    if row.kind == ESCALATION:
        return render_escalation(services, session, engagement, row, now)
    if row.status == REPLACED:
        return services.renderer.message("nudge_replaced.json.j2", customer_name=engagement.customer_name)
    direct = row.topic.startswith(DIRECT_PREFIX)
    return render_nudge(services, session, engagement, load_entries(row), now, direct=direct)


def render_escalation(
    services: Services, session: Session, engagement: Engagement, row: NudgeMessage, now: datetime
) -> Message:
    sponsors = [r for r in people_with(session, engagement, "sponsor") if r.side == "customer"]
    return services.renderer.message(
        "escalation_dm.json.j2",
        customer_name=engagement.customer_name,
        channel=engagement.channel_id,
        entries=entry_states(session, engagement, load_entries(row), now),
        names=names_of(session, saved_id(engagement)),
        sponsors=[{"user_id": r.user_id, "name": r.name} for r in sponsors],
        handled=row.status == HANDLED,
        note=row.note,
        active=engagement.status == "active",
        command=services.command,
    )


def _row_render(services: Services, row_id: int) -> Any:
    def render(_out: Sending) -> Message | None:
        with services.db.read() as session:
            row = session.get(NudgeMessage, row_id)
            return render_row(services, session, row, services.clock.now()) if row is not None else None

    return render


def refresh_row(services: Services, row: NudgeMessage) -> None:
    """Queue an update of one posted nudge or escalation (rendered when the outbox sends it)."""
    services.outbox.update(row.channel_id, row.ts, _row_render(services, saved_id(row)), what=row.kind)


def refresh_message(services: Services, channel: str, ts: str | None) -> bool:
    """Refresh the nudge or escalation posted as (channel, ts); False when it is not one."""
    if not ts:
        return False
    with services.db.read() as session:
        row = session.exec(
            select(NudgeMessage).where(NudgeMessage.channel_id == channel, NudgeMessage.ts == ts)
        ).first()
    if row is None:
        return False
    refresh_row(services, row)
    return True


def live_nudges(session: Session, engagement_id: int, topic_prefix: str = "") -> list[NudgeMessage]:
    rows = session.exec(
        select(NudgeMessage)
        .where(NudgeMessage.engagement_id == engagement_id, NudgeMessage.status == LIVE)
        .order_by(col(NudgeMessage.id))
    ).all()
    return [r for r in rows if r.kind == NUDGE and r.topic.startswith(topic_prefix)]


# Every checklist refresh asks, and mostly finds none: built once, read as columns on a plain
# connection (as ORM objects through a session, with the statement built each time: 631 us;
# this way 2xx us).
_LIVE_NUDGES = (
    select(
        id_col(NudgeMessage.id), col(NudgeMessage.channel_id), col(NudgeMessage.ts), col(NudgeMessage.topic)
    )
    .where(
        NudgeMessage.engagement_id == bindparam("engagement"),
        NudgeMessage.status == LIVE,
        NudgeMessage.kind == NUDGE,
    )
    .order_by(col(NudgeMessage.id))
)


def refresh_nudges(
    services: Services,
    engagement_id: int,
    topic_prefix: str | tuple[str, ...] = "",
    out: Sending | None = None,
) -> None:
    """Queue updates of the engagement's live nudges whose topic starts with `topic_prefix` (or one
    of them: `checklist:` the items' threads, `dm:` the team's reminders in direct messages,
    `signoff:12` one request's), so they show what happened."""
    with services.db.rows() as conn:
        rows = conn.execute(_LIVE_NUDGES, {"engagement": engagement_id}).all()
    for row_id, channel_id, ts, topic in rows:
        if not topic.startswith(topic_prefix):
            continue
        job = UpdateJob(channel_id, ts, _row_render(services, row_id), what="nudge")
        if out is not None:
            out.submit(job)
        else:
            services.outbox.submit(job)


def note_cleared(services: Services, engagement_id: int, item_id: int, by: str) -> None:
    """A block was cleared: the live nudges listing the item say so (until it is nudged again)."""
    with services.db.session() as session:
        for row in live_nudges(session, engagement_id):
            entries = load_entries(row)
            touched = False
            for e in entries:
                if e.get("kind") == "item" and e.get("id") == item_id:
                    e["cleared_by"] = by
                    touched = True
            if touched:
                row.entries = json.dumps(entries, default=str)
                session.add(row)
