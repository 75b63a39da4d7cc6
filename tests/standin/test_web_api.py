"""Web API methods through a real slack_sdk WebClient."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standin import SlackStandIn

from .ids import CUSTOMER, CUSTOMER_USER, ENGINEER, INTERNAL, LEAD, SHARED

SECTION = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Phase 1*"}}]


def error_of(call, **kwargs) -> str:
    with pytest.raises(SlackApiError) as info:
        call(**kwargs)
    return info.value.response["error"]


def test_auth_test(client: WebClient) -> None:
    data = client.auth_test().data
    assert data["team_id"] == "T0VENDOR"
    assert data["user_id"] == "U0BOT"
    assert data["bot_id"] == "B0BOT"
    assert data["team"] == "Vendor Inc"
    assert data["url"].startswith("https://") and data["url"].endswith(".slack.com/")


def test_post_message_answers_like_slack_and_is_stored(standin: SlackStandIn, client: WebClient) -> None:
    first = client.chat_postMessage(channel=SHARED, text="Phase 1", blocks=SECTION)
    second = client.chat_postMessage(channel=SHARED, text="again")
    assert first["ok"] and first["channel"] == SHARED
    assert float(second["ts"]) > float(first["ts"])
    assert len(first["ts"].split(".")[1]) == 6
    message = first["message"]
    assert message["user"] == "U0BOT" and message["bot_id"] == "B0BOT" and message["type"] == "message"
    assert message["blocks"][0]["block_id"]  # Slack fills in missing block ids
    stored = standin.messages(SHARED)
    assert [m["text"] for m in stored] == ["Phase 1", "again"]
    assert stored[0]["ts"] == first["ts"] and stored[0]["edited"] is False and stored[0]["deleted"] is False
    assert standin.last_message(SHARED)["ts"] == second["ts"]
    assert standin.message(SHARED, first["ts"])["blocks"][0]["text"]["text"] == "*Phase 1*"
    call = standin.calls_to("chat.postMessage")[0]
    assert call.args["blocks"][0]["type"] == "section" and call.status == 200 and "token" not in call.args


def test_thread_reply_is_kept_with_thread_ts(standin: SlackStandIn, client: WebClient) -> None:
    parent = client.chat_postMessage(channel=SHARED, text="parent")
    reply = client.chat_postMessage(channel=SHARED, text="reply", thread_ts=parent["ts"])
    assert reply["message"]["thread_ts"] == parent["ts"]
    assert standin.message(SHARED, reply["ts"])["thread_ts"] == parent["ts"]


def test_post_message_errors(standin: SlackStandIn, client: WebClient) -> None:
    standin.add_channel("C0NOBOT", name="no-bot", members=[LEAD], bot_member=False)
    standin.add_channel("C0OLD", name="old")
    standin.archive_channel("C0OLD")
    post = client.chat_postMessage
    assert error_of(post, channel="C0MISSING", text="x") == "channel_not_found"
    assert error_of(post, channel="C0NOBOT", text="x") == "not_in_channel"
    assert error_of(post, channel="C0OLD", text="x") == "is_archived"
    with pytest.warns(UserWarning, match="text"):
        assert error_of(post, channel=SHARED, text="") == "no_text"
    assert standin.messages("C0OLD") == [] and standin.messages(SHARED) == []


def test_update_keeps_previous_versions(standin: SlackStandIn, client: WebClient) -> None:
    posted = client.chat_postMessage(channel=SHARED, text="v1", blocks=SECTION)
    updated = client.chat_update(channel=SHARED, ts=posted["ts"], text="v2")
    assert updated["ts"] == posted["ts"] and updated["text"] == "v2"
    stored = standin.message(SHARED, posted["ts"])
    assert stored["edited"] is True and stored["text"] == "v2"
    assert stored["blocks"][0]["text"]["text"] == "*Phase 1*"  # blocks kept when not sent
    assert stored["versions"][0]["text"] == "v1"
    client.chat_update(channel=SHARED, ts=posted["ts"], text="v3", blocks=[])
    assert standin.message(SHARED, posted["ts"])["blocks"] == []
    assert len(standin.message(SHARED, posted["ts"])["versions"]) == 2


def test_update_errors(client: WebClient) -> None:
    posted = client.chat_postMessage(channel=SHARED, text="v1")
    assert error_of(client.chat_update, channel=SHARED, ts="1.000001", text="x") == "message_not_found"
    assert error_of(client.chat_update, channel=SHARED, ts=posted["ts"], text="x" * 4001) == "msg_too_long"


def test_post_ephemeral(standin: SlackStandIn, client: WebClient) -> None:
    answer = client.chat_postEphemeral(channel=SHARED, user=CUSTOMER_USER, text="only you")
    assert answer["message_ts"]
    [eph] = standin.ephemerals(channel=SHARED, user=CUSTOMER_USER)
    assert eph["text"] == "only you" and eph["ts"] == answer["message_ts"]
    assert standin.ephemerals(user=LEAD) == []
    assert standin.messages(SHARED) == []
    err = error_of(client.chat_postEphemeral, channel=INTERNAL, user=CUSTOMER_USER, text="x")
    assert err == "user_not_in_channel"


def test_delete_and_permalink(standin: SlackStandIn, client: WebClient) -> None:
    posted = client.chat_postMessage(channel=SHARED, text="bye")
    link = client.chat_getPermalink(channel=SHARED, message_ts=posted["ts"])
    assert link["permalink"].endswith(f"/archives/{SHARED}/p{posted['ts'].replace('.', '')}")
    assert client.chat_delete(channel=SHARED, ts=posted["ts"])["ts"] == posted["ts"]
    assert standin.message(SHARED, posted["ts"])["deleted"] is True
    assert standin.last_message(SHARED) is None
    assert error_of(client.chat_delete, channel=SHARED, ts=posted["ts"]) == "message_not_found"


def test_users_info(standin: SlackStandIn, client: WebClient) -> None:
    user = client.users_info(user=CUSTOMER_USER)["user"]
    assert user["team_id"] == CUSTOMER and user["real_name"] == "Carla Customer"
    assert user["tz"] == "America/New_York" and user["tz_offset"] in (-18000, -14400)
    assert error_of(client.users_info, user="U0NOBODY") == "user_not_found"
    standin.add_user("U0HIDDEN", name="hidden", team_id=CUSTOMER, visible=False)
    assert error_of(client.users_info, user="U0HIDDEN") == "user_not_visible"


def test_conversations_info_flags(client: WebClient) -> None:
    shared = client.conversations_info(channel=SHARED)["channel"]
    for key in (
        "id",
        "name",
        "is_channel",
        "is_private",
        "is_archived",
        "is_ext_shared",
        "is_shared",
        "is_pending_ext_shared",
        "is_member",
    ):
        assert key in shared
    assert shared["is_ext_shared"] is True and shared["is_shared"] is True and shared["is_member"] is True
    internal = client.conversations_info(channel=INTERNAL)["channel"]
    assert internal["is_ext_shared"] is False and internal["name"] == "internal"
    assert error_of(client.conversations_info, channel="C0NOPE") == "channel_not_found"


def test_conversations_members_paginates(client: WebClient) -> None:
    first = client.conversations_members(channel=SHARED, limit=2)
    cursor = first["response_metadata"]["next_cursor"]
    assert cursor and len(first["members"]) == 2
    rest = client.conversations_members(channel=SHARED, limit=10, cursor=cursor)
    assert first["members"] + rest["members"] == ["U0BOT", LEAD, ENGINEER, CUSTOMER_USER]
    assert rest["response_metadata"]["next_cursor"] == ""


def test_conversations_open_gives_a_dm_that_keeps_messages(standin: SlackStandIn, client: WebClient) -> None:
    opened = client.conversations_open(users=LEAD)
    dm = opened["channel"]["id"]
    assert dm.startswith("D")
    assert client.conversations_open(users=LEAD)["channel"]["id"] == dm
    client.chat_postMessage(channel=dm, text="psst")
    assert standin.messages(dm)[0]["text"] == "psst"
    assert standin.im_channel(LEAD) == dm


def test_conversations_open_refuses_a_person_of_another_organisation(
    standin: SlackStandIn, client: WebClient
) -> None:
    """A Slack Connect customer shares a channel with the bot, yet a DM across organisations is
    up to both organisations' Slack Connect settings: refused unless a test allows it."""
    assert error_of(client.conversations_open, users=CUSTOMER_USER) == "invalid_user_combination"
    assert standin.im_channel(CUSTOMER_USER) is None
    # A colleague of another workspace of the installing Enterprise Grid org is the same organisation.
    standin.set_enterprise("E0VENDOR")
    standin.add_user("U0GRID", name="gina", team_id="T0VENDOR2", enterprise_id="E0VENDOR")
    assert client.conversations_open(users="U0GRID")["ok"] is True
    standin.add_user("U0OTHERGRID", name="otto", team_id=CUSTOMER, enterprise_id="E0CUST")
    assert error_of(client.conversations_open, users="U0OTHERGRID") == "invalid_user_combination"
    # Once Slack allows it (both organisations permit the DM), it opens like any other.
    standin.allow_external_dm(CUSTOMER_USER)
    dm = client.conversations_open(users=CUSTOMER_USER)["channel"]["id"]
    assert dm.startswith("D") and standin.im_channel(CUSTOMER_USER) == dm
    standin.allow_external_dm(CUSTOMER_USER, allowed=False)
    assert error_of(client.conversations_open, users=CUSTOMER_USER) == "invalid_user_combination"


