"""The tables. Instants are UTC (`UTCDateTime`); calendar dates are local to the engagement."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol, cast

from sqlalchemy import Column, Index, Table, UniqueConstraint, and_, bindparam, literal_column, text
from sqlalchemy.orm import Mapped
from sqlalchemy.sql.elements import ColumnClause
from sqlmodel import Field, SQLModel, col

from storage.types import UTCDateTime


def utc_column(nullable: bool = False) -> Column:
    return Column(UTCDateTime(), nullable=nullable)


# For `status = 'active'` in queries of engagements: written into the SQL, not a bound parameter.
# SQLite prepares a statement again on every run when a bound parameter could satisfy a partial
# index's WHERE (uq_engagement_active_channel's, below): 60 of the 80 us SQLite spent on every
# request's channel lookup (measured on the statement SQLAlchemy emits).
ACTIVE: ColumnClause[str] = literal_column("'active'")


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


def saved_id(row: _Row) -> int:
    """A saved row's id. The models say `id: int | None` because a new row has none until the
    session flushes it; code that holds a row read from or flushed to the database uses this."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id yet: flush it before using its id")
    return row.id


def id_col(column: int | None) -> Mapped[int]:
    """`col(Model.id)` for a query that reads ids: typed `int`, as the ids of saved rows are."""
    return cast("Mapped[int]", col(column))


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Core `Table`, for statements built once without the ORM."""
    table: Table = model.__table__  # type: ignore[attr-defined]  # SQLAlchemy sets it; SQLModel does not declare it
    return table


class Engagement(SQLModel, table=True):
    __tablename__ = "engagement"
    __table_args__ = (
        # One active engagement per channel, enforced by the database.
        Index(
            "uq_engagement_active_channel",
            "team_id",
            "channel_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        # The sweep finds the engagements whose next check has come through this index.
        Index("ix_engagement_next_check", "status", "next_check_at"),
        # Every request finds its channel's engagement through this one. Without it SQLite, which
        # keeps no statistics, chose the index above and scanned every active engagement.
        Index("ix_engagement_channel_status", "channel_id", "status"),
        # The sweep finds the engagements whose App Home sort key went stale (a local midnight
        # passed) through this one.
        Index("ix_engagement_risk_until", "status", "risk_until"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    # The installing workspace's Enterprise Grid org, when it has one: colleagues from other
    # workspaces of the same org are the vendor's people too.
    vendor_enterprise_id: str | None = Field(default=None, max_length=32)
    # The customer's organisation: learned from the channel's connected teams, pinned by the
    # first customer-side role or action, changed by a consultant. Users of any other
    # organisation have no side until a consultant gives them one.
    customer_team_id: str | None = Field(default=None, max_length=32)
    customer_enterprise_id: str | None = Field(default=None, max_length=32)
    channel_id: str = Field(max_length=32, index=True)
    customer_name: str = Field(max_length=200)
    size: str = Field(max_length=16)
    kickoff_on: date
    target_on: date | None = None
    timezone: str = Field(max_length=64)
    country: str | None = Field(default=None, max_length=8)
    pilot: bool = False
    ingest: str = Field(default="warehouse", max_length=16)
    # preparing (made from a CRM deal: its channel is being set up and the customer has not
    # joined yet; nothing is posted or reminded) | active | live | cancelled
    status: str = Field(default="active", max_length=16)
    phase_index: int = Field(default=1)
    # The customer's clock for reminders: working hours and days, and the nudge cadence.
    work_start: str = Field(default="09:00", max_length=5)
    work_end: str = Field(default="17:00", max_length=5)
    work_days: str = Field(default="0,1,2,3,4", max_length=20)  # Monday = 0
    cadence_days: int = Field(default=2)
    nudges_paused: bool = False
    # Set when Slack refuses the channel (archived, bot removed); sending stops until cleared.
    flagged: str | None = Field(default=None, max_length=200)
    dryrun_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    dryrun_outcome: str | None = Field(default=None, max_length=16)  # passed | issues
    dryrun_notes: str | None = Field(default=None, max_length=2000)
    dryrun_recorded_by: str | None = Field(default=None, max_length=32)
    # The earliest instant at which planning could produce a reminder for this engagement (a
    # nudge, a digest), computed when the sweep plans it. A change asks for an earlier look with
    # a NextCheckRequest row. None: not planned yet (a new engagement has its request).
    next_check_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # The health level the lead was last told of (on_track | at_risk | late), and why.
    health_level: str | None = Field(default=None, max_length=16)
    health_reason: str | None = Field(default=None, max_length=300)
    # App Home's sort key, riskiest first (`bot.engagement.portfolio`): the health's rank (2 late,
    # 1 at risk, 0 on track), the business days the forecast go-live slips, the open items
    # overdue. Written where the outlook is computed (the sweep's plan, the start); valid until
    # `risk_until`, the first local midnight after it was computed (items fall overdue then).
    # None: never computed.
    risk_rank: int | None = None
    risk_slip: int | None = None
    risk_overdue: int | None = None
    risk_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # The CRM deal's free fields (product, tier…) as JSON, for the playbook's `when:` rules; None
    # for an engagement started by hand.
    fields: str | None = None
    # The playbook it was made from: a file's name (without .yaml) in GOLIVE_PLAYBOOKS_DIR, chosen
    # by the deal's fields; None: the deployment's default playbook (GOLIVE_PLAYBOOK).
    playbook: str | None = Field(default=None, max_length=100)
    created_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())


# The channel's active engagement, as every request looks it up (bound parameter `channel`).
CHANNELS_ACTIVE = and_(col(Engagement.channel_id) == bindparam("channel"), col(Engagement.status) == ACTIVE)


class EngagementPhase(SQLModel, table=True):
    """A phase of one engagement, copied from the playbook at start, with its planned dates."""

    __tablename__ = "engagement_phase"
    __table_args__ = (
        UniqueConstraint("engagement_id", "number", name="uq_phase_number"),
        UniqueConstraint("engagement_id", "key", name="uq_phase_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="engagement.id", index=True, ondelete="CASCADE")
    number: int
    key: str = Field(max_length=64)
    name: str = Field(max_length=60)
    emoji: str = Field(default="", max_length=40)
    planned_start: date
    planned_end: date
    completed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Member(SQLModel, table=True):
    """A person known to an engagement, on the vendor's or the customer's side."""

    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("engagement_id", "user_id", name="uq_member_user"),)

    id: int | None = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="engagement.id", index=True, ondelete="CASCADE")
    user_id: str = Field(max_length=32)
    team_id: str | None = Field(default=None, max_length=32)
    enterprise_id: str | None = Field(default=None, max_length=32)
    display_name: str = Field(default="", max_length=200)
    # A consultant may override which side someone is on; None means "from their home team".
    side_override: str | None = Field(default=None, max_length=16)
    added_by: str = Field(max_length=32)
    added_at: datetime = Field(sa_column=utc_column())


class MemberRole(SQLModel, table=True):
    """A role of a member: lead, consultant, approver (optionally for one gate), contributor, sponsor."""

    __tablename__ = "member_role"
    __table_args__ = (UniqueConstraint("member_id", "role", "gate_key", name="uq_member_role"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True, ondelete="CASCADE")
    role: str = Field(max_length=16)
    # "*" means every gate; otherwise the playbook key of one gate.
    gate_key: str = Field(default="*", max_length=64)


class HomeViewer(SQLModel, table=True):
    """Someone of the vendor's side who opened the App Home tab: what they were looking at (their
    engagements or all of them, which page) and the answer to the last button they clicked there.

    Only these people get their Home re-published when an engagement changes: someone who never
    opened it costs nothing.
    """

    __tablename__ = "home_viewer"

    user_id: str = Field(primary_key=True, max_length=32)
    view: str = Field(default="mine", max_length=8)  # mine | all
    page: int = Field(default=1)
    note: str | None = Field(default=None, max_length=300)
    opened_at: datetime = Field(sa_column=utc_column())
    # Slack's hash of the Home last published to them (the views.publish answer): the next
    # publish sends it, so Slack refuses (`hash_conflict`) to put it over a Home published since.
    view_hash: str | None = Field(default=None, max_length=64)


class PostedMessage(SQLModel, table=True):
    """Ledger of what the bot posted, so messages are updated in place, never re-posted."""

    __tablename__ = "posted_message"
    __table_args__ = (UniqueConstraint("channel_id", "ts", name="uq_posted_message_ts"),)

    id: int | None = Field(default=None, primary_key=True)
    engagement_id: int | None = Field(default=None, foreign_key="engagement.id", index=True)
    channel_id: str = Field(max_length=32)
    ts: str = Field(max_length=32)
    kind: str = Field(max_length=32)
    key: str = Field(default="", max_length=128, index=True)
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())


class ProcessedEvent(SQLModel, table=True):
    """Events API deliveries already handled; Slack retries them and Bolt does not dedupe."""

    __tablename__ = "processed_event"

    event_id: str = Field(primary_key=True, max_length=64)
    received_at: datetime = Field(sa_column=utc_column())


class UserProfile(SQLModel, table=True):
    """Cache of users.info: home team, names and time zone."""

    __tablename__ = "user_profile"

    user_id: str = Field(primary_key=True, max_length=32)
    team_id: str | None = Field(default=None, max_length=32)
    enterprise_id: str | None = Field(default=None, max_length=32)  # users.info enterprise_user
    name: str = Field(default="", max_length=200)
    real_name: str = Field(default="", max_length=200)
    display_name: str = Field(default="", max_length=200)
    tz: str | None = Field(default=None, max_length=64)
    is_bot: bool = False
    # A guest of their workspace (users.info is_restricted: multi-channel; is_ultra_restricted:
    # single-channel): on the vendor's side they get no portfolio in App Home.
    is_guest: bool = False
    fetched_at: datetime = Field(sa_column=utc_column())


class ChannelMember(SQLModel, table=True):
    """Who is in an engagement's channel, as conversations.members said at `ChannelRoster.fetched_at`
    and member_joined_channel / member_left_channel events said since. App Home shows a vendor
    person the engagements whose channel they are in (a private channel's colleagues outside it see
    nothing of it); one row per person and channel, so the portfolio's query joins it."""

    __tablename__ = "channel_member"

    channel_id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(primary_key=True, max_length=32, index=True)


