"""The sweep: one pass over what is due, run every minute by the in-process scheduler, or by
`golive sweep` from cron. The database decides what is due; APScheduler is only the clock.

1. Plan (`bot.reminders.planning`): make the reminders of every engagement whose time has come
   exist (the fixed ones, today's nudge, this week's digest) and compute its next check. The
   sweep's cost follows what is due, not how many engagements exist.
2. Claim: take due reminders with a lease, atomically — `UPDATE … RETURNING` in one write
   transaction on SQLite, `FOR UPDATE SKIP LOCKED` on PostgreSQL — so two processes never
   take the same one. A lease that runs out (the process died) makes it due again: at most
   the message that was in flight is sent twice.
3. Send: build the message from the database as it is now (`bot.reminders.outgoing`), post it
   (`bot.reminders.attempt`; a nudge thread by thread: `bot.reminders.nudge_delivery`), record
   whom it notified and the attempt. 429 waits Retry-After; 5xx and timeouts leave it due with
   backoff; a channel Slack refuses (archived, not found, bot removed) flags the engagement and
   tells the lead.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlmodel import Session, col

from bot import metrics
from bot.deals.setup import run_due as run_deal_work
from bot.events.delivery import deliver_due
from bot.people import audit, notified
from bot.people.members import lead_of
from bot.reminders import people_watch as watch
from bot.reminders.attempt import Attempt, Stop, reminder_metadata
from bot.reminders.dryrun import refresh_dry_run
from bot.reminders.nudge_delivery import deliver_nudge
from bot.reminders.nudges import mark_nudged
from bot.reminders.outgoing import build
from bot.reminders.planning import Planner
from bot.reminders.rating_delivery import deliver_due as deliver_ratings
from bot.services import Services
from bot.slack.client import make_sweep_client
from bot.slack.gateway import SlackCallFailed, SlackGateway
from bot.slack.timeline_share import share_timeline
from storage.models import Engagement, Reminder, ReminderAttempt, saved_id

log = logging.getLogger("golive.sweep")

LEASE = timedelta(minutes=5)
MEMBERS_TTL = timedelta(minutes=10)  # how long a channel's member list is trusted
BATCH = 5  # small claims: processes sharing a database interleave, and a lease covers few sends
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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
        self.services = services
        self.worker = worker or worker_id()
        settings = services.settings
        client = make_sweep_client(
            settings.slack_bot_token, settings.slack_api_url, timeout=settings.slack_timeout_seconds
        )
        self.planner = Planner(services)
        self.slack = SlackGateway(client, services.db, services.clock, seal_key=services.slack.seal_key)
        # channel -> (when asked, its members): conversations.members is Tier 4 (100+ a minute),
        # and a morning's sweep may send a reminder to every engagement of a time zone.
        self._members: dict[str, tuple[datetime, set[str] | None]] = {}

    def members(self, channel: str) -> set[str] | None:
        """Who is in the channel (asked again after `MEMBERS_TTL`): reminders mention only them."""
        now = self.services.clock.now()
        known = self._members.get(channel)
        if known is None or not (now - MEMBERS_TTL <= known[0] <= now):
            known = (now, self.slack.channel_members(channel))
            self._members[channel] = known
        return known[1]

    # -- 1. plan: bot.reminders.planning ---------------------------------------------------
    def plan(self, session: Session, now: datetime) -> int:
        """Plan, in this session's transaction, every engagement whose time has come."""
        return self.planner.plan(session, now)

    # -- 2. claim ----------------------------------------------------------------------------
    def claim(self, now: datetime, limit: int = BATCH) -> list[int]:
        due = (
            (col(Reminder.status) == "pending")
            & (col(Reminder.due_at) <= now)
            & or_(col(Reminder.next_attempt_at).is_(None), col(Reminder.next_attempt_at) <= now)
            & or_(col(Reminder.claim_until).is_(None), col(Reminder.claim_until) < now)
        )
        with self.services.db.session() as session:
            pick = (
                select(col(Reminder.id))
                .where(due)
                .order_by(col(Reminder.due_at), col(Reminder.id))
                .limit(limit)
            )
            if not self.services.db.is_sqlite:
                pick = pick.with_for_update(skip_locked=True)
            stmt = (
                update(Reminder)
                .where(
                    col(Reminder.id).in_(
                        pick.scalar_subquery()
                        if self.services.db.is_sqlite
                        else list(session.execute(pick).scalars())
                    )
                )
                .values(claimed_by=self.worker, claim_until=now + LEASE)
                .returning(col(Reminder.id))
            )
            return sorted(session.execute(stmt).scalars().all())

    # -- 3. send (what each reminder says: bot.reminders.outgoing) ----------------------------
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
        with self.services.db.session() as session:
            session.execute(
                update(Reminder)
                .where(col(Reminder.id) == reminder_id, col(Reminder.claimed_by) == self.worker)
                .values(claimed_by=None, claim_until=None, **values)
            )
            self._attempt(session, reminder_id, now, outcome, values.get("last_error"))

    def _sent(
        self, reminder_id: int, now: datetime, ts: str | None, attempts: int, payload: dict[str, Any]
    ) -> None:
        """Release the claim of a reminder that landed as message `ts` on attempt `attempts`."""
        self._finish(
            reminder_id,
            now,
            "sent",
            status="sent",
            sent_ts=ts,
            sent_at=now,
            attempts=attempts,
            payload=json.dumps(payload, default=str),
            last_error=None,
            unconfirmed_since=None,
        )

    def deliver(self, reminder_id: int, now: datetime, report: SweepReport) -> None:
        with self.services.db.read() as session:
            found = session.execute(
                select(col(Reminder.kind), col(Engagement.channel_id))
                .join(Engagement, col(Engagement.id) == col(Reminder.engagement_id))
                .where(col(Reminder.id) == reminder_id)
            ).first()
        kind, channel = found if found is not None else (None, None)
        # Who is in the channel, asked before any transaction: a reminder mentions only them.
        present = self.members(channel) if channel and kind in ("nudge", "dryrun", "digest") else None
        if kind == "nudge":  # thread by thread: see bot.reminders.nudge_delivery
            deliver_nudge(self, reminder_id, now, report, present)
            return
        dm_channel = self._lead_dm(reminder_id) if kind == "health" else None
        with self.services.db.session() as session:
            reminder = session.get(Reminder, reminder_id)
            if reminder is None or reminder.claimed_by != self.worker:
                return
            built = build(self.services, session, reminder, now, present, dm_channel)
            key, attempts = reminder.dedupe_key, reminder.attempts
            unconfirmed = reminder.unconfirmed_since is not None
        if isinstance(built, str):
            self._finish(reminder_id, now, "skipped", status="skipped", last_error=built[:200])
            report.skipped.append(f"{key}: {built}")
            return
        attempt = Attempt(self, reminder_id, built.engagement_id, key, attempts, unconfirmed, now, report)
        assert built.message is not None
        try:
            ts, thread_ts = attempt.send(
                built.channel,
                built.message,
                kind=built.kind,
                ledger_key=key,
                metadata=reminder_metadata(key, built.kind, built.subjects, built.people),
                thread_ts=built.thread_ts,
                direct=built.kind == "health",
            )
        except Stop:
            return
        if built.kind == "dryrun" and built.payload.get("offset") == "t0":
            refresh_dry_run(self.services, built.engagement_id)  # it has started: the outcome buttons appear
        payload = built.payload | ({"entries": [e.__dict__ for e in built.entries]} if built.entries else {})
        if built.people:
            payload["notified"] = built.people
        with self.services.db.session() as session:
            mark_nudged(session, built.entries, now)
            following = notified.followers(session, built.channel, thread_ts) - set(built.people)
            notified.record(
                session,
                built.engagement_id,
                built.people,
                kind=built.kind,
                subjects=built.subjects,
                now=now,
                reminder=True,
                channel=built.channel,
                ts=ts,
                thread_ts=thread_ts,
            )
            notified.record_followers(
                session,
                built.engagement_id,
                following,
                kind=built.kind,
                now=now,
                channel=built.channel,
                ts=ts,
                thread_ts=thread_ts,
            )
        self._sent(reminder_id, now, ts, attempts + 1, payload)
        report.sent.append(built.describe())
        if built.kind == "digest":  # the timeline picture in the digest's thread (text if files are blocked)
            share_timeline(self.services, built.engagement_id, built.channel, thread_ts=ts)

    def _lead_dm(self, reminder_id: int) -> str | None:
        """The lead consultant's direct-message channel, for what is told to them privately."""
        with self.services.db.read() as session:
            engagement_id = session.execute(
                select(col(Reminder.engagement_id)).where(col(Reminder.id) == reminder_id)
            ).scalar()
            lead = lead_of(session, engagement_id) if engagement_id is not None else None
        if lead is None:
            return None
        try:
            return self.slack.open_dm(lead.user_id)
        except SlackCallFailed as exc:
            log.warning("could not open a DM with %s: %s", lead.user_id, exc.error)
            return None

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
            with self.services.db.read() as session:
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

    def _flag(self, engagement_id: int, channel: str, error: str, now: datetime) -> None:
        """Stop sending to a channel Slack refuses, and tell the lead consultant by DM."""
        reason = {
            "is_archived": "the channel is archived",
            "channel_not_found": "the channel was not found",
            "not_in_channel": "I was removed from the channel",
        }.get(error, error)
        with self.services.db.session() as session:
            engagement = session.get(Engagement, engagement_id)
            assert engagement is not None
            engagement.flagged = reason[:200]
            session.add(engagement)
            audit.record(
                session,
                saved_id(engagement),
                audit.SYSTEM,
                "engagement.flagged",
                engagement.customer_name,
                {"error": error},
                now=now,
            )
            lead = lead_of(session, saved_id(engagement))
            name = engagement.customer_name
        if lead is None:
            return
        try:
            self.slack.dm(
                lead.user_id,
                self.services.renderer.message(
                    "flagged_dm.json.j2",
                    customer_name=name,
                    reason=reason,
                    channel=channel,
                    command=self.services.command,
                ),
            )
        except Exception as exc:  # the DM is best effort; the flag is what stops the loop
            log.warning("could not tell %s about the flagged engagement: %s", lead.user_id, exc)

    # -- the pass ----------------------------------------------------------------------------
    def run(self, now: datetime | None = None, *, dry_run: bool = False) -> SweepReport:
        now = now or self.services.clock.now()
        report = SweepReport(at=now)
        if dry_run:
            return self._dry_run(now, report)
        started = time.perf_counter()
        if self.services.settings.golive_create_channels:
            run_deal_work(self.services, now)  # deals' channels: retries, invitations not answered
        self.planner.plan_all(now)
        while True:
            ids = self.claim(now)
            for rid in ids:
                self.deliver(rid, now, report)
            if len(ids) < BATCH:
                break
        metrics.SWEEP_SECONDS.observe(time.perf_counter() - started)
        for outcome, done in (
            ("sent", report.sent),
            ("failed", report.failed),
            ("deferred", report.retried),
            ("skipped", report.skipped),
        ):
            if done:
                metrics.REMINDERS.labels(outcome).inc(len(done))
        log.info(report.summary())
        try:  # who is on the project: the lead told of empty roles and silence (`bot.reminders.people_watch`)
            watch.check_all(self.services, now)
        except Exception:
            log.exception("checking who is on the project failed; the next sweep tries again")
        try:  # rating asks and low-rating alerts Slack has not taken (`bot.reminders.rating_delivery`)
            deliver_ratings(self.services, self.slack, now)
        except Exception:
            log.exception("sending rating asks and alerts failed; the next sweep tries again")
        try:  # the events out due now (retries; what a stopped process queued): `bot.events.delivery`
            deliver_due(self.services.db, lambda: now)
        except Exception:
            log.exception("delivering events failed; the next sweep tries again")
        return report

    def _dry_run(self, now: datetime, report: SweepReport) -> SweepReport:
        """Plan and build in a transaction that is rolled back; nothing is sent or written."""
        with self.services.db.engine.connect() as conn:
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
                        built = build(self.services, session, reminder, now)
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
