"""The weekly digest: phase and progress, what each side owes this week (naming each item's
owner, and mentioning them as far as the notification budget allows), what is coming up next
week, the open sign-offs with their state, the blocked items, and the milestone that is next.

It says only what is true: "Nothing — thank you!" only when the customer owes nothing this week,
nothing is overdue, no sign-off waits for their decision and nothing is due next week; a blocked
item is shown as blocked (it waits on the implementation team, so nobody is mentioned for it and
nobody's budget is spent on it); and a phase whose planned end has passed with work open is the
next milestone, never a later one."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from bot.people.recipients import for_gate, for_item
from bot.people.roles import RoleRow, team
from bot.reminders.budget import Budget
from bot.reminders.milestones import golive_date
from bot.reminders.working_hours import CustomerClock, clock_of
from bot.slack.nudges import names_of
from messages.escape import cut, escape_mrkdwn
from storage.models import Engagement, EngagementPhase, Gate, Item, SignoffDecision, SignoffRequest, saved_id

SIDES = ("customer", "vendor")
MAX_PER_SIDE = 10
MAX_GATES = 10
MAX_BLOCKED = 10
TITLE_MAX = 80  # an item's title in a digest line (the template cuts it too)
REASON_MAX = 100  # a block's or a change request's reason, quoted
# Characters (as sent, escaped) a list may take: a section holds 3,000 and a whole message about
# 12,000, so the digest's six lists stay well inside both; what does not fit is "…and N more".
LIST_CHARS = {"owed": 1_800, "coming": 1_200, "gates": 1_200, "blocked": 1_200}
# The digest goes out on the week's first working day; a bot that was down sends it on the next.
DIGEST_CATCH_UP_DAYS = 2


def digest_week(clock: CustomerClock, day: date) -> tuple[str, date] | None:
    """On a day the week's digest may be planned (the week's first working day, or the next
    one to catch up), its ISO week (`2026-W49`) and that first working day; else None."""
    week_start = day - timedelta(days=day.weekday())
    first_day = clock.calendar.on_or_after(week_start)
    if first_day <= day <= clock.calendar.add(first_day, DIGEST_CATCH_UP_DAYS - 1):
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}", first_day
    return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _fmt(d: date) -> str:
    return f"{d:%a %-d %b}"


def _shown(text: str) -> int:
    return len(escape_mrkdwn(text))


def _fit(rows: list[dict[str, Any]], limit: int, chars: int) -> tuple[list[dict[str, Any]], int]:
    """The first rows that fit `limit` rows and `chars` characters (each row's `size`), and how
    many are left out (the template says "…and N more")."""
    shown: list[dict[str, Any]] = []
    used = 0
    for row in rows[:limit]:
        used += row["size"]
        if shown and used > chars:
            break
        shown.append(row)
    return shown, len(rows) - len(shown)


def _owners_size(owners: Iterable[str], names: dict[str, str]) -> int:
    """The characters an owners list may take (a mention, or a name when the budget holds it)."""
    return sum(max(len(u) + 3, _shown(names.get(u, "someone"))) + 2 for u in owners)


def digest_context(
    session: Session,
    engagement: Engagement,
    now: datetime,
    present: Collection[str] | None = None,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """What the digest says. Each item names whom it is for (`owners`: its assignee, or the
    people named for its side); the digest mentions the owners of what is due this week (or
    overdue) — so Slack notifies them — as far as the notification budget allows (`mentioned`);
    the others are named. What is coming up next week names its owners (mentioning only those
    the digest mentions anyway). Blocked items mention nobody: they wait on the team."""
    clock = clock_of(engagement)
    rows = team(session, engagement)
    names = names_of(session, saved_id(engagement))
    today = clock.today(now)
    week_end = today + timedelta(days=6 - today.weekday())
    next_end = week_end + timedelta(days=7)
    phases = {
        p.id: p
        for p in session.exec(select(EngagementPhase).where(EngagementPhase.engagement_id == engagement.id))
    }
    owed: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    coming: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    blocked: list[dict[str, Any]] = []
    for item in session.exec(
        select(Item)
        .where(Item.engagement_id == engagement.id, Item.status == "open")
        .order_by(col(Item.due_on), col(Item.id))
    ).all():
        phase = phases[item.phase_id]
        ref = f"{phase.number}.{item.number}"
        title = cut(item.title, TITLE_MAX)
        if item.blocked_reason:
            reason = cut(" ".join(item.blocked_reason.split()), REASON_MAX)
            by = names.get(item.blocked_by or "", "someone")
            blocked.append(
                {
                    "ref": ref,
                    "title": title,
                    "side": item.owner_side,
                    "reason": reason,
                    "by": by if item.blocked_by else None,
                    "size": _shown(f"{ref}{title}{reason}{by}") + 60,
                }
            )
            continue
        if item.due_on is None or item.due_on > next_end:
            continue
        owners = for_item(rows, item.owner_side, item.assignee_id, present).people
        row = {
            "ref": ref,
            "title": title,
            "due": item.due_on,
            "overdue": item.due_on < today,
            "assignee": item.assignee_id,
            "owners": owners,
            "size": _shown(f"{ref}{title}") + 40 + _owners_size(owners, names),
        }
        (owed if item.due_on <= week_end else coming).setdefault(item.owner_side, []).append(row)

    shown = {side: _fit(owed.get(side, []), MAX_PER_SIDE, LIST_CHARS["owed"]) for side in SIDES}
    owners = list(dict.fromkeys(u for side in SIDES for it in shown[side][0] for u in it["owners"]))
    mentioned = []
    for user in owners:
        if budget is None or budget.room(user):
            mentioned.append(user)
            if budget is not None:
                budget.spend(user)
    ahead = {side: _fit(coming.get(side, []), MAX_PER_SIDE, LIST_CHARS["coming"]) for side in SIDES}
    gates = open_gates(session, engagement, clock, rows, names, now)
    gates_shown, gates_more = _fit(gates, MAX_GATES, LIST_CHARS["gates"])
    blocked_shown, blocked_more = _fit(blocked, MAX_BLOCKED, LIST_CHARS["blocked"])
    return {
        "mentioned": mentioned,
        "names": names,
        "week_of": today - timedelta(days=today.weekday()),
        "owed": {side: shown[side][0] for side in SIDES},
        "owed_more": {side: shown[side][1] for side in SIDES},
        "coming": {side: ahead[side][0] for side in SIDES},
        "coming_more": {side: ahead[side][1] for side in SIDES},
        "coming_count": {side: len(coming.get(side, [])) for side in SIDES},
        "gates": gates_shown,
        "gates_more": gates_more,
        # sign-offs waiting for the customer's decision, and those back with the team
        "gates_requested": sum(1 for g in gates if g["state"] == "requested"),
        "gates_changes": sum(1 for g in gates if g["state"] == "changes_requested"),
        "gates_unrequested": sum(1 for g in gates if g["state"] == "not_requested"),
        "blocked": blocked_shown,
        "blocked_more": blocked_more,
        "milestone": next_milestone(session, engagement, today, clock.local(now)),
    }


def open_gates(
    session: Session,
    engagement: Engagement,
    clock: CustomerClock,
    rows: list[RoleRow],
    names: dict[str, str],
    now: datetime,
) -> list[dict[str, Any]]:
    """The open sign-off gates worth a line, in playbook order: those of the phases reached so
    far, and any other that has been requested. Each with its state now: `not_requested`;
    `requested` (on which day, by whom, waiting how many business days, on whom); or
    `changes_requested` (by whom, on which day, the reason cut)."""
    found = session.exec(
        select(Gate, EngagementPhase)
        .join(EngagementPhase, col(EngagementPhase.id) == col(Gate.phase_id))
        .where(Gate.engagement_id == engagement.id, Gate.status != "approved")
        .order_by(col(EngagementPhase.number), col(Gate.id))
    ).all()
    if not found:
        return []
    latest: dict[int, SignoffRequest] = {}
    for r in session.exec(
        select(SignoffRequest)
        .where(col(SignoffRequest.gate_id).in_([g.id for g, _ in found]))
        .order_by(col(SignoffRequest.version))
    ).all():
        latest[r.gate_id] = r
    decisions = {
        d.request_id: d
        for d in session.exec(
            select(SignoffDecision).where(
                col(SignoffDecision.request_id).in_([r.id for r in latest.values() if r.status != "open"])
            )
        ).all()
    }
    out: list[dict[str, Any]] = []
    for gate, phase in found:
        req = latest.get(saved_id(gate))
        row: dict[str, Any] = {
            "title": gate.title,
            "key": gate.key,
            "phase": phase.name,
            "due": phase.planned_end,
        }
        if req is not None and req.status == "open":
            approvers = for_gate(rows, gate.key).people
            row.update(
                state="requested",
                on=clock.today(req.requested_at),
                by=names.get(req.requested_by, "the implementation team"),
                waiting=clock.business_days_since(req.requested_at, now),
                approvers=[names.get(u, "someone") for u in approvers],
            )
        elif req is not None and req.status == "changes_requested":
            decision = decisions.get(saved_id(req))
            row.update(
                state="changes_requested",
                by=decision.display_name if decision else "the approver",
                on=clock.today(decision.decided_at) if decision else None,
                reason=cut(" ".join((decision.reason or "").split()), REASON_MAX) if decision else "",
            )
        elif phase.number <= engagement.phase_index:
            row.update(state="not_requested")
        else:
            continue  # a later phase's gate nobody has asked for yet: not news
        row["size"] = _shown(f"{gate.title}{row.get('by', '')}{row.get('reason', '')}") + 90
        out.append(row)
    return out


def next_milestone(session: Session, engagement: Engagement, today: date, local_now: datetime) -> str:
    """What is next. When the current phase's planned end has passed with work open, that: it is
    late, and no later milestone is next while it is ("Solutioning was due Fri 4 Dec: 3 items and
    1 sign-off open"). Otherwise the nearest of: the current phase's end, its open gates, the dry
    run, go-live."""
    options: list[tuple[date, str]] = []
    current = session.exec(
        select(EngagementPhase).where(
            EngagementPhase.engagement_id == engagement.id, EngagementPhase.number == engagement.phase_index
        )
    ).first()
    if current is not None and current.completed_at is None and current.planned_end < today:
        items = len(
            session.exec(select(Item.id).where(Item.phase_id == current.id, Item.status == "open")).all()
        )
        gates = len(
            session.exec(select(Gate.id).where(Gate.phase_id == current.id, Gate.status != "approved")).all()
        )
        open_work = [_plural(items, "item") if items else "", _plural(gates, "sign-off") if gates else ""]
        what = " and ".join(w for w in open_work if w)
        due = f"{current.name} was due {_fmt(current.planned_end)}"
        return f"{due}: {what} open" if what else f"{due} and is not complete yet"
    if current is not None and current.planned_end >= today:
        options.append((current.planned_end, f"{current.name} ends {_fmt(current.planned_end)}"))
        gates_open = session.exec(
            select(Gate).where(Gate.phase_id == current.id, Gate.status == "open")
        ).all()
        for g in gates_open:
            options.append((current.planned_end, f"{g.title} due by {_fmt(current.planned_end)}"))
    if engagement.dryrun_at is not None and engagement.dryrun_outcome is None:
        local = engagement.dryrun_at.astimezone(local_now.tzinfo)
        if local.date() >= today:
            options.append((local.date(), f"Dry run {local:%a %-d %b %H:%M}"))
    golive = golive_date(engagement, session)
    if golive is not None and golive >= today:
        options.append((golive, f"Go-live {_fmt(golive)}"))
    if not options:
        return "No milestone ahead: everything planned has passed."
    return min(options, key=lambda o: o[0])[1]