class ChannelRoster(SQLModel, table=True):
    """When a channel's members were last read from Slack (conversations.members, every page).
    A channel without a row has never been read: its `ChannelMember` rows are only what events
    said."""

    __tablename__ = "channel_roster"

    channel_id: str = Field(primary_key=True, max_length=32)
    fetched_at: datetime = Field(sa_column=utc_column())


class Item(SQLModel, table=True):
    """A checklist item of one engagement's phase; `phase.number` + `number` make its ref, e.g. 2.3."""

    __tablename__ = "item"
    __table_args__ = (UniqueConstraint("phase_id", "number", name="uq_item_number"),)

    id: int | None = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="engagement.id", index=True, ondelete="CASCADE")
    phase_id: int = Field(foreign_key="engagement_phase.id", index=True, ondelete="CASCADE")
    number: int
    key: str = Field(max_length=64)
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    owner_side: str = Field(max_length=16)
    custom: bool = False
    assignee_id: str | None = Field(default=None, max_length=32)
    due_on: date | None = None
    due_set_by_hand: bool = False
    status: str = Field(default="open", max_length=8)  # open | done | na
    done_by: str | None = Field(default=None, max_length=32)
    done_by_team: str | None = Field(default=None, max_length=32)
    done_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    on_behalf: bool = False
    na_reason: str | None = Field(default=None, max_length=500)
    # Nudging: snooze (a local date), blocked with a reason, and the escalation count.
    snoozed_until: date | None = None
    blocked_reason: str | None = Field(default=None, max_length=500)
    blocked_by: str | None = Field(default=None, max_length=32)
    nudge_count: int = 0
    last_nudged_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # When it is due inside its phase, in percent of the phase's business days (100: its last day),
    # from the playbook; its due date follows its prerequisites too (`ItemDependency`).
    due_share: int = Field(default=100)
    # What settles it besides a tick: `dry_run` (a passed dry run) or a gate's key (its approval).
    settled_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())


