"""The report for the head of implementation (`golive report`): every engagement and what they
add up to.

Per engagement: size, status and phase, kickoff, the planned go-live against the forecast (or the
actual one once live), business days late, the business days each phase really took (the current
one so far), and how long each sign-off waited (from its first request to its approval, or until
today while it waits). Across engagements: the on-time go-live rate of those that went live, the
share of active ones forecast on time, the median business days per phase by size and the
median sign-off wait per gate.

Everything is read in a few queries (one per table, not per engagement) and computed with the
same forecast and health as `/golive status`. Rendering (CSV, HTML) is in
`bot.exports.report_render`.
"""

from __future__ import annotations

import json
import math
import statistics
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from bot.engagement.forecast import DONE, business_days_between, local_date
from bot.engagement.health import Waiting
from bot.engagement.lifecycle import calendar_for, local_today
from bot.engagement.outlook import outlook_of
from bot.engagement.playbook import Playbook
from storage.db import is_in_memory
from storage.models import (
    AuditEvent,
    Engagement,
    EngagementPhase,
    Gate,
    Item,
    ItemDependency,
    Member,
    MemberRole,
    Rating,
    SignoffDecision,
    SignoffRequest,
    id_col,
    table_of,
)

SIZE_ORDER = ("small", "medium", "enterprise")
T = TypeVar("T", bound=SQLModel)


@dataclass(frozen=True)
class SignoffWait:
    days: int  # business days from the first request to the approval, or to today while waiting
    pending: bool


@dataclass(frozen=True)
class EngagementRow:
    id: int
    customer: str
    size: str
    status: str  # active | live | cancelled
    phase: str  # the current phase's name, "Live" or "Cancelled"
    kickoff: date
    planned_golive: date
    golive: date | None  # forecast, or actual once live; None when cancelled
    days_late: int | None  # business days the (forecast) go-live is after the planned one; negative: ahead
    health: str  # On track | At risk | Late ("" when not active)
    reason: str
    phase_days: dict[str, int]  # phase key -> business days it took (finished phases)
    current_phase: str | None  # key of the phase under way
    current_days: int | None  # business days it has run so far
    waits: dict[str, SignoffWait]  # gate key -> wait
    # Time to value (issue 28). The playbook's name ("default": the deployment's) and the lead.
    playbook: str = "default"
    consultant: str = ""
    first_value_on: date | None = None  # the day the playbook's first_value milestone was reached
    days_to_first_value: int | None = None  # business days from the kickoff to it, both counted
    days_to_golive: int | None = None  # business days from the kickoff to the go-live, once live
    planned_phase_days: dict[str, int] = field(default_factory=dict)  # phase key -> planned days
    overdue_days: dict[str, int] = field(default_factory=dict)  # owner side -> overdue item-days
    ratings: tuple[int, ...] = ()  # the customer's milestone ratings given (1-5), oldest first

    @property
    def rating_median(self) -> float | None:
        return _median(list(self.ratings))

    @property
    def on_time(self) -> bool | None:
        """Went live (or, while active, is forecast to go live) on or before the planned date."""
        return None if self.days_late is None else self.days_late <= 0


@dataclass(frozen=True)
class Rate:
    hits: int
    of: int

    @property
    def percent(self) -> int | None:
        return round(100 * self.hits / self.of) if self.of else None

    def __str__(self) -> str:
        return f"{self.percent}% ({self.hits} of {self.of})" if self.of else "— (none yet)"


@dataclass(frozen=True)
class Report:
    at: datetime
    rows: list[EngagementRow]
    phases: list[tuple[str, str]]  # (key, name), in the playbook's order
    gates: list[tuple[str, str]]  # (key, title)
    sizes: list[str]
    went_live_on_time: Rate
    forecast_on_time: Rate
    median_phase_days: dict[str, dict[str, float | None]] = field(
        default_factory=dict
    )  # size -> key -> median
    phase_samples: dict[str, dict[str, int]] = field(default_factory=dict)  # size -> key -> how many
    median_wait: dict[str, float | None] = field(default_factory=dict)  # gate key -> median days
    wait_samples: dict[str, int] = field(default_factory=dict)
    sides: list[str] = field(default_factory=list)  # the owner sides items have, vendor first
    value_stats: list[ValueStats] = field(default_factory=list)  # by playbook, size, consultant, all


