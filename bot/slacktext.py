"""Reading text that Slack sends us (slash command text with `should_escape: true`).

Slack escapes `&`, `<`, `>` as entities and turns mentions into `<@U123|name>` tokens. Free
text we store (customer names, titles, reasons) is turned back into what the user typed, with
mention tokens reduced to readable `@name`; the rendering layer escapes it again on output.
"""

from __future__ import annotations

import re

USER_TOKEN = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|([^>]*))?>$")
_TOKEN = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]*))?>|<([^>|]+)(?:\|([^>]*))?>")


def _readable(m: re.Match[str]) -> str:
    sigil, ident, label, url, url_label = m.groups()
    if sigil == "@":
        return "@" + (label or ident)
    if sigil == "#":
        return "#" + (label or ident)
    if sigil == "!":
        # <!channel>, <!here>, <!subteam^S1|@team>, <!date^…|fallback>
        if label:
            return label
        return "@" + ident.split("^")[0]
    return url_label or url


def plain_text(text: str) -> str:
    """What the user typed: tokens made readable, entities decoded, whitespace tidied."""
    text = _TOKEN.sub(_readable, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def user_id_from_token(token: str) -> str | None:
    """`<@U123|name>` or `<@U123>` → `U123`; anything else → None."""
    m = USER_TOKEN.match(token.strip())
    return m.group(1) if m else None
