"""Web API methods of the project page (issue 28): conversations.canvases.create, canvases.edit,
canvases.sections.lookup and pins.add, each as its page on docs.slack.dev/reference/methods
describes it.

A canvas is kept as a list of sections, one per markdown block: a heading line (``h1`` to ``h3``),
each list item, a paragraph (lines up to a blank line), a fenced code block; each with an id
``temp:C:…``. The canvas's document (``canvas_markdown``) is the blocks in order, one line apart,
with a blank line around each paragraph.

``conversations.canvases.create`` (Tier 2; scope ``canvases:write``): ``channel_id`` (required),
``title``, ``document_content`` (``{"type": "markdown", "markdown": ...}``, at most 1 MiB).
Errors: ``channel_not_found``, ``channel_canvas_already_exists`` (one channel canvas a channel),
and the workspace's refusals a test sets with ``SlackStandIn.set_canvas_refusal``:
``team_tier_cannot_create_channel_canvases`` (a free plan), ``canvas_disabled_user_team``,
``restricted_action``, ``canvas_creation_failed``… The answer is ``{"ok": true, "canvas_id": "F…"}``.

``canvases.edit`` (Tier 3; ``canvases:write``): ``canvas_id``, ``changes``: an array of
``{operation, section_id?, document_content? | title_content?}``. "Only one operation per API call
is currently supported": more than one change is refused. Slack documents no error code for that,
so the stand-in answers ``invalid_arguments`` (the code Slack gives malformed arguments).
``replace`` without a ``section_id`` replaces the whole document; with one, that one section;
``insert_after``/``insert_before`` put the content's sections next to the section named,
``insert_at_start``/``insert_at_end`` at either end, ``delete`` removes the one section named;
``rename`` sets the title from ``title_content``. Errors: ``canvas_not_found``, ``canvas_deleted``,
``canvas_editing_failed`` (a section id the canvas does not hold), ``canvas_disabled_user_team``
(canvases turned off), ``invalid_arguments`` (no change or more than one, an unknown operation,
content that is not markdown, an operation without the section it needs).

``canvases.sections.lookup`` (Tier 3; ``canvases:read``): ``canvas_id``, ``criteria``: an object
with ``section_types`` (one to three of ``h1``, ``h2``, ``h3``, ``any_header``) and/or
``contains_text``; at least one of the two (else ``invalid_arguments``). Only headings can be
filtered by type, but "other types of sections exist ... You may discover these when using a query
with no section type provided": ``contains_text`` alone finds paragraphs and list items too. Text is
matched in what a section shows (its markdown markup, escapes and link targets left out); the docs
do not say whether case counts, so the stand-in matches regardless of case (the stricter choice for
an app that needs one match). A list marker is markup, not text, also one that starts a list inside
an item (``- 1. Kickoff`` shows "Kickoff" in a numbered list; ``- 1\\. Kickoff`` shows "1.
Kickoff"). The answer is ``{"ok": true, "sections": [{"id": ...}]}``, in document order. Errors: ``canvas_not_found``, ``canvas_deleted``, ``canvas_disabled_user_team``.

``pins.add`` (Tier 2; ``pins:write``): ``channel``, ``timestamp``. Errors: ``channel_not_found``,
``message_not_found``, ``not_pinnable``, ``already_pinned``, ``not_in_channel``.
"""

from __future__ import annotations

import re
from typing import Any

from .api_common import ApiError, ApiRequest, json_arg, method, str_arg
from .state import Workspace

MAX_MARKDOWN = 1_048_576
OPERATIONS = frozenset(
    {"insert_after", "insert_before", "insert_at_start", "insert_at_end", "replace", "delete", "rename"}
)
SECTION_TYPES = frozenset({"h1", "h2", "h3", "any_header"})
HEADINGS = frozenset({"h1", "h2", "h3"})
_HEADING = re.compile(r"^(#{1,3}) ")
_LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,9}[.)])(?: \[[ xX]\])? ")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_ESCAPE = re.compile(r"\\(.)")
_EMPHASIS = re.compile(r"(\*\*|__|~~|(?<![\w\\])[*_](?=\S)|(?<=[^\s\\])[*_](?!\w))")


def _markdown(content: Any) -> str:
    """The markdown of a ``document_content`` argument, or ``invalid_arguments``."""
    if not isinstance(content, dict) or content.get("type") != "markdown":
        raise ApiError("invalid_arguments", detail="document_content must be {type: markdown, markdown}")
    text = content.get("markdown")
    if not isinstance(text, str) or len(text) > MAX_MARKDOWN:
        raise ApiError("invalid_arguments", detail="markdown must be a string of at most 1 MiB")
    return text


def blocks(markdown: str) -> list[tuple[str, str]]:
    """Markdown as its blocks, each (type, markdown): a heading line (``h1`` to ``h3``), a list item
    (``list_item``, with the indented lines under it), a paragraph, a fenced ``code`` block."""
    out: list[tuple[str, str]] = []
    para: list[str] = []
    fence: list[str] | None = None

    def flush() -> None:
        if para:
            out.append(("paragraph", "\n".join(para)))
            para.clear()

    for line in markdown.split("\n"):
        if fence is not None:
            fence.append(line)
            if _FENCE.match(line):
                out.append(("code", "\n".join(fence)))
                fence = None
            continue
        if not line.strip():
            flush()
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            out.append((f"h{len(heading.group(1))}", line))
        elif _FENCE.match(line):
            flush()
            fence = [line]
        elif _LIST_ITEM.match(line):
            flush()
            out.append(("list_item", line))
        elif not para and out and out[-1][0] == "list_item" and line.startswith("  "):
            out[-1] = ("list_item", out[-1][1] + "\n" + line)
        else:
            para.append(line)
    flush()
    if fence is not None:
        out.append(("code", "\n".join(fence)))
    return out