@dataclass(frozen=True)
class Spread:
    """Medians, not means: one slow engagement does not move them. p90 by nearest rank (the
    value 90% of the engagements are at or under: the ceil(0.9 n)-th smallest)."""

    median: float | None
    p90: float | None
    n: int

    @staticmethod
    def of(values: list[int]) -> Spread:
        if not values:
            return Spread(None, None, 0)
        ordered = sorted(values)
        return Spread(_median(ordered), float(ordered[math.ceil(0.9 * len(ordered)) - 1]), len(ordered))


@dataclass(frozen=True)
class ValueStats:
    """Time to value across a group of engagements (not cancelled)."""

    by: str  # playbook | size | consultant | all
    group: str
    engagements: int
    first_value: Spread  # of those that reached it
    golive: Spread  # of those live
    overdue: dict[str, Spread]  # owner side -> per engagement (active or live) overdue item-days
    on_time: Rate  # went live on or before the planned date, of those live
    rating: Spread = Spread(None, None, 0)  # of every rating given in the group (n: how many)
    # Planned against actual per phase, of the phases that finished: phase key -> days each took,
    # and the days the plan gave those same phases.
    phase_days: dict[str, Spread] = field(default_factory=dict)
    planned_days: dict[str, Spread] = field(default_factory=dict)
    low_ratings: int = 0  # ratings of 1 or 2


def _median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _waits(
    engagement: Engagement,
    gates: list[Gate],
    requests: dict[int, list[SignoffRequest]],
    approvals: dict[int, datetime],
    today: date,
) -> dict[str, SignoffWait]:
    calendar = calendar_for(engagement)
    tz = engagement.timezone
    out: dict[str, SignoffWait] = {}
    for gate in gates:
        asked = requests.get(gate.id or 0) or []
        if not asked:
            continue
        first = local_date(min(r.requested_at for r in asked), tz)
        approved = approvals.get(gate.id or 0)
        if approved is not None:
            out[gate.key] = SignoffWait(
                max(0, business_days_between(calendar, first, local_date(approved, tz))), False
            )
        elif any(r.status == "open" for r in asked):
            out[gate.key] = SignoffWait(max(0, business_days_between(calendar, first, today)), True)
    return out


def _first_value_on(
    engagement: Engagement,
    book: Playbook,
    gates: list[Gate],
    first_approvals: dict[int, datetime],
    ticked: dict[tuple[int, str], datetime],
) -> date | None:
    """The local day the playbook's first_value gate was first approved or its item ticked."""
    key = book.first_value
    if key is None:
        return None
    gate = next((g for g in gates if g.key == key), None)
    at = first_approvals.get(gate.id or 0) if gate is not None else ticked.get((engagement.id or 0, key))
    return None if at is None else local_date(at, engagement.timezone)


def _overdue(
    engagement: Engagement,
    phases: list[EngagementPhase],
    items: list[Item],
    snoozes: dict[tuple[int, str], list[tuple[datetime, str]]],
    today: date,
    golive_day: date | None,
) -> dict[str, int]:
    """Business days each side's items were overdue, summed over items: from the day after the
    due date to the day it was done (or today while open, or the go-live once live), less the
    days a snooze held it (from the day of the snooze to the day before its `until`). Cancelled:
    none. Items marked n/a do not count."""
    if engagement.status == "cancelled":
        return {}
    calendar = calendar_for(engagement)
    tz = engagement.timezone
    numbers = {p.id: p.number for p in phases}
    out = dict.fromkeys({item.owner_side for item in items}, 0)
    for item in items:
        if item.due_on is None or item.status == "na":
            continue
        if item.status == "done" and item.done_at is not None:
            end = local_date(item.done_at, tz)
        elif engagement.status == "live" and golive_day is not None:
            end = golive_day
        else:
            end = today
        if end <= item.due_on:
            continue
        start = item.due_on + timedelta(days=1)
        days = calendar.count(start, end)
        held = snoozes.get((engagement.id or 0, f"{numbers.get(item.phase_id, 0)}.{item.number}"))
        if held:
            covered: set[date] = set()
            for at, until in held:
                first = max(start, local_date(at, tz))
                last = min(end, date.fromisoformat(until) - timedelta(days=1))
                covered.update(first + timedelta(days=n) for n in range((last - first).days + 1))
            days -= sum(1 for d in covered if calendar.is_business_day(d))
        out[item.owner_side] += max(0, days)
    return out