class ItemDependency(SQLModel, table=True):
    """An item that waits for another (its prerequisite) to be done: from the playbook's `after:`,
    Waits for… in the item's Details or `/golive after`. While the prerequisite is open the item says so, its
    reminders go to the prerequisite's owner, and its due date follows the prerequisite's."""

    __tablename__ = "item_dependency"
    __table_args__ = (UniqueConstraint("item_id", "requires_id", name="uq_item_dependency"),)

    id: int | None = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="engagement.id", index=True, ondelete="CASCADE")
    item_id: int = Field(foreign_key="item.id", ondelete="CASCADE")
    requires_id: int = Field(foreign_key="item.id", ondelete="CASCADE")


class Gate(SQLModel, table=True):
    """A sign-off gate of one engagement, copied from the playbook at start."""

    __tablename__ = "gate"
    __table_args__ = (UniqueConstraint("engagement_id", "key", name="uq_gate_key"),)

    id: int | None = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="engagement.id", index=True, ondelete="CASCADE")
    phase_id: int = Field(foreign_key="engagement_phase.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=64)
    title: str = Field(max_length=120)
    description: str = Field(default="", max_length=1500)
    requires_dry_run: bool = False
    # The keys of the items it certifies (JSON list), from the playbook; None: all its phase's items.
    item_keys: str | None = None
    status: str = Field(default="open", max_length=16)  # open | approved
    approved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class SignoffRequest(SQLModel, table=True):
    """One version of a request to approve a gate; a re-request supersedes the previous one."""

    __tablename__ = "signoff_request"
    __table_args__ = (UniqueConstraint("gate_id", "version", name="uq_signoff_version"),)

    id: int | None = Field(default=None, primary_key=True)
    gate_id: int = Field(foreign_key="gate.id", index=True, ondelete="CASCADE")
    version: int
    fingerprint: str = Field(max_length=16)
    content: str  # JSON: what is being approved, as shown
    status: str = Field(default="open", max_length=20)  # open | approved | changes_requested | superseded
    requested_by: str = Field(max_length=32)
    requested_at: datetime = Field(sa_column=utc_column())
    channel_id: str = Field(max_length=32)
    ts: str | None = Field(default=None, max_length=32)
    nudge_count: int = 0
    last_nudged_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # A re-request after changes were requested: what the implementation team changed.
    note: str | None = Field(default=None, max_length=2000)


class SignoffDecision(SQLModel, table=True):
    """The decision on a request. The unique request_id makes a second decision impossible."""

    __tablename__ = "signoff_decision"
    __table_args__ = (UniqueConstraint("request_id", name="uq_decision_request"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="signoff_request.id", ondelete="CASCADE")
    gate_id: int = Field(foreign_key="gate.id", index=True, ondelete="CASCADE")
    gate_key: str = Field(max_length=64)
    version: int
    fingerprint: str = Field(max_length=16)
    decision: str = Field(max_length=20)  # approved | changes_requested
    user_id: str = Field(max_length=32)
    team_id: str | None = Field(default=None, max_length=32)
    display_name: str = Field(max_length=200)
    reason: str | None = Field(default=None, max_length=2000)
    decided_at: datetime = Field(sa_column=utc_column())
    # The gate's items still open when the decision was made (shown to the approver before).
    open_items: int | None = None
    total_items: int | None = None


class AuditEvent(SQLModel, table=True):
    """Append-only record of every state change. Database triggers refuse UPDATE, DELETE, an
    insert over an existing id (SQLite's INSERT OR REPLACE) and TRUNCATE (PostgreSQL)."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="engagement.id", index=True)
    at: datetime = Field(sa_column=utc_column())
    actor_id: str = Field(max_length=32)
    actor_team: str | None = Field(default=None, max_length=32)
    actor_name: str = Field(default="", max_length=200)
    kind: str = Field(max_length=40)
    subject: str = Field(default="", max_length=120)
    detail: str = Field(default="{}")  # JSON


class Reminder(SQLModel, table=True):
    """Something the bot must send at a time. The database, not the scheduler, decides what is due.

    The unique dedupe key makes a reminder exist once; a claim (who, until when) makes two
    bot processes on one database never send the same reminder. A claim that runs out (the
    process died) makes it due again.
    """

    __tablename__ = "reminder"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_reminder_dedupe"),
        Index("ix_reminder_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="engagement.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)  # nudge | dryrun | golive | digest
    dedupe_key: str = Field(max_length=160)
    due_at: datetime = Field(sa_column=utc_column())
    # pending | sent | skipped | cancelled | failed
    status: str = Field(default="pending", max_length=12)
    claimed_by: str | None = Field(default=None, max_length=80)
    claim_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_error: str | None = Field(default=None, max_length=200)
    payload: str = Field(default="{}")  # JSON
    sent_ts: str | None = Field(default=None, max_length=32)
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # When a post timed out, Slack may have posted it anyway: the time of that attempt, so the
    # next try first looks in the channel for a message carrying this reminder's metadata.
    unconfirmed_since: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(sa_column=utc_column())


class ReminderAttempt(SQLModel, table=True):
    """Every attempt to send a reminder, whatever its outcome."""

    __tablename__ = "reminder_attempt"

    id: int | None = Field(default=None, primary_key=True)
    reminder_id: int = Field(foreign_key="reminder.id", index=True, ondelete="CASCADE")
    at: datetime = Field(sa_column=utc_column())
    worker: str = Field(max_length=80)
    outcome: str = Field(max_length=16)  # sent | retry | failed | skipped
    error: str | None = Field(default=None, max_length=200)


class NextCheckRequest(SQLModel, table=True):
    """Something changed that may move an engagement's next check: the sweep plans it again.

    Written in the same transaction as the change (by the audit trail, which every state change
    writes), and deleted by the sweep that plans the engagement. An insert, not an update of
    the engagement row: a change never waits on, nor locks, the engagement row for this.
    """

    __tablename__ = "next_check_request"

    id: int | None = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="engagement.id", index=True, ondelete="CASCADE")
    at: datetime = Field(sa_column=utc_column())


class NudgeMessage(SQLModel, table=True):
    """A reminder the bot posted as a thread reply (a nudge), or a direct message to the lead
    consultant about stuck work (an escalation): what it lists (`entries`, JSON), whom it
    mentioned (`people`, sorted user ids), and whether it is still the live one of its thread.

    A nudge is edited while it is the latest for its people (see `bot.reminders.nudges`); a newer
    one replaces it (`replaced`). An escalation is `open` until the lead acts on it (`handled`,
    `note` says how)."""

    __tablename__ = "nudge_message"
    __table_args__ = (
        UniqueConstraint("channel_id", "ts", name="uq_nudge_message_ts"),
        # The live nudges of an engagement are found through this index.
        Index("ix_nudge_message_live", "engagement_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="engagement.id", ondelete="CASCADE")
    kind: str = Field(max_length=16)  # nudge | escalation
    # The thread it belongs to: `checklist:<phase number>`, `signoff:<request id>`; `lead` for an escalation.
    topic: str = Field(max_length=64)
    channel_id: str = Field(max_length=32)
    ts: str = Field(max_length=32)
    thread_ts: str | None = Field(default=None, max_length=32)
    people: str = Field(default="", max_length=1000)
    entries: str = Field(default="[]")  # JSON
    status: str = Field(default="live", max_length=16)  # live | replaced | open | handled
    note: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())


class DryRunAttempt(SQLModel, table=True):
    """One scheduling of the go-live dry run and its outcome. Rescheduling supersedes the
    current attempt and adds the next one; an attempt's outcome is never overwritten. The
    engagement's `dryrun_*` columns mirror the current (latest) attempt."""

    __tablename__ = "dry_run_attempt"
    __table_args__ = (UniqueConstraint("engagement_id", "number", name="uq_dry_run_number"),)

    id: int | None = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="engagement.id", index=True, ondelete="CASCADE")
    number: int
    at: datetime = Field(sa_column=utc_column())
    outcome: str | None = Field(default=None, max_length=16)  # passed | issues
    notes: str | None = Field(default=None, max_length=2000)
    recorded_by: str | None = Field(default=None, max_length=32)
    recorded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    superseded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    scheduled_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=utc_column())
    # Its announcement in the channel: the first attempt's is a top-level message; later ones
    # are replies in its thread (`thread_ts`), where the dry-run reminders go too.
    channel_id: str | None = Field(default=None, max_length=32)
    ts: str | None = Field(default=None, max_length=32)
    thread_ts: str | None = Field(default=None, max_length=32)
    # Who takes part (user ids, comma-separated), whom its reminders mention; None: the default
    # (the lead, the customer's approvers and main contact, as they are when a reminder goes out).
    participants: str | None = Field(default=None, max_length=1000)


