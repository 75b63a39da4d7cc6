"""The Activity pane: what Slack would have notified one person of (the stand-in's
notifications), newest first, each with why, where, when and who, and a link to its message."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from markupsafe import Markup

from .conversation import page_address, parent_of
from .mrkdwn import render_mrkdwn
from .reader import directory, poster
from .session import Sandbox

# Why Slack notified the person (standin/notify.py's reasons), as the Activity pane says it.
REASONS = {
    "mention": "Mention",
    "direct message": "Direct message",
    "following the thread": "Thread you follow",
}


@dataclass
class ActivityEntry:
    """One notification in the person's Activity pane."""

    seq: int
    ts: str
    reason: str  # the stand-in's: mention | direct message | following the thread | @channel…
    label: str  # how the pane says it: Mention, Direct message, Thread you follow, @channel
    where: str  # #acme-implementation or Direct message
    in_thread: bool
    href: str | None  # the message on the page, when the sandbox shows its channel
    author: str
    initials: str
    app: bool
    html: Markup
    time: str
    when: str
    iso: str
    new: bool  # not seen in Activity before this visit


def message_anchor(ts: str) -> str:
    """The id of a message's article on the page (Activity links to it)."""
    return "m-" + ts


def activity(sandbox: Sandbox, user: str, tz: ZoneInfo) -> list[ActivityEntry]:
    """The person opens Activity: their notifications, newest first, with why, where and when;
    what Slack's push showed (the message's `text`) rendered as mrkdwn, escaped first."""
    s = sandbox.h.standin
    dirs = directory(sandbox, tz)
    im = s.im_channel(user)
    mine = set(sandbox.channel_ids(user))  # the channels in the person's sidebar
    found, seen = sandbox.open_activity(user)
    out: list[ActivityEntry] = []
    for n in found:
        record = s.message(n.channel, n.ts)
        deleted = record is None or bool(record.get("deleted"))
        if n.channel in mine or (im is not None and n.channel == im):
            # A reply is shown in its thread: the link opens the thread in the side pane.
            href: str | None = (
                page_address(n.channel, parent_of(record or {"ts": n.ts})) + "#" + message_anchor(n.ts)
            )
        else:
            href = None  # a channel the sandbox does not show
        where = "Direct message" if n.reason == "direct message" else "#" + dirs.channel(n.channel)
        author, initials, app = poster(sandbox, record, dirs)
        local = sandbox.stamp_of(n.ts).astimezone(tz)
        out.append(
            ActivityEntry(
                seq=n.seq,
                ts=n.ts,
                reason=n.reason,
                label=REASONS.get(n.reason, n.reason),
                where=where,
                in_thread=n.in_thread,
                href=None if deleted else href,
                author=author,
                initials=initials,
                app=app,
                html=Markup("<i>This message was deleted.</i>") if deleted else render_mrkdwn(n.text, dirs),
                time=local.strftime("%a %d %b, %H:%M"),
                when=local.strftime("%a %d %b %Y %H:%M %Z"),
                iso=local.isoformat(),
                new=n.seq > seen,
            )
        )
    return out
