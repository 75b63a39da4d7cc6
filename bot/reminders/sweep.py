"""The sweep: one pass over what is due, run every minute by the in-process scheduler, or by
`golive sweep` from cron. The database decides what is due; APScheduler is only the clock.

1. Plan: for each active engagement, make the fixed reminders match it (dry run, go-live
   day) and, inside the customer's working hours, make today's consolidated nudge and this
   week's digest exist (unique dedupe keys: a reminder exists once).
2. Claim: take due reminders with a lease, atomically — `UPDATE … RETURNING` in one write
   transaction on SQLite, `FOR UPDATE SKIP LOCKED` on PostgreSQL — so two processes never
   take the same one. A lease that runs out (the process died) makes it due again: at most
   the message that was in flight is sent twice.
3. Send: build the message from the database as it is now, post it, record the attempt.
   429 waits Retry-After; 5xx and timeouts leave it due with backoff; a channel Slack
   refuses (archived, not found, bot removed) flags the engagement and tells the lead.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlmodel import Session, col

from bot.people import audit
from bot.people.members import lead_of
from bot.reminders.digest import digest_context
from bot.reminders.dryrun import dryrun_message
from bot.reminders.milestones import sync_schedule
from bot.reminders.nudges import Entry, entries, mark_nudged
from bot.reminders.working_hours import clock_of
from bot.services import Services
from bot.slack.client import make_sweep_client
from bot.slack.gateway import SlackCallFailed, SlackGateway
from bot.slack.presenters import overview
from messages import Message
from storage.models import Engagement, Reminder, ReminderAttempt
from storage.reminder_rows import ensure

log = logging.getLogger("golive.sweep")

LEASE = timedelta(minutes=5)
BATCH = 5  # small claims: processes sharing a database interleave, and a lease covers few sends
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
DIGEST_CATCH_UP_DAYS = 2
# Message metadata on every reminder post, so a post that timed out can be looked for.
REMINDER_EVENT = "golive_reminder"
# Errors of conversations.history that looking again will not fix: send without checking.
CANNOT_LOOK = frozenset({"missing_scope", "not_in_channel", "channel_not_found", "not_allowed_token_type"})


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Outgoing:
    reminder_id: int
    engagement_id: int
    kind: str
    channel: str
    message: Message
    entries: list[Entry] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        what = ", ".join(e.ref for e in self.entries) if self.entries else self.payload.get("offset", "")
        return f"{self.kind} → {self.channel}: {self.message.text[:120]}" + (f" [{what}]" if what else "")


@dataclass
class SweepReport:
    at: datetime
    sent: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    would_send: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"sweep at {self.at.isoformat()}: {len(self.sent)} sent, {len(self.retried)} to retry, "
            f"{len(self.failed)} failed, {len(self.skipped)} skipped"
        )


class Sweeper:
    def __init__(self, services: Services, *, worker: str | None = None) -> None:
        self.s = services
        self.worker = worker or worker_id()
        settings = services.settings
        client = make_sweep_client(
            settings.slack_bot_token, settings.slack_api_url, timeout=settings.slack_timeout_seconds
        )
        self.slack = SlackGateway(client, services.db, services.clock, seal_key=services.slack.seal_key)

    # -- 1. plan -----------------------------------------------------------------------------
    def plan(self, session: Session, now: datetime) -> None:
        for engagement in session.exec(
            select(Engagement).where(col(Engagement.status) == "active")
        ).scalars():
            sync_schedule(session, engagement, now)
            if engagement.flagged:
                continue
            clock = clock_of(engagement)
            if not clock.in_hours(now):
                continue
            today = clock.today(now)
            if not engagement.nudges_paused and entries(session, engagement, now):
                ensure(
                    session,
                    engagement.id,
                    "nudge",
                    f"nudge:{engagement.id}:{today.isoformat()}",
                    now,  # type: ignore[arg-type]
                    {"date": today.isoformat()},
                    now,
                )
            week_start = today - timedelta(days=today.weekday())
            first_day = clock.calendar.on_or_after(week_start)
            if first_day <= today <= clock.calendar.add(first_day, DIGEST_CATCH_UP_DAYS - 1):
                year, week, _ = today.isocalendar()
                ensure(
                    session,
                    engagement.id,
                    "digest",
                    f"digest:{engagement.id}:{year}-W{week:02d}",  # type: ignore[arg-type]
                    clock.at_local(first_day, clock.start),
                    {"week": f"{year}-W{week:02d}"},
                    now,
                )

    # -- 2. claim ----------------------------------------------------------------------------
    def claim(self, now: datetime, limit: int = BATCH) -> list[int]:
        due = (
            (col(Reminder.status) == "pending")
            & (col(Reminder.due_at) <= now)
            & or_(col(Reminder.next_attempt_at).is_(None), col(Reminder.next_attempt_at) <= now)
            & or_(col(Reminder.claim_until).is_(None), col(Reminder.claim_until) < now)
        )
        with self.s.db.session() as session:
            pick = (
                select(Reminder.id).where(due).order_by(col(Reminder.due_at), col(Reminder.id)).limit(limit)
            )
            if not self.s.db.is_sqlite:
                pick = pick.with_for_update(skip_locked=True)
            stmt = (
                update(Reminder)
                .where(
                    col(Reminder.id).in_(
                        pick.scalar_subquery()
                        if self.s.db.is_sqlite
                        else list(session.execute(pick).scalars())
                    )
                )
                .values(claimed_by=self.worker, claim_until=now + LEASE)
                .returning(Reminder.id)
            )
            return sorted(session.execute(stmt).scalars().all())

    # -- 3. send -----------------------------------------------------------------------------
    def build(self, session: Session, reminder: Reminder, now: datetime) -> Outgoing | str:
        """The message to send now, or the reason to skip it."""
        engagement = session.get(Engagement, reminder.engagement_id)
        if engagement is None or engagement.status != "active":
            return "engagement no longer active"
        if engagement.flagged:
            return f"engagement flagged: {engagement.flagged}"
        payload = json.loads(reminder.payload or "{}")
        clock = clock_of(engagement)
        r = self.s.renderer
        if reminder.kind == "nudge":
            if engagement.nudges_paused:
                return "nudges paused"
            found = entries(session, engagement, now)
            if not found:
                return "nothing due any more"
            msg = r.message(
                "nudge.json.j2", customer_name=engagement.customer_name, entries=found, command=self.s.command
            )
            return Outgoing(reminder.id, engagement.id, "nudge", engagement.channel_id, msg, found, payload)  # type: ignore[arg-type]
        if reminder.kind == "dryrun":
            if engagement.dryrun_at is None or engagement.dryrun_outcome is not None:
                return "dry run no longer pending"
            if engagement.dryrun_at <= now:
                return "the dry run has started"
            later = session.execute(
                select(Reminder.id).where(
                    col(Reminder.engagement_id) == engagement.id,
                    col(Reminder.kind) == "dryrun",
                    col(Reminder.status) == "pending",
                    col(Reminder.due_at) <= now,
                    col(Reminder.due_at) > reminder.due_at,
                )
            ).first()
            if later is not None:
                return "a later dry-run reminder is also due; only the latest is sent"
            msg = dryrun_message(self.s, session, engagement, payload.get("offset"), now)
            return Outgoing(reminder.id, engagement.id, "dryrun", engagement.channel_id, msg, payload=payload)  # type: ignore[arg-type]
        if reminder.kind == "golive":
            if clock.today(now).isoformat() != payload.get("date"):
                return "not go-live day any more"
            base = overview(session, engagement, self.s.playbook, now)
            msg = r.message(
                "golive_day.json.j2", **base, dryrun_outcome=engagement.dryrun_outcome, command=self.s.command
            )
            return Outgoing(reminder.id, engagement.id, "golive", engagement.channel_id, msg, payload=payload)  # type: ignore[arg-type]
        if reminder.kind == "digest":
            base = overview(session, engagement, self.s.playbook, now)
            msg = r.message(
                "digest.json.j2", **base, **digest_context(session, engagement, now), command=self.s.command
            )
            return Outgoing(reminder.id, engagement.id, "digest", engagement.channel_id, msg, payload=payload)  # type: ignore[arg-type]
        return f"unknown kind {reminder.kind}"

    def _attempt(
        self, session: Session, reminder_id: int, now: datetime, outcome: str, error: str | None = None
    ) -> None:
        session.add(
            ReminderAttempt(
                reminder_id=reminder_id,
                at=now,
                worker=self.worker,
                outcome=outcome,
                error=(error or None) and error[:200],
            )
        )

    def _finish(self, reminder_id: int, now: datetime, outcome: str, **values: Any) -> None:
        """Release the claim with the reminder's new state, and record the attempt."""
        with self.s.db.session() as session:
            session.execute(
                update(Reminder)
                .where(col(Reminder.id) == reminder_id, col(Reminder.claimed_by) == self.worker)
                .values(claimed_by=None, claim_until=None, **values)
            )
            self._attempt(session, reminder_id, now, outcome, values.get("last_error"))

    def deliver(self, reminder_id: int, now: datetime, report: SweepReport) -> None:
        with self.s.db.session() as session:
            reminder = session.get(Reminder, reminder_id)
            if reminder is None or reminder.claimed_by != self.worker:
                return
            if reminder.kind == "nudge":
                engagement = session.get(Engagement, reminder.engagement_id)
                if engagement is not None and not clock_of(engagement).in_hours(now):
                    nxt = clock_of(engagement).next_window(now)
                    session.execute(
                        update(Reminder)
                        .where(col(Reminder.id) == reminder_id)
                        .values(due_at=nxt, claimed_by=None, claim_until=None)
                    )
                    report.skipped.append(
                        f"{reminder.dedupe_key}: outside working hours, moved to {nxt.isoformat()}"
                    )
                    return
            built = self.build(session, reminder, now)
            key, attempts = reminder.dedupe_key, reminder.attempts
            unconfirmed = reminder.unconfirmed_since is not None
        if isinstance(built, str):
            self._finish(reminder_id, now, "skipped", status="skipped", last_error=built[:200])
            report.skipped.append(f"{key}: {built}")
            return
        ts: str | None = None
        if unconfirmed:
            # An earlier post timed out: Slack may have posted it all the same. Look before re-sending.
            try:
                ts = self.slack.find_by_metadata(built.channel, REMINDER_EVENT, key)
            except SlackCallFailed as exc:
                if exc.error not in CANNOT_LOOK:
                    self._retry(reminder_id, now, attempts, f"checking the earlier post: {exc.error}", report, key)
                    return
                log.warning("cannot check whether %s landed (%s); sending it again", key, exc.error)
            except Exception as exc:  # timeouts again: try the check on a later pass
                self._retry(reminder_id, now, attempts, f"checking the earlier post: {exc}", report, key)
                return
            if ts is not None:
                self.slack.record(built.channel, ts, kind=built.kind, key=key, engagement_id=built.engagement_id)
                log.info("%s: the earlier post that timed out had landed (%s); not sending it again", key, ts)
        try:
            ts = ts or self.slack.post(
                built.channel,
                built.message,
                kind=built.kind,
                key=key,
                engagement_id=built.engagement_id,
                metadata={"event_type": REMINDER_EVENT, "event_payload": {"key": key, "kind": built.kind}},
            )
        except SlackCallFailed as exc:
            if exc.channel_gone:
                self._flag(built, exc.error, now)
                self._finish(
                    reminder_id, now, "failed", status="failed", last_error=exc.error, attempts=attempts + 1
                )
                report.failed.append(f"{key}: {exc.error}")
                return
            self._retry(reminder_id, now, attempts, exc.error, report, key)
            return
        except Exception as exc:  # timeouts, connection errors: it may have been posted anyway
            self._retry(
                reminder_id, now, attempts, f"{type(exc).__name__}: {exc}", report, key, unconfirmed=True
            )
            return
        payload = built.payload | ({"entries": [e.__dict__ for e in built.entries]} if built.entries else {})
        with self.s.db.session() as session:
            mark_nudged(session, built.entries, now)
        self._finish(
            reminder_id,
            now,
            "sent",
            status="sent",
            sent_ts=ts,
            sent_at=now,
            attempts=attempts + 1,
            payload=json.dumps(payload, default=str),
            last_error=None,
            unconfirmed_since=None,
        )
        report.sent.append(built.describe())

    def _retry(
        self,
        reminder_id: int,
        now: datetime,
        attempts: int,
        error: str,
        report: SweepReport,
        key: str,
        *,
        unconfirmed: bool = False,
    ) -> None:
        delay = min(BACKOFF_BASE * (2**attempts), BACKOFF_MAX)
        extra: dict[str, Any] = {}
        if unconfirmed:
            with self.s.db.read() as session:
                row = session.get(Reminder, reminder_id)
                extra["unconfirmed_since"] = (row.unconfirmed_since if row else None) or now
        self._finish(
            reminder_id,
            now,
            "retry",
            status="pending",
            attempts=attempts + 1,
            next_attempt_at=now + delay,
            last_error=error[:200],
            **extra,
        )
        report.retried.append(f"{key}: {error} (next try in {int(delay.total_seconds())}s)")

    def _flag(self, out: Outgoing, error: str, now: datetime) -> None:
        """Stop sending to a channel Slack refuses, and tell the lead consultant by DM."""

        reason = {
            "is_archived": "the channel is archived",
            "channel_not_found": "the channel was not found",
            "not_in_channel": "I was removed from the channel",
        }.get(error, error)
        with self.s.db.session() as session:
            engagement = session.get(Engagement, out.engagement_id)
            assert engagement is not None
            engagement.flagged = reason[:200]
            session.add(engagement)
            audit.record(
                session,
                engagement.id,
                audit.SYSTEM,
                "engagement.flagged",
                engagement.customer_name,  # type: ignore[arg-type]
                {"error": error},
                now=now,
            )
            lead = lead_of(session, engagement.id)  # type: ignore[arg-type]
            name = engagement.customer_name
        if lead is None:
            return
        try:
            self.slack.dm(
                lead.user_id,
                self.s.renderer.message(
                    "flagged_dm.json.j2",
                    customer_name=name,
                    reason=reason,
                    channel=out.channel,
                    command=self.s.command,
                ),
            )
        except Exception as exc:  # the DM is best effort; the flag is what stops the loop
            log.warning("could not tell %s about the flagged engagement: %s", lead.user_id, exc)

    # -- the pass ----------------------------------------------------------------------------
    def run(self, now: datetime | None = None, *, dry_run: bool = False) -> SweepReport:
        now = now or self.s.clock.now()
        report = SweepReport(at=now)
        if dry_run:
            return self._dry_run(now, report)
        with self.s.db.session() as session:
            self.plan(session, now)
        while True:
            ids = self.claim(now)
            for rid in ids:
                self.deliver(rid, now, report)
            if len(ids) < BATCH:
                break
        log.info(report.summary())
        return report

    def _dry_run(self, now: datetime, report: SweepReport) -> SweepReport:
        """Plan and build in a transaction that is rolled back; nothing is sent or written."""
        with self.s.db.engine.connect() as conn:
            trans = conn.begin()
            try:
                with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
                    self.plan(session, now)
                    session.flush()
                    due = (
                        session.execute(
                            select(Reminder)
                            .where(col(Reminder.status) == "pending", col(Reminder.due_at) <= now)
                            .order_by(col(Reminder.due_at))
                        )
                        .scalars()
                        .all()
                    )
                    for reminder in due:
                        built = self.build(session, reminder, now)
                        if isinstance(built, str):
                            report.skipped.append(f"{reminder.dedupe_key}: {built}")
                        else:
                            report.would_send.append(built.describe())
            finally:
                trans.rollback()
        return report


def run_sweep(
    services: Services, now: datetime | None = None, *, dry_run: bool = False, worker: str | None = None
) -> SweepReport:
    return Sweeper(services, worker=worker).run(now, dry_run=dry_run)
