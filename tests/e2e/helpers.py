"""Small helpers for end-to-end tests: reading the database and the stand-in."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

from sqlmodel import func, select

from sandbox.harness import CHANNEL, Harness
from storage.models import Engagement


def count(h: Harness, model: Any) -> int:
    with h.services.db.session() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def engagement(h: Harness, channel: str = CHANNEL) -> Engagement | None:
    with h.services.db.session() as session:
        return session.exec(
            select(Engagement).where(Engagement.channel_id == channel).order_by(Engagement.id)
        ).first()  # type: ignore[arg-type]


def posts(h: Harness, channel: str = CHANNEL) -> list[dict[str, Any]]:
    return h.standin.messages(channel)


def shown(text: str) -> str:
    """What Slack displays for escaped text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def welcomes(h: Harness, channel: str = CHANNEL) -> list[dict[str, Any]]:
    return [m for m in posts(h, channel) if "kicked off" in (m.get("text") or "")]


def checklists(h: Harness, channel: str = CHANNEL) -> list[dict[str, Any]]:
    return [m for m in posts(h, channel) if "checklist:" in (m.get("text") or "")]


def ephemeral_texts(h: Harness, user: str, channel: str | None = None) -> list[str]:
    """What `user` sees of each ephemeral message: fallback text plus every block's text."""
    out = []
    for e in h.standin.ephemerals(channel=channel, user=user):
        out.append(shown((e.get("text") or "") + "\n" + blocks_text(e.get("blocks") or [])))
    return out


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    """All text in blocks, for assertions that do not care about layout."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                parts.append(node["text"])
            for v in node.values():
                if isinstance(v, dict | list):
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(blocks)
    return "\n".join(parts)


def dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def button_payload(h: Harness, message: dict[str, Any], action_id: str, user: str) -> dict[str, Any]:
    """A block_actions payload for a button of `message` as the client showed it.

    Used to send the very same click several times (double clicks, retries, races) or to
    click a button of an older version of a message (a stale client).
    """
    found = None
    for block in message["blocks"]:
        for el in block.get("elements", []) + ([block["accessory"]] if block.get("accessory") else []):
            if el.get("action_id") == action_id:
                found = (block, el)
    assert found, f"{action_id} not in the message"
    block, el = found
    u = h.standin.user(user)
    return {
        "type": "block_actions",
        "user": {"id": u.id, "username": u.name, "name": u.name, "team_id": u.team_id},
        "api_app_id": "A0GOLIVE",
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": CHANNEL,
            "is_ephemeral": False,
        },
        "trigger_id": h.standin.issue_trigger(user),
        "team": {"id": "T0VENDOR"},
        "channel": {"id": CHANNEL, "name": "acme-implementation"},
        "message": {"ts": message["ts"], "text": message.get("text"), "blocks": message["blocks"]},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block.get("block_id"),
                "value": el.get("value"),
                "text": el.get("text"),
                "action_ts": "1",
            }
        ],
    }


def send_payload(h: Harness, payload: dict[str, Any]) -> Any:
    from urllib.parse import urlencode

    return h.driver.send(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


def mention(p: Any) -> str:
    """How Slack sends a mention in slash command text (should_escape: true)."""
    return f"<@{p.user_id}|{p.name.split()[0].lower()}>"


def at(h: Harness, iso: str) -> None:
    """Set the bot's clock to an ISO-8601 time."""
    h.clock.set(datetime.fromisoformat(iso))


def reminder_kind(message: dict[str, Any]) -> str | None:
    """What reminder a message is, from its metadata (never its text): nudge, dryrun, digest…"""
    meta = message.get("metadata") or {}
    if meta.get("event_type") != "golive_reminder":
        return None
    return (meta.get("event_payload") or {}).get("kind")


def reminder_payload(message: dict[str, Any]) -> dict[str, Any]:
    return dict(((message.get("metadata") or {}).get("event_payload")) or {})


def nudges(h: Harness, channel: str = CHANNEL) -> list[dict[str, Any]]:
    """The nudges posted in the channel (thread replies), oldest first."""
    return [m for m in posts(h, channel) if reminder_kind(m) == "nudge"]


def dryrun_reminders(h: Harness) -> list[dict[str, Any]]:
    """The dry-run reminders (replies in its thread), not its announcements."""
    return [m for m in posts(h) if reminder_kind(m) == "dryrun"]


def direct_messages(h: Harness, user: Any) -> list[dict[str, Any]]:
    """What the bot said to someone in a direct message, oldest first."""
    dm = h.standin.im_channel(getattr(user, "user_id", user))
    return h.standin.messages(dm) if dm else []


