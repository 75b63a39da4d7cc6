"""The audit trail: one append-only row per state change, written in the same transaction.

Rows are only ever inserted; the database refuses UPDATE and DELETE on the table. Recording one
also asks the reminder sweep to plan the engagement again (`request_next_check`): every change
that can move a reminder passes here.

Who may read a row. The channel is shared with the customer (and, in Slack Connect, maybe with
a partner of a third organisation), so `/golive audit` shares there only the rows both sides may
read; the rest is the implementation team's alone and goes only to a vendor person who asks
(not a guest of the vendor's workspace), in private, and to `golive audit` on the command line.
Every action the code records is in exactly one of two sets (tests/unit/test_audit_actions.py
reads every `audit.record(` and checklist `Change(` in bot/, handlers/ and golive/ and fails on
an action in neither), and a row of an action in neither is treated as
the vendor's: an action nobody classified never reaches the channel.

- Shared (`SHARED_ACTIONS`), what the channel shows anyway or both sides decide together:
  the engagement started, live or cancelled (`engagement.started`, `.live`, `.cancelled`); the
  checklist (`item.done`, `.undone`, `.assigned`, `.due`, `.na`, `.reopened`, `.added`,
  `.after`, `.after_removed`, `.blocked`, `.unblocked`, and `.snoozed` from a nudge's menu or
  My tasks: the checklist shows the snooze); phases (`phase.completed`, `.reopened`); sign-offs
  (`signoff.requested`, `.approved`, `.changes_requested`, `.superseded`); roles and sides
  (`role.added`, `.removed`, `side.changed`, `customer.pinned`); the plan and the customer's
  clock (`plan.changed`, `settings.changed`); the dry run (`dryrun.scheduled`,
  `.participants`, `.passed`, `.issues`).
- Vendor only (`VENDOR_ONLY_ACTIONS`), the implementation team's own handling of the customer:
  the escalation ladder, which happens in the lead's direct messages (`escalation.nudged`,
  `escalation.sponsor`: the note to the sponsor is in the channel, the lead's choice is not);
  the flag the sweep sets when Slack refuses the channel, told to the lead by DM
  (`engagement.flagged`); reminders paused or resumed (`nudges.paused`, `nudges.resumed`,
  which names the flag it cleared); a snooze the lead chose on an escalation
  (`item.snoozed` whose detail says `by_lead`: `VENDOR_ONLY_WHEN`); and the CRM deal the
  engagement came from, its channel and its invitations (`deal.received`, `.updated`,
  `.channel`, `.invites`: the deal's terms are the vendor's); and a customer approver's rating of
  a milestone (`rating.given`: the score and the comment are the customer's candid word to the
  vendor, never shown in the shared channel). What the lead was told privately
  about the customer's people (kind people.lead_told, inserted by bot/reminders/people_watch.py
  without asking for a new plan) is in neither set, so it is the vendor's; so is a customer
  person's reply in one of the bot's threads (kind thread.replied, inserted by
  bot/people/activity.py without asking for a new plan, at most one per person, thread and day:
  the team's watch of who is active, while the reply itself is in the channel for all to read).

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
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlmodel import Session, col, select

from bot.people.sides import Actor
from storage.models import AuditEvent, Engagement, EngagementPhase, Gate, Item, Member, saved_id, table_of
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

# Who may read a row (see the module docstring). An action in neither set counts as the vendor's.
SHARED_ACTIONS: frozenset[str] = frozenset(
    {
        "engagement.started",
        "engagement.live",
        "engagement.cancelled",
        "item.done",
        "item.undone",
        "item.assigned",
        "item.due",
        "item.na",
        "item.reopened",
        "item.added",
        "item.after",
        "item.after_removed",
        "item.blocked",
        "item.unblocked",
        "item.snoozed",  # but see VENDOR_ONLY_WHEN
        "phase.completed",
        "phase.reopened",
        "signoff.requested",
        "signoff.approved",
        "signoff.changes_requested",
        "signoff.superseded",
        "role.added",
        "role.removed",
        "side.changed",
        "customer.pinned",
        "plan.changed",
        "settings.changed",
        "dryrun.scheduled",
        "dryrun.participants",
        "dryrun.passed",
        "dryrun.issues",
    }
)
VENDOR_ONLY_ACTIONS: frozenset[str] = frozenset(
    {
        "escalation.nudged",
        "escalation.sponsor",
        "engagement.flagged",
        "nudges.paused",
        "nudges.resumed",
        "deal.received",
        "deal.updated",
        "deal.channel",
        "deal.invites",
        "rating.given",
    }
)
# Shared actions whose row is the vendor's when its detail carries this key, true: the lead's
# snooze from the escalation message (handlers/escalation.py) is part of the escalation.
VENDOR_ONLY_WHEN: dict[str, str] = {"item.snoozed": "by_lead"}


# Built once: the values go in as parameters (building `.values(...)` anew was half of record's CPU).
_INSERT_AUDIT = insert(table_of(AuditEvent))


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


def vendor_only(row: AuditEvent) -> bool:
    """Whether the row is the implementation team's alone (see the module docstring); an action
    nobody classified counts as the vendor's, so it never reaches the shared channel."""
    if row.kind in VENDOR_ONLY_ACTIONS or row.kind not in SHARED_ACTIONS:
        return True
    key = VENDOR_ONLY_WHEN.get(row.kind)
    if key is None:
        return False
    try:
        detail = json.loads(row.detail or "{}")
    except ValueError:
        return True
    return not isinstance(detail, dict) or bool(detail.get(key))


def may_read_vendor_rows(actor: Actor, *, guest: bool) -> bool:
    """Whether this person may have the vendor-only rows: the vendor's side, not a guest of the
    vendor's workspace (users.info `is_restricted` / `is_ultra_restricted`: guests are not the
    implementation team). A customer cannot run our slash commands in Slack Connect, but a guest
    can, and so can someone of the vendor's workspace whom a consultant counts as the customer's
    side (`/golive side @person customer`)."""
    return actor.is_vendor and not guest


@dataclass(frozen=True)
class Trail:
    """An engagement's whole audit trail, read once, with what its readers need: the CSV of every
    row, or of the rows both sides may read (`shared`)."""

    engagement: Engagement
    rows: list[AuditEvent]
    titles: dict[str, str]

    @property
    def shared(self) -> list[AuditEvent]:
        return [r for r in self.rows if not vendor_only(r)]

    @property
    def vendor_rows(self) -> list[AuditEvent]:
        return [r for r in self.rows if vendor_only(r)]

    def as_csv(self, *, everything: bool) -> bytes:
        """Every row (`everything`: for a vendor person, in private), else the shared ones."""
        return to_csv(self.engagement, self.rows if everything else self.shared, self.titles)


def trail(session: Session, engagement: Engagement) -> Trail:
    """The engagement's whole audit trail and the titles of its subjects."""
    rows = events(session, saved_id(engagement))
    return Trail(engagement, rows, subject_titles(session, engagement))


def record_change(session: Session, engagement_id: int, actor: Actor, change: Any, *, now: datetime) -> None:
    """Record a checklist change (`bot.engagement.checklist.Change`)."""
    detail = {"title": change.item.title, **change.detail}
    record(session, engagement_id, actor, change.kind, change.ref, detail, now=now)
