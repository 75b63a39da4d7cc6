"""Posting and updating the engagement's messages in the channel.

Rendering reads the database in a short session; the Slack calls come after it is closed.
Checklists are posted per phase and recorded in the ledger; every later change updates the
recorded copies in place with chat.update. A phase's checklist is split into as many messages
("parts") as its text needs: Slack refuses a message carrying more than about 12,000 characters of
text (msg_blocks_too_long) or more than 50 blocks, so parts are cut by measuring the rendered
blocks against a budget, not by counting items.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from collections.abc import Callable, Collection
from typing import Any

from bot.engagement.checklist import phase_by_number
from bot.engagement.lifecycle import phases_of
from bot.services import Services
from bot.slack.gateway import SlackCallFailed
from bot.slack.presenters import Rows, checklist_context, checklist_key, overview, phase_data, split_rows
from messages import Message, TemplateError
from storage.models import Engagement

log = logging.getLogger("golive.publish")

CHECKLIST = "checklist"
# Text characters per checklist message: under Slack's ~12,000 with room for the header's part
# counter and what Slack adds itself.
TEXT_BUDGET = 11_000
MAX_BLOCKS = 50
_ITEM_BLOCK = re.compile(r"^item:(\d+)$")
_VERSIONED_ITEM_BLOCK = re.compile(r"^item:(\d+):")


def text_length(value: Any) -> int:
    """Characters of text in blocks, counted as Slack counts for msg_blocks_too_long: every string
    under a `text` key (section and context text, option labels and descriptions, initial options,
    button labels …)."""
    if isinstance(value, list):
        return sum(text_length(v) for v in value)
    if isinstance(value, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else text_length(v) for k, v in value.items())
    return 0


def version_item_blocks(message: Message, redraw: Collection[int] = (), nonce: str = "") -> Message:
    """Give each checklist item block a block_id of its item id plus a short hash of its rendered
    content (`item:12:3fa9c0d1`), so a changed item is a new block: Slack clients may not redraw a
    checkbox whose block_id did not change. Items in `redraw` also hash `nonce`, so they change even
    when their content did not (a refused tick: the box the user ticked must go back)."""
    for block in message.blocks:
        found = _ITEM_BLOCK.match(str(block.get("block_id") or ""))
        if not found:
            continue
        content = json.dumps({k: v for k, v in block.items() if k != "block_id"}, sort_keys=True)
        if int(found.group(1)) in redraw:
            content += nonce
        digest = hashlib.sha1(content.encode(), usedforsecurity=False).hexdigest()[:8]
        block["block_id"] = f"item:{found.group(1)}:{digest}"
    return message


def _within(message: Message) -> bool:
    return len(message.blocks) <= MAX_BLOCKS and text_length(message.blocks) <= TEXT_BUDGET


def render_checklist(
    s: Services,
    engagement_id: int,
    phase_number: int,
    *,
    min_parts: int = 1,
    redraw: Collection[int] = (),
) -> tuple[str, list[Message]]:
    """The phase checklist as messages that each stay within TEXT_BUDGET and MAX_BLOCKS."""
    with s.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        assert engagement is not None
        phase = phase_by_number(session, engagement, phase_number)
        base, rows = checklist_context(session, engagement, phase, s.clock.now())
    nonce = secrets.token_hex(4) if redraw else ""

    def render(items: Rows, part: int, parts: int) -> Message:
        message = s.renderer.message(
            "checklist.json.j2", command=s.command, **base, items=items, part=part, parts=parts
        )
        return version_item_blocks(message, redraw, nonce)

    def rendered_fits(items: Rows) -> bool:
        # Measured as a last part, which also carries the sign-off footer.
        try:
            return _within(render(items, 2, 2))
        except TemplateError:
            if len(items) == 1:
                raise
            return False  # more blocks than a message holds

    fits = _measured_fits(rows, render) or rendered_fits
    chunks = split_rows(rows, fits, min_parts=min_parts)
    messages = [render(c, n, len(chunks)) for n, c in enumerate(chunks, start=1)]
    if fits is not rendered_fits and not all(_within(m) for m in messages):
        chunks = split_rows(rows, rendered_fits, min_parts=min_parts)
        messages = [render(c, n, len(chunks)) for n, c in enumerate(chunks, start=1)]
    return engagement.channel_id, messages


def _measured_fits(rows: Rows, render: Callable[[Rows, int, int], Message]) -> Callable[[Rows], bool] | None:
    """A fast `fits`: a message's text is the sum of its blocks' text, so each item's blocks are
    measured once (found by their `item:<id>` block_id) and a part is the fixed blocks plus its
    items. None when the template's item blocks cannot be told apart (then every candidate part is
    rendered and measured)."""
    try:
        empty = render([], 2, 2)
        fixed_text, fixed_blocks = text_length(empty.blocks), len(empty.blocks)
        size: dict[int, tuple[int, int]] = {}
        step = max(MAX_BLOCKS - fixed_blocks, 1)
        for start in range(0, len(rows), step):
            for block in render(rows[start : start + step], 2, 2).blocks:
                found = _VERSIONED_ITEM_BLOCK.match(str(block.get("block_id") or ""))
                if found:
                    text, blocks = size.get(int(found.group(1)), (0, 0))
                    size[int(found.group(1))] = (text + text_length(block), blocks + 1)
    except TemplateError:
        return None
    if any(row["id"] not in size for row in rows):
        return None

    def fits(items: Rows) -> bool:
        text = fixed_text + sum(size[row["id"]][0] for row in items)
        blocks = fixed_blocks + sum(size[row["id"]][1] for row in items)
        return blocks <= MAX_BLOCKS and text <= TEXT_BUDGET

    return fits


def post_checklist(s: Services, engagement_id: int, phase_number: int) -> list[str]:
    """Post the phase checklist as new message(s); returns their ts."""
    channel, messages = render_checklist(s, engagement_id, phase_number)
    return [
        s.slack.post(
            channel, m, kind=CHECKLIST, key=checklist_key(phase_number, n), engagement_id=engagement_id
        )
        for n, m in enumerate(messages, start=1)
    ]


def _posted_parts(s: Services, engagement_id: int, phase_number: int) -> int:
    """How many parts of the phase checklist are in the channel (1, 2, … until one is missing)."""
    n = 0
    while s.slack.posted(engagement_id, CHECKLIST, checklist_key(phase_number, n + 1)):
        n += 1
    return n


def refresh_checklist(
    s: Services, engagement_id: int, phase_number: int, *, redraw: Collection[int] = ()
) -> None:
    """Update every posted copy of the phase checklist in place.

    The checklist keeps at least as many parts as are in the channel, so every posted part keeps
    showing items. When the items outgrow the parts posted (added items, longer notes), the new
    part is posted once. `redraw`: items whose checkbox must be redrawn even if unchanged.
    """
    posted = _posted_parts(s, engagement_id, phase_number)
    channel, messages = render_checklist(
        s, engagement_id, phase_number, min_parts=max(posted, 1), redraw=redraw
    )
    for n, m in enumerate(messages, start=1):
        key = checklist_key(phase_number, n)
        if n <= posted:
            s.slack.refresh(engagement_id, CHECKLIST, key, m)
        elif posted:
            try:
                s.slack.post(channel, m, kind=CHECKLIST, key=key, engagement_id=engagement_id)
            except SlackCallFailed as exc:
                log.warning("could not post checklist part %s: %s", key, exc.error)


def refresh_posted_checklists(s: Services, engagement_id: int) -> None:
    """Update every phase checklist already in the channel (after the plan or settings changed)."""
    with s.db.read() as session:
        numbers = [p.number for p in phases_of(session, engagement_id)]
    for n in numbers:
        if s.slack.posted(engagement_id, CHECKLIST, checklist_key(n, 1)):
            refresh_checklist(s, engagement_id, n)


def announce_phase(s: Services, engagement_id: int, phase_number: int) -> None:
    """The next phase starts: say so in the channel, then post its checklist. One past the last
    phase means the customer is live: that is announced instead."""
    with s.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        assert engagement is not None
        ctx = overview(session, engagement, s.playbook, s.clock.now())
        live = engagement.status == "live" and phase_number > len(ctx["phases"])
        if live:
            message = s.renderer.message("live.json.j2", command=s.command, **ctx)
        else:
            phase = phase_by_number(session, engagement, phase_number)
            ctx |= {
                "phase": phase_data(phase),
                "finished": next((p for p in ctx["phases"] if p["number"] == phase_number - 1), None),
            }
            message = s.renderer.message("phase_started.json.j2", command=s.command, **ctx)
    kind, key = ("live", "live") if live else ("phase", str(phase_number))
    s.slack.post(engagement.channel_id, message, kind=kind, key=key, engagement_id=engagement_id)
    if not live:
        post_checklist(s, engagement_id, phase_number)
