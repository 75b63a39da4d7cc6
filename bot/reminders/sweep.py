"""The sweep: one pass over what is due, run every minute by the in-process scheduler, or by
`golive sweep` from cron. The database decides what is due; APScheduler is only the clock.

1. Plan: for each active engagement whose next check has come (an index on status and
   `next_check_at`) or that changed since it was last planned (a `NextCheckRequest`, written
   by the audit trail with every change), make the fixed reminders match it (dry run, go-live
   day) and, inside the customer's working hours, make today's consolidated nudge and this
   week's digest exist (unique dedupe keys: a reminder exists once); then compute its next
   check (`next_check`). The sweep's cost follows what is due, not how many engagements exist.
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
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlmodel import Session, col

from bot import metrics
from bot.engagement.health import ON_TRACK
from bot.engagement.outlook import load_outlook
from bot.people import audit, notified
from bot.people.members import lead_of
from bot.reminders.attempt import Attempt, Stop, reminder_metadata
from bot.reminders.budget import Budget
from bot.reminders.digest import digest_context, digest_week
from bot.reminders.dryrun import current_attempt, participants, refresh_dry_run, reminder_message, thread_root
from bot.reminders.milestones import sync_schedules
from bot.reminders.next_check import next_check, next_digest_at, next_nudge_at
from bot.reminders.nudge_delivery import deliver_nudge, planned
from bot.reminders.nudges import Entry, mark_nudged, ready_dates
from bot.reminders.working_hours import clock_of
from bot.services import Services
from bot.slack.client import make_sweep_client
from bot.slack.gateway import SlackCallFailed, SlackGateway
from bot.slack.nudges import render_nudge
from bot.slack.presenters import overview
from bot.slack.timeline_share import share_timeline
from messages import Message
from storage.models import ACTIVE, Engagement, NextCheckRequest, Reminder, ReminderAttempt
from storage.reminder_rows import ensure_all

log = logging.getLogger("golive.sweep")

LEASE = timedelta(minutes=5)
MEMBERS_TTL = timedelta(minutes=10)  # how long a channel's member list is trusted
DRYRUN_START_GRACE = timedelta(hours=12)  # "the dry run starts now" is not sent later than this
BATCH = 5  # small claims: processes sharing a database interleave, and a lease covers few sends
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
# Engagements planned per write transaction: short enough that requests waiting for the write
# lock (SQLite) or for an engagement row (PostgreSQL) wait little.
PLAN_BATCH = 20
PLAN_RETRY = timedelta(minutes=5)  # an engagement whose planning failed is tried again after this
DIGEST_WEEKS_LOOKED_UP = 3  # this week's digest key and the next weeks', looked up with today's nudge


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Outgoing:
    reminder_id: int
    engagement_id: int
    kind: str
    channel: str
    message: Message | None
    entries: list[Entry] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)
    thread_ts: str | None = None  # a reply in this thread (the dry-run reminders)
    people: list[str] = field(default_factory=list)  # whom it mentions: the people it notifies
    subjects: list[str] = field(default_factory=list)  # what about, for the notification ledger

    def describe(self) -> str:
        what = ", ".join(e.ref for e in self.entries) if self.entries else self.payload.get("offset", "")
        text = self.message.text[:120] if self.message is not None else ""
        who = f" (notifies {', '.join(self.people)})" if self.people else ""
        return f"{self.kind} → {self.channel}: {text}" + (f" [{what}]" if what else "") + who


@dataclass
class _PlanProgress:
    """One planning pass: the engagements already looked at, the next-check requests read."""

    seen: set[int] = field(default_factory=set)
    cursor: int = 0
    planned: int = 0


def _nudge_key(engagement: Engagement, day: date) -> str:
    return f"nudge:{engagement.id}:{day.isoformat()}"


def _digest_key(engagement: Engagement, week: str) -> str:
    return f"digest:{engagement.id}:{week}"


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


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
        # channel -> (when asked, its members): conversations.members is Tier 4 (100+ a minute),
        # and a morning's sweep may send a reminder to every engagement of a time zone.
        self._members: dict[str, tuple[datetime, set[str] | None]] = {}

    def members(self, channel: str) -> set[str] | None:
        """Who is in the channel (asked again after `MEMBERS_TTL`): reminders mention only them."""
        now = self.s.clock.now()
        known = self._members.get(channel)
        if known is None or not (now - MEMBERS_TTL <= known[0] <= now):
            known = (now, self.slack.channel_members(channel))
            self._members[channel] = known
        return known[1]

    # -- 1. plan -----------------------------------------------------------------------------
    def plan(self, session: Session, now: datetime) -> int:
        """Plan, in this session's transaction, every active engagement whose next check has
        come or that changed since it was last planned; returns how many were planned."""
        progress = _PlanProgress()
        while self._plan_batch(session, now, progress):
            pass
        return progress.planned

    def _plan_all(self, now: datetime) -> int:
        """`plan` in short transactions of at most PLAN_BATCH engagements each, after a read-only
        look that finds nothing to do in two index look-ups (the usual minute)."""
        with self.s.db.read() as session:
            if not self._anything_to_plan(session, now):
                return 0
        progress = _PlanProgress()
        while True:
            with self.s.db.session() as session:
                more = self._plan_batch(session, now, progress)
            if not more:
                return progress.planned

    def _anything_to_plan(self, session: Session, now: datetime) -> bool:
        due = session.execute(
            select(Engagement.id)
            .where(col(Engagement.status) == ACTIVE, col(Engagement.next_check_at) <= now)
            .limit(1)
        ).first()
        return due is not None or session.execute(select(NextCheckRequest.id).limit(1)).first() is not None

    def _lock(self, stmt: Any) -> Any:
        """PostgreSQL: lock the engagements being planned, skipping those another sweep (or a
        change) holds, so two processes plan disjoint sets. SQLite runs one writer at a time."""
        return stmt if self.s.db.is_sqlite else stmt.with_for_update(skip_locked=True, key_share=True)

    def _plan_batch(self, session: Session, now: datetime, progress: _PlanProgress) -> bool:
        """Plan up to PLAN_BATCH engagements: those whose next check has come (the index on
        status and next_check_at), then those with a next-check request. False when nothing
        was left to look at."""
        due = [
            e
            for e in session.exec(
                self._lock(
                    select(Engagement)
                    .where(col(Engagement.status) == ACTIVE, col(Engagement.next_check_at) <= now)
                    .order_by(col(Engagement.next_check_at))
                    .limit(PLAN_BATCH)
                )
            ).scalars()
            if e.id not in progress.seen
        ]
        changed: list[int] = []
        read_requests = False
        if len(due) < PLAN_BATCH:
            # Requests in id order from a cursor: each is looked at once per pass, and one of an
            # engagement planned earlier in this pass waits for the next pass.
            taken = {e.id for e in due}
            for request_id, engagement_id in session.execute(
                select(NextCheckRequest.id, NextCheckRequest.engagement_id)
                .where(col(NextCheckRequest.id) > progress.cursor)
                .order_by(col(NextCheckRequest.id))
                .limit(PLAN_BATCH * 4)
            ):
                read_requests = True
                if engagement_id not in progress.seen and engagement_id not in taken:
                    if len(due) + len(changed) >= PLAN_BATCH:
                        break
                    changed.append(engagement_id)
                    taken.add(engagement_id)
                progress.cursor = request_id
        locked = list(due)
        if changed:
            locked += session.exec(
                self._lock(select(Engagement).where(col(Engagement.id).in_(changed)))
            ).scalars()
        progress.seen.update(e.id for e in due)
        progress.seen.update(changed)  # those another process holds are left to it, or the next pass
        if not locked:
            return read_requests
        ids = [e.id for e in locked]
        # Read before planning: a change committed after this read keeps its request for the next pass.
        requests = list(
            session.execute(
                select(NextCheckRequest.id).where(col(NextCheckRequest.engagement_id).in_(ids))
            ).scalars()
        )
        active = [e for e in locked if e.status == "active"]
        for e in locked:
            if e.status != "active":
                e.next_check_at = None
                session.add(e)
        try:
            with session.begin_nested():
                self._plan_engagements(session, active, now)
        except Exception:
            log.exception("planning %d engagements failed; planning them one by one", len(active))
            for e in active:
                try:
                    with session.begin_nested():
                        self._plan_engagements(session, [e], now)
                except Exception:
                    log.exception("planning engagement %s failed; trying again in %s", e.id, PLAN_RETRY)
                    session.execute(
                        update(Engagement)
                        .where(col(Engagement.id) == e.id)
                        .values(next_check_at=now + PLAN_RETRY)
                    )
        if requests:
            session.execute(delete(NextCheckRequest).where(col(NextCheckRequest.id).in_(requests)))
        session.flush()
        progress.planned += len(active)
        return True

    def _plan_engagements(self, session: Session, engagements: list[Engagement], now: datetime) -> None:
        """For each engagement: make the fixed reminders match it (dry run, go-live day); inside
        the customer's working hours, make today's nudge (when something is due) and this week's
        digest exist; then compute its next check. A few queries for the whole list."""
        if not engagements:
            return
        clocks = {e.id: clock_of(e) for e in engagements}
        todays = {e.id: clocks[e.id].today(now) for e in engagements}
        looked_up: list[str] = []
        for e in engagements:
            looked_up.append(_nudge_key(e, todays[e.id]))
            for weeks in range(DIGEST_WEEKS_LOOKED_UP):
                looked_up.append(_digest_key(e, _iso_week(todays[e.id] + timedelta(weeks=weeks))))
        existing = set(
            session.exec(select(Reminder.dedupe_key).where(col(Reminder.dedupe_key).in_(looked_up))).all()
        )
        sync_schedules(session, engagements, now)
        ready = ready_dates(session, engagements)
        new: list[tuple[int, str, str, datetime, dict[str, object]]] = []
        for e in engagements:
            clock, today = clocks[e.id], todays[e.id]
            if e.flagged:
                e.next_check_at = next_check(now)
                session.add(e)
                continue
            nudge_key = _nudge_key(e, today)
            if clock.in_hours(now):
                if (
                    not e.nudges_paused
                    and e.id in ready
                    and ready[e.id] <= today
                    and nudge_key not in existing
                ):
                    new.append((e.id, "nudge", nudge_key, now, {"date": today.isoformat()}))  # type: ignore[arg-type]
                    existing.add(nudge_key)
                found = digest_week(clock, today)
                if found is not None and _digest_key(e, found[0]) not in existing:
                    week, first_day = found
                    new.append(
                        (
                            e.id,
                            "digest",
                            _digest_key(e, week),
                            clock.at_local(first_day, clock.start),
                            {"week": week},
                        )  # type: ignore[arg-type]
                    )
                    existing.add(_digest_key(e, week))
            e.next_check_at = next_check(
                now,
                None
                if e.nudges_paused
                else next_nudge_at(clock, now, ready.get(e.id), nudge_key in existing),  # type: ignore[arg-type]
                next_digest_at(clock, now, lambda week, e=e: _digest_key(e, week) in existing),  # type: ignore[misc]
            )
            if clock.in_hours(now):
                told = self._health_changed(session, e, now)
                if told is not None:
                    new.append(told)
            session.add(e)
        ensure_all(session, new, now)

    def _health_changed(
        self, session: Session, e: Engagement, now: datetime
    ) -> tuple[int, str, str, datetime, dict[str, object]] | None:
        """The engagement's health now; when its level changed since the lead was last told, a
        reminder row that tells them privately (on track → at risk → late, and back), with why."""
        health = load_outlook(session, e, self.s.playbook, now).health
        level, reason = health.level, health.reason or health.headline
        was = e.health_level
        e.health_level, e.health_reason = level, reason[:300]
        if level == was or (was is None and level == ON_TRACK):
            return None
        today = clock_of(e).today(now).isoformat()
        payload: dict[str, object] = {"level": level, "was": was, "reason": reason[:300]}
        return (e.id, "health", f"health:{e.id}:{level}:{today}", now, payload)  # type: ignore[return-value]

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
    def build(
        self,
        session: Session,
        reminder: Reminder,
        now: datetime,
        present: set[str] | None = None,
        dm_channel: str | None = None,
    ) -> Outgoing | str:
        """The message to send now, or the reason to skip it. `present`: who is in the channel
        (None: not known), for whom a reminder mentions."""
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
            plan = planned(self.s, session, engagement, payload, now, present)
            listed = [e for p in plan.threads for e in p.due]
            if not plan.threads and not plan.held and not plan.unnamed:
                return "nothing due any more"
            if not listed:
                return "held back by the notification budget" if plan.held else "nobody named to remind"
            msg = render_nudge(self.s, session, engagement, [e.as_dict() for e in listed], now)
            people = sorted({u for p in plan.threads for u in p.people})
            return Outgoing(
                reminder.id,  # type: ignore[arg-type]
                engagement.id,  # type: ignore[arg-type]
                "nudge",
                engagement.channel_id,
                msg,
                listed,
                payload,
                people=people,
            )
        if reminder.kind == "dryrun":
            if engagement.dryrun_at is None or engagement.dryrun_outcome is not None:
                return "dry run no longer pending"
            offset = payload.get("offset")
            if offset == "t0" and now - engagement.dryrun_at > DRYRUN_START_GRACE:
                return "the dry run started long ago"
            if offset != "t0" and engagement.dryrun_at <= now:
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
            people = participants(session, engagement, present).people
            msg = reminder_message(self.s, session, engagement, offset, now, people)
            attempt = current_attempt(session, engagement.id)  # type: ignore[arg-type]
            return Outgoing(
                reminder.id,
                engagement.id,  # type: ignore[arg-type]
                "dryrun",
                engagement.channel_id,
                msg,
                payload=payload,
                thread_ts=thread_root(session, engagement.id),  # type: ignore[arg-type]
                people=people,
                subjects=[f"dryrun:{attempt.id if attempt else 0}"],
            )
        if reminder.kind == "golive":
            if clock.today(now).isoformat() != payload.get("date"):
                return "not go-live day any more"
            base = overview(session, engagement, self.s.playbook, now)
            msg = r.message(
                "golive_day.json.j2", **base, dryrun_outcome=engagement.dryrun_outcome, command=self.s.command
            )
            return Outgoing(reminder.id, engagement.id, "golive", engagement.channel_id, msg, payload=payload)  # type: ignore[arg-type]
        if reminder.kind == "health":
            if dm_channel is None:
                return "no lead consultant to tell"
            lead = lead_of(session, engagement.id)  # type: ignore[arg-type]
            msg = r.message(
                "health_dm.json.j2",
                customer_name=engagement.customer_name,
                channel=engagement.channel_id,
                level=payload.get("level"),
                was=payload.get("was"),
                reason=payload.get("reason") or "",
                command=self.s.command,
            )
            return Outgoing(
                reminder.id,  # type: ignore[arg-type]
                engagement.id,  # type: ignore[arg-type]
                "health",
                dm_channel,
                msg,
                payload=payload,
                people=[lead.user_id] if lead else [],
                subjects=[f"health:{payload.get('level')}"],
            )
        if reminder.kind == "digest":
            base = overview(session, engagement, self.s.playbook, now)
            context = digest_context(session, engagement, now, present, Budget(session, engagement, now))
            msg = r.message("digest.json.j2", **base, **context, command=self.s.command)
            return Outgoing(
                reminder.id,  # type: ignore[arg-type]
                engagement.id,  # type: ignore[arg-type]
                "digest",
                engagement.channel_id,
                msg,
                payload=payload,
                people=list(context["mentioned"]),
                subjects=[f"digest:{payload.get('week', '')}"],
            )
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
        with self.s.db.read() as session:
            found = session.execute(
                select(Reminder.kind, Engagement.channel_id)
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
        with self.s.db.session() as session:
            reminder = session.get(Reminder, reminder_id)
            if reminder is None or reminder.claimed_by != self.worker:
                return
            built = self.build(session, reminder, now, present, dm_channel)
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
            refresh_dry_run(self.s, built.engagement_id)  # it has started: the outcome buttons appear
        payload = built.payload | ({"entries": [e.__dict__ for e in built.entries]} if built.entries else {})
        if built.people:
            payload["notified"] = built.people
        with self.s.db.session() as session:
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
            share_timeline(self.s, built.engagement_id, built.channel, thread_ts=ts)

    def _lead_dm(self, reminder_id: int) -> str | None:
        """The lead consultant's direct-message channel, for what is told to them privately."""
        with self.s.db.read() as session:
            engagement_id = session.execute(
                select(Reminder.engagement_id).where(col(Reminder.id) == reminder_id)
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

    def _flag(self, engagement_id: int, channel: str, error: str, now: datetime) -> None:
        """Stop sending to a channel Slack refuses, and tell the lead consultant by DM."""
        reason = {
            "is_archived": "the channel is archived",
            "channel_not_found": "the channel was not found",
            "not_in_channel": "I was removed from the channel",
        }.get(error, error)
        with self.s.db.session() as session:
            engagement = session.get(Engagement, engagement_id)
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
                    channel=channel,
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
        started = time.perf_counter()
        self._plan_all(now)
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
