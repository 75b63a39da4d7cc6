"""A consultant's portfolio: the engagements they see in App Home, riskiest first, a page at a time.

The order (the sort key):

1. health: late, then at risk, then on track;
2. business days the forecast go-live is after the target (or the plan's end), most first;
3. overdue items, most first; then the customer's name (case-folded), then the id.

At 10,000 engagements nothing is computed per engagement when Home is drawn: each engagement
keeps its key in its row (`Engagement.risk_*`, `keep_risk`), written where its outlook is
computed anyway — the sweep's plan of every engagement it plans (every change asks for one, and
a key is due again at the engagement's next local midnight, when items fall overdue:
`risk_until`) and the start. A page is then one query for its ids (ORDER BY the key, LIMIT /
OFFSET) and one COUNT, and only its cards are loaded (`load_cards`, ≤ a page of engagements).

A key is stale while its engagement has a change the sweep has not planned yet (a
`NextCheckRequest`) or its local midnight has passed (`risk_until`). When a few of the
engagements a person sees are stale (at most `STALE_MAX`: the last minute's changes), their keys
are computed now and merged into the order: a change moves its engagement at once, without
waiting for the sweep. When more are (a local midnight just passed for many, the sweep not there
yet; an upgrade), they sort by the key they have, until the sweep's next tick. An engagement
that never had a key (none before the upgrade that added it) sorts as unknown, after every
engagement with one, by name; the upgrade makes every active one due, so the first sweep after
it computes them all.

On screen each card shows its outlook as computed when drawn (what `/golive status` says); the
page's order is the key's. The two differ only while the key is stale beyond `STALE_MAX`.

Pure of Slack: the App Home (`bot.slack.home`) renders what this returns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, or_
from sqlmodel import Session, col, select

from bot.engagement.forecast import business_days_between, local_date
from bot.engagement.health import RANK, Waiting
from bot.engagement.lifecycle import calendar_for, local_today
from bot.engagement.outlook import Outlook, outlook_of
from bot.engagement.playbook import Playbook
from bot.people.sides import CUSTOMER, VENDOR, VENDOR_ROLES
from storage.models import (
    ACTIVE,
    ChannelMember,
    Engagement,
    EngagementPhase,
    Gate,
    Item,
    ItemDependency,
    Member,
    MemberRole,
    NextCheckRequest,
    SignoffRequest,
    id_col,
    saved_id,
)

MINE, ALL = "mine", "all"
VIEWS = (MINE, ALL)
# Stale keys computed when a page is drawn, at most: more than this sort by the key they have.
STALE_MAX = 24


@dataclass(frozen=True)
class WaitingSignoff:
    gate: str
    since: datetime
    business_days: int  # how long it has waited, in the customer's business days


@dataclass(frozen=True)
class Card:
    """One engagement of the portfolio, with what its Home card shows."""

    engagement: Engagement
    phases: list[EngagementPhase]
    outlook: Outlook
    done: int
    na: int
    applicable: int
    overdue: int  # open items past their due date, both sides
    blocked: list[tuple[str, Item]]  # (reference, item) of open items a customer reported blocked
    waiting: list[WaitingSignoff]  # longest first
    mine_overdue: list[tuple[str, Item]]  # the viewer's own overdue items, oldest first
    current_phase_complete: bool  # every item of the current phase done or not applicable
    changes: list[str] = field(default_factory=list)  # gates with changes requested, to request again

    @property
    def key(self) -> tuple[int, int, int]:
        """The sort key's own part, as stored (`Engagement.risk_*`): health rank, slip, overdue."""
        return (RANK[self.outlook.health.level], self.outlook.forecast.slip, self.overdue)

    @property
    def current_phase(self) -> EngagementPhase | None:
        number = self.engagement.phase_index
        return next((p for p in self.phases if p.number == number), None)


def in_its_channel(user_id: str) -> Any:
    """SQL: the engagement's channel has `user_id` among its members (`ChannelMember`)."""
    return exists().where(
        col(ChannelMember.channel_id) == col(Engagement.channel_id), col(ChannelMember.user_id) == user_id
    )


