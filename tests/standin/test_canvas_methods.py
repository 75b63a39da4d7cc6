"""The stand-in's project-page methods (standin/api_canvases.py): conversations.canvases.create,
canvases.edit and pins.add, with their scopes, documented errors and rate-limit tiers."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standin import SLACK_RATE_LIMITS, SlackStandIn
from standin.ratelimits import TIER_2, TIER_3

from .ids import SHARED

MD = {"type": "markdown", "markdown": "# Page\n## Plan\n- one\n## Team\n- Lena\n"}


def refused(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        call(**kwargs)
    data: dict[str, Any] = info.value.response.data
    return data


def test_a_channel_canvas_is_created_once_and_edited_by_section(
    standin: SlackStandIn, client: WebClient
) -> None:
    canvas_id = client.conversations_canvases_create(channel_id=SHARED, title="Page", document_content=MD)[
        "canvas_id"
    ]
    assert canvas_id.startswith("F")
    assert standin.canvases()[canvas_id]["markdown"] == MD["markdown"]
    assert refused(client.conversations_canvases_create, channel_id=SHARED, document_content=MD)["error"] == (
        "channel_canvas_already_exists"
    )
    sections = standin.ws.canvases[canvas_id]["sections"]
    team = next(s["id"] for s in sections if s["markdown"].startswith("## Team"))
    new = {"type": "markdown", "markdown": "## Team\n- Lena\n- Ada\n"}
    client.canvases_edit(
        canvas_id=canvas_id, changes=[{"operation": "replace", "section_id": team, "document_content": new}]
    )
    assert standin.canvases()[canvas_id]["markdown"] == "# Page\n## Plan\n- one\n## Team\n- Lena\n- Ada\n"
    whole = {"type": "markdown", "markdown": "# Other\n"}
    client.canvases_edit(canvas_id=canvas_id, changes=[{"operation": "replace", "document_content": whole}])
    assert standin.canvases()[canvas_id]["markdown"] == "# Other\n"
    bad = [{"operation": "replace", "section_id": "temp:C:nope", "document_content": whole}]
    assert refused(client.canvases_edit, canvas_id=canvas_id, changes=bad)["error"] == "canvas_editing_failed"
    assert refused(client.canvases_edit, canvas_id="Fnope", changes=bad)["error"] == "canvas_not_found"


def test_the_workspace_can_refuse_canvases(standin: SlackStandIn, client: WebClient) -> None:
    standin.set_canvas_refusal("team_tier_cannot_create_channel_canvases")
    data = refused(client.conversations_canvases_create, channel_id=SHARED, document_content=MD)
    assert data["error"] == "team_tier_cannot_create_channel_canvases" and not standin.canvases()
    assert (
        refused(client.conversations_canvases_create, channel_id="C0NOPE", document_content=MD)["error"]
        == "channel_not_found"
    )


def test_pins_add(standin: SlackStandIn, client: WebClient) -> None:
    ts = client.chat_postMessage(channel=SHARED, text="page")["ts"]
    client.pins_add(channel=SHARED, timestamp=ts)
    assert standin.pinned(SHARED) == [ts]
    assert refused(client.pins_add, channel=SHARED, timestamp=ts)["error"] == "already_pinned"
    assert refused(client.pins_add, channel=SHARED, timestamp="1.000")["error"] == "message_not_found"


def test_scopes_and_tiers(standin: SlackStandIn, client: WebClient) -> None:
    standin.set_scopes({"chat:write"})
    data = refused(client.conversations_canvases_create, channel_id=SHARED, document_content=MD)
    assert (data["error"], data["needed"]) == ("missing_scope", "canvases:write")
    assert refused(client.canvases_edit, canvas_id="F1", changes=[])["needed"] == "canvases:write"
    assert refused(client.pins_add, channel=SHARED, timestamp="1.0")["needed"] == "pins:write"
    assert SLACK_RATE_LIMITS["conversations.canvases.create"] == TIER_2
    assert SLACK_RATE_LIMITS["canvases.edit"] == TIER_3
    assert SLACK_RATE_LIMITS["pins.add"] == TIER_2
