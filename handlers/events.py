"""Events API: people joining the channel, the channel being shared, a customer's reply in one of
the bot's threads (App Home: `handlers.home`).

Slack retries event deliveries and Bolt does not deduplicate them: `dedupe_events` records
each `event_id` under a primary key and drops a delivery it has already seen. A replay of an
event from the inbox (`handlers.listening.after_ack`: its process died before its work was done)
is seen already, and goes through.

Message events (`message.channels`, `message.groups`) bring every message of every channel the bot
is in. What is not a person's reply in a thread (a top-level message, a bot's, an edit, a
deletion, a join: any subtype but `thread_broadcast`) is answered 200 by the middleware at once,
read from the payload alone: no dedupe row, no inbox row, no listener. A reply goes to
`on_thread_reply`, which reads before anything is recorded, and the inbox's key (the event_id)
dedupes what it records, so message events skip the dedupe table too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.engagement.lifecycle import active_in_channel
from bot.people import activity, audit
from bot.people.organisations import pin_customer, the_customer_team
from bot.people.sides import CUSTOMER, member_side
from bot.reminders import people_watch as watch
from bot.services import Services
from bot.slack import rosters
from bot.slack.gateway import SlackCallFailed
from bot.slack.home import refresh_homes
from handlers import deals
from handlers.base import REPLAY, Request, remember
from handlers.listening import after_ack, listener
from storage.models import Engagement, Member, ProcessedEvent, saved_id

log = logging.getLogger("golive.handlers.events")


def make_dedupe(services: Services) -> Callable[..., Any]:
    def dedupe_events(body: dict[str, Any], context: BoltContext, next: Callable[[], Any]) -> Any:
        if body.get("type") == "event_callback" and (body.get("event") or {}).get("type") == "message":
            return next() if is_thread_reply(body["event"]) else BoltResponse(status=200, body="")
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


def is_thread_reply(event: dict[str, Any]) -> bool:
    """A person's reply in a thread of a channel or private channel, read from the event alone:
    `thread_ts` set and not the message's own `ts` (a thread's parent carries both, equal), a plain
    message or one also sent to the channel (`thread_broadcast`), not a bot's (`bot_id`)."""
    thread_ts, ts = event.get("thread_ts"), event.get("ts")
    return (
        event.get("subtype") in (None, "thread_broadcast")
        and not event.get("bot_id")
        and bool(event.get("user"))
        and bool(thread_ts)
        and thread_ts != ts
        and event.get("channel_type") in ("channel", "group")
    )


def _member(session: Any, engagement_id: int, user: str) -> Member | None:
    return session.exec(
        select(Member).where(Member.engagement_id == engagement_id, Member.user_id == user)
    ).first()


def on_thread_reply(req: Request) -> None:
    """A reply in a thread (`is_thread_reply`). It counts as the customer's act (the people
    watch's silence, Home's customer people active this week: `bot.people.activity`) when the
    thread's parent is a message the bot posted for the channel's engagement and the author is on
    the customer's side; once per person, thread and day. Everything else is answered after reads
    only; a reply that may count is acked once in the inbox, and recorded after (someone not known
    yet is looked up first: users.info tells their organisation)."""
    services = req.services
    event = req.body.get("event") or {}
    channel, user = str(event.get("channel") or ""), str(event.get("user") or "")
    thread_ts, ts = str(event.get("thread_ts") or ""), str(event.get("ts") or "")
    with services.db.read() as session:
        engagement = active_in_channel(session, channel)
        if engagement is None or not activity.is_bot_thread(session, engagement, thread_ts):
            req.ack()
            return
        member = _member(session, saved_id(engagement), user)
        # known with a side: a vendor person's reply, or one counted today already, ends here
        if (
            member is not None
            and (member.team_id or member.side_override)
            and (
                member_side(engagement, member) != CUSTOMER
                or activity.replied_today(session, engagement, user, thread_ts, services.clock.now())
            )
        ):
            req.ack()
            return
    engagement_id = saved_id(engagement)

    def work(r: Request) -> None:
        remember(r.services, engagement_id, user, user)
        with r.services.db.session() as session:
            e = session.get(Engagement, engagement_id)
            m = _member(session, engagement_id, user)
            written = (
                e is not None
                and m is not None
                and activity.record_reply(session, e, m, thread_ts, ts, r.services.clock.now())
            )
        if written:
            refresh_homes(r.services, engagement_id)

    after_ack(req, work)


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
    app.event("message")(listener(services, on_thread_reply))