def vendor_side() -> Any:
    """SQL, over `Member` and its `Engagement`: the member is on the vendor's side, as
    `bot.people.sides.member_side` says (its override, else the vendor's workspace or Grid org)."""
    override = func.coalesce(col(Member.side_override), "")
    grid = col(Engagement.vendor_enterprise_id)
    vendor_org = or_(
        and_(col(Member.team_id) != "", col(Member.team_id) == col(Engagement.team_id)),
        and_(
            func.coalesce(grid, "") != "",
            or_(col(Member.enterprise_id) == grid, col(Member.team_id) == grid),
        ),
    )
    return or_(override == VENDOR, and_(override.notin_([VENDOR, CUSTOMER]), vendor_org))


def on_its_team(user_id: str) -> Any:
    """SQL: `user_id` is lead or consultant of the engagement, on the vendor's side."""
    return (
        exists()
        .where(
            col(Member.engagement_id) == col(Engagement.id),
            col(Member.user_id) == user_id,
            col(MemberRole.member_id) == col(Member.id),
            col(MemberRole.role).in_(VENDOR_ROLES),
            vendor_side(),
        )
        .correlate(Engagement)
    )


def visible(user_id: str, view: str, *, admin: bool) -> list[Any]:
    """SQL conditions on `Engagement`: what the view shows the viewer. **Mine**: active engagements
    on which they are lead or consultant (vendor side) and whose channel they are in (an admin's:
    in any channel). **All**: active engagements whose channel they are in (an admin's: every
    active one)."""
    where: list[Any] = [col(Engagement.status) == ACTIVE]
    if view == MINE:
        where.append(on_its_team(user_id))
    if not admin:
        where.append(in_its_channel(user_id))
    return where


def _name(session: Session) -> Any:
    """The customer's name as the order compares it: lower-cased by the database, in code point
    order on both databases (PostgreSQL's "C" collation; SQLite compares bytes), so Python sorts
    the names it reads back exactly as the database does. (SQLite lower-cases ASCII letters only.)"""
    lowered = func.lower(col(Engagement.customer_name))
    return lowered.collate("C") if session.get_bind().dialect.name == "postgresql" else lowered


def _order(name: Any) -> list[Any]:
    return [
        col(Engagement.risk_rank).is_(None),  # unknown last
        col(Engagement.risk_rank).desc(),
        col(Engagement.risk_slip).desc(),
        col(Engagement.risk_overdue).desc(),
        name,
        col(Engagement.id),
    ]


def _sort_key(
    rank: int | None, slip: int | None, overdue: int | None, name: str, engagement_id: int
) -> tuple[bool, int, int, int, str, int]:
    """`_order` in Python, for merging keys computed now with those read."""
    return (rank is None, -(rank or 0), -(slip or 0), -(overdue or 0), name, engagement_id)


def _stale(now: datetime) -> Any:
    return or_(
        col(Engagement.risk_until).is_(None),
        col(Engagement.risk_until) <= now,
        col(Engagement.id).in_(select(NextCheckRequest.engagement_id)),
    )


@dataclass(frozen=True)
class Page:
    cards: list[Card]  # riskiest first
    count: int  # engagements in the view
    page: int  # the page shown (a page past the end, the portfolio shrank since: the last one)
    pages: int