def _sections(ws: Workspace, markdown: str) -> list[dict[str, str]]:
    return [{"id": "temp:C:" + ws.new_id("S"), "type": t, "markdown": m} for t, m in blocks(markdown)]


def join_blocks(parts: list[tuple[str, str]]) -> str:
    """Blocks as one document: one line apart, a blank line around each paragraph."""
    out = []
    for i, (kind, text) in enumerate(parts):
        if i and (kind == "paragraph" or parts[i - 1][0] == "paragraph"):
            out.append("\n")
        out.append(text + "\n")
    return "".join(out)


def canvas_markdown(canvas: dict[str, Any]) -> str:
    """A canvas's whole document, as tests read it."""
    return join_blocks([(s["type"], s["markdown"]) for s in canvas["sections"]])


def normal_markdown(markdown: str) -> str:
    """Markdown as a canvas made from it would show it back (``canvas_markdown``)."""
    return join_blocks(blocks(markdown))


def shown_text(section: dict[str, Any]) -> str:
    """What a section shows: its markdown without the heading or list marker, link targets,
    escapes and emphasis marks."""
    text = section["markdown"]
    if section["type"] in HEADINGS:
        text = _HEADING.sub("", text, count=1)
    elif section["type"] == "list_item":
        # "- 1. Kickoff" is a list item holding an ordered list: both markers are markup, and an
        # ordered list's number is drawn, not text.
        while _LIST_ITEM.match(text):
            text = _LIST_ITEM.sub("", text, count=1)
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub("", text)
    return _ESCAPE.sub(r"\1", text)


def _canvas(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    if ws.canvas_refusal == "canvas_disabled_user_team":
        raise ApiError("canvas_disabled_user_team")
    canvas = ws.canvases.get(str_arg(req.args, "canvas_id") or "")
    if canvas is None:
        raise ApiError("canvas_not_found")
    if canvas.get("deleted"):
        raise ApiError("canvas_deleted")
    return canvas


@method("conversations.canvases.create", scope="canvases:write")
def conversations_canvases_create(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    channel = ws.channels.get(str_arg(req.args, "channel_id") or "")
    if channel is None or (channel.is_private and ws.bot_user_id not in channel.members):
        raise ApiError("channel_not_found")
    content = json_arg(req.args, "document_content")
    markdown = _markdown(content) if content is not None else ""
    if ws.canvas_refusal:
        raise ApiError(ws.canvas_refusal)
    if any(c["channel"] == channel.id and not c.get("deleted") for c in ws.canvases.values()):
        raise ApiError("channel_canvas_already_exists")
    canvas_id = ws.new_id("F")
    ws.canvases[canvas_id] = {
        "channel": channel.id,
        "title": str_arg(req.args, "title") or "",
        "sections": _sections(ws, markdown),
    }
    return {"ok": True, "canvas_id": canvas_id}


def apply_change(ws: Workspace, canvas: dict[str, Any], change: Any) -> None:
    """One ``canvases.edit`` change applied to the canvas (also a person's edit, in tests)."""
    if not isinstance(change, dict) or change.get("operation") not in OPERATIONS:
        raise ApiError("invalid_arguments", detail="each change needs a known operation")
    op, section_id = change["operation"], change.get("section_id")
    if op == "rename":
        title = change.get("title_content")
        canvas["title"] = _markdown(title).strip()
        return
    sections: list[dict[str, str]] = canvas["sections"]
    at = next((i for i, s in enumerate(sections) if s["id"] == section_id), None)
    if section_id is not None and at is None:
        raise ApiError("canvas_editing_failed", detail=f"no section {section_id}")
    new = [] if op == "delete" else _sections(ws, _markdown(change.get("document_content")))
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
    canvas = _canvas(ws, req)
    changes = json_arg(req.args, "changes")
    if not isinstance(changes, list) or not changes:
        raise ApiError("invalid_arguments", detail="changes must be a non-empty array")
    if len(changes) > 1:
        raise ApiError("invalid_arguments", detail="only one operation per call is supported")
    before = list(canvas["sections"])
    try:
        apply_change(ws, canvas, changes[0])
    except ApiError:
        canvas["sections"] = before
        raise
    return {"ok": True}


def _criteria(value: Any) -> tuple[frozenset[str] | None, str | None]:
    """(section types or None, text or None) from a ``criteria`` argument, or ``invalid_arguments``."""
    if not isinstance(value, dict):
        raise ApiError("invalid_arguments", detail="criteria must be an object")
    types, text = value.get("section_types"), value.get("contains_text")
    if types is not None and (
        not isinstance(types, list)
        or not 1 <= len(types) <= 3
        or not all(isinstance(t, str) and t in SECTION_TYPES for t in types)
    ):
        raise ApiError("invalid_arguments", detail="section_types: one to three of h1, h2, h3, any_header")
    if text is not None and (not isinstance(text, str) or not text):
        raise ApiError("invalid_arguments", detail="contains_text must be a non-empty string")
    if types is None and text is None:
        raise ApiError("invalid_arguments", detail="criteria needs section_types or contains_text")
    wanted = None
    if types is not None:
        wanted = HEADINGS if "any_header" in types else frozenset(types)
    return wanted, text


@method("canvases.sections.lookup", scope="canvases:read")
def canvases_sections_lookup(ws: Workspace, req: ApiRequest) -> dict[str, Any]:
    canvas = _canvas(ws, req)
    wanted, text = _criteria(json_arg(req.args, "criteria"))
    found = [
        {"id": s["id"]}
        for s in canvas["sections"]
        if (wanted is None or s["type"] in wanted)
        and (text is None or text.casefold() in shown_text(s).casefold())
    ]
    return {"ok": True, "sections": found}


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
