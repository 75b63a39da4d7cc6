"""Answering a view submission with ``{"response_action": "errors", "errors": {...}}``, as Slack takes it.

Slack's modals guide: "errors: a key-value map where the key is the block_id of an input block and
the value is the error message". Slack refuses any other key: the user sees "We had some trouble
connecting" and the modal stays as it was. The stand-in records such an answer as refused (it is
among ``invalid_block_responses``, which every end-to-end test checks) and shows nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from standin import SlackDriver, SlackStandIn

from .helpers import RecordingBot, recording_bot
from .ids import LEAD


def text(t: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": t}


def form() -> dict[str, Any]:
    """A modal with two input blocks, a section, an actions block and a block without block_id."""
    return {
        "type": "modal",
        "callback_id": "item",
        "title": text("Item"),
        "submit": text("Save"),
        "blocks": [
            {"type": "section", "block_id": "intro", "text": text("Tell us about the item")},
            {
                "type": "input",
                "block_id": "title",
                "label": text("Title"),
                "element": {"type": "plain_text_input", "action_id": "value"},
            },
            {
                "type": "input",
                "block_id": "due",
                "optional": True,
                "label": text("Due"),
                "element": {"type": "datepicker", "action_id": "value"},
            },
            {
                "type": "actions",
                "block_id": "more",
                "elements": [{"type": "button", "action_id": "add", "text": text("Add")}],
            },
            {
                "type": "input",
                "label": text("Notes"),
                "optional": True,
                "element": {"type": "plain_text_input", "action_id": "notes"},
            },
        ],
    }


@pytest.fixture
def bot() -> Iterator[RecordingBot]:
    with recording_bot() as recorder:
        yield recorder


@pytest.fixture
def driver(standin: SlackStandIn, bot: RecordingBot) -> SlackDriver:
    return SlackDriver(standin, bot_url=bot.url)


@pytest.fixture
def view_id(standin: SlackStandIn, client: WebClient) -> str:
    return client.views_open(trigger_id=standin.issue_trigger(LEAD), view=form())["view"]["id"]


def answer_errors(bot: RecordingBot, errors: Any) -> None:
    bot.reply = (200, "application/json", json.dumps({"response_action": "errors", "errors": errors}))


def submit(driver: SlackDriver, view_id: str) -> None:
    driver.submit_view(view_id, {"title": {"value": "Kickoff"}})


def test_errors_keyed_by_input_block_ids_are_shown_and_the_modal_stays_open(
    standin: SlackStandIn, driver: SlackDriver, bot: RecordingBot, view_id: str
) -> None:
    answer_errors(bot, {"title": "Already taken", "due": "Pick a day after today"})
    submit(driver, view_id)
    assert standin.invalid_block_responses() == []
    [call] = standin.calls_to("view_submission.response")
    assert call.response == {"ok": True, "response_action": "errors"}
    assert standin.view(view_id)["errors"] == {"title": "Already taken", "due": "Pick a day after today"}
    assert [v["id"] for v in standin.open_views(LEAD)] == [view_id]


def test_an_input_block_without_block_id_is_named_by_the_id_slack_gave_it(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, bot: RecordingBot
) -> None:
    opened = client.views_open(trigger_id=standin.issue_trigger(LEAD), view=form())["view"]
    generated = opened["blocks"][4]["block_id"]  # Slack fills in the block_id the app left out
    answer_errors(bot, {generated: "Too long"})
    submit(driver, opened["id"])
    assert bot.requests[0].payload()["view"]["blocks"][4]["block_id"] == generated
    assert standin.invalid_block_responses() == []
    assert standin.view(opened["id"])["errors"] == {generated: "Too long"}


@pytest.mark.parametrize(
    ("errors", "needle"),
    [
        ({"intro": "No"}, "'intro' is the block_id of a 'section' block, not of an input block"),
        ({"more": "No"}, "'more' is the block_id of an 'actions' block, not of an input block"),
        ({"nosuch": "No"}, "'nosuch' is not the block_id of a block in the submitted view"),
        ({"title": "Fine", "value": "No"}, "'value' is not the block_id of a block"),  # an action_id
        ({"title": {"type": "plain_text", "text": "No"}}, "the error for 'title' must be a string"),
        (["title", "No"], "errors must be an object"),
        ("title: No", "errors must be an object"),
        (None, "errors must be an object"),
    ],
)
def test_errors_not_keyed_by_an_input_block_id_are_refused_and_nothing_changes(
    standin: SlackStandIn, driver: SlackDriver, bot: RecordingBot, view_id: str, errors: Any, needle: str
) -> None:
    answer_errors(bot, {"title": "Already taken"})
    submit(driver, view_id)
    shown = standin.view(view_id)
    answer_errors(bot, errors)
    submit(driver, view_id)
    [call] = standin.invalid_block_responses()
    assert call.method == "view_submission.response" and call.response["error"] == "invalid_arguments"
    assert any(needle in m for m in call.response["response_metadata"]["messages"]), call.response
    after = standin.view(view_id)
    assert after["errors"] == {"title": "Already taken"} and after["hash"] == shown["hash"]
    assert after["view"] == form() and [v["id"] for v in standin.open_views(LEAD)] == [view_id]


def test_a_missing_errors_map_is_refused(
    standin: SlackStandIn, driver: SlackDriver, bot: RecordingBot, view_id: str
) -> None:
    bot.reply = (200, "application/json", json.dumps({"response_action": "errors"}))
    submit(driver, view_id)
    [call] = standin.invalid_block_responses()
    assert "errors must be an object" in call.response["response_metadata"]["messages"][0]
    assert standin.view(view_id)["errors"] == {}


def test_errors_go_once_the_view_is_updated_or_submitted_without_errors(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, bot: RecordingBot, view_id: str
) -> None:
    answer_errors(bot, {"title": "Already taken"})
    submit(driver, view_id)
    client.views_update(view_id=view_id, view=form())
    assert standin.view(view_id)["errors"] == {}
    submit(driver, view_id)
    assert standin.view(view_id)["errors"] == {"title": "Already taken"}
    bot.reply = (200, "application/json", json.dumps({"response_action": "update", "view": form()}))
    submit(driver, view_id)
    assert standin.view(view_id)["errors"] == {}
    assert standin.invalid_block_responses() == []