def portfolio_page(
    session: Session,
    playbook: Playbook,
    now: datetime,
    *,
    viewer: str,
    view: str,
    admin: bool,
    page: int,
    per_page: int,
    playbooks: Mapping[str, Playbook] | None = None,
) -> Page:
    """One page of the view, riskiest first: the COUNT, the page's ids in the order of the stored
    keys (the few stale ones computed now and merged in), and the cards of that page only. Each
    card shows its outlook as computed now; the page's order is the keys' (they differ only while
    more than STALE_MAX keys of the view are stale)."""
    where = visible(viewer, view, admin=admin)
    count = int(session.exec(select(func.count()).select_from(Engagement).where(*where)).one())
    pages = max(1, -(-count // per_page))
    page = min(max(1, page), pages)
    offset = (page - 1) * per_page
    name = _name(session)
    stale = session.exec(
        select(id_col(Engagement.id), name).where(*where, _stale(now)).limit(STALE_MAX + 1)
    ).all()
    computed: dict[int, Card] = {}
    if 0 < len(stale) <= STALE_MAX:
        engagements = session.exec(
            select(Engagement).where(col(Engagement.id).in_([i for i, _n in stale]))
        ).all()
        computed = {
            saved_id(c.engagement): c
            for c in load_cards(session, list(engagements), playbook, now, viewer=viewer, playbooks=playbooks)
        }
        fresh = session.exec(
            select(  # type: ignore[call-overload]  # sqlmodel's select() is typed for up to 4 columns
                Engagement.id, Engagement.risk_rank, Engagement.risk_slip, Engagement.risk_overdue, name
            )
            .where(*where, col(Engagement.risk_until) > now, col(Engagement.id).notin_(list(computed)))
            .order_by(*_order(name))
            .limit(offset + per_page)
        ).all()
        keyed = [(_sort_key(rank, slip, overdue, n, i), i) for i, rank, slip, overdue, n in fresh]
        keyed += [(_sort_key(*computed[i].key, n, i), i) for i, n in stale]
        ids = [i for _k, i in sorted(keyed)[offset : offset + per_page]]
    else:
        ids = list(
            session.exec(
                select(Engagement.id).where(*where).order_by(*_order(name)).offset(offset).limit(per_page)
            ).all()
        )
    wanted = [i for i in ids if i not in computed]
    loaded = session.exec(select(Engagement).where(col(Engagement.id).in_(wanted))).all() if wanted else []
    cards = computed | {
        c.engagement.id: c
        for c in load_cards(session, list(loaded), playbook, now, viewer=viewer, playbooks=playbooks)
    }
    return Page(cards=[cards[i] for i in ids], count=count, page=page, pages=pages)


def risk_until(now: datetime, tz: str) -> datetime:
    """The first midnight after `now` in the engagement's time zone: its items fall overdue then,
    and its key is computed again."""
    zone = ZoneInfo(tz)
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=zone).astimezone(UTC)


def keep_risk(
    session: Session,
    engagements: list[Engagement],
    playbook: Playbook,
    now: datetime,
    *,
    playbooks: Mapping[str, Playbook] | None = None,
) -> list[Card]:
    """Compute and set these engagements' sort keys (the caller's transaction writes them);
    returns their cards (their outlooks: the sweep tells the lead when the health changed)."""
    cards = load_cards(session, engagements, playbook, now, viewer="", playbooks=playbooks)
    for card in cards:
        e = card.engagement
        e.risk_rank, e.risk_slip, e.risk_overdue = card.key
        e.risk_until = risk_until(now, e.timezone)
        session.add(e)
    return cards


def _ref(phase_numbers: dict[int, int], item: Item) -> str:
    return f"{phase_numbers.get(item.phase_id, '?')}.{item.number}"


def load_cards(
    session: Session,
    engagements: list[Engagement],
    playbook: Playbook,
    now: datetime,
    *,
    viewer: str,
    playbooks: Mapping[str, Playbook] | None = None,
) -> list[Card]:
    """The cards of these engagements, in the order given (a page's: `portfolio_page`). `viewer`:
    whose overdue items to list. The rows are read in bulk, six queries whatever the count. Each
    engagement's outlook reads its own playbook (`Engagement.playbook`, a key of `playbooks`), else
    `playbook`."""
    ids = [e.id for e in engagements if e.id is not None]
    if not ids:
        return []
    phases: dict[int, list[EngagementPhase]] = defaultdict(list)
    for p in session.exec(
        select(EngagementPhase)
        .where(col(EngagementPhase.engagement_id).in_(ids))
        .order_by(col(EngagementPhase.engagement_id), col(EngagementPhase.number))
    ).all():
        phases[p.engagement_id].append(p)
    items: dict[int, list[Item]] = defaultdict(list)
    for i in session.exec(select(Item).where(col(Item.engagement_id).in_(ids))).all():
        items[i.engagement_id].append(i)
    waiting: dict[int, list[Waiting]] = defaultdict(list)
    for engagement_id, title, at in session.exec(
        select(Gate.engagement_id, Gate.title, SignoffRequest.requested_at)
        .join(SignoffRequest, col(SignoffRequest.gate_id) == col(Gate.id))
        .where(col(Gate.engagement_id).in_(ids), SignoffRequest.status == "open")
    ).all():
        waiting[engagement_id].append(Waiting(gate=title, since=at))
    # A gate whose customer asked for changes stays in sight until it is requested again.
    changes: dict[int, list[str]] = defaultdict(list)
    for engagement_id, title in session.exec(
        select(Gate.engagement_id, Gate.title)
        .join(SignoffRequest, col(SignoffRequest.gate_id) == col(Gate.id))
        .where(col(Gate.engagement_id).in_(ids), SignoffRequest.status == "changes_requested")
    ).all():
        changes[engagement_id].append(title)
    # What waits for what, and the phases with a gate to approve: the forecast walks them.
    deps: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for engagement_id, item_id, requires_id in session.exec(
        select(ItemDependency.engagement_id, ItemDependency.item_id, ItemDependency.requires_id).where(
            col(ItemDependency.engagement_id).in_(ids)
        )
    ).all():
        deps[engagement_id][item_id].append(requires_id)
    gates_open: dict[int, set[int]] = defaultdict(set)
    for engagement_id, phase_id in session.exec(
        select(Gate.engagement_id, Gate.phase_id).where(
            col(Gate.engagement_id).in_(ids), Gate.status != "approved"
        )
    ).all():
        gates_open[engagement_id].add(phase_id)
    cards = [
        replace(
            _card(
                e,
                phases[saved_id(e)],
                items[saved_id(e)],
                waiting[saved_id(e)],
                (playbooks or {}).get(e.playbook or "", playbook),
                now,
                viewer,
                deps[saved_id(e)],
                gates_open[saved_id(e)],
            ),
            changes=changes[saved_id(e)],
        )
        for e in engagements
    ]
    return cards


def _card(
    engagement: Engagement,
    phases: list[EngagementPhase],
    items: list[Item],
    waiting: list[Waiting],
    playbook: Playbook,
    now: datetime,
    viewer: str,
    deps: dict[int, list[int]] | None = None,
    gates_open: set[int] | None = None,
) -> Card:
    outlook = outlook_of(engagement, phases, items, waiting, playbook, now, deps=deps, gate_phases=gates_open)
    today = local_today(now, engagement.timezone)
    calendar = calendar_for(engagement)
    numbers = {p.id: p.number for p in phases if p.id is not None}
    open_items = [i for i in items if i.status == "open"]
    overdue = sorted(
        (i for i in open_items if i.due_on is not None and i.due_on < today),
        key=lambda i: (i.due_on or date.max, numbers.get(i.phase_id, 0), i.number),
    )
    blocked = sorted(
        (i for i in open_items if i.blocked_reason), key=lambda i: (numbers.get(i.phase_id, 0), i.number)
    )
    waits = sorted(
        (
            WaitingSignoff(
                gate=w.gate,
                since=w.since,
                business_days=max(
                    0, business_days_between(calendar, local_date(w.since, engagement.timezone), today)
                ),
            )
            for w in waiting
        ),
        key=lambda w: w.since,
    )
    current = next((p.id for p in phases if p.number == engagement.phase_index), None)
    done = sum(1 for i in items if i.status == "done")
    na = sum(1 for i in items if i.status == "na")
    return Card(
        engagement=engagement,
        phases=phases,
        outlook=outlook,
        done=done,
        na=na,
        applicable=len(items) - na,
        overdue=len(overdue),
        blocked=[(_ref(numbers, i), i) for i in blocked],
        waiting=waits,
        mine_overdue=[(_ref(numbers, i), i) for i in overdue if i.assignee_id == viewer],
        current_phase_complete=not any(i.phase_id == current for i in open_items),
    )
