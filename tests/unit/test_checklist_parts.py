"""Splitting a checklist into messages by measured text, and versioned item block_ids."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.presenters import split_rows
from bot.slack.publish import text_length, version_item_blocks
from messages import Message
from standin.validate import blocks_text_length


def rows(*sizes: int) -> list[dict[str, Any]]:
    return [{"id": i + 1, "size": n} for i, n in enumerate(sizes)]


def budget(limit: int):
    return lambda items: sum(r["size"] for r in items) <= limit


def ids(parts: list[list[dict[str, Any]]]) -> list[list[int]]:
    return [[r["id"] for r in part] for part in parts]


def test_parts_are_filled_in_order_up_to_the_budget() -> None:
    assert ids(split_rows(rows(4, 4, 4, 4, 4), budget(10))) == [[1, 2], [3, 4], [5]]
    assert ids(split_rows(rows(3, 3, 3), budget(10))) == [[1, 2, 3]]
    assert ids(split_rows([], budget(10))) == [[]]


def test_an_item_too_big_alone_gets_its_own_part() -> None:
    assert ids(split_rows(rows(2, 50, 2), budget(10))) == [[1], [2], [3]]


def test_min_parts_keeps_every_posted_part_in_use() -> None:
    # Everything fits one message, but two are in the channel: both keep items, in order.
    assert ids(split_rows(rows(1, 1, 1, 1, 1), budget(10), min_parts=2)) == [[1, 2, 3], [4, 5]]
    assert ids(split_rows(rows(4, 4, 1), budget(10), min_parts=3)) == [[1], [2], [3]]
    assert ids(split_rows(rows(1), budget(10), min_parts=2)) == [[1], []]


def test_text_length_counts_as_the_stand_in_does() -> None:
    option = {"text": {"type": "mrkdwn", "text": "*1.1* Kickoff"}, "value": "1"}
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Discovery"}},
        {
            "type": "actions",
            "block_id": "item:1",
            "elements": [
                {"type": "checkboxes", "action_id": "t", "options": [option], "initial_options": [option]}
            ],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "tip"}]},
    ]
    assert text_length(blocks) == blocks_text_length(blocks) == 9 + 13 + 13 + 3


def item_block(item_id: int, label: str) -> dict[str, Any]:
    return {"type": "actions", "block_id": f"item:{item_id}", "elements": [{"type": "button", "text": label}]}


def versioned(blocks: list[dict[str, Any]], redraw: set[int] | None = None, nonce: str = "") -> list[str]:
    message = Message(text="x", blocks=[dict(b) for b in blocks])
    return [b["block_id"] for b in version_item_blocks(message, redraw or set(), nonce).blocks]


@pytest.mark.parametrize("nonce", ["a1b2", "c3d4"])
def test_block_ids_change_with_the_content_or_a_redraw(nonce: str) -> None:
    blocks = [item_block(1, "Kickoff"), item_block(2, "SSO"), {"type": "divider", "block_id": "footer"}]
    first = versioned(blocks)
    assert first[0].startswith("item:1:") and first[1].startswith("item:2:") and first[2] == "footer"
    assert versioned(blocks) == first, "same content, same block_id"
    changed = versioned([item_block(1, "Kickoff (done)"), item_block(2, "SSO"), blocks[2]])
    assert changed[0] != first[0] and changed[1:] == first[1:]
    redrawn = versioned(blocks, {1}, nonce)
    assert redrawn[0] != first[0] and redrawn[1:] == first[1:]
    assert versioned(blocks, {1}, "other") != redrawn
