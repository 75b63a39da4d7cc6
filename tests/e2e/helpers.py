"""Small helpers for end-to-end tests: reading the database and the stand-in."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import func, select

from bot.harness import CHANNEL, Harness
from storage.models import Engagement


def count(h: Harness, model: Any) -> int:
    with h.services.db.session() as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def engagement(h: Harness, channel: str = CHANNEL) -> Engagement | None:
    with h.services.db.session() as s:
        return s.exec(select(Engagement).where(Engagement.channel_id == channel)).first()


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