class Notification(SQLModel, table=True):
    """Someone the bot notified (a mention in the channel, or a direct message): whom, when, by
    which message, about what (`subject`: `item:12`, `signoff:3`, `dryrun:2`, `digest:2026-W49`,
    `role:contributor`…), how (`via`: a mention, following the thread it replied in, a direct
    message) and whether it was a reminder (`reminder`: counted by the notification budget,
    `bot.reminders.budget`) or news (given work, named to a role). Written when the message has
    landed; escalation counts only reminders that notified someone. The people mentioned in a
    thread follow it: Slack notifies them of every later reply there."""

    __tablename__ = "notification"
    __table_args__ = (
        # The budget reads one person's reminders of a day through this index.
        Index("ix_notification_user_at", "user_id", "at"),
        Index("ix_notification_subject", "engagement_id", "subject"),
        Index("ix_notification_thread", "channel_id", "thread_ts"),
    )

    id: int | None = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="engagement.id", ondelete="CASCADE")
    user_id: str = Field(max_length=32)
    at: datetime = Field(sa_column=utc_column())
    kind: str = Field(max_length=24)  # nudge | dryrun | digest | vendor | note | named | unnamed | escalation
    subject: str = Field(max_length=64)
    reminder: bool = False
    via: str = Field(default="mention", max_length=16)  # mention | following | dm
    channel_id: str = Field(default="", max_length=32)
    ts: str = Field(default="", max_length=32)
    thread_ts: str | None = Field(default=None, max_length=32)  # the thread it replied in


