"""What a nudge says: open customer items past due and sign-offs pending too long, each at
most once per cadence (business days), never while snoozed or blocked, with the escalation
ladder: after 2 nudges without progress the lead consultant is mentioned too, after 3 the
customer's executive sponsor."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from bot.people.members import lead_of
from bot.people.roles import approvers_for, people_with
from bot.reminders.working_hours import CustomerClock, clock_of
from storage.models import Engagement, EngagementPhase, Gate, Item, Member, SignoffRequest

SIGNOFF_PATIENCE_DAYS = 2
MAX_ENTRIES = 20


@dataclass
class Entry:
    kind: str  # item | signoff
    id: int
    ref: str
    title: str
    detail: str
    mentions: list[str] = field(default_factory=list)
    escalated_to: list[str] = field(default_factory=list)
    nudges_before: int = 0
    state: str = "open"  # open | done | snoozed | blocked (after someone acted on the nudge)
    note: str = ""
    request_ts: str | None = None


def _due_text(due: date, today: date) -> str:
    days = (today - due).days
    return f"due {due:%a %-d %b} · {days} day{'s' if days != 1 else ''} overdue"


def _escalation(session: Session, engagement: Engagement, count: int) -> list[str]:
    extra: list[str] = []
    if count >= 2:
        lead = lead_of(session, engagement.id)  # type: ignore[arg-type]
        if lead:
            extra.append(lead.user_id)
    if count >= 3:
        extra += [r.user_id for r in people_with(session, engagement, "sponsor")]
    return extra


def _item_due(item: Item, today: date, clock: CustomerClock, cadence: int, now: datetime) -> bool:
    if item.status != "open" or item.owner_side != "customer" or item.due_on is None or item.due_on >= today:
        return False
    if item.blocked_reason:
        return False
    if item.snoozed_until is not None and item.snoozed_until > today:
        return False
    return item.last_nudged_at is None or clock.business_days_since(item.last_nudged_at, now) >= cadence


def item_ready_on(item: Any, clock: CustomerClock, cadence: int) -> date | None:
    """The first local date on which `_item_due` holds for the item as it is now, or None when
    it never will without a change (done, the vendor's, undated, blocked). `_item_due` is
    monotonic in the day (overdue stays overdue, snoozes and the cadence run out), so the item
    is due on every day from this one until something changes it."""
    if item.status != "open" or item.owner_side != "customer" or item.due_on is None or item.blocked_reason:
        return None
    day: date = item.due_on + timedelta(days=1)
    if item.snoozed_until is not None:
        day = max(day, item.snoozed_until)
    if item.last_nudged_at is not None:
        day = max(day, clock.calendar.add(clock.today(item.last_nudged_at), cadence))
    return day


def signoff_ready_on(request: Any, clock: CustomerClock, cadence: int) -> date | None:
    """The first local date on which an open sign-off request is nudged (patience run out, the
    cadence since its last nudge passed), or None when it is decided."""
    if request.status != "open":
        return None
    day = clock.calendar.add(clock.today(request.requested_at), SIGNOFF_PATIENCE_DAYS + 1)
    if request.last_nudged_at is not None:
        day = max(day, clock.calendar.add(clock.today(request.last_nudged_at), cadence))
    return day


def ready_dates(session: Session, engagements: list[Engagement]) -> dict[int, date]:
    """For each engagement, the first local date on which its nudge would list something (the
    earliest `item_ready_on` / `signoff_ready_on`); engagements with nothing pending are absent.
    Two queries for the whole list."""
    by_id = {e.id: e for e in engagements}
    clocks = {e.id: clock_of(e) for e in engagements}
    out: dict[int, date] = {}

    def offer(engagement_id: int, day: date | None) -> None:
        if day is not None and (engagement_id not in out or day < out[engagement_id]):
            out[engagement_id] = day

    for item in session.execute(
        select(
            Item.engagement_id,
            Item.status,
            Item.owner_side,
            Item.due_on,
            Item.blocked_reason,
            Item.snoozed_until,
            Item.last_nudged_at,
        ).where(
            col(Item.engagement_id).in_(list(by_id)),
            col(Item.status) == "open",
            col(Item.owner_side) == "customer",
            col(Item.due_on).is_not(None),
        )
    ):
        e = by_id[item.engagement_id]
        offer(e.id, item_ready_on(item, clocks[e.id], max(e.cadence_days, 1)))  # type: ignore[arg-type]
    for request in session.execute(
        select(
            Gate.engagement_id,
            SignoffRequest.status,
            SignoffRequest.requested_at,
            SignoffRequest.last_nudged_at,
        )
        .join(Gate, col(Gate.id) == col(SignoffRequest.gate_id))
        .where(col(Gate.engagement_id).in_(list(by_id)), col(SignoffRequest.status) == "open")
    ):
        e = by_id[request.engagement_id]
        offer(e.id, signoff_ready_on(request, clocks[e.id], max(e.cadence_days, 1)))  # type: ignore[arg-type]
    return out


def entries(session: Session, engagement: Engagement, now: datetime) -> list[Entry]:
    clock = clock_of(engagement)
    today = clock.today(now)
    cadence = max(engagement.cadence_days, 1)
    phases = {
        p.id: p
        for p in session.exec(select(EngagementPhase).where(EngagementPhase.engagement_id == engagement.id))
    }
    contributors = [r.user_id for r in people_with(session, engagement, "contributor")]
    out: list[Entry] = []
    items = session.exec(
        select(Item)
        .where(Item.engagement_id == engagement.id, Item.status == "open", Item.owner_side == "customer")
        .order_by(col(Item.due_on), col(Item.id))
    ).all()
    for item in items:
        if not _item_due(item, today, clock, cadence, now):
            continue
        phase = phases[item.phase_id]
        out.append(
            Entry(
                kind="item",
                id=item.id,
                ref=f"{phase.number}.{item.number}",
                title=item.title,  # type: ignore[arg-type]
                detail=_due_text(item.due_on, today),  # type: ignore[arg-type]
                mentions=[item.assignee_id] if item.assignee_id else contributors,
                escalated_to=_escalation(session, engagement, item.nudge_count),
                nudges_before=item.nudge_count,
            )
        )
    requests = session.exec(
        select(SignoffRequest, Gate)
        .join(Gate, col(Gate.id) == col(SignoffRequest.gate_id))
        .where(Gate.engagement_id == engagement.id, SignoffRequest.status == "open")
    ).all()
    for request, gate in requests:
        waited = clock.business_days_since(request.requested_at, now)
        if waited <= SIGNOFF_PATIENCE_DAYS:
            continue
        if (
            request.last_nudged_at is not None
            and clock.business_days_since(request.last_nudged_at, now) < cadence
        ):
            continue
        out.append(
            Entry(
                kind="signoff",
                id=request.id,
                ref=gate.key,
                title=gate.title,  # type: ignore[arg-type]
                detail=f"sign-off requested {request.requested_at.astimezone(clock.zone):%a %-d %b}, "
                f"waiting {waited} business days",
                mentions=[a.user_id for a in approvers_for(session, engagement, gate.key)],
                escalated_to=_escalation(session, engagement, request.nudge_count),
                nudges_before=request.nudge_count,
                request_ts=request.ts,
            )
        )
    return out[:MAX_ENTRIES]


def mark_nudged(session: Session, sent: list[Entry], now: datetime) -> None:
    for e in sent:
        row = session.get(Item if e.kind == "item" else SignoffRequest, e.id)
        if row is None:
            continue
        row.last_nudged_at = now
        row.nudge_count = (row.nudge_count or 0) + 1
        session.add(row)


def next_nudge_preview(
    session: Session, engagement: Engagement, now: datetime
) -> tuple[datetime, list[Entry]]:
    """When the next nudge can go out (the customer's next working window) and what it would list."""
    at = clock_of(engagement).next_window(now)
    return at, entries(session, engagement, at)


def refreshed(
    session: Session, engagement: Engagement, sent: list[dict[str, object]], now: datetime
) -> list[Entry]:
    """The entries of a posted nudge with their state now (done, snoozed, blocked), for chat.update."""
    names = {
        m.user_id: m.display_name
        for m in session.exec(select(Member).where(Member.engagement_id == engagement.id))
    }
    today = clock_of(engagement).today(now)
    out = []
    for raw in sent:
        e = Entry(**{k: v for k, v in raw.items() if k in Entry.__dataclass_fields__})  # type: ignore[arg-type]
        if e.kind == "item":
            item = session.get(Item, e.id)
            if item is not None:
                if item.status in ("done", "na"):
                    e.state, e.note = "done", f"done by {names.get(item.done_by or '', 'someone')}"
                elif item.blocked_reason:
                    e.state, e.note = "blocked", f"blocked: {item.blocked_reason}"
                elif item.snoozed_until and item.snoozed_until > today:
                    e.state, e.note = "snoozed", f"snoozed until {item.snoozed_until:%a %-d %b}"
                else:
                    e.state, e.note = "open", ""
        else:
            request = session.get(SignoffRequest, e.id)
            if request is not None and request.status != "open":
                e.state, e.note = "done", request.status.replace("_", " ")
        out.append(e)
    return out
