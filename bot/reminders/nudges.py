"""What a nudge says, whom it is for and where it goes: open items past their due date and
sign-offs pending too long, each at most once per cadence (business days), never while snoozed or
blocked, never for a gate that waits on something else (the final go-live approval before a
passed dry run).

Whom (`bot.people.recipients`): an item's assignee, or with none the people named for its side (the
customer's contributors, else approvers, else main contact; the implementation team's lead); a
sign-off's approvers. Someone named who is not in the channel is skipped for the next in line.

Every nudge notifies the people it is for, under Slack's rules (a thread reply notifies only whom
it mentions, an edit nobody): a customer entry is a new reply, in the thread of what it is about
(items under their phase's live checklist, a sign-off under its request), that mentions its
people, and takes over what the thread's live nudge still had open (which collapses to a line); a
vendor item is a direct message to its person. Edits only keep a nudge true (ticked, snoozed…);
they are never counted as reminders.

The notification budget (`bot.reminders.budget`) decides, person by person, what may notify today;
an entry it holds back stays due for the next working day. An entry nobody can be notified of
(nobody named, or nobody of them in the channel) is not posted into the void: the lead consultant
is told privately, once.

The escalation ladder, in private first: step 1, nudges that notify the people named; step 2,
after `ESCALATE_AFTER` notifying nudges without progress, the lead consultant gets a direct
message naming the stuck entries (they may nudge again now, snooze, or bring in the customer's
sponsor). The bot never mentions the sponsor in the channel on its own.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any

from sqlmodel import Session, col, select

from bot.engagement.dependencies import waiting_on
from bot.people.recipients import Named, for_gate, for_item, lead
from bot.people.roles import RoleRow, team
from bot.people.sides import VENDOR
from bot.reminders.budget import Budget
from bot.reminders.working_hours import CustomerClock, clock_of
from bot.services import Services
from bot.slack.nudges import direct_topic, live_nudges, load_entries
from bot.slack.publish import checklist_thread
from storage.models import (
    DryRunAttempt,
    Engagement,
    EngagementPhase,
    Gate,
    Item,
    NudgeMessage,
    SignoffDecision,
    SignoffRequest,
    saved_id,
)

SIGNOFF_PATIENCE_DAYS = 2
ESCALATE_AFTER = 2  # nudges without progress before the lead consultant is told, privately
MAX_ENTRIES = 20
TOP = "top"  # the topic of a nudge with no thread to go in (no checklist in the channel)


@dataclass
class Entry:
    kind: str  # item | signoff | changes (a gate to request again after changes were requested)
    id: int
    ref: str
    title: str
    detail: str
    # Whom this message mentions for it (the budget may leave out some of `people`); a nudge that
    # only carries an entry over from the one it replaces mentions nobody for it.
    mentions: list[str] = field(default_factory=list)
    nudges_before: int = 0
    phase: int = 0  # the item's phase number (a sign-off: its gate's phase)
    request_ts: str | None = None
    side: str = "customer"  # whose item: customer | vendor (a sign-off is the customer's)
    people: list[str] = field(default_factory=list)  # whom it is for
    role: str = ""  # as what: assignee, contributors, approvers, main contact, lead
    absent: list[str] = field(default_factory=list)  # named, but not in the channel
    heard_since: str | None = None  # ISO instant its snooze ended: they asked to hear again then
    waits_on: list[str] = field(default_factory=list)  # refs of its open prerequisites
    waits_on_ids: list[int] = field(default_factory=list)  # and their ids

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def key(self) -> tuple[str, int]:
        return self.kind, self.id

    @property
    def subject(self) -> str:
        """What the notification ledger calls it: `item:12`, `signoff:3`."""
        return f"{self.kind}:{self.id}"

    @property
    def private(self) -> bool:
        """Reminded by direct message: the implementation team's own work (their items, a gate to
        request again after changes were requested)."""
        return self.side == VENDOR


def _due_text(due: date, today: date, count: int) -> str:
    days = (today - due).days
    again = f" · reminder {count + 1}" if count else ""
    return f"due {due:%a %-d %b} · {days} day{'s' if days != 1 else ''} overdue{again}"


def _item_due(item: Item, today: date, clock: CustomerClock, cadence: int, now: datetime) -> bool:
    if item.status != "open" or item.due_on is None or item.due_on >= today:
        return False
    if item.blocked_reason:
        return False
    if item.snoozed_until is not None and item.snoozed_until > today:
        return False
    if item.last_nudged_at is None or _woke_since(item, clock):
        return True  # never reminded, or its snooze ended since: its person asked to hear again
    return clock.business_days_since(item.last_nudged_at, now) >= cadence


def _woke_since(item: Any, clock: CustomerClock) -> bool:
    """Its snooze ended after its last reminder: the cadence does not hold the next one back."""
    return (
        item.snoozed_until is not None
        and item.last_nudged_at is not None
        and clock.today(item.last_nudged_at) < item.snoozed_until
    )


def item_ready_on(item: Any, clock: CustomerClock, cadence: int) -> date | None:
    """The first local date on which `_item_due` holds for the item as it is now, or None when
    it never will without a change (done, undated, blocked). `_item_due` is
    monotonic in the day (overdue stays overdue, snoozes and the cadence run out), so the item
    is due on every day from this one until something changes it."""
    if item.status != "open" or item.due_on is None or item.blocked_reason:
        return None
    day: date = item.due_on + timedelta(days=1)
    if item.snoozed_until is not None:
        day = max(day, item.snoozed_until)
    if item.last_nudged_at is not None and not _woke_since(item, clock):
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
        select(  # type: ignore[call-overload]  # sqlmodel's select() is typed for up to 4 columns
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
            col(Item.due_on).is_not(None),
        )
    ):
        e = by_id[item.engagement_id]
        offer(saved_id(e), item_ready_on(item, clocks[saved_id(e)], max(e.cadence_days, 1)))
    passed: dict[int, datetime | None] = {}
    for request in session.execute(
        select(  # type: ignore[call-overload]  # sqlmodel's select() is typed for up to 4 columns
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
                passed[saved_id(e)] = dry_run_passed_at(session, e)
            since = passed[saved_id(e)]
        offer(saved_id(e), signoff_ready_on(request, clocks[saved_id(e)], max(e.cadence_days, 1), since))
    for engagement_id, status, last, decided in session.execute(
        select(
            Gate.engagement_id,
            SignoffRequest.status,
            SignoffRequest.last_nudged_at,
            SignoffDecision.decided_at,
        )
        .join(Gate, col(Gate.id) == col(SignoffRequest.gate_id))
        .join(SignoffDecision, col(SignoffDecision.request_id) == col(SignoffRequest.id))
        .where(col(Gate.engagement_id).in_(list(by_id)), col(SignoffRequest.status) == "changes_requested")
    ):
        e = by_id[engagement_id]
        row = SimpleNamespace(status=status, last_nudged_at=last)
        offer(saved_id(e), changes_ready_on(row, decided, clocks[saved_id(e)], max(e.cadence_days, 1)))
    return out


class _Context:
    """What building entries of one engagement reads once: its clock, phases, roles, and who is in
    its channel (`present`: None when not known)."""

    def __init__(
        self, session: Session, engagement: Engagement, now: datetime, present: Collection[str] | None = None
    ) -> None:
        self.session, self.engagement, self.now, self.present = session, engagement, now, present
        self.clock = clock_of(engagement)
        self.today = self.clock.today(now)
        self.phases = {
            p.id: p
            for p in session.exec(
                select(EngagementPhase).where(EngagementPhase.engagement_id == engagement.id)
            )
        }
        self._rows: list[RoleRow] | None = None
        self._waiting: dict[int, list[Item]] | None = None

    @property
    def rows(self) -> list[RoleRow]:
        if self._rows is None:
            self._rows = team(self.session, self.engagement)
        return self._rows

    @property
    def waiting(self) -> dict[int, list[Item]]:
        """item id → its open prerequisites."""
        if self._waiting is None:
            self._waiting = waiting_on(self.session, saved_id(self.engagement))
        return self._waiting

    def item_entry(self, item: Item) -> Entry:
        phase = self.phases[item.phase_id]
        named = for_item(self.rows, item.owner_side, item.assignee_id, self.present)
        side = item.owner_side
        blockers = self.waiting.get(saved_id(item), [])
        waits = ""
        if blockers:
            # It waits for others' work: its reminder goes to the prerequisites' owners — the
            # customer's in the channel; when it waits only on the team's, their owners, privately
            # (never a mention of the team in the customer's thread).
            refs = [
                f"{self.phases[b.phase_id].number}.{b.number}" if b.phase_id in self.phases else "?"
                for b in blockers
            ]
            side = VENDOR if all(b.owner_side == VENDOR for b in blockers) else "customer"
            people: list[str] = []
            absent: list[str] = []
            for b in blockers:
                if b.owner_side != side:
                    continue
                theirs = for_item(self.rows, b.owner_side, b.assignee_id, self.present)
                people += theirs.people
                absent += theirs.absent
            named = Named(list(dict.fromkeys(people)), "prerequisite", list(dict.fromkeys(absent)))
            waits = " · waiting on " + ", ".join(refs)
        else:
            refs = []
        heard = None
        if item.snoozed_until is not None and item.snoozed_until <= self.today:
            heard = self.clock.at_local(item.snoozed_until, time(0, 0)).isoformat()
        return Entry(
            kind="item",
            id=saved_id(item),
            ref=f"{phase.number}.{item.number}",
            title=item.title,
            detail=(
                _due_text(item.due_on, self.today, item.nudge_count)
                if item.due_on is not None and item.due_on < self.today
                else (f"due {item.due_on:%a %-d %b}" if item.due_on else "no due date")
            )
            + waits,
            nudges_before=item.nudge_count,
            phase=phase.number,
            side=side,
            people=named.people,
            role=named.role,
            absent=named.absent,
            heard_since=heard,
            waits_on=refs,
            waits_on_ids=[saved_id(b) for b in blockers],
        )

    def _gate_entry(
        self, kind: str, request: SignoffRequest, gate: Gate, detail: str, named: Named, **extra: Any
    ) -> Entry:
        """An entry about a gate's request (`kind` signoff or changes), for the people `named`."""
        phase = self.phases.get(gate.phase_id)
        return Entry(
            kind=kind,
            id=saved_id(request),
            ref=gate.key,
            title=gate.title,
            detail=detail,
            nudges_before=request.nudge_count,
            phase=phase.number if phase else 0,
            people=named.people,
            role=named.role,
            absent=named.absent,
            **extra,
        )

    def _day(self, at: datetime) -> str:
        return f"{at.astimezone(self.clock.zone):%a %-d %b}"

    def _waited(self, since: datetime) -> str:
        waited = self.clock.business_days_since(since, self.now)
        return f"{waited} business day{'s' if waited != 1 else ''}"

    def changes_entry(self, request: SignoffRequest, gate: Gate, decided: datetime) -> Entry:
        """A gate with changes requested: the implementation team (who requested it, else the
        lead) is reminded, privately, to request it again."""
        requester = next(
            (r.user_id for r in self.rows if r.user_id == request.requested_by and r.side == VENDOR), None
        )
        who = requester or lead(self.rows)
        named = Named([who] if who else [], "requester" if requester else "lead")
        detail = (
            f"changes requested {self._day(decided)} ({self._waited(decided)} ago); "
            "request it again with what changed"
        )
        return self._gate_entry("changes", request, gate, detail, named, side=VENDOR)

    def signoff_entry(self, request: SignoffRequest, gate: Gate, since: datetime) -> Entry:
        named = for_gate(self.rows, gate.key, self.present)
        detail = f"sign-off requested {self._day(request.requested_at)}, waiting {self._waited(since)}"
        return self._gate_entry("signoff", request, gate, detail, named, request_ts=request.ts)


