"""The audit trail: one append-only row per state change, written in the same transaction.

Rows are only ever inserted; the database refuses UPDATE and DELETE on the table. Recording one
also asks the reminder sweep to plan the engagement again (`request_next_check`): every change
that can move a reminder passes here.

The CSV export is opened in spreadsheets, which run a cell that starts with `=`, `+`, `-`,
`@`, a tab or a carriage return as a formula. Names, titles and reasons come from users, so
every cell is neutralised as OWASP advises (such a cell gets a leading `'`, which spreadsheets
read as "this is text"), and every cell is quoted so that a `;` or `,` inside one cannot start
a new cell in a spreadsheet that splits on it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlmodel import Session, col, select

from bot.people.sides import Actor
from storage.models import AuditEvent, Engagement, EngagementPhase, Gate, Item, Member
from storage.reminder_rows import request_next_check

CSV_COLUMNS = [
    "id",
    "time_utc",
    "time_local",
    "timezone",
    "engagement",
    "actor_id",
    "actor_name",
    "actor_team",
    "kind",
    "subject",
    "subject_title",
    "detail",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")
_ITEM_REF = re.compile(r"^([0-9]{1,2})\.([0-9]{1,3})$")
SYSTEM = Actor(user_id="golive", team_id=None, name="golive (scheduler)", side="vendor")


# Built once: the values go in as parameters (building `.values(...)` anew was half of record's CPU).
_INSERT_AUDIT = insert(AuditEvent.__table__)  # type: ignore[attr-defined]


def record(
    session: Session,
    engagement_id: int,
    actor: Actor,
    kind: str,
    subject: str = "",
    detail: dict[str, Any] | None = None,
    *,
    now: datetime,
) -> None:
    # Core inserts in the caller's transaction: the ORM's unit of work for these two rows was a
    # third of a checkbox tick's write transaction (cProfile), and nothing reads them back.
    session.connection().execute(
        _INSERT_AUDIT,
        {
            "engagement_id": engagement_id,
            "at": now,
            "actor_id": actor.user_id,
            "actor_team": actor.team_id,
            "actor_name": actor.name[:200],
            "kind": kind,
            "subject": subject[:120],
            "detail": json.dumps(detail or {}, sort_keys=True, default=str),
        },
    )
    # Every state change is audited, so this is the one place that tells the reminder sweep to
    # plan the engagement again (its next check may have moved).
    request_next_check(session, engagement_id, now)


def events(session: Session, engagement_id: int, *, last: int | None = None) -> list[AuditEvent]:
    q = select(AuditEvent).where(AuditEvent.engagement_id == engagement_id)
    if last:
        rows = list(session.exec(q.order_by(col(AuditEvent.id).desc()).limit(last)).all())
        return rows[::-1]
    return list(session.exec(q.order_by(col(AuditEvent.id))).all())


def neutralise(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a leading `'` when it would start a formula
    (also after leading spaces, which some spreadsheets skip)."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) or text.lstrip(" ").startswith(FORMULA_START):
        return "'" + text
    return text


def subject_titles(session: Session, engagement: Engagement) -> dict[str, str]:
    """What the subjects of the engagement's audit rows are called: gate keys → gate titles,
    item references (`2.3`) → item titles, user ids → the names the bot knows them by."""
    titles: dict[str, str] = {}
    for member in session.exec(select(Member).where(Member.engagement_id == engagement.id)):
        if member.display_name:
            titles[member.user_id] = member.display_name
    rows = session.exec(
        select(EngagementPhase.number, Item.number, Item.title)
        .join(Item, col(Item.phase_id) == col(EngagementPhase.id))
        .where(EngagementPhase.engagement_id == engagement.id)
    )
    for phase_number, item_number, title in rows:
        titles[f"{phase_number}.{item_number}"] = title
    for gate in session.exec(select(Gate).where(Gate.engagement_id == engagement.id)):
        titles[gate.key] = gate.title
    return titles


def _subject_title(row: AuditEvent, titles: dict[str, str]) -> str:
    if row.kind.startswith("item.") and _ITEM_REF.match(row.subject):
        try:
            recorded = json.loads(row.detail or "{}").get("title")
        except (ValueError, AttributeError):
            recorded = None
        return str(recorded or titles.get(row.subject, ""))
    if row.kind.startswith("signoff.") or row.kind == "side.changed":
        return titles.get(row.subject, "")
    return ""


def to_csv(engagement: Engagement, rows: list[AuditEvent], titles: dict[str, str] | None = None) -> bytes:
    """The rows as CSV (see the module docstring): ids with readable names beside them, the
    time in UTC and in the engagement's time zone."""
    zone = ZoneInfo(engagement.timezone)
    titles = titles or {}
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        cells = [
            r.id,
            r.at.isoformat(),
            r.at.astimezone(zone).isoformat(),
            engagement.timezone,
            engagement.customer_name,
            r.actor_id,
            r.actor_name,
            r.actor_team or "",
            r.kind,
            r.subject,
            _subject_title(r, titles),
            r.detail,
        ]
        writer.writerow([neutralise(c) for c in cells])
    return buf.getvalue().encode("utf-8")


def export_csv(session: Session, engagement: Engagement) -> tuple[bytes, list[AuditEvent]]:
    """The engagement's whole audit trail as CSV, and its rows."""
    rows = events(session, engagement.id)  # type: ignore[arg-type]
    return to_csv(engagement, rows, subject_titles(session, engagement)), rows


def record_change(session: Session, engagement_id: int, actor: Actor, change: Any, *, now: datetime) -> None:
    """Record a checklist change (`bot.engagement.checklist.Change`)."""
    detail = {"title": change.item.title, **change.detail}
    record(session, engagement_id, actor, change.kind, change.ref, detail, now=now)