def _rows(
    session: Session, model: type[T], *where: Any, order: tuple[Any, ...] = (), only: str = ""
) -> list[T]:
    """The model's rows as plain result rows (each column an attribute, read-only), not ORM
    instances: at 10,000 engagements the report reads over half a million rows, and building an ORM
    instance for each took two thirds of its time (cProfile: sqlalchemy.orm.loading._instance and
    sqlmodel's __new__). `only`: the columns read here and by the outlook, space-separated (all
    when empty); the others are not fetched."""
    wanted = set(only.split())
    columns = [c for c in table_of(model).columns if not wanted or c.name in wanted]
    return cast(list[T], session.execute(sa_select(*columns).where(*where).order_by(*order)).all())


# What the report and `outlook_of` (forecast, health, dependencies) read of an item and a gate. At
# 10,000 engagements there are 350,000 items: fetching every column of them took 3.3 s, these 1.5 s
# (the titles, descriptions and times of an item are a report's largest unread part).
ITEM_COLUMNS = "id engagement_id phase_id number status due_on owner_side done_at"
GATE_COLUMNS = "id engagement_id phase_id key title status"


@dataclass
class Part:
    """The report's rows of some engagements, with the phases and gates they have."""

    rows: list[EngagementRow]
    phases: dict[str, str]  # phase key -> name
    titles: dict[str, str]  # gate key -> title


