"""Who is in an engagement's channel, and who of the vendor's side may see an engagement.

App Home and every Home button show an engagement to the vendor's people who are members of its
channel, and to the vendor's golive admins (`GOLIVE_ADMINS`); a colleague outside a private
Slack Connect channel sees nothing of it, and a guest of the vendor's workspace
(users.info `is_restricted` / `is_ultra_restricted`) gets no portfolio at all.

Membership lives in the database (`ChannelMember`), so the portfolio's query can join it and
every process and replica sees the same:

- read from Slack (conversations.members, every page) when an engagement starts;
- kept current by the member_joined_channel and member_left_channel events;
- a check that finds someone not in it asks Slack again (at most every `RECHECK` a channel: they
  may have just joined);
- read on the sweep's beat (a job of its own, `golive.sweep_clock`) for channels never read
  (engagements from before this existed) and again once a day (`backfill_rosters`), a few per
  tick: conversations.members is Tier 4, and there may be thousands.

A channel Slack will not list (the bot was removed from it) keeps what was known; a channel never
read shows its engagement to admins only until it is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_
from sqlmodel import Session, col, select

from bot.services import Services
from storage.models import ChannelMember, ChannelRoster, Engagement

log = logging.getLogger("golive.rosters")

# Someone not in a roster is asked of Slack again at most this often per channel (they may have
# just joined, their member_joined_channel event still on its way).
RECHECK = timedelta(seconds=30)
# The sweep reads every active engagement's roster again after this long: it catches an event
# Slack did not deliver (the bot was down, the app was reinstalled).
REREAD = timedelta(days=1)
# A command's "in the channel" is remembered this long in a process.
COMMAND_MEMO = timedelta(seconds=60)
# How long the members of an admin user group (usergroups.users.list) are trusted.
ADMINS_TTL = timedelta(minutes=5)
# Channels read per tick of the sweep's clock (never read first, then a day old).
BACKFILL_PER_TICK = 20


def replace_roster(session: Session, channel: str, members: Iterable[str], now: datetime) -> None:
    """The channel's members are exactly `members`, as Slack said at `now`."""
    wanted = set(members)
    known = set(session.exec(select(ChannelMember.user_id).where(ChannelMember.channel_id == channel)).all())
    gone = known - wanted
    if gone:  # only the differences are written: a daily re-read usually changes nothing
        session.exec(
            delete(ChannelMember).where(
                col(ChannelMember.channel_id) == channel, col(ChannelMember.user_id).in_(gone)
            )
        )
    if wanted - known:
        session.exec(
            insert(ChannelMember),
            params=[{"channel_id": channel, "user_id": u} for u in sorted(wanted - known)],
        )
    row = session.get(ChannelRoster, channel)
    if row is None:
        session.add(ChannelRoster(channel_id=channel, fetched_at=now))
    else:
        row.fetched_at = now
        session.add(row)


def member_joined(session: Session, channel: str, user: str) -> None:
    if session.get(ChannelMember, (channel, user)) is None:
        session.add(ChannelMember(channel_id=channel, user_id=user))


def member_left(session: Session, channel: str, user: str) -> None:
    session.exec(
        delete(ChannelMember).where(
            col(ChannelMember.channel_id) == channel, col(ChannelMember.user_id) == user
        )
    )


def read_roster(services: Services, channel: str) -> bool:
    """Read the channel's members from Slack into the database; False when Slack would not say
    (what was known is kept)."""
    members = services.slack.channel_members(channel)
    if members is None:
        return False
    with services.db.session() as session:
        replace_roster(session, channel, members, services.clock.now())
    return True


def in_channel(services: Services, channel: str, user: str) -> bool:
    """Whether `user` is in `channel`. Yes from the database (events keep it current); a no is
    asked of Slack again (conversations.members) unless the roster was read in the last
    `RECHECK`: someone who just joined may have their event still on its way."""
    with services.db.read() as session:
        if session.get(ChannelMember, (channel, user)) is not None:
            return True
        roster = session.get(ChannelRoster, channel)
    if roster is not None and services.clock.now() - roster.fetched_at < RECHECK:
        return False
    if read_roster(services, channel):
        with services.db.read() as session:
            return session.get(ChannelMember, (channel, user)) is not None
    return False


