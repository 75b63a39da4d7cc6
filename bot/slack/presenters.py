"""Turn database rows into the plain data the message templates render."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, and_, bindparam, func, union
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from bot.engagement.checklist import DONE, NA, all_items, items_of
from bot.engagement.dependencies import waiting_refs
from bot.engagement.forecast import Forecast, local_date
from bot.engagement.health import Health
from bot.engagement.lifecycle import local_today, phases_of, planned_golive
from bot.engagement.outlook import load_outlook
from bot.engagement.playbook import Playbook, SizeName
from bot.engagement.timeline import text_timeline
from bot.people.members import lead_of
from messages import escape_mrkdwn
from storage.models import (
    Engagement,
    EngagementPhase,
    Gate,
    Item,
    Member,
    SignoffDecision,
    SignoffRequest,
    UserProfile,
    saved_id,
)

Rows = list[dict[str, Any]]


def size_weeks(playbook: Playbook, size: str) -> str:
    spec = playbook.sizes.get(cast(SizeName, size))
    if spec is None:
        return ""
    lo, hi = (f"{w:g}" for w in (spec.min_weeks, spec.max_weeks))
    return f"{lo}–{hi} weeks"


def names_for(session: Session, engagement_id: int, only: set[str] | None = None) -> dict[str, str]:
    """user id → the name to show, from the engagement's members and the users.info cache;
    `only` these users when given (then the items are not read)."""
    if only is None:
        # Everyone the engagement's messages may name, in one prebuilt statement read as columns:
        # three ORM statements built each time were 1 ms of a 6.5-7.4 ms checklist refresh.
        rows = session.connection().execute(_NAMES, {"engagement": engagement_id}).all()
        return {
            user_id: (profile or "") if has_profile else member
            for user_id, has_profile, profile, member in rows
            if has_profile or member
        }
    names: dict[str, str] = {}
    members = session.exec(
        select(Member).where(Member.engagement_id == engagement_id, col(Member.user_id).in_(only))
    ).all()
    ids = {m.user_id for m in members} | only
    for p in session.exec(select(UserProfile).where(col(UserProfile.user_id).in_(ids))).all():
        names[p.user_id] = p.display_name or p.real_name or p.name
    for m in members:
        if m.display_name and m.user_id not in names:
            names[m.user_id] = m.display_name
    return names


def _names_statement() -> Any:
    """`names_for`'s statement: the members, assignees and whoever ticked an item, each with the
    name users.info gave (display name, else real name, else user name; it wins when there is a
    profile at all), else the member's recorded display name."""
    engagement: BindParameter[int] = bindparam("engagement")
    ids = union(
        select(col(Member.user_id).label("user_id")).where(Member.engagement_id == engagement),
        select(col(Item.assignee_id)).where(
            Item.engagement_id == engagement, col(Item.assignee_id).is_not(None)
        ),
        select(col(Item.done_by)).where(Item.engagement_id == engagement, col(Item.done_by).is_not(None)),
    ).subquery()
    profile_name = func.coalesce(
        func.nullif(UserProfile.display_name, ""), func.nullif(UserProfile.real_name, ""), UserProfile.name
    )
    return (
        select(ids.c.user_id, col(UserProfile.user_id).is_not(None), profile_name, col(Member.display_name))
        .select_from(ids)
        .outerjoin(UserProfile, col(UserProfile.user_id) == ids.c.user_id)
        .outerjoin(
            Member, and_(col(Member.engagement_id) == engagement, col(Member.user_id) == ids.c.user_id)
        )
    )


_NAMES = _names_statement()


def engagement_data(
    engagement: Engagement, phases: list[EngagementPhase], playbook: Playbook
) -> dict[str, Any]:
    current = next((p for p in phases if p.number == engagement.phase_index), phases[0] if phases else None)
    return {
        "id": engagement.id,
        "customer_name": engagement.customer_name,
        "size": engagement.size,
        "size_weeks": size_weeks(playbook, engagement.size),
        "kickoff_on": engagement.kickoff_on,
        "target_on": engagement.target_on,
        "golive": planned_golive(engagement, phases),
        "timezone": engagement.timezone,
        "country": engagement.country,
        "pilot": engagement.pilot,
        "ingest": engagement.ingest,
        "status": engagement.status,
        "phase_number": current.number if current else 0,
        "phase_name": current.name if current else "",
        "dryrun_at": engagement.dryrun_at,
        "dryrun_local": engagement.dryrun_at.astimezone(ZoneInfo(engagement.timezone))
        if engagement.dryrun_at
        else None,
        "dryrun_outcome": engagement.dryrun_outcome,
    }


