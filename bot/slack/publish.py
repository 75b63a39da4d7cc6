"""Posting and updating the engagement's messages in the channel, through the outbox.

Rendering reads the database in a short session; the Slack calls come after it is closed.
Checklists are posted per phase and recorded in the ledger. A phase has one live copy of its
checklist: posting it again collapses the older copy to a one-line pointer to the new one (its
ledger entries become `checklist_moved`), so a change updates one message per part. Refreshes
are outbox jobs keyed by the checklist: a burst of changes is one refresh running and at most one
waiting, rendered from the database when it runs.

A phase's checklist is split into as many messages ("parts") as its text needs: Slack refuses a
message carrying more than about 12,000 characters of text (msg_blocks_too_long) or more than 50
blocks, so parts are cut by measuring the rendered blocks against a budget, not by counting items.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from collections.abc import Callable, Collection
from typing import Any, NamedTuple

from sqlalchemy import bindparam
from sqlmodel import col, select

from bot.engagement.checklist import phase_by_number
from bot.services import Services
from bot.slack.golive import refresh_cutover
from bot.slack.home import refresh_homes
from bot.slack.nudges import DIRECT_PREFIX, refresh_nudges
from bot.slack.presenters import Rows, checklist_context, checklist_key, overview, phase_data, split_rows
from bot.slack.sending import SETTLE_SECONDS, Job, Sending, UpdateJob
from bot.slack.signoff_requests import refresh_open_requests
from messages import Message, TemplateError
from storage.models import Engagement, PostedMessage, id_col

log = logging.getLogger("golive.publish")

CHECKLIST = "checklist"
CHECKLIST_MOVED = "checklist_moved"  # an older copy, now a pointer to the live one
# Text characters per checklist message: under Slack's ~12,000 with room for the header's part
# counter and what Slack adds itself.
TEXT_BUDGET = 11_000
MAX_BLOCKS = 50
# An item's blocks: `item:12`, and `item:12/title` when its title has a block of its own.
_ITEM_BLOCK = re.compile(r"^item:(\d+)(/[a-z]+)?$")
_VERSIONED_ITEM_BLOCK = re.compile(r"^item:(\d+)(?:/[a-z]+)?:")


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
        block["block_id"] = f"item:{found.group(1)}{found.group(2) or ''}:{digest}"
    return message


def _within(message: Message) -> bool:
    return len(message.blocks) <= MAX_BLOCKS and text_length(message.blocks) <= TEXT_BUDGET


def render_checklist(
    services: Services,
    engagement_id: int,
    phase_number: int,
    *,
    min_parts: int = 1,
    redraw: Collection[int] = (),
    nonce: str = "",
) -> tuple[str, list[Message]]:
    """The phase checklist as messages that each stay within TEXT_BUDGET and MAX_BLOCKS. Items in
    `redraw` get block_ids versioned with `nonce` (a fresh one when none is given)."""
    with services.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        assert engagement is not None
        phase = phase_by_number(session, engagement, phase_number)
        base, rows = checklist_context(session, engagement, phase, services.clock.now())
    nonce = (nonce or secrets.token_hex(4)) if redraw else ""

    def render(items: Rows, part: int, parts: int) -> Message:
        message = services.renderer.message(
            "checklist.json.j2", command=services.command, **base, items=items, part=part, parts=parts
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

    if min_parts <= 1:
        # Most phases fit one message: render it once and keep it when it is within the budget.
        # Measuring first rendered every checklist three times (cProfile: ~7 ms a refresh).
        try:
            whole = render(rows, 1, 1)
        except TemplateError:
            whole = None
        if whole is not None and _within(whole):
            return engagement.channel_id, [whole]

    def render_all(chunks: list[Rows]) -> list[Message] | None:
        try:
            return [render(c, n, len(chunks)) for n, c in enumerate(chunks, start=1)]
        except TemplateError:
            return None

    measured = _measured_fits(rows, render)
    messages = render_all(split_rows(rows, measured, min_parts=min_parts)) if measured else None
    if messages is None or not all(_within(m) for m in messages):
        # Measured per item, a part can still be off (a template overridden by the deployment):
        # render and measure each candidate part instead.
        chunks = split_rows(rows, rendered_fits, min_parts=min_parts)
        messages = [render(c, n, len(chunks)) for n, c in enumerate(chunks, start=1)]
    return engagement.channel_id, messages


def _measured_fits(rows: Rows, render: Callable[[Rows, int, int], Message]) -> Callable[[Rows], bool] | None:
    """A fast `fits`: a message's text is the sum of its blocks' text, so each item's blocks are
    measured once (found by their `item:<id>` block_id) and a part is the fixed blocks plus its
    items, plus the most any part's group headings took. None when the template's item blocks
    cannot be told apart (then every candidate part is rendered and measured)."""
    try:
        empty = render([], 2, 2)
        fixed_text, fixed_blocks = text_length(empty.blocks), len(empty.blocks)
        size: dict[int, tuple[int, int]] = {}
        extra_text = extra_blocks = 0
        step = max((MAX_BLOCKS - fixed_blocks - 4) // 2, 1)  # an item takes one or two blocks
        for start in range(0, len(rows), step):
            other_text, other_blocks = -fixed_text, -fixed_blocks
            for block in render(rows[start : start + step], 2, 2).blocks:
                found = _VERSIONED_ITEM_BLOCK.match(str(block.get("block_id") or ""))
                if found:
                    text, blocks = size.get(int(found.group(1)), (0, 0))
                    size[int(found.group(1))] = (text + text_length(block), blocks + 1)
                else:  # the fixed blocks, and the headings of the groups in this part
                    other_text, other_blocks = other_text + text_length(block), other_blocks + 1
            extra_text, extra_blocks = max(extra_text, other_text), max(extra_blocks, other_blocks)
    except TemplateError:
        return None
    if any(row["id"] not in size for row in rows):
        return None
    fixed_text, fixed_blocks = fixed_text + extra_text, fixed_blocks + extra_blocks

    def fits(items: Rows) -> bool:
        text = fixed_text + sum(size[row["id"]][0] for row in items)
        blocks = fixed_blocks + sum(size[row["id"]][1] for row in items)
        return blocks <= MAX_BLOCKS and text <= TEXT_BUDGET

    return fits


def _channel_of(services: Services, engagement_id: int) -> str:
    with services.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        assert engagement is not None
        return engagement.channel_id


class Copy(NamedTuple):
    """A checklist message as the ledger has it: what a refresh needs of its row."""

    id: int
    key: str
    channel_id: str
    ts: str


# Every refresh reads it: built once, read as columns (as ORM objects through a session, with
# the statement built each time, it was 0.9-1.0 ms of a 6.5-7.4 ms refresh).
_CHECKLIST_COPIES = (
    select(
        id_col(PostedMessage.id), col(PostedMessage.key), col(PostedMessage.channel_id), col(PostedMessage.ts)
    )
    .where(PostedMessage.engagement_id == bindparam("engagement"), PostedMessage.kind == CHECKLIST)
    .order_by(col(PostedMessage.id).desc())
)


def _live_copy(
    services: Services, engagement_id: int, phase_number: int
) -> tuple[dict[int, Copy], list[Copy]]:
    """The live copy of a phase checklist as the ledger has it: its parts by number (the newest
    message of each), and older messages of the phase still recorded as live (copies posted
    before a re-post collapsed them)."""
    prefix = f"{phase_number}."
    parts: dict[int, Copy] = {}
    older: list[Copy] = []
    with services.db.rows() as conn:
        rows = [Copy(*row) for row in conn.execute(_CHECKLIST_COPIES, {"engagement": engagement_id})]
    for row in rows:  # newest first
        if not row.key.startswith(prefix) or not row.key[len(prefix) :].isdigit():
            continue
        n = int(row.key[len(prefix) :])
        if n in parts:
            older.append(row)
        else:
            parts[n] = row
    return parts, older


def checklist_thread(
    services: Services, engagement_id: int, phase_number: int | None = None
) -> tuple[int, str] | None:
    """Where notes and reminders about a phase's items go: the thread under the first part of that
    phase's live checklist, else under the current phase's (a later phase's checklist is posted
    when it starts). (phase number, parent ts), or None when no checklist is in the channel."""
    with services.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        current = engagement.phase_index if engagement is not None else None
    for number in dict.fromkeys(n for n in (phase_number, current) if n is not None):
        parts, _older = _live_copy(services, engagement_id, number)
        if 1 in parts:
            return number, parts[1].ts
    return None


def _count_parts(parts: dict[int, Copy]) -> int:
    """How many parts are in the channel (1, 2, … until one is missing)."""
    n = 0
    while n + 1 in parts:
        n += 1
    return n


class ChecklistJob(Job):
    """Post (`post`) or refresh a phase checklist. Keyed by the checklist, so a post and the
    refreshes of one checklist never run at once and a burst of refreshes is one."""

    def __init__(
        self,
        services: Services,
        engagement_id: int,
        phase_number: int,
        channel: str,
        *,
        post: bool = False,
        redraw: frozenset[int] = frozenset(),
        nonce: str = "",
    ) -> None:
        self.services, self.engagement_id, self.phase_number, self.channel = (
            services,
            engagement_id,
            phase_number,
            channel,
        )
        self.key = (CHECKLIST, engagement_id, phase_number)
        self.lane = channel
        self.posts = post
        self.settle = 0.0 if post else SETTLE_SECONDS
        self.redraw = redraw
        # One nonce per refresh: a retried run renders the same blocks, so parts that landed are
        # not sent again.
        self.nonce = nonce or (secrets.token_hex(4) if redraw else "")

    def merge(self, newer: Job) -> Job:
        assert isinstance(newer, ChecklistJob)
        redraw = self.redraw | newer.redraw
        return ChecklistJob(
            self.services,
            self.engagement_id,
            self.phase_number,
            newer.channel,
            post=self.posts or newer.posts,
            redraw=redraw,
            nonce=self.nonce if redraw <= self.redraw else "",
        )

    def describe(self) -> str:
        what = "post" if self.posts else "refresh"
        return f"{what} checklist of phase {self.phase_number} (engagement {self.engagement_id})"

    def run(self, out: Sending) -> None:
        if self.posts:
            self._post(out)
        else:
            self._refresh(out)

    def _post(self, out: Sending) -> None:
        services, eid, number = self.services, self.engagement_id, self.phase_number
        parts, older = _live_copy(services, eid, number)
        channel, messages = render_checklist(services, eid, number)
        new_ts = [
            out.post(channel, m, kind=CHECKLIST, key=checklist_key(number, n), engagement_id=eid)
            for n, m in enumerate(messages, start=1)
        ]
        _collapse(out, services, eid, number, [*parts.values(), *older], to=(channel, new_ts[0]))

    def _refresh(self, out: Sending) -> None:
        services, eid, number = self.services, self.engagement_id, self.phase_number
        parts, older = _live_copy(services, eid, number)
        if older and 1 in parts:
            _collapse(out, services, eid, number, older, to=(parts[1].channel_id, parts[1].ts))
        posted = _count_parts(parts)
        if not posted:
            return  # not in the channel: nothing to refresh
        out.ready("chat.update", parts[1].channel_id)
        # At least as many parts as are in the channel, so every posted part keeps showing items.
        channel, messages = render_checklist(
            services, eid, number, min_parts=posted, redraw=self.redraw, nonce=self.nonce
        )
        for n, m in enumerate(messages, start=1):
            if n <= posted:
                row = parts[n]
                if not out.update(row.channel_id, row.ts, m):
                    log.info("checklist part %s.%s (%s) is gone from the channel", number, n, row.ts)
            else:  # the items outgrew the parts posted (added items, longer notes): one more part
                out.post(channel, m, kind=CHECKLIST, key=checklist_key(number, n), engagement_id=eid)
        # The nudges in the checklists' threads (and the team's reminders in direct messages) list
        # items too: they show what changed (ticked in the checklist, unblocked, dated…), rendered
        # when their update runs.
        refresh_nudges(services, eid, ("checklist:", DIRECT_PREFIX, "top"), out=out)
        # An open sign-off request shows its items' state now, and the cutover message what is
        # left before go-live.
        refresh_open_requests(services, eid, number)
        refresh_cutover(services, eid)


def _collapse(
    out: Sending,
    services: Services,
    engagement_id: int,
    phase_number: int,
    rows: list[Copy],
    *,
    to: tuple[str, str],
) -> None:
    """Older copies of a checklist become a one-line pointer to the live copy (`to`: its first
    part): no longer refreshed, and nothing left on them to click."""
    if not rows:
        return
    services.slack.relabel([r.id for r in rows], CHECKLIST_MOVED)
    for row in rows:
        out.submit(
            UpdateJob(
                row.channel_id,
                row.ts,
                lambda o: moved_message(o, services, engagement_id, phase_number, to),
                what="moved checklist",
            )
        )


def moved_message(
    out: Sending, services: Services, engagement_id: int, phase_number: int, to: tuple[str, str]
) -> Message:
    """The one line an older copy of a checklist is collapsed to: a link to the live copy."""
    with services.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        assert engagement is not None
        phase = phase_by_number(session, engagement, phase_number)
        customer, data = engagement.customer_name, phase_data(phase)
    url = out.permalink(*to)
    link = f"<{url}|the newer copy>" if url and _SAFE_URL.match(url) else None
    return services.renderer.message("checklist_moved.json.j2", customer_name=customer, phase=data, link=link)


_SAFE_URL = re.compile(r"^https://[^\s|<>]+$")


def post_checklist(
    services: Services, engagement_id: int, phase_number: int, *, channel: str | None = None
) -> None:
    """Post the phase checklist as new message(s); an older copy in the channel collapses to a
    pointer to it. `channel`: the engagement's, when the caller has read it already."""
    channel = channel or _channel_of(services, engagement_id)
    services.outbox.submit(ChecklistJob(services, engagement_id, phase_number, channel, post=True))
    refresh_homes(services, engagement_id)  # a new engagement's first checklist: its lead's Home shows it


