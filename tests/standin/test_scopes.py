"""OAuth scopes: every Web API method is checked against the scope Slack documents for it.

Scopes per method are from Slack's method reference (docs.slack.dev/reference/methods/…, "Scopes,
Bot token"): chat.postMessage/update/postEphemeral/delete → chat:write; users.info → users:read;
conversations.info and .members → channels:read / groups:read / im:read / mpim:read by conversation
type; conversations.history → the matching :history scope; conversations.open → im:write for a DM;
files.getUploadURLExternal / completeUploadExternal → files:write; auth.test, views.* and
chat.getPermalink need none.
"""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standin import SlackStandIn

from .ids import CUSTOMER, CUSTOMER_USER, ENGINEER, INTERNAL, LEAD, SHARED, VENDOR

MANIFEST = frozenset(
    {
        "commands",
        "chat:write",
        "users:read",
        "channels:read",
        "groups:read",
        "im:write",
        "files:write",
        "channels:history",
        "groups:history",
    }
)
PRIVATE, LOBBY = "C0PRIVATE", "C0LOBBY"


@pytest.fixture
def scoped(standin: SlackStandIn) -> SlackStandIn:
    standin.set_scopes(MANIFEST)
    standin.add_channel(PRIVATE, name="acme-private", private=True, members=[LEAD])
    standin.add_channel(LOBBY, name="lobby", members=[LEAD], bot_member=False)
    return standin


