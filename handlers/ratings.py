"""Ratings (`bot.engagement.ratings`): the approver's click on 1-5 opens a small form for an
optional comment; sending it records the rating, once, and tells the lead of a low one.

Everything is checked on the server, at the click and again at the send: the clicker is the
person the ask was for, the milestone is still approved (or live), and no rating was given yet. A
second rating is refused with a friendly note only the clicker sees; nothing changes."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from slack_bolt import App
from slack_sdk.webhook import WebhookClient

from bot.engagement import ratings
from bot.errors import UserError
from bot.people.members import lead_of
from bot.refs import parse_id
from bot.services import Services
from bot.slack.home import refresh_homes
from bot.slack.ratings import tell_lead_of_low
from handlers.base import Request, actor_for
from handlers.listening import after_ack, listener
from messages import Message
from storage.models import Engagement, Rating

log = logging.getLogger("golive.ratings")

RATE = re.compile(r"^rating:(\d+):([1-5])$")
OUT_OF_DATE = "That rating button is out of date, so nothing was recorded."


def _score(raw: object) -> int:
    score = parse_id(raw)
    if not 1 <= score <= 5:
        raise UserError(OUT_OF_DATE)
    return score


def _refusal(req: Request, rating_id: int) -> tuple[str | None, str]:
    with req.services.db.read() as session:
        rating = session.get(Rating, rating_id)
        return ratings.refusal(session, rating, req.user_id), rating.title if rating is not None else ""


def on_score(req: Request) -> None:
    """A score clicked on the ask: the form with it and a place for a comment."""
    req.ack()
    match = RATE.match(str(req.action.get("action_id", "")))
    if match is None:
        raise UserError(OUT_OF_DATE)
    rating_id, score = parse_id(match.group(1)), _score(match.group(2))
    refused, title = _refusal(req, rating_id)
    if refused is not None:
        req.reply(req.services.notice(refused))
        return
    view = req.services.renderer.view(
        "rating_modal.json.j2",
        title=title,
        score=score,
        # The click's response_url points at the ask: sending the form replaces the ask with the
        # thanks, so its buttons do not stay on screen inviting a second rating.
        meta={
            "rating": rating_id,
            "score": score,
            "channel": req.channel_id,
            "response_url": req.body.get("response_url"),
        },
    )
    req.services.slack.open_view(req.trigger_id or "", view)


def on_submit(req: Request) -> None:
    """The form sent: checked, acked once in the inbox, recorded after (`_record`)."""
    rating_id, score = req.meta_id("rating"), _score(req.metadata.get("score"))
    comment = req.text_field("comment") or None
    refused, _title = _refusal(req, rating_id)
    if refused is not None:
        req.reply(req.services.notice(refused))
        return
    response_url = req.metadata.get("response_url")
    after_ack(req, lambda r: _record(r, rating_id, score, comment, response_url))


def _record(
    req: Request, rating_id: int, score: int, comment: str | None, response_url: object = None
) -> Callable[[], None] | None:
    """Record the rating (idempotent: a replay or a second send finds it given and changes
    nothing), then thank the rater and, for a low one, tell the lead; the Homes showing the
    engagement's card are re-published with it."""
    services = req.services
    anonymous = services.settings.golive_ratings_anonymous
    now = services.clock.now()
    with services.db.session() as session:
        rating = session.get(Rating, rating_id)
        refused = ratings.refusal(session, rating, req.user_id)
        engagement = session.get(Engagement, rating.engagement_id) if rating is not None else None
        if refused is not None or rating is None or engagement is None:
            told = refused or OUT_OF_DATE
            return lambda: req.reply(services.notice(told))
        actor = actor_for(req, session, engagement, acting=False)
        given = ratings.give(
            session, rating, actor, score=score, comment=comment, anonymous=anonymous, now=now
        )
        lead = lead_of(session, rating.engagement_id)
        lead_id = lead.user_id if lead is not None else None
        who_id, who = (None, None) if anonymous else (actor.user_id, actor.name or None)
    if given is None:  # a send that came first recorded it
        return lambda: req.reply(services.notice("Your rating is already recorded; nothing was changed."))

    def answer() -> None:
        if given.low:
            tell_lead_of_low(services, given.rating_id, lead_id, who_id, who)
        refresh_homes(services, given.engagement_id)  # the card shows the ratings
        thanks = services.notice(f"Thank you! Your rating of {given.title} ({given.score} of 5) is recorded.")
        if not (isinstance(response_url, str) and _replace_ask(response_url, thanks)):
            req.reply(thanks)

    return answer


def _replace_ask(response_url: str, message: Message) -> bool:
    """The ask (ephemeral or DM) replaced by the thanks through the click's response_url; False
    when Slack refused it (expired after 30 minutes, used up), and the thanks goes as a reply."""
    try:
        resp = WebhookClient(response_url, timeout=10).send(
            text=message.text, blocks=message.blocks, replace_original=True
        )
    except OSError as exc:
        log.info("could not replace the rating ask (%s); replying instead", exc)
        return False
    if resp.status_code != 200:
        log.info("response_url answered %s; replying instead", resp.status_code)
    return resp.status_code == 200


def register(app: App, services: Services) -> None:
    app.action(RATE)(listener(services, on_score))
    app.view("rating_submit")(listener(services, on_submit))