def read_part(
    session: Session,
    playbook: Playbook,
    now: datetime,
    span: tuple[int, int] | None = None,
    playbooks: Mapping[str, Playbook] | None = None,
) -> Part:
    """The rows of the engagements whose id is in `span` (first, last; every engagement when None);
    each engagement's outlook with its own playbook (a key of `playbooks`), else `playbook`."""

    def within(column: Any) -> tuple[Any, ...]:
        return () if span is None else (col(column).between(*span),)

    def of_gates(column: Any) -> tuple[Any, ...]:
        return () if span is None else (col(column).in_(select(Gate.id).where(*within(Gate.engagement_id))),)

    engagements = _rows(session, Engagement, *within(Engagement.id), order=(col(Engagement.id),))
    phases: dict[int, list[EngagementPhase]] = defaultdict(list)
    for p in _rows(
        session, EngagementPhase, *within(EngagementPhase.engagement_id), order=(col(EngagementPhase.number),)
    ):
        phases[p.engagement_id].append(p)
    items: dict[int, list[Item]] = defaultdict(list)
    for i in _rows(session, Item, *within(Item.engagement_id), only=ITEM_COLUMNS):
        items[i.engagement_id].append(i)
    gates: dict[int, list[Gate]] = defaultdict(list)
    for g in _rows(session, Gate, *within(Gate.engagement_id), order=(col(Gate.id),), only=GATE_COLUMNS):
        gates[g.engagement_id].append(g)
    requests: dict[int, list[SignoffRequest]] = defaultdict(list)
    for r in _rows(session, SignoffRequest, *of_gates(SignoffRequest.gate_id)):
        requests[r.gate_id].append(r)
    approvals: dict[int, datetime] = {}
    first_approvals: dict[int, datetime] = {}  # a gate approved, reopened, approved again: the first
    for gate_id, decided_at in session.exec(
        select(SignoffDecision.gate_id, SignoffDecision.decided_at).where(
            SignoffDecision.decision == "approved", *of_gates(SignoffDecision.gate_id)
        )
    ).all():
        approvals[gate_id] = decided_at
        first_approvals[gate_id] = min(decided_at, first_approvals.get(gate_id, decided_at))
    titles = {g.key: g.title for gs in gates.values() for g in gs}

    deps: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for engagement_id, item_id, requires_id in session.exec(
        select(ItemDependency.engagement_id, ItemDependency.item_id, ItemDependency.requires_id).where(
            *within(ItemDependency.engagement_id)
        )
    ).all():
        deps[engagement_id][item_id].append(requires_id)

    # Time to value: each engagement's lead, the first-value items ticked, the snoozes.
    leads: dict[int, str] = {}
    for engagement_id, user_id, name in session.exec(
        select(Member.engagement_id, Member.user_id, Member.display_name)
        .join(MemberRole, col(MemberRole.member_id) == col(Member.id))
        .where(MemberRole.role == "lead", *within(Member.engagement_id))
        .order_by(col(Member.id))
    ).all():
        leads.setdefault(engagement_id, name or user_id)
    books = {"": playbook, **(playbooks or {})}
    value_items = {
        pb.first_value for pb in books.values() if pb.first_value and pb.gate(pb.first_value) is None
    }
    ticked: dict[tuple[int, str], datetime] = {}
    if value_items:
        for engagement_id, key, done_at in session.exec(
            select(Item.engagement_id, Item.key, Item.done_at).where(
                col(Item.key).in_(sorted(value_items)),
                Item.status == "done",
                col(Item.done_at).is_not(None),
                *within(Item.engagement_id),
            )
        ).all():
            if done_at is not None:
                ticked[(engagement_id, key)] = done_at
    scores: dict[int, list[int]] = defaultdict(list)
    for engagement_id, score in session.exec(
        select(Rating.engagement_id, Rating.score)
        .where(col(Rating.score).is_not(None), *within(Rating.engagement_id))
        .order_by(col(Rating.rated_at), col(Rating.id))
    ).all():
        if score is not None:
            scores[engagement_id].append(score)
    snoozes: dict[tuple[int, str], list[tuple[datetime, str]]] = defaultdict(list)
    for engagement_id, subject, at, detail in session.exec(
        select(AuditEvent.engagement_id, AuditEvent.subject, AuditEvent.at, AuditEvent.detail).where(
            AuditEvent.kind == "item.snoozed", *within(AuditEvent.engagement_id)
        )
    ).all():
        until = json.loads(detail or "{}").get("until")
        if until:
            snoozes[(engagement_id, subject)].append((at, until))

    rows: list[EngagementRow] = []
    for e in engagements:
        today = local_today(now, e.timezone)
        its, ps, gs = items[e.id or 0], phases[e.id or 0], gates[e.id or 0]
        waiting = [
            Waiting(g.title, r.requested_at)
            for g in gs
            for r in requests.get(g.id or 0, [])
            if r.status == "open"
        ]
        outlook = outlook_of(
            e,
            ps,
            its,
            waiting,
            (playbooks or {}).get(e.playbook or "", playbook),
            now,
            deps=deps[e.id or 0],
            gate_phases={g.phase_id for g in gs if g.status != "approved"},
        )
        fc = outlook.forecast
        calendar = calendar_for(e)
        phase_days: dict[str, int] = {}
        current_key, current_days = None, None
        for pf in fc.phases:
            if pf.state == DONE and pf.started_on and pf.finished_on:
                phase_days[pf.key] = max(1, calendar.count(pf.started_on, pf.finished_on))
            elif pf.started_on is not None and e.status == "active":
                current_key, current_days = pf.key, calendar.count(pf.started_on, today)
        current = next((p.name for p in ps if p.number == e.phase_index), "")
        book = (playbooks or {}).get(e.playbook or "", playbook)
        value_on = _first_value_on(e, book, gs, first_approvals, ticked)
        golive_day = fc.golive if e.status == "live" else None
        rows.append(
            EngagementRow(
                id=e.id or 0,
                customer=e.customer_name,
                size=e.size,
                status=e.status,
                phase={"live": "Live", "cancelled": "Cancelled"}.get(e.status, current),
                kickoff=e.kickoff_on,
                planned_golive=fc.planned_golive,
                golive=None if e.status == "cancelled" else fc.golive,
                days_late=None if e.status == "cancelled" else fc.slip,
                health=outlook.health.label if e.status == "active" else "",
                reason=outlook.health.reason if e.status == "active" else "",
                phase_days=phase_days,
                current_phase=current_key,
                current_days=current_days,
                waits=_waits(e, gs, requests, approvals, today),
                playbook=e.playbook or "default",
                consultant=leads.get(e.id or 0, e.created_by),
                first_value_on=value_on,
                days_to_first_value=None if value_on is None else calendar.count(e.kickoff_on, value_on),
                days_to_golive=None if golive_day is None else calendar.count(e.kickoff_on, golive_day),
                planned_phase_days={
                    p.key: max(1, calendar.count(p.planned_start, p.planned_end)) for p in ps
                },
                overdue_days=_overdue(e, ps, its, snoozes, today, golive_day),
                ratings=tuple(scores.get(e.id or 0, ())),
            )
        )

    present = {p.key: p.name for ps in phases.values() for p in ps}
    return Part(rows, present, titles)


