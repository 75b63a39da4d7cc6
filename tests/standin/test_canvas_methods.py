"""The stand-in's project-page methods (standin/api_canvases.py): conversations.canvases.create,
canvases.edit, canvases.sections.lookup and pins.add, with their scopes, documented errors and
rate-limit tiers."""

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


def test_a_channel_canvas_is_created_once_and_edited_one_section_at_a_time(
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
    # One section per block: a heading is apart from the list under it, each item its own.
    sections = standin.canvas_sections(canvas_id)
    assert [(s["type"], s["markdown"]) for s in sections] == [
        ("h1", "# Page"),
        ("h2", "## Plan"),
        ("list_item", "- one"),
        ("h2", "## Team"),
        ("list_item", "- Lena"),
    ]
    assert all(s["id"].startswith("temp:C:") for s in sections)
    team, lena = sections[3]["id"], sections[4]["id"]
    add = {"type": "markdown", "markdown": "- Ada\n- Eli\n"}
    client.canvases_edit(
        canvas_id=canvas_id,
        changes=[{"operation": "insert_after", "section_id": lena, "document_content": add}],
    )
    client.canvases_edit(canvas_id=canvas_id, changes=[{"operation": "delete", "section_id": lena}])
    note = {"type": "markdown", "markdown": "A note under the heading."}
    client.canvases_edit(
        canvas_id=canvas_id,
        changes=[{"operation": "insert_after", "section_id": team, "document_content": note}],
    )
    assert standin.canvases()[canvas_id]["markdown"] == (
        "# Page\n## Plan\n- one\n## Team\n\nA note under the heading.\n\n- Ada\n- Eli\n"
    )
    # A replace with a section id replaces that one section; without, the whole document.
    [one] = client.canvases_sections_lookup(canvas_id=canvas_id, criteria={"contains_text": "one"})[
        "sections"
    ]
    two = {"type": "markdown", "markdown": "- two\n"}
    client.canvases_edit(
        canvas_id=canvas_id,
        changes=[{"operation": "replace", "section_id": one["id"], "document_content": two}],
    )
    assert standin.canvases()[canvas_id]["markdown"].startswith("# Page\n## Plan\n- two\n## Team\n")
    whole = {"type": "markdown", "markdown": "# Other\n"}
    client.canvases_edit(canvas_id=canvas_id, changes=[{"operation": "replace", "document_content": whole}])
    assert standin.canvases()[canvas_id]["markdown"] == "# Other\n"
    bad = [{"operation": "replace", "section_id": "temp:C:nope", "document_content": whole}]
    assert refused(client.canvases_edit, canvas_id=canvas_id, changes=bad)["error"] == "canvas_editing_failed"
    assert refused(client.canvases_edit, canvas_id="Fnope", changes=bad)["error"] == "canvas_not_found"


def test_edit_takes_one_change_a_call_and_the_section_it_needs(
    standin: SlackStandIn, client: WebClient
) -> None:
    canvas_id = client.conversations_canvases_create(channel_id=SHARED, document_content=MD)["canvas_id"]
    before = standin.canvases()[canvas_id]["markdown"]
    end = {"operation": "insert_at_end", "document_content": {"type": "markdown", "markdown": "- x\n"}}
    # "Only one operation per API call is currently supported"; Slack documents no code for more.
    assert (
        refused(client.canvases_edit, canvas_id=canvas_id, changes=[end, end])["error"] == "invalid_arguments"
    )
    assert refused(client.canvases_edit, canvas_id=canvas_id, changes=[])["error"] == "invalid_arguments"
    for op in ("delete", "insert_after", "insert_before"):
        change = {"operation": op, "document_content": end["document_content"]}
        assert (
            refused(client.canvases_edit, canvas_id=canvas_id, changes=[change])["error"]
            == "invalid_arguments"
        )
    assert standin.canvases()[canvas_id]["markdown"] == before  # nothing refused changed it
    rename = {"operation": "rename", "title_content": {"type": "markdown", "markdown": "New title"}}
    client.canvases_edit(canvas_id=canvas_id, changes=[rename])
    assert standin.canvases()[canvas_id]["title"] == "New title"


def test_sections_lookup_by_heading_type_and_by_text(standin: SlackStandIn, client: WebClient) -> None:
    md = "# Plan and team\n## Plan\n- Kick\\_off ([checklist](https://x.example/1))\n## Team\n\nPlan notes here.\n"
    canvas_id = client.conversations_canvases_create(
        channel_id=SHARED, document_content={"type": "markdown", "markdown": md}
    )["canvas_id"]
    ids = {s["markdown"]: s["id"] for s in standin.canvas_sections(canvas_id)}

    def lookup(**criteria: Any) -> list[str]:
        answer = client.canvases_sections_lookup(canvas_id=canvas_id, criteria=criteria)
        return [s["id"] for s in answer["sections"]]

    assert lookup(section_types=["h2"]) == [ids["## Plan"], ids["## Team"]]
    assert lookup(section_types=["any_header"], contains_text="plan") == [
        ids["# Plan and team"],
        ids["## Plan"],
    ]
    assert lookup(section_types=["h1", "h3"]) == [ids["# Plan and team"]]
    # Without a type, text finds any section: list items and paragraphs too, as they show
    # (no escapes, no link targets).
    assert lookup(contains_text="Plan notes") == [ids["Plan notes here."]]
    assert lookup(contains_text="Kick_off (checklist)") == [
        ids["- Kick\\_off ([checklist](https://x.example/1))"]
    ]
    assert lookup(contains_text="x.example") == []
    # A list marker is not text, also one that opens a list inside an item; escaped, it is text.
    end = {"type": "markdown", "markdown": "- 1. Kickoff\n- 2\\. Design\n"}
    client.canvases_edit(
        canvas_id=canvas_id, changes=[{"operation": "insert_at_end", "document_content": end}]
    )
    assert lookup(contains_text="1. Kickoff") == [] and len(lookup(contains_text="Kickoff")) == 1
    assert len(lookup(contains_text="2. Design")) == 1
    assert len(lookup(contains_text="plan")) == 3
    for criteria in ({}, {"section_types": []}, {"section_types": ["h4"]}, {"contains_text": ""}):
        data = refused(client.canvases_sections_lookup, canvas_id=canvas_id, criteria=criteria)
        assert data["error"] == "invalid_arguments", criteria
    assert (
        refused(client.canvases_sections_lookup, canvas_id="Fnope", criteria={"contains_text": "x"})["error"]
        == "canvas_not_found"
    )
    with standin.ws.lock:
        standin.ws.canvases[canvas_id]["deleted"] = True
    assert (
        refused(client.canvases_sections_lookup, canvas_id=canvas_id, criteria={"contains_text": "x"})[
            "error"
        ]
        == "canvas_deleted"
    )


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
    data = refused(client.canvases_sections_lookup, canvas_id="F1", criteria={"contains_text": "x"})
    assert data["needed"] == "canvases:read"
    assert refused(client.pins_add, channel=SHARED, timestamp="1.0")["needed"] == "pins:write"
    assert SLACK_RATE_LIMITS["conversations.canvases.create"] == TIER_2
    assert SLACK_RATE_LIMITS["canvases.edit"] == TIER_3
    assert SLACK_RATE_LIMITS["canvases.sections.lookup"] == TIER_3
    assert SLACK_RATE_LIMITS["pins.add"] == TIER_2
