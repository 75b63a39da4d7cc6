"""Events API: people joining the channel, the channel being shared (App Home: `handlers.home`).

Slack retries event deliveries and Bolt does not deduplicate them: `dedupe_events` records
each `event_id` under a primary key and drops a delivery it has already seen. A replay of an
event from the inbox (`handlers.listening.after_ack`: its process died before its work was done)
is seen already, and goes through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse
from sqlalchemy.exc import IntegrityError

from bot.engagement.lifecycle import active_in_channel
from bot.people import audit
from bot.people.organisations import pin_customer, the_customer_team
from bot.reminders import people_watch as watch
from bot.services import Services
from bot.slack import rosters
from bot.slack.gateway import SlackCallFailed
from bot.slack.home import refresh_homes
from handlers import deals
from handlers.base import REPLAY, Request, remember
from handlers.listening import after_ack, listener
from storage.models import Engagement, ProcessedEvent, saved_id

log = logging.getLogger("golive.handlers.events")


def make_dedupe(services: Services) -> Callable[..., Any]:
    def dedupe_events(body: dict[str, Any], context: BoltContext, next: Callable[[], Any]) -> Any:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if not event_id or context.get(REPLAY) is not None:
            return next()
        try:
            with services.db.session() as session:
                session.add(ProcessedEvent(event_id=str(event_id)[:64], received_at=services.clock.now()))
        except IntegrityError:
            log.info("event %s already handled; dropping the retry", event_id)
            return BoltResponse(status=200, body="")
        return next()

    return dedupe_events


def on_member_joined(req: Request) -> None:
    """Someone joined an engagement's channel: they are in its roster (App Home shows it to the
    vendor's people in the channel) and remembered (users.info, a member row), after the ack with
    the event in the inbox. Known already (a replay): nothing written twice."""
    services = req.services
    event = req.body.get("event") or {}
    channel, user = event.get("channel"), event.get("user")
    if not channel or not user:
        req.ack()
        return
    with services.db.read() as session:
        engagement = active_in_channel(session, channel)
    if engagement is None:
        # A deal's channel waiting for the customer (`handlers.deals`), or nobody's.
        if not deals.member_joined(req, channel, user):
            req.ack()
        return
    engagement_id = saved_id(engagement)

    def work(r: Request) -> None:
        with r.services.db.session() as session:
            rosters.member_joined(session, channel, user)
        refresh_homes(r.services, engagement_id, also=[user])
        remember(r.services, engagement_id, user, user)

    after_ack(req, work)


def on_member_left(req: Request) -> None:
    """Someone left an engagement's channel: out of its roster, so their App Home no longer shows
    it (unless they are an admin), and their Home is re-published when they have opened it."""
    services = req.services
    event = req.body.get("event") or {}
    channel, user = event.get("channel"), event.get("user")
    if not channel or not user:
        req.ack()
        return
    with services.db.read() as session:
        engagement = active_in_channel(session, channel)
    if engagement is None:
        req.ack()
        return
    engagement_id = saved_id(engagement)

    def work(r: Request) -> None:
        with r.services.db.session() as session:
            rosters.member_left(session, channel, user)
        refresh_homes(r.services, engagement_id, also=[user])
        # a role's holder on the customer's side: the lead is told (bot.reminders.people_watch)
        watch.holder_left(r.services, engagement_id, user, r.services.clock.now())

    after_ack(req, work)


def on_channel_shared(req: Request) -> None:
    """A channel shared with (or unshared from) another organisation: when the engagement does not
    know its customer's organisation yet and exactly one other organisation is now connected,
    that one is the customer: acked once the event is in the inbox, pinned after. Pinned already
    (a replay): nothing written."""
    services = req.services
    event = req.body.get("event") or {}
    channel = str(event.get("channel") or "")
    log.info("channel %s shared with team %s", channel, event.get("connected_team_id"))
    with services.db.read() as session:
        engagement = active_in_channel(session, channel)
    if engagement is None or engagement.customer_team_id or engagement.customer_enterprise_id:
        req.ack()
        return
    after_ack(req, lambda r: _learn_customer(r, engagement, channel))


def _learn_customer(req: Request, engagement: Engagement, channel: str) -> None:
    services = req.services
    try:
        info = services.slack.channel_info(channel)
    except SlackCallFailed as exc:
        log.info("conversations.info %s: %s", channel, exc.error)
        return
    team = the_customer_team(engagement, info)
    if team is None:
        return
    with services.db.session() as session:
        e = session.get(Engagement, engagement.id)
        if e is not None and not e.customer_team_id:
            pin_customer(
                session,
                e,
                team_id=team,
                enterprise_id=None,
                actor=audit.SYSTEM,
                how="the only organisation in the channel besides the vendor's",
                now=services.clock.now(),
            )


def register(app: App, services: Services) -> None:
    app.middleware(make_dedupe(services))
    app.event("member_joined_channel")(listener(services, on_member_joined))
    app.event("member_left_channel")(listener(services, on_member_left))
    app.event("channel_shared")(listener(services, on_channel_shared))
    app.event("channel_unshared")(listener(services, on_channel_shared))