def refresh_checklist(
    services: Services,
    engagement_id: int,
    phase_number: int,
    *,
    redraw: Collection[int] = (),
    channel: str | None = None,
) -> None:
    """Queue an update of the live copy of the phase checklist (rendered when it runs).

    When the items outgrow the parts posted (added items, longer notes), the new part is posted
    once. `redraw`: items whose checkbox must be redrawn even if unchanged.
    """
    channel = channel or _channel_of(services, engagement_id)
    services.outbox.submit(
        ChecklistJob(services, engagement_id, phase_number, channel, redraw=frozenset(redraw))
    )
    # Whatever changed a checklist (a tick, a block, a sign-off, the plan) changes the Home of the
    # engagement's team too.
    refresh_homes(services, engagement_id)


def refresh_posted_checklists(services: Services, engagement_id: int) -> None:
    """Update every phase checklist already in the channel (after the plan or settings changed)."""
    numbers = sorted(
        {int(r.key.split(".")[0]) for r in services.slack.posted(engagement_id, CHECKLIST) if "." in r.key}
    )
    for n in numbers:
        refresh_checklist(services, engagement_id, n)


def announce_phase(services: Services, engagement_id: int, phase_number: int) -> None:
    """The next phase starts: say so in the channel, then post its checklist, in the channel's
    order (the announcement lands first). Going live is the cutover's (bot.slack.golive)."""
    with services.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        assert engagement is not None
        ctx = overview(session, engagement, services.playbook_for(engagement), services.clock.now())
        if phase_number > len(ctx["phases"]):
            return
        phase = phase_by_number(session, engagement, phase_number)
        ctx |= {
            "phase": phase_data(phase),
            "finished": next((p for p in ctx["phases"] if p["number"] == phase_number - 1), None),
        }
        message = services.renderer.message("phase_started.json.j2", command=services.command, **ctx)
        channel = engagement.channel_id
    services.outbox.post(channel, message, kind="phase", key=str(phase_number), engagement_id=engagement_id)
    services.outbox.submit(ChecklistJob(services, engagement_id, phase_number, channel, post=True))
    refresh_homes(services, engagement_id)


def welcome_message(services: Services, session: Any, engagement: Engagement, now: Any) -> Message:
    """The welcome as it stands now: it asks for the customer's main contact until one is named."""
    from bot.people.roles import people_with

    main = [r for r in people_with(session, engagement, "main_contact") if r.side == "customer"]
    return services.renderer.message(
        "welcome.json.j2",
        command=services.command,
        main_contact={"user_id": main[0].user_id, "name": main[0].name} if main else None,
        **overview(session, engagement, services.playbook_for(engagement), now),
    )


def refresh_welcome(services: Services, engagement_id: int) -> None:
    """Queue an update of the engagement's welcome (rendered when the outbox sends it)."""
    with services.db.read() as session:
        posted = session.exec(
            select(PostedMessage).where(
                PostedMessage.engagement_id == engagement_id, PostedMessage.kind == "welcome"
            )
        ).first()
    if posted is None:
        return

    def render(_out: Sending) -> Message | None:
        with services.db.read() as session:
            engagement = session.get(Engagement, engagement_id)
            if engagement is None:
                return None
            return welcome_message(services, session, engagement, services.clock.now())

    services.outbox.update(posted.channel_id, posted.ts, render, what="welcome")