def test_auth_errors_and_unknown_method(standin: SlackStandIn) -> None:
    wrong = WebClient(base_url=standin.api_url, token="xoxb-wrong")
    assert error_of(wrong.auth_test) == "invalid_auth"
    nobody = WebClient(base_url=standin.api_url)
    assert error_of(nobody.auth_test) == "not_authed"
    client = WebClient(base_url=standin.api_url, token="xoxb-test")
    assert error_of(client.api_call, api_method="nope.nothing") == "unknown_method"
    app_token = WebClient(base_url=standin.api_url, token="xapp-1")
    assert error_of(app_token.auth_test) == "not_allowed_token_type"


def test_form_and_get_requests_with_token_param(standin: SlackStandIn) -> None:
    form = urllib.parse.urlencode({"token": "xoxb-test", "channel": SHARED, "text": "form"}).encode()
    with urllib.request.urlopen(f"{standin.api_url}chat.postMessage", data=form, timeout=5) as resp:
        assert resp.status == 200 and json.load(resp)["ok"] is True
    with urllib.request.urlopen(
        f"{standin.api_url}users.info?token=xoxb-test&user={LEAD}", timeout=5
    ) as resp:
        assert json.load(resp)["user"]["id"] == LEAD
    assert standin.last_message(SHARED)["text"] == "form"


