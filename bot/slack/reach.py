"""Telling one person something privately when Slack may refuse a direct message.

A DM with a person of another organisation (the customer, in a Slack Connect channel) is up to
both organisations' Slack Connect settings: their admins can turn DMs across organisations off,
or limit them to some members (slack.com/help/articles/360060326994), and conversations.open
refuses what is not allowed (it documents `invalid_user_combination`: "To message people from
multiple organizations, those organizations must be in at least one channel together";
docs.slack.dev/reference/methods/conversations.open). The bot cannot see the other side's
settings, so any refusal counts: the person is then told in a channel they share with the bot,
ephemerally (only they see it) — the channel of an engagement they are known in, or of their
organisation's engagements. Slack answers `user_not_in_channel` to an ephemeral for someone who is
not in the channel, and the next one is tried.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlmodel import col, select

from bot.slack.gateway import SlackCallFailed, SlackGateway
from messages import Message
from storage.db import Database
from storage.models import Engagement, Member

log = logging.getLogger("golive.slack")

MAX_CHANNELS = 3  # channels tried for the ephemeral, newest engagement first
# Slack's answers that a later try may change (its rate limit, its own trouble).
TRANSIENT = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def dm_refused(exc: SlackCallFailed) -> bool:
    """Slack refused the DM for good (not a 429, a 5xx or a timeout): trying again later will not
    help, the person has to be reached another way."""
    status = exc.status or 200
    return status < 500 and status != 429 and exc.error not in TRANSIENT


def shared_channels(db: Database, user_id: str, team_id: str | None = None) -> list[str]:
    """Channels of active engagements the person is probably in, newest first: those that know
    them as a member, then those of their organisation as the customer (`team_id`)."""
    with db.read() as session:
        known = session.exec(
            select(Engagement.channel_id)
            .join(Member, col(Member.engagement_id) == col(Engagement.id))
            .where(Member.user_id == user_id, Engagement.status == "active")
            .order_by(col(Engagement.id).desc())
            .limit(MAX_CHANNELS)
        ).all()
        theirs: Iterable[str] = ()
        if team_id:
            theirs = session.exec(
                select(Engagement.channel_id)
                .where(Engagement.customer_team_id == team_id, Engagement.status == "active")
                .order_by(col(Engagement.id).desc())
                .limit(MAX_CHANNELS)
            ).all()
    return list(dict.fromkeys([*known, *theirs]))[:MAX_CHANNELS]


CONTROL_BLOCKS = frozenset({"actions", "input"})


def without_controls(message: Message) -> Message:
    """The message without anything to click: no actions or input blocks, no section accessory
    that is a control (an image stays)."""
    blocks = []
    for block in message.blocks:
        if block.get("type") in CONTROL_BLOCKS:
            continue
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("type") != "image":
            block = {k: v for k, v in block.items() if k != "accessory"}
        blocks.append(block)
    return Message(text=message.text, blocks=blocks)


def ephemeral_somewhere(
    slack: SlackGateway, user_id: str, message: Message, channels: Iterable[str]
) -> str | None:
    """An ephemeral for the person in the first of `channels` Slack takes it in; that channel, or
    None when none did."""
    for channel in channels:
        try:
            slack.ephemeral(channel, user_id, message)
            return channel
        except SlackCallFailed as exc:
            log.info("ephemeral to %s in %s refused (%s)", user_id, channel, exc.error)
    return None


def tell_privately(
    slack: SlackGateway,
    db: Database,
    user_id: str,
    message: Message,
    *,
    team_id: str | None = None,
    tried: Iterable[str] = (),
) -> str | None:
    """A direct message; when Slack refuses it (a person of another organisation), an ephemeral in
    a channel they share with the bot (not those in `tried`). Returns where it went: "dm", the
    channel of the ephemeral, or None when the person could not be reached at all (logged as a
    warning: nothing else is left)."""
    try:
        slack.dm(user_id, message)
        return "dm"
    except SlackCallFailed as exc:
        refused = exc.error
    skip = set(tried)
    channels = [c for c in shared_channels(db, user_id, team_id) if c not in skip]
    # In another channel, a button would act on that channel's engagement (an ephemeral is not in
    # the ledger: its click acts on the channel's active engagement), not on the one the message
    # is about: the words go there, the controls do not.
    landed = ephemeral_somewhere(slack, user_id, without_controls(message), channels)
    if landed is None:
        log.warning(
            "could not reach %s: a DM was refused (%s) and no shared channel took an ephemeral (%s)",
            user_id,
            refused,
            ", ".join(channels) or "none known",
        )
    else:
        log.info("a DM to %s was refused (%s); told in %s instead", user_id, refused, landed)
    return landed
