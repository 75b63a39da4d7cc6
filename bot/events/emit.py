"""Queueing an event: its JSON (the engagement, its deal's id, the change) and one row per target,
in the caller's transaction.

Which targets a database's events go to is configured once per process (`configure`, by the
program that builds the bot, from GOLIVE_HOOK_URLS); the core functions that change engagements
call `emit` with their session and need no settings. A database with no targets configured
queues nothing (a unit test, a tool that opens the database by itself).
"""

from __future__ import annotations

import json
import threading
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.config import HookTarget
from storage import hook_deliveries
from storage.db import Database
from storage.models import Deal, Engagement, EngagementPhase

# The events golive sends out (docs/events.md), named here once: the webhooks' own vocabulary,
# not audit actions (tests/unit/test_audit_actions.py reads every other literal of that shape).
ENGAGEMENT_STARTED = "engagement.started"
PHASE_STARTED = "phase.started"
SIGNOFF_DECIDED = "signoff.decided"
DRYRUN_OUTCOME = "dryrun.outcome"
HEALTH_CHANGED = "health.changed"
ENGAGEMENT_LIVE = "engagement.live"
EVENTS = (ENGAGEMENT_STARTED, PHASE_STARTED, SIGNOFF_DECIDED, DRYRUN_OUTCOME, HEALTH_CHANGED, ENGAGEMENT_LIVE)
TEST_EVENT = "golive.test"


@dataclass
class Outlet:
    """Where a database's events go (its targets), and how to wake this process's deliverer when
    some were committed."""

    targets: tuple[HookTarget, ...]
    wakers: list[Callable[[], None]] = field(default_factory=list)

    def wake(self) -> None:
        for waker in list(self.wakers):
            waker()


_OUTLETS: weakref.WeakKeyDictionary[Engine, Outlet] = weakref.WeakKeyDictionary()
_WAKE_ON_COMMIT = "golive.events.wake_on_commit"  # session.info: the outlet to wake at its commit
_LISTENING = "golive.events.listening"  # session.info: the session's after_commit listener is set


def _wake_when_committed(session: Session) -> None:
    """after_commit: wake the deliverers when the outermost transaction committed (not when a
    savepoint was released), once per transaction that queued events."""
    if session.in_nested_transaction():
        return
    outlet = session.info.pop(_WAKE_ON_COMMIT, None)
    if outlet is not None:
        outlet.wake()


_LOCK = threading.Lock()


def configure(db: Database, targets: Sequence[HookTarget]) -> Outlet:
    """Send the events recorded in `db` to `targets` (from `Settings.hook_targets`)."""
    with _LOCK:
        outlet = _OUTLETS.get(db.engine)
        if outlet is None:
            outlet = _OUTLETS[db.engine] = Outlet(tuple(targets))
        else:
            outlet.targets = tuple(targets)
        return outlet


def outlet_of(db: Database) -> Outlet | None:
    return _OUTLETS.get(db.engine)


def _outlet_for(session: Session) -> Outlet | None:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else getattr(bind, "engine", None)
    return _OUTLETS.get(engine) if engine is not None else None


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value.isoformat()


def phase_json(phase: EngagementPhase | None) -> dict[str, Any] | None:
    if phase is None:
        return None
    return {
        "number": phase.number,
        "key": phase.key,
        "name": phase.name,
        "planned_start": _iso(phase.planned_start),
        "planned_end": _iso(phase.planned_end),
    }


def engagement_json(session: Session, engagement: Engagement) -> dict[str, Any]:
    """The engagement as every event carries it, as it is in this transaction now."""
    phase = session.exec(
        select(EngagementPhase).where(
            EngagementPhase.engagement_id == engagement.id, EngagementPhase.number == engagement.phase_index
        )
    ).first()
    return {
        "id": engagement.id,
        "customer": engagement.customer_name,
        "channel_id": engagement.channel_id,
        "status": engagement.status,
        "size": engagement.size,
        "kickoff": _iso(engagement.kickoff_on),
        "target": _iso(engagement.target_on),
        "timezone": engagement.timezone,
        "phase": phase_json(phase),
        "health": engagement.health_level,
    }


def deal_id_of(session: Session, engagement_id: int) -> str | None:
    """The CRM deal the engagement was made from; None when it was started by hand."""
    return session.exec(select(col(Deal.deal_id)).where(Deal.engagement_id == engagement_id)).first()


def event_body(
    event: str,
    *,
    event_id: str,
    at: datetime,
    engagement: dict[str, Any] | None,
    deal_id: str | None,
    change: dict[str, Any],
) -> str:
    """The JSON posted (docs/events.md): the same bytes on every attempt, signed as they are."""
    document = {
        "id": event_id,
        "event": event,
        "at": _iso(at),
        "engagement": engagement,
        "deal_id": deal_id,
        "change": change,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=_iso)


def emit(
    session: Session, event: str, engagement: Engagement, change: dict[str, Any], *, now: datetime
) -> str | None:
    """Queue `event` about `engagement` for every configured target, in `session`'s transaction:
    sent once it commits (this process's deliverer is woken then), never if it rolls back. The
    event's id; None when no target is configured."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    outlet = _outlet_for(session)
    if outlet is None or not outlet.targets:
        return None
    assert engagement.id is not None, "emit after the engagement is flushed"
    event_id = new_event_id()
    body = event_body(
        event,
        event_id=event_id,
        at=now,
        engagement=engagement_json(session, engagement),
        deal_id=deal_id_of(session, engagement.id),
        change=change,
    )
    hook_deliveries.queue(
        session,
        event_id=event_id,
        event=event,
        engagement_id=engagement.id,
        targets=[t.url for t in outlet.targets],
        body=body,
        now=now,
    )
    if outlet.wakers:
        # Once the whole transaction is committed: after_commit also fires when a savepoint inside
        # it is released (begin_nested, e.g. a rating's ask), and a wake then found nothing yet and
        # was spent, leaving the event to the next poll. A rolled-back session is thrown away.
        session.info[_WAKE_ON_COMMIT] = outlet
        if not session.info.get(_LISTENING):
            session.info[_LISTENING] = True
            sa_event.listen(session, "after_commit", _wake_when_committed)
    return event_id
