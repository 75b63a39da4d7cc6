"""Sending a nudge reminder (see `bot.reminders.nudges` for what, for whom and where).

The channel's members are read first (a mention of someone outside it notifies nobody), then the
nudge is planned under the notification budget: per thread a new reply mentioning the people it
reminds, per person of the implementation team a direct message. Each message is sent through the
sweep's own gateway, with message metadata naming the reminder and what it is about (so a reply
whose answer was lost is looked for in its thread before it is sent again), and recorded as it
lands: its nudge row, the people it notified (the notification ledger), the entries counted as
nudged, and the topic marked done in the reminder's payload — a retry after a failure in a later
thread sends only what is left. A replaced nudge is collapsed through the outbox. Last, the lead
consultant is told privately of entries nobody can be notified of (once each), and of entries
that reached step 2 of the ladder (best effort: a failed DM is logged, the nudges stand).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlmodel import Session, col

from bot.people import notified
from bot.people.members import lead_of
from bot.reminders.attempt import Attempt, Stop, reminder_metadata
from bot.reminders.budget import Budget
from bot.reminders.nudges import (
    Entry,
    NudgePlan,
    ThreadPlan,
    due_entries,
    dumps,
    mark_nudged,
    plan_nudge,
    stuck,
    thread_of,
)
from bot.reminders.working_hours import clock_of
from bot.services import Services
from bot.slack.gateway import SlackCallFailed
from bot.slack.home import refresh_homes
from bot.slack.nudges import (
    ESCALATION,
    LIVE,
    NUDGE,
    OPEN,
    REPLACED,
    UNNAMED,
    names_of,
    refresh_row,
    render_nudge,
    render_row,
)
from bot.slack.reach import dm_refused
from storage.models import Engagement, NudgeMessage, Reminder, saved_id

if TYPE_CHECKING:
    from bot.reminders.sweep import Sweeper, SweepReport

log = logging.getLogger("golive.sweep")


def planned(
    services: Services,
    session: Session,
    engagement: Engagement,
    payload: dict[str, Any],
    now: datetime,
    present: set[str] | None,
) -> NudgePlan:
    """What a nudge reminder sends now (what the lead asked to nudge again, else what is due),
    under today's notification budget."""
    again = payload.get("again")
    due = due_entries(session, engagement, now, again, present)
    return plan_nudge(
        services, session, engagement, due, Budget(session, engagement, now), again=again is not None
    )


