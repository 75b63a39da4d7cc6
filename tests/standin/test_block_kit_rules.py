"""Block Kit rules Slack enforces that slack_sdk's models do not, as the stand-in enforces them.

Each rule is Slack's (docs.slack.dev reference pages, cited per test); each test fails without it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standin import SlackDriver, SlackStandIn, validate_message_blocks, validate_view
from standin.validate import MAX_MESSAGE_BLOCKS_TEXT, blocks_text_length

from .helpers import RecordingBot, recording_bot
from .ids import LEAD, SHARED


def text(t: str, kind: str = "plain_text") -> dict[str, Any]:
    return {"type": kind, "text": t}


def opt(label: str, value: str, kind: str = "plain_text", **extra: Any) -> dict[str, Any]:
    return {"text": text(label, kind), "value": value, **extra}


def actions(*elements: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": "actions", "block_id": "a", "elements": list(elements)}]


def only_error(errors: list[str], needle: str, pointer: str) -> None:
    assert len(errors) == 1, errors
    assert needle in errors[0] and f"[json-pointer:{pointer}]" in errors[0], errors


# -- 1. overflow and select options take plain_text only -----------------------------------
# Option object: "Overflow, select, and multi-select menus can only use plain_text objects, while
# radio buttons and checkboxes can use mrkdwn text objects."
MENU_ELEMENTS = [
    {"type": "overflow", "action_id": "m", "options": [opt("*Edit*", "e", "mrkdwn"), opt("Drop", "d")]},
    {"type": "static_select", "action_id": "m", "options": [opt("*Edit*", "e", "mrkdwn")]},
    {"type": "multi_static_select", "action_id": "m", "options": [opt("*Edit*", "e", "mrkdwn")]},
    {
        "type": "static_select",
        "action_id": "m",
        "option_groups": [{"label": text("G"), "options": [opt("*Edit*", "e", "mrkdwn")]}],
    },
    {"type": "external_select", "action_id": "m", "initial_option": opt("*Edit*", "e", "mrkdwn")},
    {"type": "multi_external_select", "action_id": "m", "initial_options": [opt("*Edit*", "e", "mrkdwn")]},
]
MENU_POINTERS = [
    "/blocks/0/elements/0/options/0/text/type",
    "/blocks/0/elements/0/options/0/text/type",
    "/blocks/0/elements/0/options/0/text/type",
    "/blocks/0/elements/0/option_groups/0/options/0/text/type",
    "/blocks/0/elements/0/initial_option/text/type",
    "/blocks/0/elements/0/initial_options/0/text/type",
]


@pytest.mark.parametrize(("element", "pointer"), list(zip(MENU_ELEMENTS, MENU_POINTERS, strict=True)))
def test_menu_options_must_be_plain_text(element: dict[str, Any], pointer: str) -> None:
    only_error(validate_message_blocks(actions(element)), "must be one of plain_text", pointer)


def test_checkboxes_and_radio_buttons_may_use_mrkdwn() -> None:
    fancy = [opt("*Kickoff*", "k", "mrkdwn", description=text("_held_", "mrkdwn")), opt("SSO", "s")]
    assert validate_message_blocks(actions({"type": "checkboxes", "action_id": "c", "options": fancy})) == []
    assert (
        validate_message_blocks(actions({"type": "radio_buttons", "action_id": "r", "options": fancy})) == []
    )
    # ... but a menu's description is plain_text too.
    menu = {
        "type": "overflow",
        "action_id": "m",
        "options": [opt("A", "a", description=text("*d*", "mrkdwn"))],
    }
    only_error(
        validate_message_blocks(actions(menu)),
        "must be one of plain_text",
        "/blocks/0/elements/0/options/0/description/type",
    )


# -- 2. initial options must exactly match one of the element's options ---------------------
# Checkboxes: "initial_options: An array of option objects that exactly matches one or more of the
# options within options." Select menus and radio buttons say the same of initial_option(s).
KICKOFF, SSO = opt("*1.1* Kickoff", "1", "mrkdwn"), opt("*1.2* SSO", "2", "mrkdwn")


@pytest.mark.parametrize(
    ("element", "pointer"),
    [
        (
            {"type": "checkboxes", "action_id": "c", "options": [KICKOFF], "initial_options": [SSO]},
            "/blocks/0/elements/0/initial_options/0",
        ),
        (  # same value, different text: not an exact match
            {
                "type": "checkboxes",
                "action_id": "c",
                "options": [KICKOFF],
                "initial_options": [{**KICKOFF, "text": text("*1.1* Kickoff (done)", "mrkdwn")}],
            },
            "/blocks/0/elements/0/initial_options/0",
        ),
        (
            {"type": "radio_buttons", "action_id": "r", "options": [KICKOFF], "initial_option": SSO},
            "/blocks/0/elements/0/initial_option",
        ),
        (
            {
                "type": "static_select",
                "action_id": "s",
                "options": [opt("Small", "small")],
                "initial_option": opt("Medium", "medium"),
            },
            "/blocks/0/elements/0/initial_option",
        ),
        (
            {
                "type": "multi_static_select",
                "action_id": "s",
                "options": [opt("Mon", "mon")],
                "initial_options": [opt("Mon", "mon"), opt("Tue", "tue")],
            },
            "/blocks/0/elements/0/initial_options/1",
        ),
        (
            {
                "type": "static_select",
                "action_id": "s",
                "option_groups": [{"label": text("Sizes"), "options": [opt("Small", "small")]}],
                "initial_option": opt("small", "small"),
            },
            "/blocks/0/elements/0/initial_option",
        ),
    ],
)
def test_initial_options_must_match_an_option(element: dict[str, Any], pointer: str) -> None:
    only_error(validate_message_blocks(actions(element)), "exactly match", pointer)


def test_matching_initial_options_are_valid() -> None:
    grouped = {
        "type": "static_select",
        "action_id": "s",
        "option_groups": [
            {
                "label": text("Sizes"),
                "options": [{"text": {**text("Small"), "emoji": True}, "value": "small"}],
            }
        ],
        "initial_option": opt("Small", "small"),  # plain_text emoji defaults to true: same option
    }
    checkboxes = {"type": "checkboxes", "action_id": "c", "options": [KICKOFF, SSO], "initial_options": [SSO]}
    radio = {"type": "radio_buttons", "action_id": "r", "options": [KICKOFF, SSO], "initial_option": KICKOFF}
    assert validate_message_blocks(actions(grouped)) == []
    assert validate_message_blocks(actions(checkboxes)) == []
    assert validate_message_blocks(actions(radio)) == []


# -- 3. option descriptions: at most 75 characters ------------------------------------------
def test_option_description_is_at_most_75_characters() -> None:
    ok = opt("1.1", "1", description=text("d" * 75))
    long = opt("1.1", "1", description=text("d" * 76))
    assert validate_message_blocks(actions({"type": "checkboxes", "action_id": "c", "options": [ok]})) == []
    only_error(
        validate_message_blocks(actions({"type": "checkboxes", "action_id": "c", "options": [long]})),
        "less than 76",
        "/blocks/0/elements/0/options/0/description/text",
    )


# -- 5. plain_text_input min_length / max_length: 0..3000 and 1..3000 ------------------------
def input_modal(**element: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": text("Notes"),
        "submit": text("Save"),
        "blocks": [
            {
                "type": "input",
                "block_id": "notes",
                "label": text("Notes"),
                "element": {"type": "plain_text_input", "action_id": "value", **element},
            }
        ],
    }


@pytest.mark.parametrize(
    ("element", "needle"),
    [
        ({"max_length": 3001}, "max_length must be between 1 and 3000"),
        ({"max_length": 0}, "max_length must be between 1 and 3000"),
        ({"min_length": 3001}, "min_length must be between 0 and 3000"),
        ({"max_length": "500"}, "max_length must be an integer"),
    ],
)
def test_text_input_lengths(element: dict[str, Any], needle: str) -> None:
    key = next(iter(element))
    only_error(validate_view(input_modal(**element)), needle, f"/view/blocks/0/element/{key}")


def test_text_input_lengths_within_limits_are_valid() -> None:
    assert validate_view(input_modal(min_length=0, max_length=3000)) == []


# -- 4. a modal with input blocks needs a submit button --------------------------------------
# Modal views: "submit is required when an input block is within the blocks array."
def no_submit() -> dict[str, Any]:
    view = input_modal()
    del view["submit"]
    return view


def test_modal_with_inputs_needs_submit() -> None:
    only_error(validate_view(no_submit()), "must define submit", "/view/submit")
    without_inputs = {"type": "modal", "title": text("Info"), "blocks": [{"type": "divider"}]}
    assert validate_view(without_inputs) == []
    home = {"type": "home", "blocks": [{"type": "divider"}]}
    assert validate_view(home) == []


def refused(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        call(**kwargs)
    return info.value.response.data


def test_views_methods_refuse_a_modal_with_inputs_but_no_submit(
    standin: SlackStandIn, client: WebClient
) -> None:
    data = refused(client.views_open, trigger_id=standin.issue_trigger(LEAD), view=no_submit())
    assert data["error"] == "invalid_arguments"
    assert any("must define submit" in m for m in data["response_metadata"]["messages"])
    view_id = client.views_open(trigger_id=standin.issue_trigger(LEAD), view=input_modal())["view"]["id"]
    assert refused(client.views_update, view_id=view_id, view=no_submit())["error"] == "invalid_arguments"
    push = refused(client.views_push, trigger_id=standin.issue_trigger(LEAD), view=no_submit())
    assert push["error"] == "invalid_arguments"
    assert standin.views[view_id]["view"] == input_modal()
    assert [v["id"] for v in standin.open_views(LEAD)] == [view_id]
    assert len(standin.invalid_block_responses()) == 3


@pytest.fixture
def bot() -> Iterator[RecordingBot]:
    with recording_bot() as recorder:
        yield recorder


@pytest.mark.parametrize("action", ["update", "push"])
def test_response_action_with_a_modal_lacking_submit_is_refused(
    standin: SlackStandIn, client: WebClient, bot: RecordingBot, action: str
) -> None:
    driver = SlackDriver(standin, bot_url=bot.url)
    view_id = client.views_open(trigger_id=standin.issue_trigger(LEAD), view=input_modal())["view"]["id"]
    bot.reply = (200, "application/json", json.dumps({"response_action": action, "view": no_submit()}))
    driver.submit_view(view_id, {"notes": {"value": "hello"}})
    [call] = standin.invalid_block_responses()
    assert call.method == "view_submission.response" and call.response["error"] == "invalid_arguments"
    assert [v["id"] for v in standin.open_views(LEAD)] == [view_id]
    assert standin.views[view_id]["view"] == input_modal()


# -- 6. a message's total text: over 12,000 characters is msg_blocks_too_long ----------------
def test_message_text_over_12000_characters_is_refused(standin: SlackStandIn, client: WebClient) -> None:
    assert MAX_MESSAGE_BLOCKS_TEXT == 12_000
    at_limit = [{"type": "section", "text": text("x" * 3000, "mrkdwn")} for _ in range(4)]
    over = [*at_limit, {"type": "context", "elements": [text("y", "mrkdwn")]}]
    assert blocks_text_length(at_limit) == 12_000 and blocks_text_length(over) == 12_001
    posted = client.chat_postMessage(channel=SHARED, text="fits", blocks=at_limit)
    assert refused(client.chat_postMessage, channel=SHARED, text="long", blocks=over)["error"] == (
        "msg_blocks_too_long"
    )
    assert refused(client.chat_update, channel=SHARED, ts=posted["ts"], text="long", blocks=over)[
        "error"
    ] == ("msg_blocks_too_long")
    assert [m["text"] for m in standin.messages(SHARED)] == ["fits"]
    assert standin.message(SHARED, posted["ts"])["edited"] is False
    assert [c.method for c in standin.invalid_block_responses()] == ["chat.postMessage", "chat.update"]


def test_options_count_as_message_text() -> None:
    # Option texts, descriptions and initial options are text of the message too.
    option = opt("a" * 75, "1", "mrkdwn", description=text("d" * 75))
    blocks = actions(
        {"type": "checkboxes", "action_id": "c", "options": [option], "initial_options": [option]}
    )
    assert blocks_text_length(blocks) == 300


# -- a confirm dialog's texts are plain_text -------------------------------------------------
# Confirmation dialog object: title, text, confirm and deny are each "a plain_text text object"
# (slack_sdk checks their lengths, not their type).
def _confirmed(text_obj: dict[str, Any]) -> list[dict[str, Any]]:
    return actions(
        {
            "type": "button",
            "action_id": "b",
            "text": text("Approve"),
            "confirm": {"title": text("Sure?"), "text": text_obj, "confirm": text("Yes"), "deny": text("No")},
        }
    )


def test_a_confirm_dialogs_text_must_be_plain_text() -> None:
    only_error(
        validate_message_blocks(_confirmed(text("You approve *Gate*", "mrkdwn"))),
        "must be one of plain_text",
        "/blocks/0/elements/0/confirm/text/type",
    )
    assert validate_message_blocks(_confirmed(text("You approve Gate"))) == []