def notified_by(h: Harness, message: dict[str, Any]) -> dict[str, str]:
    """{user: why} for the people Slack notified of a message (the stand-in's notification log)."""
    return h.standin.notified_by(message["channel"], message["ts"])


def db_snapshot(h: Harness) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, for "nothing was written" assertions; not the inbox, the journal
    of requests acked with work to do (`storage.inbox`): a refused request is recorded there too,
    its refusal being its work."""
    from sqlalchemy import text
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401  (the tables)

    with h.services.db.read() as session:
        return {
            t.name: sorted(
                (tuple(str(v) for v in row) for row in session.exec(text(f'SELECT * FROM "{t.name}"')).all()),  # type: ignore[call-overload]
            )
            for t in SQLModel.metadata.sorted_tables
            if t.name != "inbox"
        }


APOLOGY = "something went wrong on my side"


def forged_click(
    h: Harness,
    message: dict[str, Any],
    action_id: str,
    user: str,
    *,
    value: str | None = None,
    selected_option: str | None = None,
) -> Any:
    """A signed click on `message` carrying a button value or a menu option we write ourselves:
    what a stale client, or someone replaying an edited payload, could send."""
    u = h.standin.user(user)
    action: dict[str, Any] = {"action_id": action_id, "block_id": "forged", "action_ts": "1"}
    if selected_option is not None:
        option = {"text": {"type": "plain_text", "text": "x"}, "value": selected_option}
        action |= {"type": "overflow", "selected_option": option}
    else:
        action |= {"type": "button", "value": value, "text": {"type": "plain_text", "text": "x"}}
    payload = {
        "type": "block_actions",
        "user": {"id": u.id, "username": u.name, "name": u.name, "team_id": u.team_id},
        "api_app_id": "A0GOLIVE",
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": CHANNEL},
        "trigger_id": h.standin.issue_trigger(user),
        "team": {"id": "T0VENDOR"},
        "channel": {"id": CHANNEL, "name": "acme-implementation"},
        "message": {"ts": message["ts"], "text": message.get("text"), "blocks": message["blocks"]},
        "actions": [action],
    }
    r = send_payload(h, payload)
    h.idle()
    return r


def hold_ticks(monkeypatch: Any) -> threading.Event:
    """Hold every tick's write (on its after-the-ack worker) until the returned event is set."""
    import handlers.checklist as checklist_handlers

    go = threading.Event()
    real = checklist_handlers._tick

    def held_tick(*args: Any, **kwargs: Any) -> Any:
        assert go.wait(30), "the test never let the writes go"
        return real(*args, **kwargs)

    monkeypatch.setattr(checklist_handlers, "_tick", held_tick)
    return go


def approve_request(h: Harness, ts: str, request_id: int, user: Any, channel: str = CHANNEL) -> None:
    """Approve as a person does: click Approve on the request; an approver then confirms in the form
    that opens (someone who may not approve is refused at once, and no form opens)."""
    user_id = getattr(user, "user_id", user)
    before = {v["id"] for v in h.standin.open_views(user_id)}
    h.driver.click(channel, ts, f"signoff_approve:{request_id}", user=user_id)
    h.idle()
    opened = [
        v
        for v in h.standin.open_views(user_id)
        if v["id"] not in before and v["view"].get("callback_id") == "signoff_approve"
    ]
    if opened:
        h.driver.submit_view(opened[-1]["id"], {}, user=user_id)
        h.idle()


def request_signoff(
    h: Harness, gate: str = "", *, user: Any = None, note: str = "Updated as asked", channel: str = CHANNEL
) -> None:
    """`/golive signoff [gate]` as the lead (or `user`), confirming the form that opens when the
    gate's items are still open, its phase is not reached, or changes were requested (with `note`,
    what changed)."""
    from sandbox.harness import LEAD

    user_id = getattr(user or LEAD, "user_id", user)
    before = {v["id"] for v in h.standin.open_views(user_id)}
    h.command(f"signoff {gate}".strip(), user=user_id, channel=channel)
    opened = [
        v
        for v in h.standin.open_views(user_id)
        if v["id"] not in before and v["view"].get("callback_id") == "signoff_confirm"
    ]
    if opened:
        blocks = {b.get("block_id") for b in opened[-1]["view"].get("blocks", [])}
        values = {"note": {"value": note}} if "note" in blocks else {}
        h.driver.submit_view(opened[-1]["id"], values, user=user_id)
        h.idle()


def last_answer(h: Harness, user: Any = None) -> str:
    """What the lead (or `user`) was last told privately, as they see it."""
    from sandbox.harness import LEAD

    return ephemeral_texts(h, getattr(user or LEAD, "user_id", user))[-1]