def deliver_nudge(
    sw: Sweeper, reminder_id: int, now: datetime, report: SweepReport, present: set[str] | None
) -> None:
    """Send a claimed nudge reminder. `present`: who is in the channel (None: not known)."""
    services = sw.services
    with services.db.session() as session:
        reminder = session.get(Reminder, reminder_id)
        if reminder is None or reminder.claimed_by != sw.worker:
            return
        engagement = session.get(Engagement, reminder.engagement_id)
        why = why_not(engagement)
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
        plan = NudgePlan()
        if why is None:
            assert engagement is not None
            done_topics = set(payload.get("done") or [])
            plan = planned(services, session, engagement, payload, now, present)
            plan.threads = [p for p in plan.threads if p.topic not in done_topics]
            engagement_id, channel, name = (
                saved_id(engagement),
                engagement.channel_id,
                engagement.customer_name,
            )
            if not plan.threads and not plan.unnamed and not done_topics:
                if plan.held and again is not None:
                    # The lead asked for it: it goes out on the next working day the budget allows.
                    clock = clock_of(engagement)
                    nxt = clock.at_local(clock.calendar.add(clock.today(now), 1), clock.start)
                    session.execute(
                        update(Reminder)
                        .where(col(Reminder.id) == reminder_id)
                        .values(due_at=nxt, claimed_by=None, claim_until=None)
                    )
                    report.skipped.append(
                        f"{key}: held back by the notification budget, moved to {nxt.isoformat()}"
                    )
                    return
                why = (
                    "held back by the notification budget: " + ", ".join(e.ref for e in plan.held)
                    if plan.held
                    else "nothing due any more"
                )
    if why is not None:
        sw._finish(reminder_id, now, "skipped", status="skipped", last_error=why[:200])
        report.skipped.append(f"{key}: {why}")
        return
    attempt = Attempt(sw, reminder_id, engagement_id, key, attempts, unconfirmed, now, report)
    sent_ts: str | None = None
    try:
        for thread in plan.threads:
            ts = _send_thread(attempt, thread, channel, again is not None)
            sent_ts = sent_ts or ts
            payload.setdefault("done", []).append(thread.topic)
            payload.setdefault("threads", []).append(
                {
                    "topic": thread.topic,
                    "ts": ts,
                    "refs": [e.ref for e in thread.due],
                    "notified": thread.people,
                }
            )
            with services.db.session() as session:
                session.execute(
                    update(Reminder)
                    .where(col(Reminder.id) == reminder_id)
                    .values(payload=json.dumps(payload))
                )
    except Stop:
        return
    _tell_lead_nobody_named(sw, engagement_id, plan.unnamed, now)
    if again is None:
        _escalate(sw, engagement_id, stuck(plan), now)
    if plan.held:
        payload["held"] = [e.ref for e in plan.held]
    sw._sent(reminder_id, now, sent_ts, attempts + 1, payload)
    # Items went overdue since the Home was drawn: the team's Home shows them (after the sweep,
    # through the outbox, only for people who opened it).
    refresh_homes(services, engagement_id)
    refs = [e.ref for p in plan.threads for e in p.due]
    report.sent.append(
        f"nudge → {channel}: {name} · "
        + "; ".join(p.describe() for p in plan.threads)
        + (f" [{', '.join(refs)}]" if refs else "")
        + (f"; nobody named for {', '.join(e.ref for e in plan.unnamed)}" if plan.unnamed else "")
        + (f"; held back: {', '.join(e.ref for e in plan.held)}" if plan.held else "")
    )


def why_not(engagement: Engagement | None) -> str | None:
    """Why an engagement's nudge is not sent at all, or None."""
    if engagement is None or engagement.status != "active":
        return "engagement no longer active"
    if engagement.flagged:
        return f"engagement flagged: {engagement.flagged}"
    if engagement.nudges_paused:
        return "nudges paused"
    return None


