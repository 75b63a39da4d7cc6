"""Whom Slack notifies of a message, with Slack's default notification preferences.

Every message that lands in the stand-in is run through these rules, and the outcome is kept
(``Workspace.notifications``): who was notified, by which message, and why. A mention that
notifies nobody is kept too (``Workspace.silences``), with the reason, so a test can say why a
reminder reached no one. The rules (Slack's help on threads, mentions and notification
preferences; ``chat.postMessage``'s ``reply_broadcast``):

- A message in a direct message (the bot's IM with someone) notifies that person.
- A mention ``<@U…>`` of a member of the channel notifies them. A mention of someone who is not a
  member notifies nobody. ``<!channel>`` / ``<!everyone>`` / ``<!here>`` notify every member.
- A top-level message without a mention notifies nobody: it only marks the channel unread.
- A thread reply notifies the people mentioned in it and the thread's followers: the people who
  posted in the thread or were mentioned in one of its replies. Nobody follows a thread the bot
  started until someone is mentioned in a reply. (Stricter than Slack may be: a mention in the
  parent message does not make its thread followed.) People may follow or unfollow by hand;
  posting in a thread or being mentioned in it again follows it again.
- ``reply_broadcast`` also shows the reply in the channel: unread for every member, a push only
  for the mentioned.
- An edit (``chat.update``, ``replace_original``) notifies nobody, even when it adds a mention;
  an ephemeral message notifies nobody.
- A mobile push shows the message's ``text``; the client shows its blocks (the blocks' mrkdwn text
  or ``rich_text`` user elements). A mention in both is a plain ``mention``. A mention in only
  one of them still notifies (and makes a thread followed), but its reason says which half is
  missing — ``mention only in blocks`` (the push does not name the person) or ``mention only in
  text`` (never shown) — so a test that asks "was this person reached properly" can refuse it,
  and one that counts notifications still counts it.
- Nobody is notified of their own message.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import Channel, Workspace

USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
SPECIAL_MENTION = re.compile(r"<!(channel|here|everyone)(?:\|[^>]*)?>")

DIRECT = "direct message"
MENTION = "mention"
ONLY_IN_BLOCKS = "mention only in blocks"
ONLY_IN_TEXT = "mention only in text"
FOLLOWING = "following the thread"


@dataclass(frozen=True)
class Notification:
    """Slack notified ``user`` of the message ``ts`` in ``channel``, for ``reason``."""

    user: str
    channel: str
    ts: str
    thread_ts: str | None
    reason: str  # direct message | mention | following the thread | @channel | @here | @everyone
    text: str  # what the push shows
    seq: int
    at: float

    @property
    def in_thread(self) -> bool:
        return bool(self.thread_ts) and self.thread_ts != self.ts


@dataclass(frozen=True)
class Silence:
    """A mention of ``user`` in the message ``ts`` that notified nobody, and why."""

    user: str
    channel: str
    ts: str
    why: str
    seq: int


def mentions_in_text(text: str | None) -> tuple[set[str], set[str]]:
    """(user ids, special mentions) written in mrkdwn ``text``."""
    text = text or ""
    return set(USER_MENTION.findall(text)), set(SPECIAL_MENTION.findall(text))


def mentions_shown(blocks: list[Any] | None) -> tuple[set[str], set[str]]:
    """(user ids, special mentions) a client shows in ``blocks``: mrkdwn text objects (section text
    and fields, context elements) and ``rich_text`` user and broadcast elements. Mentions in
    ``plain_text`` are shown as typed and notify nobody."""
    users: set[str] = set()
    special: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for value in node:
                walk(value)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if kind == "mrkdwn" and isinstance(node.get("text"), str):
            u, s = mentions_in_text(node["text"])
            users.update(u)
            special.update(s)
        elif kind == "user" and isinstance(node.get("user_id"), str):
            users.add(node["user_id"])
        elif kind == "broadcast" and node.get("range") in ("channel", "here", "everyone"):
            special.add(node["range"])
        for value in node.values():
            if isinstance(value, dict | list):
                walk(value)

    walk(blocks or [])
    return users, special


def _mentions(record: dict[str, Any]) -> tuple[dict[str, str], set[str]]:
    """{user: reason} of the message's mentions, and its special mentions (@channel, @here)."""
    in_text, special_text = mentions_in_text(record.get("text"))
    if not record.get("blocks"):
        return dict.fromkeys(in_text, MENTION), special_text
    shown, special_shown = mentions_shown(record["blocks"])
    users = dict.fromkeys(in_text & shown, MENTION)
    users.update(dict.fromkeys(shown - in_text, ONLY_IN_BLOCKS))
    users.update(dict.fromkeys(in_text - shown, ONLY_IN_TEXT))
    return users, special_text | special_shown