def _progress(items: list[Item]) -> dict[str, int]:
    """Items done of those that apply; not-applicable ones are counted apart, never as done
    ("47 of 70 done, 16 not applicable", not "63 of 86")."""
    done = sum(1 for i in items if i.status == DONE)
    na = sum(1 for i in items if i.status == NA)
    return {"done": done, "na": na, "total": len(items) - na, "all": len(items)}


def phase_data(phase: EngagementPhase) -> dict[str, Any]:
    return {
        "number": phase.number,
        "key": phase.key,
        "name": phase.name,
        "emoji": phase.emoji,
        "start": phase.planned_start,
        "end": phase.planned_end,
        "completed": phase.completed_at is not None,
    }


def phase_rows(phases: list[EngagementPhase], items: list[Item] | None = None) -> list[dict[str, Any]]:
    items = items or []
    return [phase_data(p) | {"progress": _progress([i for i in items if i.phase_id == p.id])} for p in phases]


def health_data(health: Health) -> dict[str, Any]:
    return {
        "level": health.level,
        "label": health.label,
        "emoji": health.emoji,
        "reason": health.reason,
        # every factor behind the label, worst first (the first is the reason)
        "factors": [
            {"level": f.level, "emoji": f.emoji, "text": f.text, "watch": f.watch} for f in health.factors
        ],
    }


def forecast_data(fc: Forecast, dryrun: date | None) -> dict[str, Any]:
    """The forecast for templates: the go-live, its slip, each phase's actual and forecast dates,
    and the text timeline (a code block's content)."""
    return {
        "golive": fc.golive,
        "planned_golive": fc.planned_golive,
        "slip": fc.slip,
        "live": fc.live,
        "phases": {
            p.number: {
                "state": p.state,
                "started": p.started_on,
                "finished": p.finished_on,
                "start": p.start,
                "end": p.end,
                "slip": p.slip,
                "late": p.late,
            }
            for p in fc.phases
        },
        "timeline": text_timeline(fc, dryrun=dryrun),
    }


def overview(session: Session, engagement: Engagement, playbook: Playbook, now: datetime) -> dict[str, Any]:
    """Context shared by the welcome, status and Home messages."""
    phases = phases_of(session, saved_id(engagement))
    items = all_items(session, saved_id(engagement))
    lead = lead_of(session, saved_id(engagement))
    outlook = load_outlook(session, engagement, playbook, now, phases=phases, items=items)
    dryrun = local_date(engagement.dryrun_at, engagement.timezone) if engagement.dryrun_at else None
    return {
        "e": engagement_data(engagement, phases, playbook),
        "phases": phase_rows(phases, items),
        "lead": lead.user_id if lead else None,
        "lead_name": lead.display_name if lead else "the lead consultant",
        "progress": _progress(items),
        "health": health_data(outlook.health),
        "forecast": forecast_data(outlook.forecast, dryrun),
    }


def _fmt_day(d: date) -> str:
    return d.strftime("%a %-d %b")


