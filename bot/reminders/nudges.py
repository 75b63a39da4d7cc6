"""What a nudge says and where it goes: open customer items past due and sign-offs pending too
long, each at most once per cadence (business days), never while snoozed or blocked, never for a
gate that waits on something else (the final go-live approval before a passed dry run).

Where: in threads, under what each entry is about — items under their phase's live checklist, a
sign-off under its request (`plan_threads`). One live nudge per thread.

Edited, not repeated: a nudge is the latest for its people while it is the live nudge of its
thread and already lists every due entry with the same people to mention. Then the next reminder
edits it (the "overdue" counts move on; nobody is notified again). An entry it does not list yet,
or a different person for one (a reassigned item, a new approver), makes a new reply, which
mentions them and takes over what was still open in the old one; the old one is collapsed to a
line pointing to the new one.

The escalation ladder, in private first: step 1, the nudge mentions the assignee (or the
customer's contributors, or a sign-off's approvers); step 2, after `ESCALATE_AFTER` nudges without
progress, the lead consultant gets a direct message naming the stuck entries (they may nudge
again now, snooze, or bring in the customer's sponsor). The bot never mentions the sponsor in the
channel on its own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from bot.people.roles import approvers_for, people_with
from bot.reminders.working_hours import CustomerClock, clock_of
from bot.services import Services
from bot.slack.nudges import live_nudges, load_entries
from bot.slack.publish import checklist_thread
from storage.models import (
    DryRunAttempt,
    Engagement,
    EngagementPhase,
    Gate,
    Item,
    NudgeMessage,
    SignoffRequest,
)

SIGNOFF_PATIENCE_DAYS = 2
ESCALATE_AFTER = 2  # nudges without progress before the lead consultant is told, privately
MAX_ENTRIES = 20
TOP = "top"  # the topic of a nudge with no thread to go in (no checklist in the channel)


@dataclass
class Entry:
    kind: str  # item | signoff
    id: int
    ref: str
    title: str
    detail: str
    mentions: list[str] = field(default_factory=list)
    nudges_before: int = 0
    phase: int = 0  # the item's phase number (a sign-off: its gate's phase)
    request_ts: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def key(self) -> tuple[str, int]:
        return self.kind, self.id


def _due_text(due: date, today: date, count: int) -> str:
    days = (today - due).days
    again = f" · reminder {count + 1}" if count else ""
    return f"due {due:%a %-d %b} · {days} day{'s' if days != 1 else ''} overdue{again}"


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


def signoff_ready_on(
    request: Any, clock: CustomerClock, cadence: int, since: datetime | None = None
) -> date | None:
    """The first local date on which an open sign-off request is nudged (patience run out, the
    cadence since its last nudge passed), or None when it is decided. `since`: when the request
    could first be decided, if later than when it was made (a gate that waited for the dry run)."""
    if request.status != "open":
        return None
    start = max(request.requested_at, since) if since is not None else request.requested_at
    day = clock.calendar.add(clock.today(start), SIGNOFF_PATIENCE_DAYS + 1)
    if request.last_nudged_at is not None:
        day = max(day, clock.calendar.add(clock.today(request.last_nudged_at), cadence))
    return day


def dry_run_passed_at(session: Session, engagement: Engagement) -> datetime | None:
    """When the current dry run was recorded as passed; None while it has not passed."""
    if engagement.dryrun_outcome != "passed":
        return None
    attempt = session.exec(
        select(DryRunAttempt)
        .where(DryRunAttempt.engagement_id == engagement.id, DryRunAttempt.outcome == "passed")
        .order_by(col(DryRunAttempt.number).desc())
    ).first()
    return attempt.recorded_at if attempt is not None else None


def _waits_on_something_else(gate: Any, engagement: Engagement) -> bool:
    """A gate that cannot be decided yet: nudging its approvers would ask for the impossible."""
    return bool(gate.requires_dry_run) and engagement.dryrun_outcome != "passed"


def ready_dates(session: Session, engagements: list[Engagement]) -> dict[int, date]:
    """For each engagement, the first local date on which its nudge would list something (the
    earliest `item_ready_on` / `signoff_ready_on`); engagements with nothing pending are absent.
    Two queries for the whole list (three when a gate that waited for the dry run is open)."""
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
    passed: dict[int, datetime | None] = {}
    for request in session.execute(
        select(
            Gate.engagement_id,
            Gate.requires_dry_run,
            SignoffRequest.status,
            SignoffRequest.requested_at,
            SignoffRequest.last_nudged_at,
        )
        .join(Gate, col(Gate.id) == col(SignoffRequest.gate_id))
        .where(col(Gate.engagement_id).in_(list(by_id)), col(SignoffRequest.status) == "open")
    ):
        e = by_id[request.engagement_id]
        if _waits_on_something_else(request, e):
            continue
        since = None
        if request.requires_dry_run:
            if e.id not in passed:
                passed[e.id] = dry_run_passed_at(session, e)  # type: ignore[index]
            since = passed[e.id]  # type: ignore[index]
        offer(e.id, signoff_ready_on(request, clocks[e.id], max(e.cadence_days, 1), since))  # type: ignore[arg-type]
    return out


class _Context:
    """What building entries of one engagement reads once: its clock, phases, contributors."""

    def __init__(self, session: Session, engagement: Engagement, now: datetime) -> None:
        self.session, self.engagement, self.now = session, engagement, now
        self.clock = clock_of(engagement)
        self.today = self.clock.today(now)
        self.phases = {
            p.id: p
            for p in session.exec(
                select(EngagementPhase).where(EngagementPhase.engagement_id == engagement.id)
            )
        }
        self._contributors: list[str] | None = None

    @property
    def contributors(self) -> list[str]:
        if self._contributors is None:
            self._contributors = [
                r.user_id
                for r in people_with(self.session, self.engagement, "contributor")
                if r.side == "customer"
            ]
        return self._contributors

    def item_entry(self, item: Item) -> Entry:
        phase = self.phases[item.phase_id]
        return Entry(
            kind="item",
            id=item.id,  # type: ignore[arg-type]
            ref=f"{phase.number}.{item.number}",
            title=item.title,
            detail=_due_text(item.due_on, self.today, item.nudge_count)  # type: ignore[arg-type]
            if item.due_on is not None and item.due_on < self.today
            else (f"due {item.due_on:%a %-d %b}" if item.due_on else "no due date"),
            mentions=[item.assignee_id] if item.assignee_id else self.contributors,
            nudges_before=item.nudge_count,
            phase=phase.number,
        )

    def signoff_entry(self, request: SignoffRequest, gate: Gate, since: datetime) -> Entry:
        waited = self.clock.business_days_since(since, self.now)
        phase = self.phases.get(gate.phase_id)
        return Entry(
            kind="signoff",
            id=request.id,  # type: ignore[arg-type]
            ref=gate.key,
            title=gate.title,
            detail=f"sign-off requested {request.requested_at.astimezone(self.clock.zone):%a %-d %b}, "
            f"waiting {waited} business day{'s' if waited != 1 else ''}",
            mentions=[a.user_id for a in approvers_for(self.session, self.engagement, gate.key)],
            nudges_before=request.nudge_count,
            phase=phase.number if phase else 0,
            request_ts=request.ts,
        )


def entries(session: Session, engagement: Engagement, now: datetime) -> list[Entry]:
    """What is due for a nudge now, oldest first."""
    ctx = _Context(session, engagement, now)
    cadence = max(engagement.cadence_days, 1)
    out: list[Entry] = []
    items = session.exec(
        select(Item)
        .where(Item.engagement_id == engagement.id, Item.status == "open", Item.owner_side == "customer")
        .order_by(col(Item.due_on), col(Item.id))
    ).all()
    for item in items:
        if _item_due(item, ctx.today, ctx.clock, cadence, now):
            out.append(ctx.item_entry(item))
    requests = session.exec(
        select(SignoffRequest, Gate)
        .join(Gate, col(Gate.id) == col(SignoffRequest.gate_id))
        .where(Gate.engagement_id == engagement.id, SignoffRequest.status == "open")
    ).all()
    for request, gate in requests:
        if _waits_on_something_else(gate, engagement):
            continue
        since = request.requested_at
        if gate.requires_dry_run:
            since = max(since, dry_run_passed_at(session, engagement) or since)
        if ctx.clock.business_days_since(since, now) <= SIGNOFF_PATIENCE_DAYS:
            continue
        if (
            request.last_nudged_at is not None
            and ctx.clock.business_days_since(request.last_nudged_at, now) < cadence
        ):
            continue
        out.append(ctx.signoff_entry(request, gate, since))
    return out[:MAX_ENTRIES]


def entries_again(session: Session, engagement: Engagement, keys: list[Any], now: datetime) -> list[Entry]:
    """The listed entries (`[kind, id]`) that are still open and can be acted on: what the lead
    asked to nudge again, whatever the cadence says."""
    ctx = _Context(session, engagement, now)
    out: list[Entry] = []
    for kind, entry_id in keys:
        if kind == "item":
            item = session.get(Item, entry_id)
            open_ = item is not None and item.engagement_id == engagement.id and item.status == "open"
            if open_ and item is not None and not item.blocked_reason:
                out.append(ctx.item_entry(item))
        else:
            request = session.get(SignoffRequest, entry_id)
            gate = session.get(Gate, request.gate_id) if request is not None else None
            if (
                request is not None
                and gate is not None
                and gate.engagement_id == engagement.id
                and request.status == "open"
                and not _waits_on_something_else(gate, engagement)
            ):
                out.append(ctx.signoff_entry(request, gate, request.requested_at))
    return out[:MAX_ENTRIES]


def mark_nudged(session: Session, sent: list[Entry], now: datetime, *, again: bool = False) -> None:
    """Count a nudge for each entry. A nudge the lead asked for starts the ladder again (as a first
    nudge), so they hear back if it brings no progress either."""
    for e in sent:
        row = session.get(Item if e.kind == "item" else SignoffRequest, e.id)
        if row is None:
            continue
        row.last_nudged_at = now
        row.nudge_count = 1 if again else (row.nudge_count or 0) + 1
        session.add(row)


def next_nudge_preview(
    session: Session, engagement: Engagement, now: datetime
) -> tuple[datetime, list[Entry]]:
    """When the next nudge can go out (the customer's next working window) and what it would list."""
    at = clock_of(engagement).next_window(now)
    return at, entries(session, engagement, at)


# -- threads ---------------------------------------------------------------------------------
@dataclass
class ThreadPlan:
    """One thread's part of a nudge: edit its live nudge (`edit`), or post a new reply that
    takes over from the live one (`replaces`)."""

    topic: str
    parent: str | None
    entries: list[dict[str, Any]]
    due: list[Entry]
    people: list[str]
    edit: NudgeMessage | None = None
    replaces: NudgeMessage | None = None

    def describe(self) -> str:
        return f"{'edit' if self.edit else 'post'} {self.topic}: " + ", ".join(e.ref for e in self.due)


def _still_open(session: Session, raw: dict[str, Any]) -> bool:
    if raw.get("kind") == "item":
        item = session.get(Item, raw.get("id"))
        return item is not None and item.status == "open"
    request = session.get(SignoffRequest, raw.get("id"))
    return request is not None and request.status == "open"


def thread_of(s: Services, engagement_id: int, entry: Entry) -> tuple[str, str | None]:
    """(topic, parent ts) of the thread an entry's nudge goes in."""
    if entry.kind == "signoff" and entry.request_ts:
        return f"signoff:{entry.id}", entry.request_ts
    found = checklist_thread(s, engagement_id, entry.phase or None)
    return (f"checklist:{found[0]}", found[1]) if found else (TOP, None)


def plan_threads(
    s: Services, session: Session, engagement: Engagement, due: list[Entry], *, force_new: bool = False
) -> list[ThreadPlan]:
    """Per thread: edit the live nudge when it is still the latest for its people (it lists every
    due entry with the same people), else post a new reply carrying what the live one still has
    open. `force_new`: always post (the lead asked to nudge again)."""
    groups: dict[str, tuple[str | None, list[Entry]]] = {}
    for entry in due:
        topic, parent = thread_of(s, engagement.id, entry)  # type: ignore[arg-type]
        groups.setdefault(topic, (parent, []))[1].append(entry)
    live: dict[str, NudgeMessage] = {}
    for row in live_nudges(session, engagement.id):  # type: ignore[arg-type]
        live[row.topic] = row  # oldest first: the newest wins
    plans: list[ThreadPlan] = []
    for topic, (parent, group) in groups.items():
        row = live.get(topic)
        old = load_entries(row) if row is not None else []
        listed = {(o.get("kind"), o.get("id")): o for o in old}
        fresh = {e.key: e.as_dict() for e in group}
        same = (
            row is not None
            and not force_new
            and row.thread_ts == parent
            and all(
                e.key in listed and sorted(listed[e.key].get("mentions") or []) == sorted(e.mentions)
                for e in group
            )
        )
        if same:
            assert row is not None
            kept = [fresh.get((o.get("kind"), o.get("id")), o) for o in old]  # type: ignore[call-overload]
            plans.append(
                ThreadPlan(topic, parent, kept, group, row.people.split(",") if row.people else [], edit=row)
            )
            continue
        carried = [o for o in old if (o.get("kind"), o.get("id")) not in fresh and _still_open(session, o)]
        listing = [*fresh.values(), *carried][:MAX_ENTRIES]
        people = sorted({u for e in listing for u in e.get("mentions") or []})
        plans.append(ThreadPlan(topic, parent, listing, group, people, replaces=row))
    return plans


def stuck(plans: list[ThreadPlan]) -> list[Entry]:
    """Entries that reach step 2 with this nudge: `ESCALATE_AFTER` nudges went without progress."""
    return [e for p in plans for e in p.due if e.nudges_before == ESCALATE_AFTER]


def dumps(entries_: list[dict[str, Any]]) -> str:
    return json.dumps(entries_, default=str)