def test_stored_blocks_are_as_sent_and_served_with_ids(standin: SlackStandIn, client: WebClient) -> None:
    blocks = [
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Go"}}]}
    ]
    answer = client.chat_postMessage(channel=SHARED, text="go", blocks=blocks)
    assert standin.last_message(SHARED)["blocks"] == blocks
    served = answer["message"]["blocks"][0]
    assert served["block_id"] and served["elements"][0]["action_id"]


def test_post_to_user_id_and_channel_name(standin: SlackStandIn, client: WebClient) -> None:
    to_user = client.chat_postMessage(channel=LEAD, text="dm")
    assert to_user["channel"].startswith("D") and standin.im_channel(LEAD) == to_user["channel"]
    assert client.chat_postMessage(channel="#internal", text="by name")["channel"] == INTERNAL


def test_multipart_requests_are_parsed(standin: SlackStandIn, client: WebClient) -> None:
    with pytest.raises(SlackApiError, match="method_deprecated"):
        client.api_call("files.upload", data={"channels": SHARED, "title": "T"}, files={"file": b"abc"})
    assert standin.calls_to("files.upload")[0].args == {"channels": SHARED, "title": "T"}


def test_fixed_port_and_restart() -> None:
    first = SlackStandIn().start()
    port = first.port
    first.stop()
    with SlackStandIn(port=port) as again:
        assert again.api_url == f"http://127.0.0.1:{port}/api/"
        assert WebClient(base_url=again.api_url, token="xoxb-test").auth_test()["ok"]
    with pytest.raises(RuntimeError):
        again.api_url  # noqa: B018
