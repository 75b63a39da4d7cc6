"""The sweep's part in ratings (`bot.engagement.ratings`): what was written but never reached Slack.

An ask is written with the approval (or the go-live) and sent right after the commit; a low rating
is recorded, then told to the lead. If Slack refuses both the ephemeral and the DM, or the process
dies between the commit and the call, the row says so (`ask_sent_at`, `lead_told_at` still None)
and the sweep sends it:

- an ask not sent, still unanswered and still valid (`ratings.refusal` is None for the person it
  was asked of: the gate still approved, the engagement still live), once it is older than `GRACE`
  (the path right after the commit is not doubled) and younger than `GIVE_UP` (an ask days late
  is noise: it is dropped, logged);
- a low rating the lead was not told of, in the same window after it was given.

Each row is taken with a conditional UPDATE of its lease `retry_at` (taken only if free or run
out), so two processes sharing the database never both send it; a failed try keeps the lease, so
the row is tried again after `LEASE`, not every minute. A process dying after Slack took a message
and before it was written down may send it twice, never lose it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, update
from sqlmodel import col, select

from bot.engagement import ratings
from bot.people.members import lead_of
from bot.services import Services
from bot.slack.gateway import SlackGateway
from bot.slack.ratings import ask_to_rate, tell_lead_of_low
from storage.db import rowcount
from storage.models import Member, Rating

log = logging.getLogger("golive.sweep")

GRACE = timedelta(minutes=2)
GIVE_UP = timedelta(days=2)
LEASE = timedelta(minutes=5)
BATCH = 50


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(col(Rating.retry_at).is_(None), col(Rating.retry_at) <= now)


def _take(services: Services, rating_id: int, pending: ColumnElement[bool], now: datetime) -> bool:
    """The row's lease, if it is still pending and nobody holds it: True when this process has it."""
    with services.db.session() as session:
        taken = session.execute(
            update(Rating)
            .where(col(Rating.id) == rating_id, pending, _free(now))
            .values(retry_at=now + LEASE)
        )
        return rowcount(taken) == 1


def _unsent() -> ColumnElement[bool]:
    return col(Rating.ask_sent_at).is_(None) & col(Rating.score).is_(None)


def _untold() -> ColumnElement[bool]:
    return col(Rating.lead_told_at).is_(None) & (col(Rating.score) <= ratings.LOW)


def deliver_due(services: Services, slack: SlackGateway, now: datetime) -> tuple[int, int]:
    """Send the asks and lead alerts due now (found in one query, through the two indexes): how
    many of each Slack took."""
    unsent, untold = _unsent(), _untold()
    ask_due = unsent & (col(Rating.asked_at) <= now - GRACE) & (col(Rating.asked_at) > now - GIVE_UP)
    alert_due = untold & (col(Rating.rated_at) <= now - GRACE) & (col(Rating.rated_at) > now - GIVE_UP)
    with services.db.read() as session:
        due = session.exec(
            select(Rating.id, Rating.score)
            .where(or_(ask_due, alert_due), _free(now))
            .order_by(col(Rating.id))
            .limit(BATCH)
        ).all()
    asked = told = 0
    for rating_id, score in due:
        if rating_id is None:
            continue
        if score is None:
            asked += _ask(services, slack, rating_id, now)
        else:
            told += _alert(services, slack, rating_id, now)
    return asked, told


def _ask(services: Services, slack: SlackGateway, rating_id: int, now: datetime) -> int:
    if not _take(services, rating_id, _unsent(), now):
        return 0
    with services.db.read() as session:
        rating = session.get(Rating, rating_id)
        refused = ratings.refusal(session, rating, rating.user_id) if rating is not None else "gone"
        asked_at = rating.asked_at if rating is not None else now
    if refused is not None:  # not to be asked any more: its lease runs past the window
        with services.db.session() as session:
            session.execute(
                update(Rating).where(col(Rating.id) == rating_id).values(retry_at=asked_at + GIVE_UP)
            )
        log.info("rating ask %s is not sent: %s", rating_id, refused)
        return 0
    return int(ask_to_rate(services, rating_id, slack=slack) is not None)


def _alert(services: Services, slack: SlackGateway, rating_id: int, now: datetime) -> int:
    if not _take(services, rating_id, _untold(), now):
        return 0
    with services.db.read() as session:
        rating = session.get(Rating, rating_id)
        if rating is None:
            return 0
        lead = lead_of(session, rating.engagement_id)
        lead_id = lead.user_id if lead is not None else None
        rater = session.exec(
            select(Member).where(
                Member.engagement_id == rating.engagement_id, Member.user_id == rating.user_id
            )
        ).first()
        name, user_id = (rater.display_name if rater else "") or None, rating.user_id
    who_id, who = (None, None) if services.settings.golive_ratings_anonymous else (user_id, name)
    return int(tell_lead_of_low(services, rating_id, lead_id, who_id, who, slack=slack))
