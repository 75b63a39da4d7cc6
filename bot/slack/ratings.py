"""Ratings in Slack (`bot.engagement.ratings`): asking the approver privately, telling the lead of
a low one.

The ask goes where only the approver sees it, never as a message in the channel. Slack shows an
ephemeral only to someone active in the channel at that moment, and only until they reload; so an
approver who has just clicked Approve is asked by an ephemeral there (a DM only when Slack refuses
it, say they left the channel), while one who is not there (the go-live, which the lead confirms;
the sweep's later try) is asked by DM first, which stays and notifies, and by an ephemeral where
Slack refuses the DM (a customer's organisation may not allow DMs with ours: `bot.slack.reach`).

What Slack took is written down (`ask_sent_at`, `lead_told_at`): an ask or an alert that Slack
refused, or that a process dying after the commit never sent, is sent by the sweep
(`bot.reminders.rating_delivery`), which passes its own gateway.
"""

from __future__ import annotations

import logging

from bot.engagement import ratings
from bot.services import Services
from bot.slack.gateway import SlackCallFailed, SlackGateway
from storage.models import Engagement, Rating

log = logging.getLogger("golive.slack")


def ask_to_rate(
    services: Services, rating_id: int, *, present: bool = False, slack: SlackGateway | None = None
) -> str | None:
    """Ask the person a rating was opened for: "ephemeral", "dm", or None when Slack took neither
    (logged; the ask stays open, for the sweep to send, and nobody else is asked instead).
    `present`: they acted in the channel just now, so the ephemeral is tried first."""
    slack = slack or services.slack
    with services.db.read() as session:
        rating = session.get(Rating, rating_id)
        engagement = session.get(Engagement, rating.engagement_id) if rating is not None else None
        if rating is None or engagement is None or rating.score is not None:
            return None
        message = services.renderer.message(
            "rating_ask.json.j2",
            rating_id=rating_id,
            title=rating.title,
            customer_name=engagement.customer_name,
            anonymous=services.settings.golive_ratings_anonymous,
        )
        user_id, channel = rating.user_id, engagement.channel_id
    ways = [
        ("ephemeral", lambda: slack.ephemeral(channel, user_id, message)),
        ("dm", lambda: slack.dm(user_id, message)),
    ]
    if not present:
        ways.reverse()
    sent: str | None = None
    for way, send in ways:
        try:
            send()
            sent = way
            break
        except SlackCallFailed as exc:
            log.info("rating ask to %s by %s refused (%s)", user_id, way, exc.error)
    if sent is None:
        log.warning(
            "could not ask %s for a rating: the ephemeral and a DM were refused; the sweep tries again",
            user_id,
        )
        return None
    with services.db.session() as session:
        ratings.mark_ask_sent(session, rating_id, services.clock.now())
    return sent


def tell_lead_of_low(
    services: Services,
    rating_id: int,
    lead_id: str | None,
    who_id: str | None,
    who: str | None,
    *,
    slack: SlackGateway | None = None,
) -> bool:
    """A DM to the lead: the low rating, with its comment; `who_id` and `who` None when ratings are anonymous.
    False when there is no lead or Slack refused (logged; the sweep tries again)."""
    if lead_id is None:
        log.warning("rating %s is low but the engagement has no lead to tell", rating_id)
        return False
    with services.db.read() as session:
        rating = session.get(Rating, rating_id)
        engagement = session.get(Engagement, rating.engagement_id) if rating is not None else None
        if rating is None or engagement is None:
            return False
        message = services.renderer.message(
            "rating_low_dm.json.j2",
            customer_name=engagement.customer_name,
            title=rating.title,
            score=rating.score,
            comment=rating.comment,
            who_id=who_id,
            who=who,
            channel=engagement.channel_id,
        )
    try:
        (slack or services.slack).dm(lead_id, message)
    except SlackCallFailed as exc:
        log.warning("could not tell lead %s of low rating %s (%s)", lead_id, rating_id, exc.error)
        return False
    with services.db.session() as session:
        ratings.mark_lead_told(session, rating_id, services.clock.now())
    return True