def _notify(ws: Workspace, record: dict[str, Any], user: str, reason: str, out: dict[str, str]) -> None:
    if user in out:
        return
    out[user] = reason
    ws.notifications.append(
        Notification(
            user=user,
            channel=record["channel"],
            ts=record["ts"],
            thread_ts=record.get("thread_ts"),
            reason=reason,
            text=record.get("text") or "",
            seq=ws.seq(),
            at=time.time(),
        )
    )


def _silence(ws: Workspace, record: dict[str, Any], user: str, why: str) -> None:
    ws.silences.append(Silence(user, record["channel"], record["ts"], why, ws.seq()))


def on_post(ws: Workspace, channel: Channel, record: dict[str, Any]) -> dict[str, str]:
    """A new message landed: notify as Slack would; returns {user: reason}. Caller holds the lock."""
    poster = record["user"]
    out: dict[str, str] = {}
    ts, thread_ts = record["ts"], record.get("thread_ts")
    is_reply = bool(thread_ts) and thread_ts != ts
    if channel.is_im:
        if channel.im_user and channel.im_user != poster:
            _notify(ws, record, channel.im_user, DIRECT, out)
            ws.unread.setdefault((channel.im_user, channel.id), []).append(ts)
        return out
    users, special = _mentions(record)
    members = set(channel.members)
    for user, why in sorted(users.items()):
        if user == poster:
            continue
        if user not in members:
            _silence(ws, record, user, "not a member of the channel")
            continue
        _notify(ws, record, user, why, out)
    for name in sorted(special):
        for user in channel.members:
            if user != poster and user != ws.bot_user_id:
                _notify(ws, record, user, f"@{name}", out)
    if is_reply:
        key = (channel.id, str(thread_ts))
        followers = ws.followers.setdefault(key, set())
        for user in sorted(followers - {poster}):
            if user in members:
                _notify(ws, record, user, FOLLOWING, out)
        # Posting in a thread, or being mentioned in it, follows it.
        if poster != ws.bot_user_id:
            followers.add(poster)
        followers.update(u for u in users if u in members)
    if not is_reply or record.get("reply_broadcast"):
        for user in channel.members:
            if user != poster and user != ws.bot_user_id:
                ws.unread.setdefault((user, channel.id), []).append(ts)
    return out


def on_edit(ws: Workspace, record: dict[str, Any], before_text: str, before_blocks: list[Any]) -> None:
    """An edit notifies nobody, even of a mention it adds: kept as silences."""
    old_users, _ = mentions_in_text(before_text)
    old_shown, _ = mentions_shown(before_blocks)
    new_users, _ = mentions_in_text(record.get("text"))
    new_shown, _ = mentions_shown(record.get("blocks"))
    for user in sorted((new_users | new_shown) - (old_users | old_shown)):
        _silence(ws, record, user, "an edit notifies nobody")


def on_ephemeral(ws: Workspace, ephemeral: dict[str, Any]) -> None:
    users, _ = mentions_in_text(ephemeral.get("text"))
    shown, _ = mentions_shown(ephemeral.get("blocks"))
    record = {"channel": ephemeral["channel"], "ts": ephemeral["ts"]}
    for user in sorted(users | shown):
        _silence(ws, record, user, "an ephemeral message notifies nobody")
