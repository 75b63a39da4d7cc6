"""End to end with a real Bolt app over HTTP: command → modal → submission → message → click."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from standin import SlackDriver, SlackStandIn

from .helpers import bolt_server
from .ids import CUSTOMER, CUSTOMER_USER, LEAD, SHARED

START_VIEW = {
    "type": "modal",
    "callback_id": "start",
    "title": {"type": "plain_text", "text": "Start a project"},
    "submit": {"type": "plain_text", "text": "Start"},
    "blocks": [
        {
            "type": "input",
            "block_id": "name",
            "label": {"type": "plain_text", "text": "Customer"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        }
    ],
}


def build_app(standin: SlackStandIn) -> App:
    app = App(client=WebClient(base_url=standin.api_url, token="xoxb-test"), signing_secret="secret")

    @app.command("/golive")
    def golive(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        view = {**START_VIEW, "private_metadata": body["channel_id"]}
        client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.view("start")
    def start(ack: Ack, view: dict[str, Any], client: WebClient) -> None:
        name = view["state"]["values"]["name"]["value"]["value"]
        if name == "taken":
            ack(response_action="errors", errors={"name": "That project exists"})
            return
        ack()
        options = [{"text": {"type": "plain_text", "text": "Kickoff"}, "value": "kickoff"}]
        client.chat_postMessage(
            channel=view["private_metadata"],
            text=f"Project {name} started",
            blocks=[
                {
                    "type": "actions",
                    "block_id": "p1",
                    "elements": [{"type": "checkboxes", "action_id": "task", "options": options}],
                }
            ],
        )

    @app.action("task")
    def task(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        respond(
            text=f"Noted for team {body['user']['team_id']}",
            response_type="ephemeral",
            replace_original=False,
        )

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        client.views_publish(
            user_id=event["user"],
            view={"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hi"}}]},
        )

    return app


@pytest.fixture
def driver(standin: SlackStandIn) -> Iterator[SlackDriver]:
    with bolt_server(build_app(standin)) as url:
        yield SlackDriver(standin, bot_url=url)


def test_full_flow_through_bolt(standin: SlackStandIn, driver: SlackDriver) -> None:
    assert driver.command("/golive", "start", user=LEAD, channel=SHARED).status == 200
    [view] = standin.wait_for(lambda: standin.open_views(LEAD))
    assert view["view"]["private_metadata"] == SHARED

    rejected = driver.submit_view(view["id"], {"name": {"value": "taken"}})
    assert rejected.json == {"response_action": "errors", "errors": {"name": "That project exists"}}
    assert standin.open_views(LEAD)

    assert driver.submit_view(view["id"], {"name": {"value": "Acme"}}).status == 200
    assert standin.open_views(LEAD) == []
    message = standin.wait_for(lambda: standin.last_message(SHARED))
    assert message["text"] == "Project Acme started"

    driver.click(SHARED, message["ts"], "task", user=CUSTOMER_USER, selected_options=["kickoff"])
    [eph] = standin.wait_for(lambda: standin.ephemerals(user=CUSTOMER_USER))
    assert eph["text"] == f"Noted for team {CUSTOMER}"

    driver.app_home_opened(LEAD)
    assert standin.wait_for(lambda: standin.home(LEAD))["view"]["blocks"][0]["text"]["text"] == "Hi"
    assert standin.invalid_block_responses() == []


def test_bolt_rejects_bad_signatures(standin: SlackStandIn, driver: SlackDriver) -> None:
    assert driver.command("/golive", "", user=LEAD, channel=SHARED, signature="v0=deadbeef").status == 401
    assert driver.command("/golive", "", user=LEAD, channel=SHARED, signature=None).status == 401
    assert driver.command("/golive", "", user=LEAD, channel=SHARED, timestamp=1_600_000_000).status == 401
    assert standin.calls_to("views.open") == []


def test_wait_for_times_out_with_context(standin: SlackStandIn) -> None:
    with pytest.raises(AssertionError, match=r"not met within 0.05s.*recent calls"):
        standin.wait_for(lambda: standin.messages(SHARED)[0], timeout=0.05, message="first message")
