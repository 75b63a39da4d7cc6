"""The channel (or the app's messages) as one persona sees it: top-level messages and their
ephemerals, oldest first, each thread folded into a "N replies" line, and the thread open in the
side pane with the message that starts it and its replies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from markupsafe import Markup

from sandbox.harness import CHANNEL

from .blocks import render_message
from .ephemeral import ephemeral_blocks
from .files import picture
from .mrkdwn import Directory
from .reader import directory, poster, render_context
from .session import Sandbox


@dataclass
class Person:
    """Who wrote a message, as its avatar shows them."""

    name: str
    initials: str
    app: bool


@dataclass
class Replies:
    """The "N replies" line under a message that starts a thread."""

    count: int
    people: list[Person]  # who replied, first repliers first (the avatars)
    last: str  # "today at 09:30"
    last_when: str  # the full date, for the title
    last_iso: str
    href: str  # the page with this thread open in the side pane
    open: bool  # the side pane shows this thread now


@dataclass
class Entry:
    """One message as the persona sees it."""

    ts: str
    html: Markup
    edited: bool
    ephemeral: bool
    reply: bool
    time: str
    when: str
    day: str
    files: list[dict[str, Any]]
    author: str = "golive"
    initials: str = "g"
    app: bool = True
    dom_id: str = ""  # the article's id: m-<ts>, unless another copy of the message has it
    thread_ts: str = ""  # for a reply: the message that starts its thread
    broadcast: bool = False  # a reply also sent to the channel (`thread_broadcast`)
    deleted: bool = False  # a deleted message kept as a placeholder for its thread
    replies: Replies | None = None
    thread_href: str = ""  # for a broadcast in the channel: its thread, in the pane

    @property
    def anchor(self) -> str:
        """The id the page goes back to after an action on this message (without JavaScript)."""
        return "a-" + self.dom_id


@dataclass
class ThreadPane:
    """A thread open in the side pane: the message that starts it, then its replies."""

    ts: str
    parent: Entry
    replies: list[Entry]
    count: int
    close_href: str
    channel_name: str


@dataclass
class Conversation:
    """What the channel (or the app's messages) shows: top-level messages, threads folded."""

    entries: list[Entry]
    pane: ThreadPane | None
    here: str  # this page's address, with its open thread: where actions come back to
    threads: dict[str, str]  # reply ts -> its thread's ts (old `#m-<reply>` links open the thread)


def parent_of(m: dict[str, Any]) -> str:
    """The ts of the thread a reply belongs to ("" for a top-level message)."""
    thread = str(m.get("thread_ts") or "")
    return thread if thread and thread != m["ts"] else ""


def is_dm(channel: str) -> bool:
    """The app's messages with the person (Slack's IM ids start with D), not a channel."""
    return channel.startswith("D")


def page_address(channel: str, thread: str = "") -> str:
    """The page of the channel (or the app's messages), with `thread` open in the side pane: `/`
    for the shared channel, `/?channel=C…` for another (one the bot made for a deal)."""
    query = {"view": "messages"} if is_dm(channel) else {} if channel == CHANNEL else {"channel": channel}
    if thread:
        query["thread"] = thread
    return "/" + ("?" + urlencode(query) if query else "")


def _files(record: dict[str, Any], stored: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Files shared with a message, each with the sandbox's download link; a PNG or JPEG picture
    also with its preview (`picture`: its size, the preview's address and its alt text)."""
    out: list[dict[str, Any]] = []
    for f in record.get("files") or []:
        if not isinstance(f, dict) or not f.get("id"):
            continue
        found = stored.get(str(f["id"])) or {}
        shown = picture(found.get("content"))
        title = str(f.get("title") or f.get("name") or "")
        out.append(
            {
                "name": str(f.get("name") or ""),
                "title": title,
                "url": f"/files/{f['id']}",
                "picture": None
                if shown is None
                else {
                    "src": f"/files/{f['id']}/preview",
                    "width": shown.width,
                    "height": shown.height,
                    "alt": str(found.get("alt_txt") or title),
                },
            }
        )
    return out


def _last_reply(at: datetime, now: datetime) -> str:
    """When the last reply came, as Slack says it: "today at 09:30", "yesterday at 17:05",
    "Thu 3 Dec at 09:30" (the reader's time zone)."""
    days = (now.date() - at.date()).days
    day = {0: "today", 1: "yesterday"}.get(days) or f"{at:%a} {at.day} {at:%b}"
    return f"{day} at {at:%H:%M}"


def conversation(sandbox: Sandbox, user: str, channel: str, tz: ZoneInfo, thread: str = "") -> Conversation:
    """The channel's top-level messages and the persona's ephemerals, oldest first, each thread
    folded into a "N replies" line; `thread` (a thread's ts) open in the side pane, with the
    message that starts it and its replies. A reply sent to the channel too (`reply_broadcast`,
    Slack's `thread_broadcast`) shows in both places; a deleted message that has replies stays
    as "This message was deleted." with its thread."""
    s = sandbox.h.standin
    dirs = directory(sandbox, tz)
    now = sandbox.clock.now().astimezone(tz)
    records = s.messages(channel)
    alive = [m for m in records if not m.get("deleted")]
    by_ts = {m["ts"]: m for m in records}
    threads: dict[str, list[dict[str, Any]]] = {}
    for m in alive:
        if parent_of(m):
            threads.setdefault(parent_of(m), []).append(m)
    ephemerals = [e for e in s.ephemerals(channel=channel, user=user) if not e.get("deleted")]
    stored = {str(f.get("id")): f for f in s.files} if any(m.get("files") for m in alive) else {}

    def shown_in_channel(m: dict[str, Any]) -> bool:
        if parent_of(m):
            return bool(m.get("reply_broadcast")) and not m.get("deleted")
        return not m.get("deleted") or m["ts"] in threads

    parent = by_ts.get(thread) if thread else None
    if parent is None or parent_of(parent) or (parent.get("deleted") and thread not in threads):
        thread = ""  # not a thread of this channel: no pane
    here = page_address(channel, thread)
    in_pane = {m["ts"] for m in threads.get(thread, [])} if thread else set()

    def entry(m: dict[str, Any], ephemeral: bool, dom_id: str) -> Entry:
        where = "ephemeral" if ephemeral else "message"
        anchor = "a-" + dom_id
        ctx = render_context(
            sandbox, dirs, where=where, channel=channel, ts=m["ts"], back=f"{here}#{anchor}", scope=dom_id
        )
        deleted = bool(m.get("deleted"))
        if deleted:
            html = Markup('<div class="b-text deleted-text">This message was deleted.</div>')
        elif ephemeral:
            html = render_message(m.get("text"), ephemeral_blocks(m), ctx)
        else:
            html = render_message(m.get("text"), s.ws.filled_blocks(m), ctx)
        local = sandbox.stamp_of(m["ts"]).astimezone(tz)
        author, initials, app = ("golive", "g", True) if ephemeral else poster(sandbox, m, dirs)
        replies = None if ephemeral or parent_of(m) else threads.get(m["ts"])
        return Entry(
            ts=m["ts"],
            html=html,
            edited=bool(m.get("edited") or m.get("replaced")) and not deleted,
            ephemeral=ephemeral,
            reply=bool(parent_of(m)),
            time=local.strftime("%H:%M"),
            when=local.strftime("%a %d %b %Y %H:%M %Z"),
            day=local.strftime("%A, %d %B"),
            files=[] if ephemeral or deleted else _files(m, stored),
            author="" if deleted else author,
            initials="" if deleted else initials,
            app=app and not deleted,
            dom_id=dom_id,
            thread_ts=parent_of(m),
            broadcast=bool(m.get("reply_broadcast")) and bool(parent_of(m)),
            deleted=deleted,
            replies=_replies(sandbox, m["ts"], replies, dirs, tz, now, channel, thread) if replies else None,
            thread_href=page_address(channel, parent_of(m)) if parent_of(m) else "",
        )

    top: list[tuple[float, dict[str, Any], bool]] = [
        (float(m["ts"]), m, False) for m in records if shown_in_channel(m)
    ]
    top += [(float(e["ts"]), e, True) for e in ephemerals if not parent_of(e)]
    top.sort(key=lambda x: x[0])
    entries = [entry(m, eph, ("c-" if m["ts"] in in_pane else "m-") + m["ts"]) for _, m, eph in top]

    pane = None
    if thread and parent is not None:
        replies_in = [(float(m["ts"]), m, False) for m in threads.get(thread, [])]
        replies_in += [(float(e["ts"]), e, True) for e in ephemerals if parent_of(e) == thread]
        replies_in.sort(key=lambda x: x[0])
        pane = ThreadPane(
            ts=thread,
            parent=entry(parent, False, "t-" + thread),
            replies=[entry(m, eph, "m-" + m["ts"]) for _, m, eph in replies_in],
            count=len(threads.get(thread, [])),
            close_href=page_address(channel),
            channel_name="golive" if is_dm(channel) else "#" + dirs.channel(channel),
        )
    index = {m["ts"]: parent_ts for parent_ts, found in threads.items() for m in found}
    return Conversation(entries=entries, pane=pane, here=here, threads=index)


def _replies(
    sandbox: Sandbox,
    ts: str,
    replies: list[dict[str, Any]],
    dirs: Directory,
    tz: ZoneInfo,
    now: datetime,
    channel: str,
    thread: str,
) -> Replies:
    people: list[Person] = []
    for r in replies:
        person = Person(*poster(sandbox, r, dirs))
        if person not in people:
            people.append(person)
    last = sandbox.stamp_of(replies[-1]["ts"]).astimezone(tz)
    return Replies(
        count=len(replies),
        people=people[:5],
        last=_last_reply(last, now),
        last_when=last.strftime("%a %d %b %Y %H:%M %Z"),
        last_iso=last.isoformat(),
        href=page_address(channel, ts),
        open=ts == thread,
    )