def local_day(at: datetime, tz: str | None) -> date:
    """The day `at` was in the engagement's time zone (`tz`; UTC when None): an item ticked on
    Monday 00:30 in Berlin was done on Monday, not on Sunday 23:30 UTC."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(ZoneInfo(tz or "UTC")).date()


# Block Kit: a checkbox option's text (the label) and its description hold 75 characters each.
LABEL_MAX = 75
DESCRIPTION_MAX = 75
SIDES = ("customer", "vendor")  # the order of the checklist's groups (see checklist_context)


def _shown_len(text: str) -> int:
    """Characters as sent to Slack: the renderer escapes &, < and > for mrkdwn."""
    return len(escape_mrkdwn(text))


def wrap_title(title: str, note: str) -> tuple[str, str, bool]:
    """The title as a checkbox label, never cut: (label, description, long).

    A title that fits the label is the label, and the description is the note. A longer one
    wraps at a word into the description, ahead of the note (`…rest — note`). When even that does
    not hold it, `long` is True: the template shows the whole title in a block of its own."""
    if _shown_len(title) <= LABEL_MAX:
        return title, note, False
    words = title.split(" ")
    head = ""
    for n in range(len(words), 0, -1):
        candidate = " ".join(words[:n]) + "…"
        if _shown_len(candidate) <= LABEL_MAX:
            head = candidate
            tail = "…" + " ".join(words[n:])
            break
    if head:
        description = f"{tail} — {note}"
        if _shown_len(description) <= DESCRIPTION_MAX:
            return head, description, False
    return title, note, True


def item_note(
    phase: EngagementPhase,
    item: Item,
    names: dict[str, str],
    today: date,
    waiting: list[str] | None = None,
) -> str:
    """An open item's facts for its checklist line: reference, due date, the open items it waits
    for (`waiting`: their references; ahead of the owner, so a cut line keeps it), owner, and
    what stops it."""
    ref = f"{phase.number}.{item.number}"
    who = names.get(item.assignee_id, "assigned") if item.assignee_id else "unassigned"
    parts = [ref]
    if item.due_on is not None and item.due_on < today:
        parts.append(f"⚠ overdue since {_fmt_day(item.due_on)}")
    elif item.due_on is not None:
        parts.append(f"due {_fmt_day(item.due_on)}")
    else:
        parts.append("no due date")
    if waiting:
        parts.append("⏳ waiting on " + ", ".join(waiting[:3]) + ("…" if len(waiting) > 3 else ""))
    parts.append(who)
    if item.blocked_reason:
        parts.append("⛔ blocked")
    elif item.snoozed_until is not None and item.snoozed_until > today:
        parts.append(f"snoozed to {_fmt_day(item.snoozed_until)}")  # its reminders
    return " · ".join(parts)


def item_row(
    phase: EngagementPhase,
    item: Item,
    names: dict[str, str],
    today: date,
    tz: str | None = None,
    waiting: list[str] | None = None,
) -> dict[str, Any]:
    """An item as the checklist, Show all and Details show it; `tz` is the engagement's time zone
    (the day an item was done is its local day there); `waiting`: the open items it waits for."""
    overdue = item.status == "open" and item.due_on is not None and item.due_on < today
    if item.status == DONE:
        by = names.get(item.done_by or "", "someone")
        when = _fmt_day(local_day(item.done_at, tz)) if item.done_at else ""
        note = f"{phase.number}.{item.number} · done by {by} · {when}" + (
            " · for the customer" if item.on_behalf else ""
        )
    elif item.status == NA:
        note = f"{phase.number}.{item.number} · not applicable: {item.na_reason or ''}"
    else:
        note = item_note(phase, item, names, today, waiting)
    label, description, long = wrap_title(item.title, note)
    return {
        "id": item.id,
        "ref": f"{phase.number}.{item.number}",
        "number": item.number,
        "title": item.title,
        "description": item.description,
        "owner": item.owner_side,
        "status": item.status,
        "done": item.status == DONE,
        "na": item.status == NA,
        "open": item.status == "open",
        "overdue": overdue,
        "note": note,
        "label": label,
        "line": description,
        "long": long,
        "due": item.due_on,
        "assignee": item.assignee_id,
        "blocked": item.blocked_reason,
        "snoozed_until": item.snoozed_until if item.snoozed_until and item.snoozed_until > today else None,
        "waiting": waiting or [],
    }


def _open_order(row: dict[str, Any]) -> tuple[int, date, int]:
    return (
        SIDES.index(row["owner"]) if row["owner"] in SIDES else len(SIDES),
        row["due"] or date.max,
        row["number"],
    )


def checklist_context(
    session: Session, engagement: Engagement, phase: EngagementPhase, now: datetime
) -> tuple[dict[str, Any], Rows]:
    """The phase checklist: what every part of it shows (header, progress, per-side counts, the
    folded line of done and not-applicable items, gates) and the rows of its open items.

    Open items are grouped by side, the customer's first: the message is one for both sides, and
    the customer's people cannot run commands or use the Home tab, so the checklist is where they
    find their items; the implementation team has `/golive status` and My tasks besides. Within a
    group, the earliest due date first. Done and not-applicable items are counted on one line;
    *Show all* lists them."""
    items = items_of(session, saved_id(phase))
    names = names_for(session, saved_id(engagement))
    today = local_today(now, engagement.timezone)
    waiting = waiting_refs(session, saved_id(engagement))
    rows = sorted(
        (
            item_row(phase, i, names, today, engagement.timezone, waiting.get(saved_id(i)))
            for i in items
            if i.status == "open"
        ),
        key=_open_order,
    )
    position: dict[str, int] = {}
    for row in rows:
        row["group_index"] = position.get(row["owner"], 0)
        position[row["owner"]] = row["group_index"] + 1
    sides = {
        side: {
            "open": sum(1 for i in items if i.owner_side == side and i.status == "open"),
            "overdue": sum(1 for r in rows if r["owner"] == side and r["overdue"]),
            "done": sum(1 for i in items if i.owner_side == side and i.status == DONE),
            "na": sum(1 for i in items if i.owner_side == side and i.status == NA),
        }
        for side in SIDES
    }
    progress = _progress(items)
    base = {
        "customer_name": engagement.customer_name,
        "status": engagement.status,
        "active": engagement.status == "active",
        "phase": phase_data(phase) | {"current": phase.number == engagement.phase_index},
        "progress": progress,
        "overdue": sum(1 for r in rows if r["overdue"]),
        "sides": sides,
        "folded": {
            "done": sum(s["done"] for s in sides.values()),
            "na": sum(s["na"] for s in sides.values()),
        },
        "gates": gate_rows(
            session, phase, complete=progress["done"] == progress["total"], tz=engagement.timezone
        ),
    }
    return base, rows


def split_rows(rows: Rows, fits: Callable[[Rows], bool], *, min_parts: int = 1) -> list[Rows]:
    """Item rows in consecutive parts that each `fits` one message, as few as possible but at least
    `min_parts` (the parts already in the channel keep being updated). An item that does not fit
    even alone gets a part of its own."""
    parts: list[Rows] = []
    current: Rows = []
    for row in rows:
        if current and not fits([*current, row]):
            parts.append(current)
            current = []
        current.append(row)
    parts.append(current)
    while len(parts) < min_parts:
        # Any part that fits still fits once halved: split the longest until there are enough.
        longest = max(range(len(parts)), key=lambda i: len(parts[i]))
        if len(parts[longest]) < 2:
            parts.append([])
            continue
        half = (len(parts[longest]) + 1) // 2
        parts[longest : longest + 1] = [parts[longest][:half], parts[longest][half:]]
    return parts


def gate_rows(
    session: Session, phase: EngagementPhase, *, complete: bool, tz: str | None = None
) -> list[dict[str, Any]]:
    """The phase's sign-off gates with their state, for the checklist footer; the day of an
    approval in the engagement's time zone `tz` (UTC when None)."""
    rows = []
    found = session.connection().execute(_GATES, {"phase": phase.id}).all()
    for gate_id, title, gate_status, version, request_status, approver, decided_at in found:
        if gate_status == "approved" and approver is not None:
            state = f"approved by {approver} on {_fmt_day(local_day(decided_at, tz))}"
        elif request_status == "open":
            state = f"awaiting approval (version {version})"
        elif request_status == "changes_requested":
            state = "changes requested"
        else:
            state = "not requested yet"
        rows.append(
            {
                "id": gate_id,
                "title": title,
                "approved": gate_status == "approved",
                "state": state,
                "can_request": complete and gate_status != "approved" and request_status != "open",
            }
        )
    return rows