def refused(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        call(**kwargs)
    return info.value.response.data


def missing(scoped: SlackStandIn, call: Any, needed: str, **kwargs: Any) -> None:
    data = refused(call, **kwargs)
    assert data == {
        "ok": False,
        "error": "missing_scope",
        "needed": needed,
        "provided": ",".join(sorted(scoped.scopes or ())),
    }


def test_without_scopes_nothing_is_checked(standin: SlackStandIn, client: WebClient) -> None:
    assert standin.scopes is None
    dm = client.conversations_open(users=LEAD)["channel"]["id"]
    assert client.conversations_info(channel=dm)["channel"]["is_im"] is True
    assert standin.missing_scope_responses() == []


def test_each_method_needs_its_documented_scope(scoped: SlackStandIn, client: WebClient) -> None:
    scoped.set_scopes(set())
    missing(scoped, client.chat_postMessage, "chat:write", channel=SHARED, text="hi")
    missing(scoped, client.chat_postEphemeral, "chat:write", channel=SHARED, user=LEAD, text="hi")
    missing(scoped, client.chat_update, "chat:write", channel=SHARED, ts="1.000001", text="hi")
    missing(scoped, client.chat_delete, "chat:write", channel=SHARED, ts="1.000001")
    missing(scoped, client.users_info, "users:read", user=LEAD)
    missing(scoped, client.conversations_open, "im:write", users=LEAD)
    missing(scoped, client.files_getUploadURLExternal, "files:write", filename="a.csv", length=3)
    assert scoped.messages(SHARED) == []
    # Methods Slack documents without a scope.
    assert client.auth_test()["user_id"] == "U0BOT"
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": [{"type": "divider"}]}
    assert client.views_open(trigger_id=scoped.issue_trigger(LEAD), view=view)["ok"]
    assert client.views_publish(user_id=LEAD, view={"type": "home", "blocks": [{"type": "divider"}]})["ok"]
    assert len(scoped.missing_scope_responses()) == 7


def test_the_manifest_scopes_cover_what_the_bot_does(scoped: SlackStandIn, client: WebClient) -> None:
    posted = client.chat_postMessage(channel=SHARED, text="hello")
    client.chat_update(channel=SHARED, ts=posted["ts"], text="hello again")
    client.chat_postEphemeral(channel=SHARED, user=CUSTOMER_USER, text="just you")
    assert client.users_info(user=CUSTOMER_USER)["user"]["team_id"] == CUSTOMER
    assert client.conversations_info(channel=SHARED)["channel"]["is_ext_shared"] is True
    assert client.conversations_info(channel=PRIVATE)["channel"]["is_private"] is True
    dm = client.conversations_open(users=LEAD)["channel"]["id"]
    client.chat_postMessage(channel=dm, text="a DM")
    assert client.conversations_history(channel=SHARED)["messages"][0]["text"] == "hello again"
    assert client.conversations_history(channel=PRIVATE)["messages"] == []
    assert scoped.missing_scope_responses() == []


def test_conversation_scopes_depend_on_the_conversation_type(scoped: SlackStandIn, client: WebClient) -> None:
    dm = client.conversations_open(users=LEAD)["channel"]["id"]
    # A DM needs im:read, which the manifest does not ask for: /golive in a DM must not call it.
    missing(scoped, client.conversations_info, "im:read", channel=dm)
    missing(scoped, client.conversations_members, "im:read", channel=dm)
    missing(scoped, client.conversations_history, "im:history", channel=dm)
    scoped.set_scopes(MANIFEST - {"channels:read", "groups:history"})
    missing(scoped, client.conversations_info, "channels:read", channel=SHARED)
    missing(scoped, client.conversations_history, "groups:history", channel=PRIVATE)
    assert client.conversations_info(channel=PRIVATE)["channel"]["id"] == PRIVATE  # groups:read
    scoped.set_scopes(MANIFEST | {"im:read", "im:history"})
    assert client.conversations_info(channel=dm)["channel"]["is_im"] is True
    assert client.conversations_history(channel=dm)["messages"] == []
    assert len(scoped.missing_scope_responses()) == 5


def test_unknown_channel_is_not_found_before_any_scope(scoped: SlackStandIn, client: WebClient) -> None:
    assert refused(client.conversations_info, channel="C0NOPE")["error"] == "channel_not_found"


# -- chat.postMessage where the bot is not a member -----------------------------------------
# chat:write.public: "Send messages to channels your Slack app isn't a member of" (public channels;
# "To use this scope, your app must also request chat:write"). Private channels and DMs always
# need membership; without the scope a public channel answers not_in_channel.
def test_posting_where_the_bot_is_not_a_member(scoped: SlackStandIn, client: WebClient) -> None:
    assert refused(client.chat_postMessage, channel=LOBBY, text="hi")["error"] == "not_in_channel"
    scoped.add_channel("C0SECRET", name="secret", private=True, members=[LEAD], bot_member=False)
    assert refused(client.chat_postMessage, channel="C0SECRET", text="hi")["error"] == "channel_not_found"
    scoped.set_scopes(MANIFEST | {"chat:write.public"})
    assert client.chat_postMessage(channel=LOBBY, text="hi")["channel"] == LOBBY
    assert refused(client.chat_postMessage, channel="C0SECRET", text="hi")["error"] == "channel_not_found"
    # chat:write.public is for chat.postMessage only: ephemeral messages still need membership.
    data = refused(client.chat_postEphemeral, channel=LOBBY, user=LEAD, text="psst")
    assert data["error"] == "not_in_channel"
    # Removed from a channel, the bot cannot post there without the scope.
    scoped.set_scopes(MANIFEST)
    scoped.remove_member(SHARED, "U0BOT")
    assert refused(client.chat_postMessage, channel=SHARED, text="hi")["error"] == "not_in_channel"
    assert [m["text"] for m in scoped.messages(LOBBY)] == ["hi"]


# -- users.info: external members of a Slack Connect channel --------------------------------
# docs.slack.dev/apis/slack-connect, "External members": their team_id (and profile.team) is their
# home workspace; is_stranger is true when the app shares no channel with them; no locale;
# email needs users:read.email besides users:read.
def test_users_info_of_an_external_member(scoped: SlackStandIn, client: WebClient) -> None:
    scoped.add_user("U0STRANGER", name="sid", team_id=CUSTOMER, email="sid@customer.example")
    scoped.add_user("U0MAIL", name="mo", team_id=VENDOR, email="mo@vendor.example")
    member = client.users_info(user=CUSTOMER_USER, include_locale=True)["user"]
    assert member["team_id"] == CUSTOMER and member["profile"]["team"] == CUSTOMER
    assert member["is_stranger"] is False  # shares the Slack Connect channel with the bot
    assert "locale" not in member and member["real_name"] == "Carla Customer"
    stranger = client.users_info(user="U0STRANGER")["user"]
    assert stranger["is_stranger"] is True and stranger["team_id"] == CUSTOMER
    colleague = client.users_info(user=ENGINEER, include_locale=True)["user"]
    assert colleague["team_id"] == VENDOR and "is_stranger" not in colleague
    assert colleague["locale"] == "en-US"
    assert "email" not in client.users_info(user="U0MAIL")["user"]["profile"]
    scoped.set_scopes(MANIFEST | {"users:read.email"})
    assert client.users_info(user="U0MAIL")["user"]["profile"]["email"] == "mo@vendor.example"
    scoped.remove_member(SHARED, CUSTOMER_USER)
    assert client.users_info(user=CUSTOMER_USER)["user"]["is_stranger"] is True


def test_internal_channel_fixture_is_public_and_joined(scoped: SlackStandIn, client: WebClient) -> None:
    # The vendor's own channel: readable with channels:read and channels:history.
    assert client.conversations_info(channel=INTERNAL)["channel"]["is_member"] is True
    assert client.conversations_history(channel=INTERNAL)["ok"] is True
