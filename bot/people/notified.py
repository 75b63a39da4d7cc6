"""Who the bot notified, by which message, about what (the `notification` table).

A message notifies someone when it mentions them in the channel (a top-level message or a thread
reply) or is a direct message to them; an edit or an ephemeral message notifies nobody, so they
are never recorded here. Rows are written once the message has landed. Reminders are counted by
the notification budget (`bot.reminders.budget`) and by escalation; news (work given, a role
named) is recorded so it is told once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from storage.models import Notification


def record(
    session: Session,
    engagement_id: int,
    people: Iterable[str],
    *,
    kind: str,
    subjects: Iterable[str],
    now: datetime,
    reminder: bool,
    channel: str = "",
    ts: str = "",
    thread_ts: str | None = None,
    via: str = "mention",
) -> int:
    """One row per person and subject; returns how many were written."""
    subjects = list(dict.fromkeys(subjects)) or [kind]
    n = 0
    for user in dict.fromkeys(people):
        for subject in subjects:
            session.add(
                Notification(
                    engagement_id=engagement_id,
                    user_id=user,
                    at=now,
                    kind=kind,
                    subject=subject[:64],
                    reminder=reminder,
                    via=via,
                    channel_id=channel,
                    ts=ts,
                    thread_ts=thread_ts if thread_ts and thread_ts != ts else None,
                )
            )
            n += 1
    return n


def record_followers(
    session: Session,
    engagement_id: int,
    people: Iterable[str],
    *,
    kind: str,
    now: datetime,
    channel: str,
    ts: str,
    thread_ts: str | None,
) -> int:
    """Slack notified the followers of the thread a reminder replied in (`people`, those it did not
    mention) too: they count as reminded, about the thread."""
    return record(
        session,
        engagement_id,
        people,
        kind=kind,
        subjects=[f"thread:{thread_ts}"],
        now=now,
        reminder=True,
        channel=channel,
        ts=ts,
        thread_ts=thread_ts,
        via="following",
    )


def told(session: Session, engagement_id: int, user: str | None, subject: str) -> bool:
    """Was `user` (anyone, when None) already told about `subject` in this engagement?"""
    stmt = select(Notification.id).where(
        col(Notification.engagement_id) == engagement_id, col(Notification.subject) == subject
    )
    if user is not None:
        stmt = stmt.where(col(Notification.user_id) == user)
    return session.exec(stmt.limit(1)).first() is not None


def reminders_about(session: Session, engagement_id: int, subject: str, since: datetime | None = None) -> int:
    """How many reminder messages about `subject` notified someone (since `since`)."""
    stmt = select(Notification.channel_id, Notification.ts).where(
        col(Notification.engagement_id) == engagement_id,
        col(Notification.subject) == subject,
        col(Notification.reminder).is_(True),
    )
    if since is not None:
        stmt = stmt.where(col(Notification.at) >= since)
    return len(set(session.exec(stmt).all()))


def followers(session: Session, channel: str, thread_ts: str | None) -> set[str]:
    """Who follows a thread as far as the bot knows: everyone it mentioned in a reply there (Slack
    then notifies them of every later reply). People who wrote in the thread follow it too; the
    bot does not read threads, so it cannot count them."""
    if not thread_ts:
        return set()
    return set(
        session.exec(
            select(Notification.user_id).where(
                col(Notification.channel_id) == channel,
                col(Notification.thread_ts) == thread_ts,
                col(Notification.via) == "mention",
            )
        ).all()
    )