def build_report(
    session: Session,
    playbook: Playbook,
    now: datetime,
    *,
    database_url: str | None = None,
    jobs: int = 1,
    parallel_from: int | None = None,
    playbooks: Mapping[str, Playbook] | None = None,
) -> Report:
    """The report of every engagement in the database, as of `now`. With `jobs` over 1 and the
    database's URL, from `PARALLEL_FROM` engagements on (or `parallel_from`), the engagements are
    shared among that many processes by id, each with its own connection: the forecast of 10,000
    engagements is several seconds of Python, one core's worth, and a report is a batch with the
    cores to itself."""
    shareable = jobs > 1 and database_url is not None and not is_in_memory(database_url)
    ids = (
        list(session.exec(select(id_col(Engagement.id)).order_by(col(Engagement.id))).all())
        if shareable
        else []
    )
    if (
        not ids
        or database_url is None
        or len(ids) < (PARALLEL_FROM if parallel_from is None else parallel_from)
    ):
        return summarize([read_part(session, playbook, now, playbooks=playbooks)], playbook, now)
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_all_start_methods, get_context

    size = -(-len(ids) // (jobs * 2))  # two shares a process: one slow share does not hold the rest
    spans = [(ids[k], ids[min(k + size, len(ids)) - 1]) for k in range(0, len(ids), size)]
    # Forked where the system can and this process runs no other thread (the command line's
    # `golive report`): a worker starts at once with what this process has imported, where spawned
    # it would import the bot again first (measured: 2 s of CPU each). A worker opens connections
    # of its own and never touches the ones it inherits. Beside other threads, fork is unsafe.
    alone = threading.active_count() == 1
    method = "fork" if alone and "fork" in get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(jobs, mp_context=get_context(method)) as pool:
        parts = list(pool.map(_part_of, [(database_url, playbook, now, span, playbooks) for span in spans]))
    return summarize(parts, playbook, now)


PARALLEL_FROM = 2000  # engagements: below this, starting processes costs more than it saves


def _part_of(task: tuple[str, Playbook, datetime, tuple[int, int], Mapping[str, Playbook] | None]) -> Part:
    """A worker process's share: its own connection, its engagements' rows."""
    from storage.db import Database

    database_url, playbook, now, span, playbooks = task
    db = Database(database_url)
    try:
        with db.read() as session:
            return read_part(session, playbook, now, span, playbooks)
    finally:
        db.dispose()


def summarize(parts: list[Part], playbook: Playbook, now: datetime) -> Report:
    """The report of the parts' engagements (in the parts' order) and what they add up to."""
    rows = [row for part in parts for row in part.rows]
    present: dict[str, str] = {}
    titles: dict[str, str] = {}
    for part in parts:  # as one dict over every engagement: the first key's place, the last's value
        present |= part.phases
        titles |= part.titles
    # The phases and gates the engagements have, in the playbook's order (a pilot only when one had it).
    keys = [(p.key, present[p.key]) for p in playbook.phases if p.key in present]
    keys += [(k, n) for k, n in present.items() if k not in {key for key, _n in keys}]
    gate_keys = [(g.key, titles[g.key]) for g in playbook.gates if g.key in titles]
    gate_keys += [(k, t) for k, t in titles.items() if k not in {gk for gk, _t in gate_keys}]
    sizes = [s for s in SIZE_ORDER if any(r.size == s for r in rows)]
    sizes += sorted({r.size for r in rows} - set(sizes))

    medians: dict[str, dict[str, float | None]] = {}
    samples: dict[str, dict[str, int]] = {}
    for size in [*sizes, "all"]:
        chosen = [r for r in rows if size in ("all", r.size) and r.status != "cancelled"]
        medians[size] = {k: _median([r.phase_days[k] for r in chosen if k in r.phase_days]) for k, _n in keys}
        samples[size] = {k: sum(1 for r in chosen if k in r.phase_days) for k, _n in keys}
    waits = {
        k: [r.waits[k].days for r in rows if k in r.waits and not r.waits[k].pending] for k, _t in gate_keys
    }
    live = [r for r in rows if r.status == "live"]
    active = [r for r in rows if r.status == "active"]
    present_sides = {side for r in rows for side in r.overdue_days}
    sides = [s for s in ("vendor", "customer") if s in present_sides] + sorted(
        present_sides - {"vendor", "customer"}
    )
    return Report(
        at=now,
        rows=rows,
        phases=keys,
        gates=gate_keys,
        sizes=sizes,
        went_live_on_time=Rate(sum(1 for r in live if r.on_time), len(live)),
        forecast_on_time=Rate(sum(1 for r in active if r.on_time), len(active)),
        median_phase_days=medians,
        phase_samples=samples,
        median_wait={k: _median(v) for k, v in waits.items()},
        wait_samples={k: len(v) for k, v in waits.items()},
        sides=sides,
        value_stats=_value_stats(rows, sizes, sides),
    )


def _value_stats(rows: list[EngagementRow], sizes: list[str], sides: list[str]) -> list[ValueStats]:
    """Time to value by playbook, size and consultant (each group in a stable order), then all."""
    counted = [r for r in rows if r.status != "cancelled"]

    keys = list(dict.fromkeys(k for r in counted for k in r.planned_phase_days))

    def stats(by: str, group: str, chosen: list[EngagementRow]) -> ValueStats:
        live = [r for r in chosen if r.status == "live"]
        finished = {k: [r for r in chosen if k in r.phase_days and k in r.planned_phase_days] for k in keys}
        return ValueStats(
            by=by,
            group=group,
            engagements=len(chosen),
            first_value=Spread.of(
                [r.days_to_first_value for r in chosen if r.days_to_first_value is not None]
            ),
            golive=Spread.of([r.days_to_golive for r in live if r.days_to_golive is not None]),
            overdue={side: Spread.of([r.overdue_days.get(side, 0) for r in chosen]) for side in sides},
            on_time=Rate(sum(1 for r in live if r.on_time), len(live)),
            rating=Spread.of([score for r in chosen for score in r.ratings]),
            low_ratings=sum(1 for r in chosen for score in r.ratings if score <= 2),
            phase_days={k: Spread.of([r.phase_days[k] for r in rs]) for k, rs in finished.items() if rs},
            planned_days={
                k: Spread.of([r.planned_phase_days[k] for r in rs]) for k, rs in finished.items() if rs
            },
        )

    out: list[ValueStats] = []
    groups: dict[str, list[str]] = {
        "playbook": sorted({r.playbook for r in counted}),
        "size": [s for s in sizes if any(r.size == s for r in counted)],
        "consultant": sorted({r.consultant for r in counted}),
    }
    for by, names in groups.items():
        for name in names:
            out.append(stats(by, name, [r for r in counted if getattr(r, by) == name]))
    if counted:
        out.append(stats("all", "all", counted))
    return out