def entries(
    session: Session, engagement: Engagement, now: datetime, present: Collection[str] | None = None
) -> list[Entry]:
    """What is due for a nudge now, oldest first: both sides' items, and sign-offs."""
    ctx = _Context(session, engagement, now, present)
    cadence = max(engagement.cadence_days, 1)
    out: list[Entry] = []
    items = session.exec(
        select(Item)
        .where(Item.engagement_id == engagement.id, Item.status == "open")
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
    # A gate whose customer asked for changes waits on the implementation team: they are reminded
    # privately to request it again (it stays in sight until they do).
    for request, gate, decided in session.exec(
        select(SignoffRequest, Gate, SignoffDecision.decided_at)
        .join(Gate, col(Gate.id) == col(SignoffRequest.gate_id))
        .join(SignoffDecision, col(SignoffDecision.request_id) == col(SignoffRequest.id))
        .where(Gate.engagement_id == engagement.id, SignoffRequest.status == "changes_requested")
    ).all():
        ready = changes_ready_on(request, decided, ctx.clock, cadence)
        if ready is None or ready > ctx.today:
            continue
        out.append(ctx.changes_entry(request, gate, decided))
    return out[:MAX_ENTRIES]


def changes_ready_on(request: Any, decided: datetime, clock: CustomerClock, cadence: int) -> date | None:
    """The first local date the implementation team is reminded to request a gate again after
    changes were requested: past the patience, then each cadence."""
    if request.status != "changes_requested":
        return None
    day = clock.calendar.add(clock.today(decided), SIGNOFF_PATIENCE_DAYS + 1)
    if request.last_nudged_at is not None:
        day = max(day, clock.calendar.add(clock.today(request.last_nudged_at), cadence))
    return day


def entries_again(
    session: Session,
    engagement: Engagement,
    keys: list[Any],
    now: datetime,
    present: Collection[str] | None = None,
) -> list[Entry]:
    """The listed entries (`[kind, id]`) that are still open and can be acted on: what the lead
    asked to nudge again, whatever the cadence says."""
    ctx = _Context(session, engagement, now, present)
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


def due_entries(
    session: Session,
    engagement: Engagement,
    now: datetime,
    again: list[Any] | None,
    present: Collection[str] | None = None,
) -> list[Entry]:
    """What a nudge lists now: the entries the lead asked to nudge again (`again`), else what is due."""
    if again is not None:
        return entries_again(session, engagement, again, now, present)
    return entries(session, engagement, now, present)


def mark_nudged(session: Session, sent: list[Entry], now: datetime, *, again: bool = False) -> None:
    """Count a nudge for each entry. A nudge the lead asked for starts the ladder again (as a first
    nudge), so they hear back if it brings no progress either."""
    for e in sent:
        row = session.get(Item, e.id) if e.kind == "item" else session.get(SignoffRequest, e.id)
        if row is None:
            continue
        row.last_nudged_at = now
        row.nudge_count = 1 if again else (row.nudge_count or 0) + 1
        session.add(row)


def next_nudge_preview(
    session: Session, engagement: Engagement, now: datetime, present: Collection[str] | None = None
) -> tuple[datetime, list[Entry]]:
    """When the next nudge can go out (the customer's next working window) and what it would list."""
    at = clock_of(engagement).next_window(now)
    return at, entries(session, engagement, at, present)


# -- threads ---------------------------------------------------------------------------------
@dataclass
class ThreadPlan:
    """One thread's part of a nudge: a new reply mentioning the people of the entries due
    (`due`), listing them and what the thread's live nudge (`replaces`) still had open."""

    topic: str
    parent: str | None
    entries: list[dict[str, Any]]
    due: list[Entry]
    people: list[str]
    replaces: NudgeMessage | None = None
    user: str | None = None  # a direct message to this person (the implementation team's items)
    following: list[str] = field(default_factory=list)  # notified as the thread's followers

    @property
    def direct(self) -> bool:
        return self.user is not None

    def describe(self) -> str:
        where = f"dm {self.user}" if self.user else self.topic
        return f"post {where}: " + ", ".join(e.ref for e in self.due)


@dataclass
class NudgePlan:
    """What one nudge sends: thread replies and direct messages (`threads`), the entries nobody
    can be notified of (`unnamed`: the lead is told), and those the budget holds back (`held`)."""

    threads: list[ThreadPlan] = field(default_factory=list)
    unnamed: list[Entry] = field(default_factory=list)
    held: list[Entry] = field(default_factory=list)

    def notified(self) -> list[Entry]:
        """Each entry that notifies someone with this nudge, once."""
        seen: dict[tuple[str, int], Entry] = {}
        for plan in self.threads:
            for e in plan.due:
                seen.setdefault(e.key, e)
        return list(seen.values())


def _still_open(session: Session, raw: dict[str, Any], today: date) -> bool:
    """Still waiting on someone now: carried over into the nudge that replaces its message (a
    blocked or snoozed item is not: it comes back as a fresh entry when it is due again)."""
    if raw.get("kind") == "item":
        item = session.get(Item, raw.get("id"))
        return (
            item is not None
            and item.status == "open"
            and not item.blocked_reason
            and not (item.snoozed_until is not None and item.snoozed_until > today)
        )
    request = session.get(SignoffRequest, raw.get("id"))
    wanted = "changes_requested" if raw.get("kind") == "changes" else "open"
    return request is not None and request.status == wanted


def thread_of(services: Services, engagement_id: int, entry: Entry) -> tuple[str, str | None]:
    """(topic, parent ts) of the thread an entry's nudge goes in."""
    if entry.kind == "signoff" and entry.request_ts:
        return f"signoff:{entry.id}", entry.request_ts
    found = checklist_thread(services, engagement_id, entry.phase or None)
    return (f"checklist:{found[0]}", found[1]) if found else (TOP, None)


def _heard(entry: Entry) -> datetime | None:
    return datetime.fromisoformat(entry.heard_since) if entry.heard_since else None


def _admit(
    budget: Budget, group: list[Entry], *, again: bool, following: set[str] | None = None
) -> list[Entry]:
    """Who of each entry's people this message may notify: not reminded of it lately (unless the
    lead asked again), and with room left today. Sets `mentions`; returns the entries notifying
    someone. Room is per message: one message is one notification, however many entries it lists.
    `following`: who follows the thread it replies in — Slack notifies them too, mentioned or not,
    so when one of them has no room left the whole message waits."""
    wanted: dict[str, list[Entry]] = {}
    for e in group:
        e.mentions = []
        for user in e.people:
            if again or budget.spaced(user, e.subject, heard_since=_heard(e)):
                wanted.setdefault(user, []).append(e)
    admitted = [user for user in wanted if budget.room(user)]
    passive = (following or set()) - set(admitted)
    if not admitted or any(not budget.room(user) for user in passive):
        return []
    for user in admitted:
        budget.spend(user, [e.subject for e in wanted[user]])
        for e in wanted[user]:
            e.mentions.append(user)
    for user in passive:
        budget.spend(user)
    return [e for e in group if e.mentions]


def plan_nudge(
    services: Services,
    session: Session,
    engagement: Engagement,
    due: list[Entry],
    budget: Budget,
    *,
    again: bool = False,
) -> NudgePlan:
    """Per thread (sign-offs first, then each phase's checklist) a new reply for the entries that
    may notify someone now, carrying what the thread's live nudge still has open; per person of the
    implementation team a direct message for their items. `again`: the lead asked to nudge again
    (the spacing rule steps aside; the daily limit does not)."""
    plan = NudgePlan()
    live: dict[str, NudgeMessage] = {}
    for row in live_nudges(session, saved_id(engagement)):
        live[row.topic] = row  # oldest first: the newest wins
    groups: dict[str, tuple[str | None, list[Entry]]] = {}
    direct: dict[str, list[Entry]] = {}
    for entry in sorted(due, key=lambda e: (e.kind != "signoff", e.phase)):
        if not entry.people:
            plan.unnamed.append(entry)
        elif entry.private:
            for user in entry.people:
                direct.setdefault(user, []).append(Entry(**{**entry.as_dict(), "people": [user]}))
        else:
            topic, parent = thread_of(services, saved_id(engagement), entry)
            groups.setdefault(topic, (parent, []))[1].append(entry)
    for topic, (parent, group) in groups.items():
        following = budget.followers(engagement.channel_id, parent)
        admitted = _admit(budget, group, again=again, following=following)
        plan.held += [e for e in group if not e.mentions]
        if admitted:
            thread = _thread(session, topic, parent, admitted, live.get(topic), budget.today)
            thread.following = sorted(following - set(thread.people))
            plan.threads.append(thread)
    for user, mine in direct.items():
        admitted = _admit(budget, mine, again=again)
        plan.held += [e for e in mine if not e.mentions]
        if admitted:
            topic = direct_topic(user)
            plan.threads.append(
                _thread(session, topic, None, admitted, live.get(topic), budget.today, user=user)
            )
    return plan


def _thread(
    session: Session,
    topic: str,
    parent: str | None,
    admitted: list[Entry],
    row: NudgeMessage | None,
    today: date,
    user: str | None = None,
) -> ThreadPlan:
    fresh = {e.key: e.as_dict() for e in admitted}
    old = load_entries(row) if row is not None else []
    carried = [
        {**o, "mentions": []}
        for o in old
        if (o.get("kind"), o.get("id")) not in fresh and _still_open(session, o, today)
    ]
    listing = [*fresh.values(), *carried][:MAX_ENTRIES]
    people = sorted({u for e in admitted for u in e.mentions})
    return ThreadPlan(topic, parent, listing, admitted, people, replaces=row, user=user)


def stuck(plan: NudgePlan) -> list[Entry]:
    """Entries that reach step 2 with this nudge: `ESCALATE_AFTER` notifying nudges went without
    progress (edits and nudges the budget held back do not count)."""
    return [e for e in plan.notified() if e.nudges_before == ESCALATE_AFTER]


def dumps(entries_: list[dict[str, Any]]) -> str:
    return json.dumps(entries_, default=str)
