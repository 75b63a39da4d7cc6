"""A consultant's portfolio: the engagements they are on (or all active ones), riskiest first.

Each engagement's forecast and health come from `outlook_of`, the same as `/golive status`; the
rows it needs are loaded in bulk (four queries for the whole portfolio, whatever its size), so a
Home of sixty engagements costs what one does in round trips. The order:

1. health: late, then at risk, then on track;
2. business days the forecast go-live is after the target (or the plan's end), most first;
3. overdue items, most first; then the customer's name.

Pure of Slack: the App Home (`bot.slack.home`) renders what this returns.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import exists
from sqlmodel import Session, col, select

from bot.engagement.forecast import business_days_between, local_date
from bot.engagement.health import RANK, Waiting
from bot.engagement.lifecycle import calendar_for, local_today
from bot.engagement.outlook import Outlook, outlook_of
from bot.engagement.playbook import Playbook
from bot.people.sides import VENDOR, VENDOR_ROLES, member_side
from storage.models import (
    ChannelMember,
    Engagement,
    EngagementPhase,
    Gate,
    Item,
    ItemDependency,
    Member,
    MemberRole,
    SignoffRequest,
)

MINE, ALL = "mine", "all"
VIEWS = (MINE, ALL)


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
    def risk(self) -> tuple[int, int, int, str, int]:
        """Sort key: riskiest first."""
        return (
            -RANK[self.outlook.health.level],
            -self.outlook.forecast.slip,
            -self.overdue,
            self.engagement.customer_name.casefold(),
            self.engagement.id or 0,
        )

    @property
    def current_phase(self) -> EngagementPhase | None:
        number = self.engagement.phase_index
        return next((p for p in self.phases if p.number == number), None)


def in_its_channel(user_id: str) -> Any:
    """SQL: the engagement's channel has `user_id` among its members (`ChannelMember`)."""
    return exists().where(
        col(ChannelMember.channel_id) == col(Engagement.channel_id), col(ChannelMember.user_id) == user_id
    )


def my_engagements(session: Session, user_id: str, *, everywhere: bool = False) -> list[Engagement]:
    """Active engagements on which the user is lead or consultant, on the vendor's side, and whose
    channel they are in (`everywhere`: an admin's, in any channel)."""
    query = (
        select(Engagement, Member)
        .join(Member, col(Member.engagement_id) == col(Engagement.id))
        .join(MemberRole, col(MemberRole.member_id) == col(Member.id))
        .where(
            Member.user_id == user_id,
            Engagement.status == "active",
            col(MemberRole.role).in_(VENDOR_ROLES),
        )
    )
    if not everywhere:
        query = query.where(in_its_channel(user_id))
    rows = session.exec(query).all()
    found: dict[int, Engagement] = {}
    for engagement, member in rows:
        if member_side(engagement, member) == VENDOR:
            found[engagement.id] = engagement  # type: ignore[index]
    return list(found.values())


def active_engagements(session: Session, user_id: str | None = None) -> list[Engagement]:
    """Active engagements: all of them (`user_id` None: an admin's view), or those whose channel
    `user_id` is in."""
    query = select(Engagement).where(Engagement.status == "active")
    if user_id is not None:
        query = query.where(in_its_channel(user_id))
    return list(session.exec(query).all())


def _ref(phase_numbers: dict[int, int], item: Item) -> str:
    return f"{phase_numbers.get(item.phase_id, '?')}.{item.number}"


def load_cards(
    session: Session, engagements: list[Engagement], playbook: Playbook, now: datetime, *, viewer: str
) -> list[Card]:
    """The cards of these engagements, riskiest first. `viewer`: whose overdue items to list."""
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
                phases[e.id],  # type: ignore[index]
                items[e.id],  # type: ignore[index]
                waiting[e.id],  # type: ignore[index]
                playbook,
                now,
                viewer,
                deps[e.id],  # type: ignore[index]
                gates_open[e.id],  # type: ignore[index]
            ),
            changes=changes[e.id],  # type: ignore[index]
        )
        for e in engagements
    ]
    return sorted(cards, key=lambda c: c.risk)


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


def page_of(cards: list[Card], page: int, per_page: int) -> tuple[list[Card], int, int]:
    """(the cards of `page`, the page shown, the number of pages): a page past the end (the
    portfolio shrank since) shows the last one."""
    pages = max(1, -(-len(cards) // per_page))
    page = min(max(1, page), pages)
    return cards[(page - 1) * per_page : page * per_page], page, pages
