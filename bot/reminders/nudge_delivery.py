"""Sending a nudge reminder, thread by thread (see `bot.reminders.nudges` for what and where).

For each thread the sweep edits the live nudge or posts a new reply (through its own gateway,
with message metadata naming the reminder, so a reply whose answer was lost is looked for in its
thread before it is sent again). Each thread is recorded as it lands: its nudge row, the entries
counted as nudged, and the thread marked done in the reminder's payload — a retry after a
failure in a later thread sends only what is left. A replaced nudge is collapsed through the
outbox. Last, entries that reached step 2 of the ladder are named to the lead consultant in a
direct message (best effort: a failed DM is logged, the nudges stand).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlmodel import col

from bot.people.members import lead_of
from bot.reminders.nudges import (
    ThreadPlan,
    dumps,
    entries,
    entries_again,
    mark_nudged,
    plan_threads,
    stuck,
)
from bot.reminders.working_hours import clock_of
from bot.slack.gateway import SlackCallFailed
from bot.slack.home import refresh_homes
from bot.slack.nudges import ESCALATION, LIVE, NUDGE, OPEN, REPLACED, refresh_row, render_nudge, render_row
from bot.slack.sending import MESSAGE_GONE
from storage.models import Engagement, NudgeMessage, Reminder

if TYPE_CHECKING:
    from bot.reminders.sweep import Sweeper, SweepReport

log = logging.getLogger("golive.sweep")

THREAD_GONE = frozenset({"thread_not_found", "cannot_reply_to_message"})


class _Stop(Exception):
    """This attempt ends here (retry scheduled, or the channel flagged)."""


def deliver_nudge(sw: Sweeper, reminder_id: int, now: datetime, report: SweepReport) -> None:
    from bot.reminders.sweep import REMINDER_EVENT, Outgoing

    s = sw.s
    with s.db.session() as session:
        reminder = session.get(Reminder, reminder_id)
        if reminder is None or reminder.claimed_by != sw.worker:
            return
        engagement = session.get(Engagement, reminder.engagement_id)
        why = _why_not(engagement)
        if why is None and engagement is not None and not clock_of(engagement).in_hours(now):
            nxt = clock_of(engagement).next_window(now)
            session.execute(
                update(Reminder)
                .where(col(Reminder.id) == reminder_id)
                .values(due_at=nxt, claimed_by=None, claim_until=None)
            )
            report.skipped.append(f"{reminder.dedupe_key}: outside working hours, moved to {nxt.isoformat()}")
            return
        key, attempts = reminder.dedupe_key, reminder.attempts
        unconfirmed = reminder.unconfirmed_since is not None
        payload = json.loads(reminder.payload or "{}")
        again = payload.get("again")
        plans: list[ThreadPlan] = []
        if why is None:
            assert engagement is not None
            due = (
                entries_again(session, engagement, again, now)
                if again is not None
                else entries(session, engagement, now)
            )
            done_topics = set(payload.get("done") or [])
            plans = [
                p
                for p in plan_threads(s, session, engagement, due, force_new=again is not None)
                if p.topic not in done_topics
            ]
            engagement_id, channel, name = engagement.id, engagement.channel_id, engagement.customer_name
            if not plans and not done_topics:
                why = "nothing due any more"
    if why is not None:
        sw._finish(reminder_id, now, "skipped", status="skipped", last_error=why[:200])
        report.skipped.append(f"{key}: {why}")
        return
    out = Outgoing(reminder_id, engagement_id, NUDGE, channel, None)  # type: ignore[arg-type]
    sent_ts: str | None = None
    try:
        for plan in plans:
            ts = _send_thread(
                sw, plan, out, key, attempts, unconfirmed, now, report, again is not None, REMINDER_EVENT
            )
            sent_ts = sent_ts or ts
            payload.setdefault("done", []).append(plan.topic)
            payload.setdefault("threads", []).append(
                {
                    "topic": plan.topic,
                    "ts": ts,
                    "refs": [e.ref for e in plan.due],
                    "edited": plan.edit is not None,
                }
            )
            with s.db.session() as session:
                session.execute(
                    update(Reminder)
                    .where(col(Reminder.id) == reminder_id)
                    .values(payload=json.dumps(payload))
                )
    except _Stop:
        return
    if again is None:
        _escalate(sw, engagement_id, stuck(plans), now)  # type: ignore[arg-type]
    sw._sent(reminder_id, now, sent_ts, attempts + 1, payload)
    # Items went overdue since the Home was drawn: the team's Home shows them (after the sweep,
    # through the outbox, only for people who opened it).
    refresh_homes(s, engagement_id)  # type: ignore[arg-type]
    refs = [e.ref for p in plans for e in p.due]
    report.sent.append(
        f"nudge → {channel}: {name} · "
        + "; ".join(p.describe() for p in plans)
        + (f" [{', '.join(refs)}]" if refs else "")
    )


def _why_not(engagement: Engagement | None) -> str | None:
    if engagement is None or engagement.status != "active":
        return "engagement no longer active"
    if engagement.flagged:
        return f"engagement flagged: {engagement.flagged}"
    if engagement.nudges_paused:
        return "nudges paused"
    return None


def _send_thread(
    sw: Sweeper,
    plan: ThreadPlan,
    out: Any,
    key: str,
    attempts: int,
    unconfirmed: bool,
    now: datetime,
    report: SweepReport,
    again: bool,
    event: str,
) -> str:
    """Edit or post one thread's nudge and record it; returns its ts. Raises _Stop after
    scheduling a retry or flagging the channel."""
    s = sw.s
    with s.db.read() as session:
        engagement = session.get(Engagement, out.engagement_id)
        assert engagement is not None
        message = render_nudge(s, session, engagement, plan.entries, now)
    if plan.edit is not None:
        try:
            sw.slack.update(out.channel, plan.edit.ts, message)
        except SlackCallFailed as exc:
            if exc.channel_gone:
                _fail(sw, out, exc.error, attempts, now, report, key)
            if exc.error not in MESSAGE_GONE:
                sw._retry(out.reminder_id, now, attempts, exc.error, report, key)
                raise _Stop() from exc
            # Deleted or no longer editable: post a new one in its place.
            plan.replaces, plan.edit = plan.edit, None
        except Exception as exc:
            sw._retry(out.reminder_id, now, attempts, f"{type(exc).__name__}: {exc}", report, key)
            raise _Stop() from exc
        else:
            with s.db.session() as session:
                row = session.get(NudgeMessage, plan.edit.id)
                if row is not None:
                    row.entries, row.updated_at = dumps(plan.entries), now
                    session.add(row)
                mark_nudged(session, plan.due, now, again=again)
            return plan.edit.ts
    ts = _post(sw, plan, out, message, key, attempts, unconfirmed, now, report, event)
    with s.db.session() as session:
        session.add(
            NudgeMessage(
                engagement_id=out.engagement_id,
                kind=NUDGE,
                topic=plan.topic,
                channel_id=out.channel,
                ts=ts,
                thread_ts=plan.parent,
                people=",".join(plan.people)[:1000],
                entries=dumps(plan.entries),
                status=LIVE,
                created_at=now,
                updated_at=now,
            )
        )
        if plan.replaces is not None:
            old = session.get(NudgeMessage, plan.replaces.id)
            if old is not None:
                old.status, old.updated_at = REPLACED, now
                session.add(old)
        mark_nudged(session, plan.due, now, again=again)
    if plan.replaces is not None:
        replaced = plan.replaces
        replaced.status = REPLACED
        refresh_row(s, replaced)
    return ts


def _post(
    sw: Sweeper,
    plan: ThreadPlan,
    out: Any,
    message: Any,
    key: str,
    attempts: int,
    unconfirmed: bool,
    now: datetime,
    report: SweepReport,
    event: str,
) -> str:
    from bot.reminders.sweep import CANNOT_LOOK

    if unconfirmed:
        # An earlier post timed out: Slack may have posted it all the same. Look in its thread first.
        try:
            found = sw.slack.find_by_metadata(out.channel, event, key, thread_ts=plan.parent)
        except SlackCallFailed as exc:
            if exc.error not in CANNOT_LOOK:
                sw._retry(
                    out.reminder_id, now, attempts, f"checking the earlier post: {exc.error}", report, key
                )
                raise _Stop() from exc
            log.warning("cannot check whether %s landed (%s); sending it again", key, exc.error)
            found = None
        except Exception as exc:
            sw._retry(out.reminder_id, now, attempts, f"checking the earlier post: {exc}", report, key)
            raise _Stop() from exc
        if found is not None:
            sw.slack.record(out.channel, found, kind=NUDGE, key=plan.topic, engagement_id=out.engagement_id)
            log.info("%s: the earlier post that timed out had landed (%s); not sending it again", key, found)
            return found
    metadata = {"event_type": event, "event_payload": {"key": key, "kind": NUDGE, "topic": plan.topic}}
    for parent in (plan.parent, None):
        try:
            return sw.slack.post(
                out.channel,
                message,
                kind=NUDGE,
                key=plan.topic,
                engagement_id=out.engagement_id,
                metadata=metadata,
                thread_ts=parent,
            )
        except SlackCallFailed as exc:
            if exc.channel_gone:
                _fail(sw, out, exc.error, attempts, now, report, key)
            if exc.error in THREAD_GONE and parent is not None:
                log.warning(
                    "%s: the thread %s is gone (%s); posting at the top level", key, parent, exc.error
                )
                plan.parent = None
                continue
            sw._retry(out.reminder_id, now, attempts, exc.error, report, key)
            raise _Stop() from exc
        except Exception as exc:  # timeouts, connection errors: it may have been posted anyway
            sw._retry(
                out.reminder_id, now, attempts, f"{type(exc).__name__}: {exc}", report, key, unconfirmed=True
            )
            raise _Stop() from exc
    raise _Stop()


def _fail(
    sw: Sweeper, out: Any, error: str, attempts: int, now: datetime, report: SweepReport, key: str
) -> None:
    sw._flag(out, error, now)
    sw._finish(out.reminder_id, now, "failed", status="failed", last_error=error, attempts=attempts + 1)
    report.failed.append(f"{key}: {error}")
    raise _Stop()


def _escalate(sw: Sweeper, engagement_id: int, entries_: list[Any], now: datetime) -> None:
    """Step 2: tell the lead consultant, in a direct message, what is stuck."""
    if not entries_:
        return
    s = sw.s
    with s.db.read() as session:
        lead = lead_of(session, engagement_id)
        if lead is None:
            log.info("engagement %s has stuck entries but no lead consultant to tell", engagement_id)
            return
        row = NudgeMessage(
            engagement_id=engagement_id,
            kind=ESCALATION,
            topic="lead",
            channel_id="",
            ts="",
            people=lead.user_id,
            entries=dumps([e.as_dict() for e in entries_]),
            status=OPEN,
            created_at=now,
            updated_at=now,
        )
        message = render_row(s, session, row, now)
    assert message is not None
    try:
        channel, ts = sw.slack.dm_recorded(
            lead.user_id, message, kind=ESCALATION, engagement_id=engagement_id
        )
    except Exception as exc:  # the DM is best effort; the nudges stand
        log.warning("could not tell %s about stuck work: %s", lead.user_id, exc)
        return
    with s.db.session() as session:
        row.channel_id, row.ts = channel, ts
        session.add(row)
