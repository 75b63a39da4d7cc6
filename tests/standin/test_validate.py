"""Block Kit validation: unit rules and Slack-shaped invalid_blocks answers."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standin import BlockKitError, SlackStandIn, validate_message_blocks, validate_view
from standin.validate import assert_valid_message_blocks, blocks_text_length

from .ids import SHARED


def text(t: str, kind: str = "plain_text") -> dict[str, Any]:
    return {"type": kind, "text": t}


def option(i: int, label: str | None = None, value: str | None = None) -> dict[str, Any]:
    return {"text": text(label or f"Option {i}"), "value": value or f"v{i}"}


def section(t: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": text(t, "mrkdwn"), **extra}


def actions(*elements: dict[str, Any], block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "actions", "elements": list(elements)}
    if block_id:
        block["block_id"] = block_id
    return block


def button(action_id: str, label: str = "Go", **extra: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": text(label), **extra}


def checkboxes(n: int, action_id: str = "tasks") -> dict[str, Any]:
    return {"type": "checkboxes", "action_id": action_id, "options": [option(i) for i in range(n)]}


def modal(blocks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "modal", "title": text("Start"), "blocks": blocks, **extra}


def only_error(errors: list[str], needle: str) -> str:
    assert len(errors) == 1, errors
    assert needle in errors[0], errors
    return errors[0]


def test_valid_message_has_no_errors() -> None:
    blocks = [
        {"type": "header", "text": text("Acme")},
        section("*Phase*", accessory=button("more")),
        actions(button("a1"), checkboxes(10, "c1"), block_id="b1"),
        {"type": "context", "elements": [text("hi", "mrkdwn")]},
        {"type": "divider"},
    ]
    assert validate_message_blocks(blocks) == []


@pytest.mark.parametrize(
    ("blocks", "needle", "pointer"),
    [
        ([{"type": "carousel_of_doom"}], "unknown block type", "/blocks/0/type"),
        (["not a block"], "must be an object", "/blocks/0"),
        ([actions(checkboxes(11))], "at most 10 items", "/blocks/0/elements/0/options"),
        (
            [actions({**checkboxes(11), "type": "radio_buttons"})],
            "at most 10 items",
            "/blocks/0/elements/0/options",
        ),
        ([section(fields=[text("x" * 2001, "mrkdwn")])], "less than 2001", "/blocks/0/fields/0/text"),
        (
            [actions({"type": "static_select", "action_id": "s", "options": [option(1, "x" * 76)]})],
            "less than 76",
            "/blocks/0/elements/0/options/0/text/text",
        ),
        (
            [actions({"type": "static_select", "action_id": "s", "options": [option(1, value="v" * 151)]})],
            "less than 151",
            "/blocks/0/elements/0/options/0/value",
        ),
        (
            [actions(button("same"), button("same"))],
            "already used in this block",
            "/blocks/0/elements/1/action_id",
        ),
        ([section(block_id="b"), section(block_id="b")], "not unique", "/blocks/1/block_id"),
        (
            [actions({"type": "fancy_widget", "action_id": "f"})],
            "unsupported element type",
            "/blocks/0/elements/0",
        ),
        (
            [{"type": "header", "text": text("x", "mrkdwn")}],
            "type must be one of plain_text",
            "/blocks/0/text/type",
        ),
        ([actions(button("b", **{"text": text("Go", "mrkdwn")}))], "plain_text", "/blocks/0/elements/0/text"),
        ([section("")], "more than 0 characters", "/blocks/0/text/text"),
        ([actions()], "at least 1 element", "/blocks/0/elements"),
    ],
)
def test_extra_rules(blocks: list[Any], needle: str, pointer: str) -> None:
    error = only_error(validate_message_blocks(blocks), needle)
    assert f"[json-pointer:{pointer}" in error


@pytest.mark.parametrize(
    ("blocks", "needle"),
    [
        ([section("x" * 3001)], "3000"),
        ([{"type": "header", "text": text("x" * 151)}], "150"),
        ([section(fields=[text("f", "mrkdwn")] * 11)], "10 items"),
        ([actions(*[button(f"b{i}") for i in range(26)])], "25 elements"),
        ([{"type": "context", "elements": [text("c", "mrkdwn")] * 11}], "10 elements"),
        ([actions(button("b", value="v" * 2001))], "2000"),
        ([actions(button("b", label="x" * 76))], "75"),
        (
            [actions({"type": "overflow", "action_id": "o", "options": [option(i) for i in range(6)]})],
            "1 and 5",
        ),
        ([{"type": "divider", "block_id": "b" * 256}], "255"),
        ([actions(button("a" * 256))], "255"),
        ([{"type": "input", "element": {"type": "plain_text_input", "action_id": "x"}}], "label"),
    ],
)
def test_rules_enforced_by_slack_sdk_are_reported_once(blocks: list[Any], needle: str) -> None:
    only_error(validate_message_blocks(blocks), needle)


def test_same_action_id_in_different_blocks_is_allowed() -> None:
    # Slack: action_id must be unique within its containing block; block_ids unique in the message.
    blocks = [actions(checkboxes(2, "task"), block_id="t1"), actions(checkboxes(2, "task"), block_id="t2")]
    assert validate_message_blocks(blocks) == []


def test_block_count_limits() -> None:
    only_error(validate_message_blocks([{"type": "divider"}] * 51), "at most 50 items")
    assert validate_message_blocks([{"type": "divider"}] * 50) == []
    assert validate_view(modal([{"type": "divider"}] * 100)) == []
    assert any("100 blocks" in e for e in validate_view(modal([{"type": "divider"}] * 101)))


def test_view_rules() -> None:
    assert validate_view(modal([section()], submit=text("Save"), private_metadata="x" * 3000)) == []
    only_error(validate_view(modal([section()], title=text("x" * 25))), "24")
    only_error(validate_view(modal([section()], submit=text("x" * 25))), "submit")
    only_error(validate_view(modal([section()], private_metadata="x" * 3001)), "private_metadata")
    only_error(validate_view({"type": "modal", "blocks": [section()]}), "requires a title")
    only_error(validate_view(modal([actions(checkboxes(11))])), "/view/blocks/0/elements/0/options")
    only_error(validate_view(modal([{"type": "mystery"}])), "unknown block type")
    big = modal([section("x" * 2900, block_id=f"b{i}") for i in range(90)])
    only_error(validate_view(big), "more than 250000")
    assert validate_view({"type": "home", "blocks": [section()]}) == []


def test_blocks_text_length_and_block_kit_error() -> None:
    assert blocks_text_length([section("abc"), {"type": "header", "text": text("de")}]) == 5
    with pytest.raises(BlockKitError) as info:
        assert_valid_message_blocks([actions(checkboxes(11))])
    assert len(info.value.errors) == 1 and "at most 10" in str(info.value)


@pytest.mark.parametrize(
    ("blocks", "needle"),
    [
        ([section("x" * 3001)], "3000"),
        ([{"type": "not_a_block"}], "unknown block type"),
        ([actions(checkboxes(11))], "at most 10 items"),
        ([{"type": "divider"}] * 51, "at most 50 items"),
        ([actions(button("dup"), button("dup"))], "already used"),
    ],
)
def test_post_message_answers_invalid_blocks(
    standin: SlackStandIn, client: WebClient, blocks: list[Any], needle: str
) -> None:
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=SHARED, text="fallback", blocks=blocks)
    data = info.value.response.data
    assert data["ok"] is False and data["error"] == "invalid_blocks"
    assert any(needle in e for e in data["errors"]), data
    assert data["response_metadata"]["messages"][0].startswith("[ERROR] ")
    assert standin.messages(SHARED) == []
    [call] = standin.invalid_block_responses()
    assert call.method == "chat.postMessage"


def test_update_and_ephemeral_validate_blocks_too(standin: SlackStandIn, client: WebClient) -> None:
    posted = client.chat_postMessage(channel=SHARED, text="ok", blocks=[section()])
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        client.chat_update(channel=SHARED, ts=posted["ts"], text="x", blocks=[actions(checkboxes(11))])
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        client.chat_postEphemeral(channel=SHARED, user="U0LEAD", text="x", blocks=[{"type": "nope"}])
    assert standin.message(SHARED, posted["ts"])["edited"] is False
    assert standin.ephemerals() == []
    assert [c.method for c in standin.invalid_block_responses()] == ["chat.update", "chat.postEphemeral"]


def test_msg_blocks_too_long_and_malformed_blocks(standin: SlackStandIn, client: WebClient) -> None:
    long_blocks = [section("x" * 2900) for _ in range(5)]
    assert validate_message_blocks(long_blocks) == []
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=SHARED, text="long", blocks=long_blocks)
    assert info.value.response["error"] == "msg_blocks_too_long"
    with pytest.raises(SlackApiError) as info:
        client.api_call("chat.postMessage", params={"channel": SHARED, "text": "x", "blocks": "[{oops"})
    assert info.value.response["error"] == "invalid_blocks_format"
    assert standin.messages(SHARED) == []
    assert len(standin.invalid_block_responses()) == 2