def _gates_statement() -> Any:
    """`gate_rows`' statement: each gate of the phase with its latest request and that request's
    decision (at most one of each: unique per gate and version, and per request). It was a
    statement per gate, and two more per gate with a request: 0.3-0.5 ms of a refresh."""
    other = aliased(SignoffRequest)
    latest = select(func.max(other.version)).where(other.gate_id == Gate.id).correlate(Gate).scalar_subquery()
    return (
        select(  # type: ignore[call-overload]  # sqlmodel's select() is typed for up to 4 columns
            col(Gate.id),
            col(Gate.title),
            col(Gate.status),
            col(SignoffRequest.version),
            col(SignoffRequest.status),
            col(SignoffDecision.display_name),
            col(SignoffDecision.decided_at),
        )
        .select_from(Gate)
        .outerjoin(
            SignoffRequest,
            and_(col(SignoffRequest.gate_id) == Gate.id, col(SignoffRequest.version) == latest),
        )
        .outerjoin(SignoffDecision, SignoffDecision.request_id == SignoffRequest.id)
        .where(Gate.phase_id == bindparam("phase"))
        .order_by(col(Gate.id))
    )


_GATES = _gates_statement()


def checklist_key(phase_number: int, part: int) -> str:
    return f"{phase_number}.{part}"
