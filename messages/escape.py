"""Escaping and cutting of text for Slack mrkdwn.

Slack gives `&`, `<` and `>` meaning (entities, mentions such as `<!channel>`, links), so
user text is escaped as `&amp;`, `&lt;`, `&gt;`. Text is cut without splitting an entity or
a `<…>` token, and the cut is marked with an ellipsis.
"""

from __future__ import annotations

import re

ELLIPSIS = "…"
_ENTITY = re.compile(r"&(amp|lt|gt);")


def escape_mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    """Cut plain text to at most `limit` characters, ending with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def cut_mrkdwn(text: str, limit: int) -> str:
    """Cut mrkdwn to at most `limit` characters without breaking `&amp;` or `<@U1>` tokens."""
    if len(text) <= limit:
        return text
    end = max(limit - 1, 0)
    # Step back out of a half-cut entity.
    amp = text.rfind("&", max(0, end - 5), end)
    entity = _ENTITY.match(text, amp) if amp != -1 else None
    if entity and amp + len(entity.group(0)) > end:
        end = amp
    # Step back out of a half-cut <…> token (mention, link, date).
    lt = text.rfind("<", 0, end)
    if lt != -1 and text.find(">", lt) >= end:
        end = lt
    head = text[:end]
    # An unbalanced formatting marker at the cut would swallow the ellipsis; drop it.
    head = head.rstrip()
    return head + ELLIPSIS


class Trusted(str):
    """mrkdwn that is already safe: escaped user text and mentions made by `fmt`."""


_MENTIONABLE = re.compile(r"^[UW][A-Z0-9]{2,30}$")


class Mention(str):
    """A user id to render as `<@U…>` (validated)."""


def fmt(template: str, **values: object) -> Trusted:
    """Build mrkdwn from a trusted template: values are escaped, `Mention`s become mentions."""
    safe: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, Trusted):
            safe[key] = value
        elif isinstance(value, Mention) and _MENTIONABLE.match(value):
            safe[key] = f"<@{value}>"
        else:
            safe[key] = escape_mrkdwn(str(value))
    return Trusted(template.format(**safe))
