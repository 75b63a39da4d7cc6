"""A view's `hash`, as Slack keeps it: views.publish and views.update refuse a stale one with
`hash_conflict`, and the Home's current hash reaches the app in `app_home_opened` and in every
click on the Home.

Slack's reference for views.publish and views.update (docs.slack.dev/reference/methods/views.publish,
…/views.update): `hash` is "a string that represents view state to protect against possible race
conditions"; `hash_conflict`: "the provided hash doesn't match the current stored value". Its
modals guide (docs.slack.dev/surfaces/modals): "An app can push new views onto a modal's view
stack, or update an existing view within that stack — including the currently visible view."
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standin import SlackDriver, SlackStandIn

from .helpers import RecordingBot, recording_bot
from .ids import LEAD


def home(text: str) -> dict[str, Any]:
    return {
        "type": "home",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "actions",
                "block_id": "nav",
                "elements": [
                    {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}}
                ],
            },
        ],
    }


def modal(title: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": title}}],
    }


def error_of(call, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(SlackApiError) as info:
        call(**kwargs)
    return str(info.value.response["error"])


def shown_text(standin: SlackStandIn) -> str:
    record = standin.home(LEAD)
    assert record is not None
    return str(record["view"]["blocks"][0]["text"]["text"])


@pytest.fixture
def bot() -> Iterator[RecordingBot]:
    with recording_bot() as recorder:
        yield recorder


@pytest.fixture
def driver(standin: SlackStandIn, bot: RecordingBot) -> SlackDriver:
    return SlackDriver(standin, bot_url=bot.url)


def test_views_publish_refuses_a_stale_hash_and_keeps_the_newer_home(
    standin: SlackStandIn, client: WebClient
) -> None:
    first = client.views_publish(user_id=LEAD, view=home("v1"))["view"]
    second = client.views_publish(user_id=LEAD, view=home("v2"), hash=first["hash"])["view"]
    assert second["hash"] != first["hash"]
    # A slower writer that still holds v1's hash cannot put its older Home over v2.
    assert error_of(client.views_publish, user_id=LEAD, view=home("stale"), hash=first["hash"]) == (
        "hash_conflict"
    )
    assert shown_text(standin) == "v2"
    third = client.views_publish(user_id=LEAD, view=home("v3"), hash=second["hash"])["view"]
    assert shown_text(standin) == "v3"
    # Without a hash, Slack publishes whatever is there.
    client.views_publish(user_id=LEAD, view=home("v4"))
    assert shown_text(standin) == "v4"
    assert error_of(client.views_publish, user_id=LEAD, view=home("late"), hash=third["hash"]) == (
        "hash_conflict"
    )


def test_the_homes_hash_comes_with_app_home_opened_and_with_a_click_on_it(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, bot: RecordingBot
) -> None:
    driver.app_home_opened(LEAD)
    assert "view" not in json.loads(bot.requests[0].body)["event"]  # no Home published yet
    published = client.views_publish(user_id=LEAD, view=home("v1"))["view"]
    driver.app_home_opened(LEAD)
    assert json.loads(bot.requests[1].body)["event"]["view"]["hash"] == published["hash"]
    driver.click_view(published["id"], "go", user=LEAD)
    click = bot.requests[2].payload()
    assert click["view"]["id"] == published["id"] and click["view"]["hash"] == published["hash"]
    # The app can publish over exactly the Home the click saw.
    client.views_publish(user_id=LEAD, view=home("v2"), hash=click["view"]["hash"])
    assert shown_text(standin) == "v2"


def test_a_view_under_the_top_of_the_stack_can_be_updated_and_the_top_stays_shown(
    standin: SlackStandIn, client: WebClient
) -> None:
    root = client.views_open(trigger_id=standin.issue_trigger(LEAD), view=modal("My tasks"))["view"]
    form = client.views_push(trigger_id=standin.issue_trigger(LEAD), view=modal("A form"))["view"]
    assert standin.view(root["id"])["hash"] == root["hash"]  # a push leaves the view under it as it was
    updated = client.views_update(view_id=root["id"], view=modal("My tasks, later"), hash=root["hash"])[
        "view"
    ]
    assert updated["hash"] != root["hash"]
    stack = standin.open_views(LEAD)
    assert [v["id"] for v in stack] == [root["id"], form["id"]]
    assert stack[-1]["view"]["title"]["text"] == "A form"  # what the person sees
    assert stack[0]["view"]["title"]["text"] == "My tasks, later"
    # The update gave it a new hash: a writer holding the old one is refused.
    assert (
        error_of(client.views_update, view_id=root["id"], view=modal("Older"), hash=root["hash"])
        == "hash_conflict"
    )
    assert standin.open_views(LEAD)[0]["view"]["title"]["text"] == "My tasks, later"
