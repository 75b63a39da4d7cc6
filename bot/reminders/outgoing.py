"""What a claimed reminder says now: built from the database as it is at the moment of sending
(a nudge, a dry-run reminder, the go-live day message, the lead's health note, the weekly digest),
with whom it mentions and what about, or the reason it is not sent any more."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from bot.people.members import lead_of
from bot.reminders.budget import Budget
from bot.reminders.digest import digest_context
from bot.reminders.dryrun import current_attempt, participants, reminder_message, thread_root
from bot.reminders.nudge_delivery import planned
from bot.reminders.nudges import Entry
from bot.reminders.working_hours import clock_of
from bot.services import Services
from bot.slack.nudges import render_nudge
from bot.slack.presenters import overview
from messages import Message
from storage.models import Engagement, Reminder, saved_id

DRYRUN_START_GRACE = timedelta(hours=12)  # "the dry run starts now" is not sent later than this


@dataclass
class Outgoing:
    reminder_id: int
    engagement_id: int
    kind: str
    channel: str
    message: Message | None
    entries: list[Entry] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)
    thread_ts: str | None = None  # a reply in this thread (the dry-run reminders)
    people: list[str] = field(default_factory=list)  # whom it mentions: the people it notifies
    subjects: list[str] = field(default_factory=list)  # what about, for the notification ledger

    def describe(self) -> str:
        what = ", ".join(e.ref for e in self.entries) if self.entries else self.payload.get("offset", "")
        text = self.message.text[:120] if self.message is not None else ""
        who = f" (notifies {', '.join(self.people)})" if self.people else ""
        return f"{self.kind} → {self.channel}: {text}" + (f" [{what}]" if what else "") + who


def build(
    services: Services,
    session: Session,
    reminder: Reminder,
    now: datetime,
    present: set[str] | None = None,
    dm_channel: str | None = None,
) -> Outgoing | str:
    """The message to send now, or the reason to skip it. `present`: who is in the channel
    (None: not known), for whom a reminder mentions."""
    engagement = session.get(Engagement, reminder.engagement_id)
    if engagement is None or engagement.status != "active":
        return "engagement no longer active"
    if engagement.flagged:
        return f"engagement flagged: {engagement.flagged}"
    payload = json.loads(reminder.payload or "{}")
    clock = clock_of(engagement)
    r = services.renderer
    if reminder.kind == "nudge":
        if engagement.nudges_paused:
            return "nudges paused"
        plan = planned(services, session, engagement, payload, now, present)
        listed = [e for p in plan.threads for e in p.due]
        if not plan.threads and not plan.held and not plan.unnamed:
            return "nothing due any more"
        if not listed:
            return "held back by the notification budget" if plan.held else "nobody named to remind"
        msg = render_nudge(services, session, engagement, [e.as_dict() for e in listed], now)
        people = sorted({u for p in plan.threads for u in p.people})
        return Outgoing(
            saved_id(reminder),
            saved_id(engagement),
            "nudge",
            engagement.channel_id,
            msg,
            listed,
            payload,
            people=people,
        )
    if reminder.kind == "dryrun":
        if engagement.dryrun_at is None or engagement.dryrun_outcome is not None:
            return "dry run no longer pending"
        offset = payload.get("offset")
        if offset == "t0" and now - engagement.dryrun_at > DRYRUN_START_GRACE:
            return "the dry run started long ago"
        if offset != "t0" and engagement.dryrun_at <= now:
            return "the dry run has started"
        later = session.execute(
            select(col(Reminder.id)).where(
                col(Reminder.engagement_id) == engagement.id,
                col(Reminder.kind) == "dryrun",
                col(Reminder.status) == "pending",
                col(Reminder.due_at) <= now,
                col(Reminder.due_at) > reminder.due_at,
            )
        ).first()
        if later is not None:
            return "a later dry-run reminder is also due; only the latest is sent"
        people = participants(session, engagement, present).people
        msg = reminder_message(services, session, engagement, offset, now, people)
        attempt = current_attempt(session, saved_id(engagement))
        return Outgoing(
            saved_id(reminder),
            saved_id(engagement),
            "dryrun",
            engagement.channel_id,
            msg,
            payload=payload,
            thread_ts=thread_root(session, saved_id(engagement)),
            people=people,
            subjects=[f"dryrun:{attempt.id if attempt else 0}"],
        )
    if reminder.kind == "golive":
        if clock.today(now).isoformat() != payload.get("date"):
            return "not go-live day any more"
        base = overview(session, engagement, services.playbook_for(engagement), now)
        msg = r.message(
            "golive_day.json.j2", **base, dryrun_outcome=engagement.dryrun_outcome, command=services.command
        )
        return Outgoing(
            saved_id(reminder), saved_id(engagement), "golive", engagement.channel_id, msg, payload=payload
        )
    if reminder.kind == "health":
        if dm_channel is None:
            return "no lead consultant to tell"
        lead = lead_of(session, saved_id(engagement))
        msg = r.message(
            "health_dm.json.j2",
            customer_name=engagement.customer_name,
            channel=engagement.channel_id,
            level=payload.get("level"),
            was=payload.get("was"),
            reason=payload.get("reason") or "",
            command=services.command,
        )
        return Outgoing(
            saved_id(reminder),
            saved_id(engagement),
            "health",
            dm_channel,
            msg,
            payload=payload,
            people=[lead.user_id] if lead else [],
            subjects=[f"health:{payload.get('level')}"],
        )
    if reminder.kind == "digest":
        base = overview(session, engagement, services.playbook_for(engagement), now)
        context = digest_context(session, engagement, now, present, Budget(session, engagement, now))
        msg = r.message("digest.json.j2", **base, **context, command=services.command)
        return Outgoing(
            saved_id(reminder),
            saved_id(engagement),
            "digest",
            engagement.channel_id,
            msg,
            payload=payload,
            people=list(context["mentioned"]),
            subjects=[f"digest:{payload.get('week', '')}"],
        )
    return f"unknown kind {reminder.kind}"