def _send_thread(attempt: Attempt, plan: ThreadPlan, channel: str, again: bool) -> str:
    """Post one thread's (or one person's) nudge and record whom it notified; returns its ts.
    Raises Stop after scheduling a retry or flagging the channel."""
    services, now, engagement_id = attempt.sw.services, attempt.now, attempt.engagement_id
    with services.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        assert engagement is not None
        message = render_nudge(services, session, engagement, plan.entries, now, direct=plan.direct)
    direct = plan.direct
    if direct:
        try:
            assert plan.user is not None  # a direct nudge has its person
            channel = attempt.sw.slack.open_dm(plan.user)
        except SlackCallFailed as exc:
            if not dm_refused(exc):
                raise attempt.retry(f"opening a DM: {exc.error}") from exc
            # Slack will not let the bot DM them (a person of another organisation the team put on
            # its side): the reminder goes in the channel instead, as a reply in the thread of
            # what it is about, mentioning them — never retried into the void.
            log.info("a DM to %s is refused (%s); their nudge goes in %s", plan.user, exc.error, channel)
            direct = False
            plan.parent = thread_of(services, engagement_id, plan.due[0])[1]
            with services.db.read() as session:
                engagement = session.get(Engagement, engagement_id)
                assert engagement is not None
                message = render_nudge(services, session, engagement, plan.entries, now)
        except Exception as exc:
            raise attempt.retry(f"opening a DM: {exc}") from exc
    ts, plan.parent = attempt.send(
        channel,
        message,
        kind=NUDGE,
        ledger_key=plan.topic,
        metadata=reminder_metadata(
            attempt.key, NUDGE, [e.subject for e in plan.due], plan.people, topic=plan.topic
        ),
        thread_ts=plan.parent,
        direct=direct,
    )
    with services.db.session() as session:
        session.add(
            NudgeMessage(
                engagement_id=engagement_id,
                kind=NUDGE,
                topic=plan.topic,
                channel_id=channel,
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
        for user in plan.people:
            notified.record(
                session,
                engagement_id,
                [user],
                kind="vendor" if direct else NUDGE,
                subjects=[e.subject for e in plan.due if user in e.mentions],
                now=now,
                reminder=True,
                channel=channel,
                ts=ts,
                thread_ts=plan.parent,
                via="dm" if direct else "mention",
            )
        notified.record_followers(
            session,
            engagement_id,
            plan.following,
            kind=NUDGE,
            now=now,
            channel=channel,
            ts=ts,
            thread_ts=plan.parent,
        )
        mark_nudged(session, plan.due, now, again=again)
    if plan.replaces is not None:
        replaced = plan.replaces
        replaced.status = REPLACED
        refresh_row(services, replaced)
    return ts


def _tell_lead_nobody_named(sw: Sweeper, engagement_id: int, unnamed: list[Entry], now: datetime) -> None:
    """Entries nobody can be notified of: the lead consultant is told privately, once per entry,
    instead of a reminder posted into the void."""
    if not unnamed:
        return
    services = sw.services
    with services.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        lead = lead_of(session, engagement_id)
        fresh = [
            e for e in unnamed if not notified.told(session, engagement_id, None, f"unnamed:{e.subject}")
        ]
        if engagement is None or not fresh:
            return
        if lead is None:
            log.info(
                "engagement %s: nobody is named for %s, and no lead to tell",
                engagement_id,
                [e.ref for e in fresh],
            )
            return
        names = names_of(session, engagement_id)
        message = services.renderer.message(
            "unnamed_dm.json.j2",
            customer_name=engagement.customer_name,
            channel=engagement.channel_id,
            entries=[e.as_dict() for e in fresh],
            names=names,
            command=services.command,
        )
    try:
        channel, ts = sw.slack.dm_recorded(lead.user_id, message, kind=UNNAMED, engagement_id=engagement_id)
    except Exception as exc:
        log.warning("could not tell %s that nobody is named: %s", lead.user_id, exc)
        return
    with services.db.session() as session:
        notified.record(
            session,
            engagement_id,
            [lead.user_id],
            via="dm",
            kind=UNNAMED,
            subjects=[f"unnamed:{e.subject}" for e in fresh],
            now=now,
            reminder=False,
            channel=channel,
            ts=ts,
        )


def _escalate(sw: Sweeper, engagement_id: int, entries_: list[Any], now: datetime) -> None:
    """Step 2: tell the lead consultant, in a direct message, what is stuck."""
    if not entries_:
        return
    services = sw.services
    with services.db.read() as session:
        lead = lead_of(session, engagement_id)
        if lead is None:
            log.info("engagement %s has stuck entries but no lead consultant to tell", engagement_id)
            return
        # The lead's own items are reminded to them already: nothing to escalate to them.
        entries_ = [e for e in entries_ if not (e.private and lead.user_id in e.people)]
        if not entries_:
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
        message = render_row(services, session, row, now)
    assert message is not None
    try:
        channel, ts = sw.slack.dm_recorded(
            lead.user_id, message, kind=ESCALATION, engagement_id=engagement_id
        )
    except Exception as exc:  # the DM is best effort; the nudges stand
        log.warning("could not tell %s about stuck work: %s", lead.user_id, exc)
        return
    with services.db.session() as session:
        row.channel_id, row.ts = channel, ts
        session.add(row)
        notified.record(
            session,
            engagement_id,
            [lead.user_id],
            via="dm",
            kind=ESCALATION,
            subjects=[e.subject for e in entries_],
            now=now,
            reminder=False,
            channel=channel,
            ts=ts,
        )
