"""SlackDriver: signed requests and payload shapes, checked against a recording bot."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from standin import SlackDriver, SlackStandIn, compute_signature

from .helpers import RecordingBot, recording_bot
from .ids import CUSTOMER, CUSTOMER_USER, ENGINEER, INTERNAL, LEAD, SHARED, VENDOR

TASKS = [
    {"text": {"type": "plain_text", "text": "Kickoff call"}, "value": "kickoff"},
    {"text": {"type": "plain_text", "text": "Sign DPA"}, "value": "dpa"},
    {"text": {"type": "plain_text", "text": "SSO set up"}, "value": "sso"},
]
CHECKLIST = [
    {"type": "section", "block_id": "intro", "text": {"type": "mrkdwn", "text": "*Phase 1*"}},
    {
        "type": "actions",
        "block_id": "phase1",
        "elements": [
            {"type": "checkboxes", "action_id": "tasks", "options": TASKS, "initial_options": [TASKS[0]]},
            {
                "type": "button",
                "action_id": "signoff",
                "text": {"type": "plain_text", "text": "Sign off"},
                "value": "phase1",
                "style": "primary",
            },
            {"type": "datepicker", "action_id": "due", "initial_date": "2030-01-15"},
        ],
    },
]


@pytest.fixture
def bot() -> Iterator[RecordingBot]:
    with recording_bot() as recorder:
        yield recorder


@pytest.fixture
def driver(standin: SlackStandIn, bot: RecordingBot) -> SlackDriver:
    return SlackDriver(standin, bot_url=bot.url)


def post_checklist(client: WebClient) -> str:
    return client.chat_postMessage(channel=SHARED, text="Phase 1 checklist", blocks=CHECKLIST)["ts"]


def test_requests_are_signed_like_slack(driver: SlackDriver, bot: RecordingBot) -> None:
    driver.command("/golive", "status", user=LEAD, channel=SHARED)
    request = bot.requests[0]
    assert SignatureVerifier("secret").is_valid_request(request.body, request.headers)
    ts = request.headers["X-Slack-Request-Timestamp"]
    assert abs(int(ts) - time.time()) < 5
    assert request.headers["X-Slack-Signature"] == compute_signature("secret", ts, request.body)
    assert not SignatureVerifier("other-secret").is_valid_request(request.body, request.headers)


def test_unsigned_bad_and_stale_requests(driver: SlackDriver, bot: RecordingBot) -> None:
    verifier = SignatureVerifier("secret")
    driver.command("/golive", "", user=LEAD, channel=SHARED, signature=None)
    driver.command("/golive", "", user=LEAD, channel=SHARED, signature="v0=bad")
    driver.command("/golive", "", user=LEAD, channel=SHARED, timestamp=int(time.time()) - 600)
    unsigned, bad, stale = bot.requests
    assert "X-Slack-Signature" not in unsigned.headers and "X-Slack-Request-Timestamp" not in unsigned.headers
    assert bad.headers["X-Slack-Signature"] == "v0=bad" and not verifier.is_valid_request(
        bad.body, bad.headers
    )
    stale_ts = stale.headers["X-Slack-Request-Timestamp"]
    assert stale.headers["X-Slack-Signature"] == compute_signature("secret", stale_ts, stale.body)
    assert not verifier.is_valid_request(stale.body, stale.headers)


def test_command_payload(standin: SlackStandIn, driver: SlackDriver, bot: RecordingBot) -> None:
    response = driver.command("/golive", "start Acme Corp size=medium", user=LEAD, channel=SHARED)
    assert response.status == 200
    form = bot.requests[0].form()
    assert bot.requests[0].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form["command"] == "/golive" and form["text"] == "start Acme Corp size=medium"
    assert form["user_id"] == LEAD and form["user_name"] == "lena"
    assert form["channel_id"] == SHARED and form["channel_name"] == "acme-implementation"
    assert form["team_id"] == VENDOR and form["api_app_id"] == "A0GOLIVE"
    assert form["response_url"].startswith(standin.base_url + "/response/")
    assert form["trigger_id"] and form["is_enterprise_install"] == "false"
    second = driver.command("/golive", "", user=LEAD, channel=SHARED)
    assert second.status == 200 and bot.requests[1].form()["trigger_id"] != form["trigger_id"]
    client = WebClient(base_url=standin.api_url, token="xoxb-test")
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": [{"type": "divider"}]}
    assert client.views_open(trigger_id=form["trigger_id"], view=modal)["ok"]


def test_command_ack_body_is_shown(standin: SlackStandIn, driver: SlackDriver, bot: RecordingBot) -> None:
    bot.reply = (200, "application/json", json.dumps({"text": "Working on it"}))
    driver.command("/golive", "status", user=LEAD, channel=SHARED)
    assert standin.ephemerals(user=LEAD)[0]["text"] == "Working on it"
    bot.reply = (
        200,
        "application/json",
        json.dumps({"response_type": "in_channel", "text": "Status: green"}),
    )
    driver.command("/golive", "status", user=LEAD, channel=SHARED)
    assert standin.last_message(SHARED)["text"] == "Status: green"


def test_response_url_ephemeral_and_in_channel(
    standin: SlackStandIn, driver: SlackDriver, bot: RecordingBot
) -> None:
    driver.command("/golive", "status", user=LEAD, channel=SHARED)
    url = bot.requests[0].form()["response_url"]
    webhook = WebhookClient(url)
    assert webhook.send(text="Only you can see this", response_type="ephemeral").status_code == 200
    [eph] = standin.ephemerals(channel=SHARED, user=LEAD)
    assert eph["text"] == "Only you can see this" and eph["source"] == "response_url"
    assert webhook.send(text="Everyone", response_type="in_channel").status_code == 200
    assert standin.last_message(SHARED)["text"] == "Everyone"
    bad = webhook.send(text="x", blocks=[{"type": "section"}])
    assert bad.status_code == 400 and "invalid_blocks" in bad.body
    assert standin.invalid_block_responses()[0].method == "response_url"
    for _ in range(2):
        webhook.send(text="again")
    assert webhook.send(text="sixth use").status_code == 404


def test_click_checkbox_by_external_user(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, bot: RecordingBot
) -> None:
    ts = post_checklist(client)
    driver.click(SHARED, ts, "tasks", user=CUSTOMER_USER, selected_options=["kickoff", "dpa"])
    payload = bot.requests[0].payload()
    assert payload["type"] == "block_actions"
    assert payload["user"] == {"id": CUSTOMER_USER, "username": "carla", "name": "carla", "team_id": CUSTOMER}
    assert payload["team"]["id"] == VENDOR
    assert payload["container"] == {
        "type": "message",
        "message_ts": ts,
        "channel_id": SHARED,
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": SHARED, "name": "acme-implementation"}
    assert payload["message"]["ts"] == ts and payload["message"]["blocks"][1]["block_id"] == "phase1"
    [action] = payload["actions"]
    assert (
        action["type"] == "checkboxes" and action["action_id"] == "tasks" and action["block_id"] == "phase1"
    )
    assert [o["value"] for o in action["selected_options"]] == ["kickoff", "dpa"]
    values = payload["state"]["values"]["phase1"]
    assert [o["value"] for o in values["tasks"]["selected_options"]] == ["kickoff", "dpa"]
    assert values["due"] == {"type": "datepicker", "selected_date": "2030-01-15"}
    assert "signoff" not in values
    assert payload["trigger_id"] and payload["response_url"] and payload["api_app_id"] == "A0GOLIVE"


def test_click_button_datepicker_and_replace_original(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, bot: RecordingBot
) -> None:
    ts = post_checklist(client)
    driver.click(SHARED, ts, "signoff", user=LEAD)
    driver.click(SHARED, ts, "due", user=ENGINEER, selected_date="2030-02-01")
    button, date = (r.payload()["actions"][0] for r in bot.requests)
    assert (
        button["value"] == "phase1" and button["style"] == "primary" and button["text"]["text"] == "Sign off"
    )
    assert date["selected_date"] == "2030-02-01"
    response_url = bot.requests[0].payload()["response_url"]
    new_blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "Signed off"}}]
    WebhookClient(response_url).send(text="Signed off", blocks=new_blocks, replace_original=True)
    stored = standin.message(SHARED, ts)
    assert stored["edited"] is True and stored["text"] == "Signed off"
    with pytest.raises(LookupError, match="signoff"):
        driver.click(SHARED, ts, "signoff", user=LEAD)
    assert driver.click(SHARED, ts, "signoff", user=LEAD, expect_missing=True) is None
    WebhookClient(response_url).send(delete_original=True)
    assert standin.message(SHARED, ts)["deleted"] is True


def test_click_rejects_unknown_options_and_non_members(client: WebClient, driver: SlackDriver) -> None:
    ts = post_checklist(client)
    with pytest.raises(ValueError, match="nope"):
        driver.click(SHARED, ts, "tasks", user=LEAD, selected_options=["nope"])
    client.chat_postMessage(channel=INTERNAL, text="internal", blocks=CHECKLIST)
    internal_ts = driver.standin.last_message(INTERNAL)["ts"]
    with pytest.raises(PermissionError):
        driver.click(INTERNAL, internal_ts, "signoff", user=CUSTOMER_USER)


def modal_with_inputs() -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "start",
        "private_metadata": "acme",
        "title": {"type": "plain_text", "text": "Start"},
        "submit": {"type": "plain_text", "text": "Go"},
        "blocks": [
            {
                "type": "input",
                "block_id": "name",
                "label": {"type": "plain_text", "text": "Customer"},
                "element": {"type": "plain_text_input", "action_id": "value"},
            },
            {
                "type": "input",
                "block_id": "size",
                "label": {"type": "plain_text", "text": "Size"},
                "element": {"type": "static_select", "action_id": "value", "options": TASKS},
            },
            {
                "type": "input",
                "block_id": "owner",
                "label": {"type": "plain_text", "text": "Owner"},
                "element": {"type": "users_select", "action_id": "value"},
            },
            {
                "type": "input",
                "block_id": "start",
                "label": {"type": "plain_text", "text": "Start"},
                "element": {"type": "datepicker", "action_id": "value"},
            },
            {
                "type": "input",
                "block_id": "scope",
                "optional": True,
                "label": {"type": "plain_text", "text": "S"},
                "element": {"type": "checkboxes", "action_id": "value", "options": TASKS},
            },
            {
                "type": "actions",
                "block_id": "more",
                "elements": [
                    {"type": "button", "action_id": "add", "text": {"type": "plain_text", "text": "Add"}}
                ],
            },
        ],
    }


def open_modal(standin: SlackStandIn, client: WebClient) -> str:
    trigger = standin.issue_trigger(LEAD)
    return client.views_open(trigger_id=trigger, view=modal_with_inputs())["view"]["id"]


FILLED = {
    "name": {"value": "Acme Corp"},
    "size": {"value": "dpa"},
    "owner": {"value": ENGINEER},
    "start": {"value": "2030-03-01"},
    "scope": {"value": ["kickoff", "sso"]},
}


def test_submit_view_shapes_and_errors_keep_it_open(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, bot: RecordingBot
) -> None:
    view_id = open_modal(standin, client)
    bot.reply = (
        200,
        "application/json",
        json.dumps({"response_action": "errors", "errors": {"name": "Already exists"}}),
    )
    response = driver.submit_view(view_id, FILLED)
    assert response.json == {"response_action": "errors", "errors": {"name": "Already exists"}}
    payload = bot.requests[0].payload()
    assert payload["type"] == "view_submission" and payload["user"]["team_id"] == VENDOR
    view = payload["view"]
    assert view["id"] == view_id and view["private_metadata"] == "acme" and view["callback_id"] == "start"
    assert view["hash"] and view["app_installed_team_id"] == VENDOR
    values = view["state"]["values"]
    assert values["name"]["value"] == {"type": "plain_text_input", "value": "Acme Corp"}
    assert values["size"]["value"]["selected_option"]["value"] == "dpa"
    assert values["owner"]["value"] == {"type": "users_select", "selected_user": ENGINEER}
    assert values["start"]["value"] == {"type": "datepicker", "selected_date": "2030-03-01"}
    assert [o["value"] for o in values["scope"]["value"]["selected_options"]] == ["kickoff", "sso"]
    assert standin.views[view_id]["closed"] is False
    bot.reply = (200, "text/plain", "")
    driver.submit_view(view_id, FILLED)
    assert standin.views[view_id]["closed"] is True and standin.open_views(LEAD) == []


def test_submit_view_update_push_and_required(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, bot: RecordingBot
) -> None:
    view_id = open_modal(standin, client)
    with pytest.raises(ValueError, match="required"):
        driver.submit_view(view_id, {"name": {"value": "Acme"}})
    with pytest.raises(KeyError, match="nosuch"):
        driver.submit_view(view_id, {**FILLED, "nosuch": {"value": "x"}})
    next_view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Step 2"},
        "blocks": [{"type": "divider"}],
    }
    bot.reply = (200, "application/json", json.dumps({"response_action": "update", "view": next_view}))
    driver.submit_view(view_id, FILLED)
    assert standin.views[view_id]["view"]["title"]["text"] == "Step 2"
    bot.reply = (200, "application/json", json.dumps({"response_action": "push", "view": next_view}))
    driver.submit_view(view_id)
    assert len(standin.open_views(LEAD)) == 2
    bot.reply = (200, "application/json", json.dumps({"response_action": "clear"}))
    driver.submit_view(view_id)
    assert standin.open_views(LEAD) == []
    assert [c.response["ok"] for c in standin.calls_to("view_submission.response")] == [True, True, True]


def test_click_view_and_close_view(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, bot: RecordingBot
) -> None:
    view_id = open_modal(standin, client)
    driver.click_view(view_id, "add", values={"name": {"value": "Acme"}})
    payload = bot.requests[0].payload()
    assert payload["container"] == {"type": "view", "view_id": view_id}
    assert payload["view"]["state"]["values"]["name"]["value"]["value"] == "Acme"
    assert "response_url" not in payload and payload["actions"][0]["action_id"] == "add"
    assert driver.close_view(view_id) is None  # notify_on_close is not set: Slack sends nothing
    assert standin.views[view_id]["closed"] is True and len(bot.requests) == 1
    trigger = standin.issue_trigger(LEAD)
    notify = client.views_open(trigger_id=trigger, view={**modal_with_inputs(), "notify_on_close": True})
    driver.close_view(notify["view"]["id"])
    assert bot.requests[1].payload()["type"] == "view_closed"


def test_events(standin: SlackStandIn, client: WebClient, driver: SlackDriver, bot: RecordingBot) -> None:
    driver.event({"type": "channel_shared", "channel": SHARED}, event_id="Ev0001")
    driver.event(
        {"type": "channel_shared", "channel": SHARED},
        event_id="Ev0001",
        retry_num=1,
        retry_reason="http_timeout",
    )
    first, retry = bot.requests
    body = json.loads(first.body)
    assert first.headers["Content-Type"] == "application/json"
    assert body["type"] == "event_callback" and body["event_id"] == "Ev0001" and body["team_id"] == VENDOR
    assert body["authorizations"][0]["user_id"] == "U0BOT" and body["event"]["event_ts"]
    assert body["is_ext_shared_channel"] is True
    assert "X-Slack-Retry-Num" not in first.headers
    assert (
        retry.headers["X-Slack-Retry-Num"] == "1" and retry.headers["X-Slack-Retry-Reason"] == "http_timeout"
    )
    assert json.loads(retry.body)["event_id"] == "Ev0001"
    assert SignatureVerifier("secret").is_valid_request(retry.body, retry.headers)

    client.views_publish(user_id=LEAD, view={"type": "home", "blocks": [{"type": "divider"}]})
    driver.app_home_opened(LEAD)
    home_event = json.loads(bot.requests[2].body)["event"]
    assert home_event["type"] == "app_home_opened" and home_event["tab"] == "home"
    assert home_event["channel"].startswith("D") and home_event["view"]["type"] == "home"

    standin.add_user("U0NEW", name="nia", team_id=CUSTOMER)
    driver.member_joined_channel("U0NEW", SHARED, inviter=LEAD)
    joined = json.loads(bot.requests[3].body)["event"]
    assert joined == {
        **joined,
        "type": "member_joined_channel",
        "user": "U0NEW",
        "channel": SHARED,
        "team": CUSTOMER,
        "inviter": LEAD,
    }
    assert "U0NEW" in standin.channel(SHARED).members


def test_invalid_view_in_response_action_is_reported(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, bot: RecordingBot
) -> None:
    view_id = open_modal(standin, client)
    bad = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "x" * 40},
        "blocks": [{"type": "divider"}],
    }
    bot.reply = (200, "application/json", json.dumps({"response_action": "update", "view": bad}))
    driver.submit_view(view_id, FILLED)
    [call] = standin.invalid_block_responses()
    assert call.method == "view_submission.response" and call.response["error"] == "invalid_arguments"
    assert standin.views[view_id]["view"]["title"]["text"] == "Start"


def test_click_in_home_tab(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, bot: RecordingBot
) -> None:
    home = {
        "type": "home",
        "blocks": [
            {
                "type": "actions",
                "block_id": "filters",
                "elements": [{"type": "static_select", "action_id": "project", "options": TASKS}],
            }
        ],
    }
    view_id = client.views_publish(user_id=LEAD, view=home)["view"]["id"]
    driver.click_view(view_id, "project", value="sso")
    payload = bot.requests[0].payload()
    assert payload["view"]["type"] == "home" and payload["actions"][0]["selected_option"]["value"] == "sso"
    assert payload["view"]["state"]["values"]["filters"]["project"]["selected_option"]["value"] == "sso"
    assert standin.home(LEAD)["state"]["values"]["filters"]["project"]["selected_option"]["value"] == "sso"