class InboxRequest(SQLModel, table=True):
    """A Slack request acked with work still to do (`storage.inbox`): recorded, committed, before
    Slack gets its 200; done once its work has run. A row whose lease ran out (the process that
    held it died) is taken again by any bot process sharing the database."""

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_pending", "done_at", "lease_until"),)

    id: int | None = Field(default=None, primary_key=True)
    # From Slack's ids (event_id, trigger_id): a retried delivery is recorded once.
    dedupe_key: str = Field(max_length=128, unique=True)
    kind: str = Field(max_length=32)  # command | block_actions | view_submission | …
    body: str  # as received (a form, or JSON in Socket Mode)
    headers: str  # JSON: the request's headers (content type, Slack's timestamp and signature)
    received_at: datetime = Field(sa_column=utc_column())
    lease_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    attempts: int = 0  # times a worker took it
    done_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    outcome: str | None = Field(default=None, max_length=16)  # done | abandoned


class Deal(SQLModel, table=True):
    """A CRM deal won (`bot.deals`): recorded once per `deal_id` however often the CRM sends it,
    with the engagement it made and how far the setting up of its channel has come."""

    __tablename__ = "deal"
    __table_args__ = (Index("ix_deal_work", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    deal_id: str = Field(max_length=128, unique=True)  # the CRM's id
    source: str = Field(max_length=16)  # golive | hubspot | salesforce | cli | sandbox
    payload: str  # JSON: the deal as golive reads it (`bot.deals.deal.Deal`), the last one received
    engagement_id: int | None = Field(default=None, foreign_key="engagement.id", index=True)
    lead_user_id: str | None = Field(default=None, max_length=32)
    # The channel work (`bot.deals.setup`): channel → vendor team invited → customer invites sent
    # → joined (the customer's side is in: the engagement is active) | failed (told to the lead)
    state: str = Field(default="channel", max_length=16)
    channel_id: str | None = Field(default=None, max_length=32)
    channel_name: str | None = Field(default=None, max_length=80)
    problem: str | None = Field(default=None, max_length=300)  # Slack's last refusal, in words
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    received_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())


class DealContact(SQLModel, table=True):
    """A customer contact named by a deal, invited to the channel by email (one Slack Connect
    invitation each), and their role once they join."""

    __tablename__ = "deal_contact"
    __table_args__ = (UniqueConstraint("deal_ref", "email", name="uq_deal_contact_email"),)

    id: int | None = Field(default=None, primary_key=True)
    deal_ref: int = Field(foreign_key="deal.id", index=True)
    email: str = Field(max_length=254)
    name: str | None = Field(default=None, max_length=200)
    # approver | contributor | sponsor | main_contact | it_admin
    role: str | None = Field(default=None, max_length=24)
    # to_invite | sent | accepted (waiting for an admin's approval) | joined | declined | expired
    # | refused (Slack said no: `invite_error`)
    invite_state: str = Field(default="to_invite", max_length=16)
    invite_id: str | None = Field(default=None, max_length=32)
    invite_error: str | None = Field(default=None, max_length=64)
    invited_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # The lead was reminded of an invitation not accepted on these business days after it (3, 10).
    reminded_day: int = 0
    user_id: str | None = Field(default=None, max_length=32)  # once they joined


class HookDelivery(SQLModel, table=True):
    """An event sent out to one webhook target (`bot.events`): written in the same transaction as
    the change it tells of (an outbox: no event is lost when the process dies, none is sent for a
    change rolled back), one row per (event, target); delivered by any bot process sharing the
    database, which leases it while it posts. The row is also the delivery log."""

    __tablename__ = "hook_delivery"
    __table_args__ = (
        UniqueConstraint("event_id", "target", name="uq_hook_delivery_target"),
        # The deliverers find due rows through this index.
        Index("ix_hook_delivery_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=40)  # the event's id, the same for every target
    event: str = Field(max_length=32)  # engagement.started | phase.started | signoff.decided | …
    engagement_id: int | None = Field(default=None, foreign_key="engagement.id", index=True)
    target: str = Field(max_length=500)  # the URL (its secret stays in the configuration)
    body: str  # JSON, exactly as posted (signed), the same on every attempt
    status: str = Field(default="pending", max_length=12)  # pending | delivered | failed
    created_at: datetime = Field(sa_column=utc_column())
    next_attempt_at: datetime = Field(sa_column=utc_column())
    lease_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    attempts: int = 0
    last_status: int | None = None  # the HTTP status of the last answer
    last_error: str | None = Field(default=None, max_length=300)
    last_attempt_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    delivered_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Rating(SQLModel, table=True):
    """A customer approver's rating of a milestone (`bot.engagement.ratings`): a gate approved, or
    the go-live (`milestone` "golive", no gate). The row is written when the approver is asked
    (`asked_at`, the cooldown reads it) and given its score and comment once, by a conditional
    update: a rating given is never changed. One per milestone and person (the unique key).

    What Slack took is kept too, so that nothing acked lives only in memory: `ask_sent_at` when the
    ask reached the approver, `lead_told_at` when the lead was told of a low score; the sweep sends
    what is missing, leased to one process by `retry_at` (`bot.reminders.rating_delivery`)."""

    __tablename__ = "rating"
    __table_args__ = (
        UniqueConstraint("engagement_id", "milestone", "user_id", name="uq_rating_milestone_user"),
        # The cooldown: when was this person last asked.
        Index("ix_rating_user_asked", "user_id", "asked_at"),
        # The sweep: asks Slack has not taken, and low ratings the lead was not told of, recent ones.
        Index("ix_rating_ask_unsent", "ask_sent_at", "asked_at"),
        Index("ix_rating_lead_untold", "lead_told_at", "rated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="engagement.id", index=True, ondelete="CASCADE")
    gate_id: int | None = Field(default=None, foreign_key="gate.id", ondelete="CASCADE")
    milestone: str = Field(max_length=64)  # the gate's key, or "golive"
    title: str = Field(max_length=200)  # what was rated, as the approver was asked
    user_id: str = Field(max_length=32)
    team_id: str | None = Field(default=None, max_length=32)
    asked_at: datetime = Field(sa_column=utc_column())
    score: int | None = None  # 1..5, None until given
    comment: str | None = Field(default=None, max_length=2000)
    rated_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    ask_sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    lead_told_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    retry_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))  # the sweep's lease


class ProjectPageCanvas(SQLModel, table=True):
    """What the bot last wrote to an engagement's project page canvas (`bot.slack.project_page`):
    its title, footer and, per section (by its heading), the lines it wrote, as JSON. A refresh
    diffs the page it renders against this and edits only the lines that changed, after a restart
    and in another replica too. Written only once the edits landed; `version` makes that write a
    compare and set, so a refresh that raced another process's edits finds out and rewrites the
    whole page. No row (a canvas written before this table, or whose state is unknown): the next
    refresh replaces the whole canvas."""

    __tablename__ = "project_page_canvas"

    canvas_id: str = Field(primary_key=True, max_length=32)
    engagement_id: int = Field(foreign_key="engagement.id", index=True, ondelete="CASCADE")
    # {"title": md, "footer": md, "sections": [{"heading": …, "lines": [[markdown, shown text], …]}]}
    written: str
    version: int = 0
    written_at: datetime = Field(sa_column=utc_column())