def command_allowed(services: Services, channel: str, user: str) -> bool:
    """A slash command in an engagement's channel comes from someone in it (Slack delivers it
    from there; re-checked on the server all the same). A channel whose roster was never read is
    not checked (the sweep reads it soon: `backfill_rosters`); a yes is remembered for
    `COMMAND_MEMO` in this process, so a burst of commands costs one read."""
    key = ("in-channel", channel, user)
    seen = services.memo.get(key)
    now = services.clock.now()
    if isinstance(seen, datetime) and now - seen < COMMAND_MEMO:
        return True
    with services.db.read() as session:
        member = session.get(ChannelMember, (channel, user)) is not None
        known = member or session.get(ChannelRoster, channel) is not None
    allowed = member or not known or in_channel(services, channel, user)
    if allowed:
        services.memo.put(key, now)
    return allowed


def backfill_rosters(services: Services, limit: int = BACKFILL_PER_TICK) -> int:
    """Read the rosters of active engagements' channels never read, then of those read longer than
    `REREAD` ago, at most `limit` (conversations.members is Tier 4); how many were read."""
    stale = services.clock.now() - REREAD
    with services.db.read() as session:
        channels = list(
            session.exec(
                select(Engagement.channel_id)
                .outerjoin(ChannelRoster, col(ChannelRoster.channel_id) == col(Engagement.channel_id))
                .where(
                    Engagement.status == "active",
                    or_(col(ChannelRoster.fetched_at).is_(None), col(ChannelRoster.fetched_at) < stale),
                )
                .order_by(col(ChannelRoster.fetched_at).is_not(None), col(ChannelRoster.fetched_at))
                .limit(limit)
            ).all()
        )
    done = 0
    for channel in channels:
        if read_roster(services, channel):
            done += 1
        else:
            # Slack will not list it (the bot is not in it): remember the attempt, so the sweep
            # does not ask again every tick.
            with services.db.session() as session:
                row = session.get(ChannelRoster, channel) or ChannelRoster(
                    channel_id=channel, fetched_at=services.clock.now()
                )
                row.fetched_at = services.clock.now()
                session.add(row)
    return done


@dataclass(frozen=True)
class Viewer:
    """Someone of the vendor's side looking at engagements: an admin sees every one, a guest none,
    anyone else those whose channel they are in."""

    user_id: str
    admin: bool = False
    guest: bool = False


def admin_ids(services: Services) -> frozenset[str]:
    """The user ids `GOLIVE_ADMINS` names: user ids as given, user groups (S…) expanded with
    usergroups.users.list, cached for `ADMINS_TTL` in this process. A group Slack will not list
    counts as nobody (logged)."""
    wanted = services.settings.golive_admins
    users = {a for a in wanted if not a.startswith("S")}
    for group in (a for a in wanted if a.startswith("S")):
        key = ("admins-group", group)
        cached = services.memo.get(key)
        if isinstance(cached, tuple) and services.clock.now() - cached[0] < ADMINS_TTL:
            users |= cached[1]
            continue
        members = services.slack.usergroup_members(group)
        if members is None:
            if isinstance(cached, tuple):
                users |= cached[1]  # Slack did not answer: the last known members
            continue
        services.memo.put(key, (services.clock.now(), frozenset(members)))
        users |= members
    return frozenset(users)


def viewer(services: Services, user_id: str, *, guest: bool) -> Viewer:
    if guest:
        return Viewer(user_id=user_id, guest=True)
    return Viewer(user_id=user_id, admin=user_id in admin_ids(services))


def may_see(services: Services, who: Viewer, channel: str) -> bool:
    """Whether this vendor person may see (and act from Home on) the engagement in `channel`."""
    if who.guest:
        return False
    return who.admin or in_channel(services, channel, who.user_id)
