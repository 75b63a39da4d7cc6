"""views.open / update / push / publish through a real WebClient."""

from __future__ import annotations

import time
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standin import SlackStandIn

from .ids import CUSTOMER_USER, LEAD


def modal(title: str = "Start", **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "start",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Start"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Which customer?"}}],
        **extra,
    }


def home(text: str = "Your projects") -> dict[str, Any]:
    return {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def api_error(call, **kwargs) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        call(**kwargs)
    return info.value.response.data


def test_views_open_with_a_fresh_trigger(standin: SlackStandIn, client: WebClient) -> None:
    trigger = standin.issue_trigger(LEAD)
    view = client.views_open(trigger_id=trigger, view=modal(private_metadata="acme"))["view"]
    assert view["id"].startswith("V") and view["hash"] and view["type"] == "modal"
    assert view["private_metadata"] == "acme" and view["callback_id"] == "start"
    assert view["root_view_id"] == view["id"] and view["state"] == {"values": {}}
    record = standin.views[view["id"]]
    assert record["user"] == LEAD and record["trigger_id"] == trigger and record["closed"] is False
    assert record["view"] == modal(private_metadata="acme")
    assert [v["id"] for v in standin.open_views(LEAD)] == [view["id"]]


def test_trigger_errors(standin: SlackStandIn, client: WebClient) -> None:
    assert standin.ws.trigger_ttl == 3.0  # Slack's limit is the default
    assert (
        api_error(client.views_open, trigger_id="123.456.abc", view=modal())["error"] == "invalid_trigger_id"
    )
    used = standin.issue_trigger(LEAD)
    client.views_open(trigger_id=used, view=modal())
    assert api_error(client.views_open, trigger_id=used, view=modal())["error"] == "exchanged_trigger_id"
    standin.set_trigger_ttl(0.05)
    stale = standin.issue_trigger(LEAD)
    time.sleep(0.1)
    assert api_error(client.views_open, trigger_id=stale, view=modal())["error"] == "expired_trigger_id"
    assert len(standin.views) == 1


def test_invalid_view_is_refused_like_slack(standin: SlackStandIn, client: WebClient) -> None:
    data = api_error(client.views_open, trigger_id=standin.issue_trigger(LEAD), view=modal(title="x" * 30))
    assert data["error"] == "invalid_arguments"
    assert any("24" in m for m in data["response_metadata"]["messages"])
    huge = modal(blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}}] * 90)
    assert (
        api_error(client.views_open, trigger_id=standin.issue_trigger(LEAD), view=huge)["error"]
        == "view_too_large"
    )
    assert standin.views == {}
    assert len(standin.invalid_block_responses()) == 2


def test_views_update_by_id_and_external_id_with_hash(standin: SlackStandIn, client: WebClient) -> None:
    opened = client.views_open(trigger_id=standin.issue_trigger(LEAD), view=modal(external_id="start-1"))[
        "view"
    ]
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal(title="Step 2"))[
        "view"
    ]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert updated["title"]["text"] == "Step 2"
    assert api_error(client.views_update, view_id=opened["id"], hash=opened["hash"], view=modal())[
        "error"
    ] == ("hash_conflict")
    by_external = client.views_update(
        external_id="start-1", view=modal(title="Step 3", external_id="start-1")
    )
    assert by_external["view"]["id"] == opened["id"]
    assert standin.views[opened["id"]]["view"]["title"]["text"] == "Step 3"
    assert api_error(client.views_update, view_id="V0NOPE", view=modal())["error"] == "not_found"


def test_views_push_stacks_up_to_three(standin: SlackStandIn, client: WebClient) -> None:
    root = client.views_open(trigger_id=standin.issue_trigger(LEAD), view=modal())["view"]
    second = client.views_push(trigger_id=standin.issue_trigger(LEAD), view=modal(title="Two"))["view"]
    assert second["previous_view_id"] == root["id"] and second["root_view_id"] == root["id"]
    client.views_push(trigger_id=standin.issue_trigger(LEAD), view=modal(title="Three"))
    error = api_error(client.views_push, trigger_id=standin.issue_trigger(LEAD), view=modal(title="Four"))
    assert error["error"] == "push_limit_reached"
    assert [v["view"]["title"]["text"] for v in standin.open_views(LEAD)] == ["Start", "Two", "Three"]


def test_views_publish_home_per_user(standin: SlackStandIn, client: WebClient) -> None:
    assert standin.home(LEAD) is None
    first = client.views_publish(user_id=LEAD, view=home("v1"))["view"]
    second = client.views_publish(user_id=LEAD, view=home("v2"))["view"]
    assert first["id"] == second["id"] and first["type"] == "home"
    assert standin.home(LEAD)["view"]["blocks"][0]["text"]["text"] == "v2"
    assert standin.home(CUSTOMER_USER) is None
    too_many = {"type": "home", "blocks": [{"type": "divider"}] * 101}
    assert api_error(client.views_publish, user_id=LEAD, view=too_many)["error"] == "invalid_arguments"
    assert api_error(client.views_publish, user_id=LEAD, view=modal())["error"] == "invalid_arguments"
    assert api_error(client.views_publish, user_id="U0NOBODY", view=home())["error"] == "user_not_found"
    assert standin.home(LEAD)["view"]["blocks"][0]["text"]["text"] == "v2"
