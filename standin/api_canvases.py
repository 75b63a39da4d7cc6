"""Web API methods of the project page (issue 28): conversations.canvases.create, canvases.edit and
pins.add, each as its page on docs.slack.dev/reference/methods describes it.

``conversations.canvases.create`` (Tier 2; scope ``canvases:write``): ``channel_id`` (required),
``title``, ``document_content`` (``{"type": "markdown", "markdown": ...}``, at most 1 MiB).
Errors: ``channel_not_found``, ``channel_canvas_already_exists`` (one channel canvas a channel),
and the workspace's refusals a test sets with ``SlackStandIn.set_canvas_refusal``:
``team_tier_cannot_create_channel_canvases`` (a free plan), ``canvas_disabled_user_team``,
``restricted_action``, ``canvas_creation_failed``… The answer is ``{"ok": true, "canvas_id": "F…"}``.

``canvases.edit`` (Tier 3; ``canvases:write``): ``canvas_id``, ``changes`` (a non-empty array of
``{operation, section_id?, document_content?}``). The stand-in keeps a canvas as a list of
sections, each starting at a markdown heading, with ids ``temp:C:…``; ``replace`` without a
``section_id`` replaces the whole document, with one it replaces that section (a section id the
canvas does not hold: ``canvas_editing_failed``), ``insert_at_start``/``insert_at_end`` add
sections, ``delete`` removes one. Errors: ``canvas_not_found``, ``invalid_arguments``
(no changes, an unknown operation, content that is not markdown).

``pins.add`` (Tier 2; ``pins:write``): ``channel``, ``timestamp``. Errors: ``channel_not_found``,
``message_not_found``, ``not_pinnable``, ``already_pinned``, ``not_in_channel``.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from .api_common import ApiError, ApiRequest, json_arg, method, str_arg
from .state import Workspace

MAX_MARKDOWN = 1_048_576
OPERATIONS = frozenset(
    {"insert_after", "insert_before", "insert_at_start", "insert_at_end", "replace", "delete"}
)
_HEADING = re.compile(r"^#{1,3} ", re.MULTILINE)


def _markdown(content: Any) -> str:
    """The markdown of a ``document_content`` argument, or ``invalid_arguments``."""
    if not isinstance(content, dict) or content.get("type") != "markdown":
        raise ApiError("invalid_arguments", detail="document_content must be {type: markdown, markdown}")
    text = content.get("markdown")
    if not isinstance(text, str) or len(text) > MAX_MARKDOWN:
        raise ApiError("invalid_arguments", detail="markdown must be a string of at most 1 MiB")
    return text


def _split(ws: Workspace, markdown: str) -> list[dict[str, str]]:
    """Markdown as sections, one per heading (and one for what comes before the first)."""
    starts = [m.start() for m in _HEADING.finditer(markdown)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    bounds = [*starts, len(markdown)]
    parts = [markdown[a:b] for a, b in itertools.pairwise(bounds)]
    return [{"id": "temp:C:" + ws.new_id("S"), "markdown": p} for p in parts if p.strip()]


def canvas_markdown(canvas: dict[str, Any]) -> str:
    """A canvas's whole document, as tests read it."""
    return "".join(s["markdown"] for s in canvas["sections"])


@method("conversations.canvases.create", scope="canvases:write")
def conversations_canvases_create(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    channel = ws.channels.get(str_arg(req.args, "channel_id") or "")
    if channel is None or (channel.is_private and ws.bot_user_id not in channel.members):
        raise ApiError("channel_not_found")
    content = json_arg(req.args, "document_content")
    markdown = _markdown(content) if content is not None else ""
    if ws.canvas_refusal:
        raise ApiError(ws.canvas_refusal)
    if any(c["channel"] == channel.id for c in ws.canvases.values()):
        raise ApiError("channel_canvas_already_exists")
    canvas_id = ws.new_id("F")
    ws.canvases[canvas_id] = {
        "channel": channel.id,
        "title": str_arg(req.args, "title") or "",
        "sections": _split(ws, markdown),
    }
    return {"ok": True, "canvas_id": canvas_id}


def _apply(ws: Workspace, canvas: dict[str, Any], change: Any) -> None:
    if not isinstance(change, dict) or change.get("operation") not in OPERATIONS:
        raise ApiError("invalid_arguments", detail="each change needs a known operation")
    op, section_id = change["operation"], change.get("section_id")
    sections: list[dict[str, str]] = canvas["sections"]
    at = next((i for i, s in enumerate(sections) if s["id"] == section_id), None)
    if section_id is not None and at is None:
        raise ApiError("canvas_editing_failed", detail=f"no section {section_id}")
    new = [] if op == "delete" else _split(ws, _markdown(change.get("document_content")))
    if op == "replace":
        if at is None:
            canvas["sections"] = new
        else:
            sections[at : at + 1] = new
    elif op == "delete":
        if at is None:
            raise ApiError("invalid_arguments", detail="delete needs a section_id")
        del sections[at]
    elif op == "insert_at_start":
        sections[0:0] = new
    elif op == "insert_at_end":
        sections.extend(new)
    elif at is None:
        raise ApiError("invalid_arguments", detail=f"{op} needs a section_id")
    else:
        pos = at if op == "insert_before" else at + 1
        sections[pos:pos] = new


@method("canvases.edit", scope="canvases:write")
def canvases_edit(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    canvas = ws.canvases.get(str_arg(req.args, "canvas_id") or "")
    if canvas is None:
        raise ApiError("canvas_not_found")
    changes = json_arg(req.args, "changes")
    if not isinstance(changes, list) or not changes:
        raise ApiError("invalid_arguments", detail="changes must be a non-empty array")
    before = list(canvas["sections"])
    try:
        for change in changes:
            _apply(ws, canvas, change)
    except ApiError:
        canvas["sections"] = before  # all or nothing
        raise
    return {"ok": True}


@method("pins.add", scope="pins:write")
def pins_add(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    channel = ws.channels.get(str_arg(req.args, "channel") or "")
    if channel is None:
        raise ApiError("channel_not_found")
    if ws.bot_user_id not in channel.members:
        raise ApiError("not_in_channel")
    ts = str_arg(req.args, "timestamp")
    if not ts:
        raise ApiError("no_item_specified")
    if not any(m.get("ts") == ts for m in ws.messages.get(channel.id, [])):
        raise ApiError("message_not_found")
    pinned = ws.pins.setdefault(channel.id, [])
    if ts in pinned:
        raise ApiError("already_pinned")
    pinned.append(ts)
    return {"ok": True}
