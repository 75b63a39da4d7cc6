"""conversations.create, conversations.invite and conversations.inviteShared as Slack documents them.

Each method's page on docs.slack.dev/reference/methods gives its scopes, tier, arguments and
errors (see standin/api_connect.py); these tests hold the stand-in to them: every success, every
error the bot could meet, the one-email rule of inviteShared and Slack's rate limits.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standin import SLACK_RATE_LIMITS, SlackStandIn
from standin.connect import INVITE_LIFETIME
from standin.ratelimits import TIER_2, TIER_3

from .ids import CUSTOMER, CUSTOMER_USER, ENGINEER, INTERNAL, LEAD, SHARED, VENDOR

# The channel object of conversations.create's page (its example answer).
CREATE_EXAMPLE_KEYS = {
    "id",
    "name",
    "is_channel",
    "is_group",
    "is_im",
    "created",
    "creator",
    "is_archived",
    "is_general",
    "unlinked",
    "name_normalized",
    "is_shared",
    "is_ext_shared",
    "is_org_shared",
    "pending_shared",
    "is_pending_ext_shared",
    "is_member",
    "is_private",
    "is_mpim",
    "last_read",
    "latest",
    "unread_count",
    "unread_count_display",
    "topic",
    "purpose",
    "previous_names",
    "priority",
}
CONNECT_SCOPES = {"channels:manage", "groups:write", "conversations.connect:write", "channels:read"}


def refused(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        call(**kwargs)
    data: dict[str, Any] = info.value.response.data
    return data


def error_of(call: Any, **kwargs: Any) -> str:
    return str(refused(call, **kwargs)["error"])


def raw_call(standin: SlackStandIn, method: str, body: dict[str, Any]) -> dict[str, Any]:
    """A JSON call, for arguments slack_sdk would refuse to send (no recipient, a JSON array)."""
    request = urllib.request.Request(
        standin.api_url + method,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer xoxb-test"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        answer: dict[str, Any] = json.loads(resp.read())
    return answer


def new_channel(client: WebClient, name: str = "ext-acme-implementation", **kwargs: Any) -> str:
    return str(client.conversations_create(name=name, **kwargs)["channel"]["id"])


# ----- conversations.create


def test_create_makes_a_channel_the_bot_is_in_and_not_yet_shared(
    standin: SlackStandIn, client: WebClient
) -> None:
    answer = client.conversations_create(name="ext-acme-implementation", team_id=VENDOR)
    channel = answer["channel"]
    assert set(channel) >= CREATE_EXAMPLE_KEYS
    assert channel["id"].startswith("C") and channel["name"] == "ext-acme-implementation"
    assert channel["is_member"] is True and channel["creator"] == "U0BOT"
    assert channel["is_channel"] is True and channel["is_private"] is False
    assert not channel["is_shared"] and not channel["is_ext_shared"] and not channel["is_pending_ext_shared"]
    assert standin.channel(channel["id"]).members == ["U0BOT"]
    info = client.conversations_info(channel=channel["id"])["channel"]
    assert info["name"] == "ext-acme-implementation" and info["is_member"] is True
    assert [c.id for c in standin.created_channels()] == [channel["id"]]
    # The bot may post at once in the channel it created.
    assert client.chat_postMessage(channel=channel["id"], text="Welcome")["ok"]


def test_create_a_private_channel(standin: SlackStandIn, client: WebClient) -> None:
    channel = client.conversations_create(name="acme-private-room", is_private=True)["channel"]
    assert channel["is_private"] is True and channel["is_group"] is True and channel["is_channel"] is False
    assert standin.channel(channel["id"]).is_private


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("a" * 81, "invalid_name_maxlength"),
        ("---", "invalid_name_punctuation"),
        ("_-_", "invalid_name_punctuation"),
        ("Acme", "invalid_name_specials"),
        ("acme corp", "invalid_name_specials"),
        ("#acme", "invalid_name_specials"),
        ("acme.corp", "invalid_name_specials"),
        ("café", "invalid_name_specials"),
    ],
)
def test_create_names_follow_slacks_rules(
    standin: SlackStandIn, client: WebClient, name: str, error: str
) -> None:
    assert error_of(client.conversations_create, name=name) == error
    assert standin.created_channels() == []


def test_create_accepts_every_allowed_character_up_to_80(client: WebClient) -> None:
    assert client.conversations_create(name="a" * 80)["ok"]
    assert client.conversations_create(name="ext-acme_2026-q4")["ok"]


def test_name_taken_by_any_channel_archived_or_private(standin: SlackStandIn, client: WebClient) -> None:
    assert error_of(client.conversations_create, name="acme-implementation") == "name_taken"
    standin.add_channel("C0OLD", name="old-acme", members=[LEAD])
    standin.archive_channel("C0OLD")
    assert error_of(client.conversations_create, name="old-acme") == "name_taken"
    standin.add_channel("C0SECRET", name="secret-acme", private=True, members=[LEAD], bot_member=False)
    assert error_of(client.conversations_create, name="secret-acme") == "name_taken"
    new_channel(client, "ext-acme")
    assert error_of(client.conversations_create, name="ext-acme", is_private=True) == "name_taken"
    assert len(standin.created_channels()) == 1


def test_create_refused_by_a_workspace_preference(standin: SlackStandIn, client: WebClient) -> None:
    standin.set_connect_policy(channel_creation_allowed=False)
    assert error_of(client.conversations_create, name="ext-acme") == "restricted_action"
    standin.set_connect_policy()
    assert client.conversations_create(name="ext-acme")["ok"]


# ----- scopes


def test_each_method_needs_its_documented_scope(standin: SlackStandIn, client: WebClient) -> None:
    standin.set_scopes({"chat:write"})
    data = refused(client.conversations_create, name="ext-acme")
    assert (data["error"], data["needed"]) == ("missing_scope", "channels:manage")
    data = refused(client.conversations_create, name="ext-acme", is_private=True)
    assert (data["error"], data["needed"]) == ("missing_scope", "groups:write")
    assert (
        refused(client.conversations_invite, channel=INTERNAL, users=ENGINEER)["needed"] == "channels:manage"
    )
    data = refused(client.conversations_inviteShared, channel=SHARED, emails="ada@acme.example")
    assert (data["error"], data["needed"]) == ("missing_scope", "conversations.connect:write")
    assert standin.created_channels() == [] and standin.invites() == []
    assert standin.channel(INTERNAL).members == ["U0BOT", LEAD]

    standin.set_scopes({"channels:manage"})
    assert client.conversations_create(name="ext-acme")["ok"]
    standin.set_scopes({"groups:write"})
    private = client.conversations_create(name="ext-acme-private", is_private=True)["channel"]["id"]
    assert client.conversations_invite(channel=private, users=LEAD)["ok"]
    # conversations.invite also takes the narrower invite scopes its page lists.
    standin.set_scopes({"channels:write.invites"})
    assert client.conversations_invite(channel=INTERNAL, users=ENGINEER)["ok"]
    standin.set_scopes({"channels:manage"})
    assert refused(client.conversations_invite, channel=private, users=ENGINEER)["needed"] == "groups:write"
    standin.set_scopes({"conversations.connect:write"})
    assert client.conversations_inviteShared(channel=SHARED, emails="ada@acme.example")["ok"]


def test_rate_limits_are_the_documented_tiers(standin: SlackStandIn, client: WebClient) -> None:
    assert SLACK_RATE_LIMITS["conversations.create"] == TIER_2
    assert SLACK_RATE_LIMITS["conversations.invite"] == TIER_3
    assert SLACK_RATE_LIMITS["conversations.inviteShared"] == TIER_2
    # Tier 2 takes a burst of five: a sixth invitation at once is answered 429.
    client.retry_handlers.clear()
    channel = new_channel(client)
    for n in range(TIER_2.burst):
        assert client.conversations_inviteShared(channel=channel, emails=f"person{n}@acme.example")["ok"]
    with pytest.raises(SlackApiError) as info:
        client.conversations_inviteShared(channel=channel, emails="one-too-many@acme.example")
    assert info.value.response.status_code == 429 and int(info.value.response.headers["Retry-After"]) >= 1
    assert len(standin.invites(channel)) == TIER_2.burst
    assert len(standin.ratelimited_responses("conversations.inviteShared")) == 1


# ----- conversations.invite


def test_invite_adds_people_of_the_workspace(standin: SlackStandIn, client: WebClient) -> None:
    channel = new_channel(client)
    answer = client.conversations_invite(channel=channel, users=[LEAD, ENGINEER])
    assert answer["ok"] and answer["channel"]["id"] == channel and "errors" not in answer
    assert standin.channel(channel).members == ["U0BOT", LEAD, ENGINEER]
    assert answer["channel"]["num_members"] == 3


def test_invite_refuses_the_whole_call_when_one_person_fails(
    standin: SlackStandIn, client: WebClient
) -> None:
    channel = new_channel(client)
    data = refused(client.conversations_invite, channel=channel, users=f"{LEAD},U0NOBODY,U0BOT")
    assert data["error"] == "user_not_found"
    assert data["errors"] == [
        {"user": "U0NOBODY", "ok": False, "error": "user_not_found"},
        {"user": "U0BOT", "ok": False, "error": "cant_invite_self"},
    ]
    assert standin.channel(channel).members == ["U0BOT"]
    # force: the valid ones are invited, the others listed.
    answer = client.conversations_invite(channel=channel, users=f"{LEAD},U0NOBODY", force=True)
    assert answer["ok"] and answer["errors"] == [{"user": "U0NOBODY", "ok": False, "error": "user_not_found"}]
    assert standin.channel(channel).members == ["U0BOT", LEAD]


def test_invite_people_already_in(standin: SlackStandIn, client: WebClient) -> None:
    channel = new_channel(client)
    client.conversations_invite(channel=channel, users=LEAD)
    data = refused(client.conversations_invite, channel=channel, users=LEAD)
    assert data["error"] == "already_in_channel"
    assert data["errors"] == [{"user": LEAD, "ok": False, "error": "already_in_channel"}]
    answer = client.conversations_invite(channel=channel, users=[LEAD, ENGINEER])
    assert answer["ok"] and answer["errors"] == [{"user": LEAD, "ok": False, "error": "already_in_channel"}]
    assert standin.channel(channel).members == ["U0BOT", LEAD, ENGINEER]
    assert error_of(client.conversations_invite, channel=channel, users="U0BOT") == "cant_invite_self"


def test_invite_channel_errors(standin: SlackStandIn, client: WebClient) -> None:
    assert error_of(client.conversations_invite, channel="C0NOPE", users=LEAD) == "channel_not_found"
    standin.add_channel("C0HIDDEN", name="hidden", private=True, members=[LEAD], bot_member=False)
    assert error_of(client.conversations_invite, channel="C0HIDDEN", users=ENGINEER) == "channel_not_found"
    standin.add_channel("C0LOBBY", name="lobby", members=[LEAD], bot_member=False)
    assert error_of(client.conversations_invite, channel="C0LOBBY", users=ENGINEER) == "not_in_channel"
    dm = standin.open_im(LEAD)
    assert (
        error_of(client.conversations_invite, channel=dm, users=ENGINEER)
        == "method_not_supported_for_channel_type"
    )
    channel = new_channel(client)
    assert error_of(client.conversations_invite, channel=channel, users="") == "no_user"
    too_many = ",".join(f"U{n:08d}" for n in range(101))
    assert error_of(client.conversations_invite, channel=channel, users=too_many) == "too_many_users"
    standin.archive_channel(channel)
    assert error_of(client.conversations_invite, channel=channel, users=LEAD) == "is_archived"
    assert standin.channel(channel).members == ["U0BOT"]


def test_invite_keeps_other_organisations_and_guests_out(standin: SlackStandIn, client: WebClient) -> None:
    channel = new_channel(client)
    # The customer joins through Slack Connect, never conversations.invite.
    assert error_of(client.conversations_invite, channel=channel, users=CUSTOMER_USER) == "cant_invite"
    standin.add_user("U0CUST2", name="cody", team_id=CUSTOMER)
    assert (
        error_of(client.conversations_invite, channel=SHARED, users="U0CUST2")
        == "no_external_invite_permission"
    )
    standin.add_user("U0GUEST", name="gus", guest="single")
    standin.add_member(INTERNAL, "U0GUEST")
    assert error_of(client.conversations_invite, channel=channel, users="U0GUEST") == "ura_max_channels"
    assert standin.channel(channel).members == ["U0BOT"]


# ----- conversations.inviteShared


def test_invite_shared_by_email(standin: SlackStandIn, client: WebClient) -> None:
    channel = new_channel(client)
    client.conversations_invite(channel=channel, users=LEAD)
    answer = client.conversations_inviteShared(channel=channel, emails="ada@acme.example")
    assert answer.data == {"ok": True, "invite_id": answer["invite_id"], "is_legacy_shared_channel": False}
    assert answer["invite_id"].startswith("I")
    (invite,) = standin.invites(channel)
    assert invite.id == answer["invite_id"] and invite.state == "sent"
    assert (invite.email, invite.user_id, invite.external_limited) == ("ada@acme.example", None, True)
    assert (
        invite.inviting_user == "U0BOT" and invite.expires - invite.created == INVITE_LIFETIME == 14 * 86400
    )
    assert standin.invite(invite.id) == invite
    # A channel not yet shared becomes pending; it is not shared until someone joins.
    info = client.conversations_info(channel=channel)["channel"]
    assert info["is_pending_ext_shared"] is True and info["is_ext_shared"] is False
    assert [c.args for c in standin.calls_to("conversations.inviteShared")] == [
        {"channel": channel, "emails": "ada@acme.example"}
    ]


def test_invite_shared_external_limited(standin: SlackStandIn, client: WebClient) -> None:
    channel = new_channel(client)
    limited = client.conversations_inviteShared(channel=channel, emails="ada@acme.example")
    assert "url" not in limited.data and "conf_code" not in limited.data
    full = client.conversations_inviteShared(
        channel=channel, emails="cody@acme.example", external_limited=False
    )
    assert full["url"].startswith("https://") and full["conf_code"]
    assert [i.external_limited for i in standin.invites(channel)] == [True, False]


def test_invite_shared_one_person_per_call(standin: SlackStandIn, client: WebClient) -> None:
    channel = new_channel(client)
    two = ["ada@acme.example", "cody@acme.example"]
    assert error_of(client.conversations_inviteShared, channel=channel, emails=two) == "too_many_emails"
    assert raw_call(standin, "conversations.inviteShared", {"channel": channel, "emails": two})["error"] == (
        "too_many_emails"
    )
    standin.add_user("U0CUST2", name="cody", team_id=CUSTOMER)
    users = [CUSTOMER_USER, "U0CUST2"]
    assert error_of(client.conversations_inviteShared, channel=channel, user_ids=users) == "invalid_arguments"
    both = {"channel": channel, "emails": "ada@acme.example", "user_ids": "U0CUST2"}
    assert error_of(client.conversations_inviteShared, **both) == "invalid_arguments"
    # slack_sdk will not send a call without either; Slack: bots must name whom they invite.
    answer = raw_call(standin, "conversations.inviteShared", {"channel": channel})
    assert answer == {"ok": False, "error": "recipients_not_specified"}
    assert standin.invites() == []


def test_invite_shared_by_user_id(standin: SlackStandIn, client: WebClient) -> None:
    channel = new_channel(client)
    # Carla's organisation already shares a channel with the vendor: she is known to the app.
    answer = client.conversations_inviteShared(channel=channel, user_ids=CUSTOMER_USER)
    (invite,) = standin.invites(channel)
    assert invite.id == answer["invite_id"] and (invite.user_id, invite.email) == (CUSTOMER_USER, None)
    # Already in the channel; unknown; of an organisation that shares nothing; of the workspace.
    assert error_of(client.conversations_inviteShared, channel=SHARED, user_ids=CUSTOMER_USER) == (
        "already_in_channel"
    )
    assert (
        error_of(client.conversations_inviteShared, channel=channel, user_ids="U0NOBODY") == "user_not_found"
    )
    standin.add_user("U0STRANGER", name="sam", team_id="T0ELSEWHERE")
    assert (
        error_of(client.conversations_inviteShared, channel=channel, user_ids="U0STRANGER")
        == "user_not_found"
    )
    assert error_of(client.conversations_inviteShared, channel=channel, user_ids=LEAD) == "invalid_arguments"
    assert len(standin.invites()) == 1


def test_invite_shared_email_errors(standin: SlackStandIn, client: WebClient) -> None:
    channel = new_channel(client)
    for bad in ("not-an-email", "ada@", "ada acme@example.com"):
        assert error_of(client.conversations_inviteShared, channel=channel, emails=bad) == "invalid_email", (
            bad
        )
    standin.add_user("U0CUST3", name="dora", team_id=CUSTOMER, email="dora@acme.example")
    standin.add_member(SHARED, "U0CUST3")
    assert error_of(client.conversations_inviteShared, channel=SHARED, emails="dora@acme.example") == (
        "already_in_channel"
    )
    assert standin.invites() == []


def test_invite_shared_channel_errors(standin: SlackStandIn, client: WebClient) -> None:
    standin.set_rate_limit("conversations.inviteShared", None)  # more calls than Tier 2's burst

    def error(channel: str) -> str:
        return error_of(client.conversations_inviteShared, channel=channel, emails="ada@acme.example")

    assert error("C0NOPE") == "channel_not_found"
    assert error(standin.open_im(LEAD)) == "invalid_channel_type"
    standin.add_channel("C0LOBBY", name="lobby", members=[LEAD], bot_member=False)
    assert error("C0LOBBY") == "not_in_channel"
    standin.add_channel("C0GENERAL", name="general", members=[LEAD], general=True)
    assert error("C0GENERAL") == "cannot_share_mandatory_channel"
    standin.add_channel("C0ORGWIDE", name="org-wide", members=[LEAD])
    standin.share_within_org("C0ORGWIDE", "T0SISTER")
    assert error("C0ORGWIDE") == "cannot_share_cross_workspace_channel"
    standin.add_channel(
        "C0THEIRS", name="their-channel", team_id=CUSTOMER, ext_shared=True, members=[CUSTOMER_USER]
    )
    assert error("C0THEIRS") == "not_owner"
    channel = new_channel(client)
    standin.archive_channel(channel)
    assert error(channel) == "channel_archived"
    assert standin.invites() == []


@pytest.mark.parametrize("code", ["not_paid", "restricted_action", "not_allowed_for_grid_workspace"])
def test_invite_shared_refused_by_the_workspace(standin: SlackStandIn, client: WebClient, code: str) -> None:
    channel = new_channel(client)
    standin.set_connect_refusal(code)
    assert error_of(client.conversations_inviteShared, channel=channel, emails="ada@acme.example") == code
    # The arguments are checked first: a bad call stays a bad call.
    assert error_of(client.conversations_inviteShared, channel=channel, emails="nope") == "invalid_email"
    assert standin.invites() == [] and not standin.channel(channel).is_pending_ext_shared
    standin.set_connect_refusal(None)
    assert client.conversations_inviteShared(channel=channel, emails="ada@acme.example")["ok"]


def test_invite_shared_type_the_admins_do_not_allow(standin: SlackStandIn, client: WebClient) -> None:
    channel = new_channel(client)
    standin.set_connect_policy(full_invites_allowed=False)
    assert standin.connect_policy.full_invites_allowed is False
    data = refused(
        client.conversations_inviteShared, channel=channel, emails="ada@acme.example", external_limited=False
    )
    assert data["error"] == "restricted_action"
    assert client.conversations_inviteShared(channel=channel, emails="ada@acme.example")["ok"]
    standin.set_connect_policy(limited_invites_allowed=False)
    assert error_of(client.conversations_inviteShared, channel=channel, emails="cody@acme.example") == (
        "restricted_action"
    )
    assert len(standin.invites()) == 1


def test_invite_shared_connection_limit(standin: SlackStandIn, client: WebClient) -> None:
    standin.set_connect_policy(max_organisations=2)
    # The shared channel already connects the vendor and the customer.
    assert error_of(client.conversations_inviteShared, channel=SHARED, emails="pat@partner.example") == (
        "connection_limit_exceeded"
    )
    # Someone more of an organisation already in the channel takes no new connection.
    standin.add_user("U0CUST2", name="cody", team_id=CUSTOMER)
    assert client.conversations_inviteShared(channel=SHARED, user_ids="U0CUST2")["ok"]
    assert [i.user_id for i in standin.invites(SHARED)] == ["U0CUST2"]


def test_the_channel_set_up_goes_through_with_the_scopes_issue_27_adds(
    standin: SlackStandIn, client: WebClient
) -> None:
    """With the scopes issue 27 adds to the manifest, the whole channel set-up goes through."""
    standin.set_scopes(CONNECT_SCOPES | {"chat:write"})
    channel = new_channel(client)
    client.conversations_invite(channel=channel, users=[LEAD, ENGINEER])
    client.conversations_inviteShared(channel=channel, emails="ada@acme.example")
    assert standin.missing_scope_responses() == []
    assert {c.method for c in standin.calls} == {
        "conversations.create",
        "conversations.invite",
        "conversations.inviteShared",
    }


# ----- users.lookupByEmail: a deal's lead given by email


def test_lookup_by_email_finds_people_of_the_workspace_only(standin: SlackStandIn, client: WebClient) -> None:
    standin.add_user("U0LENA", name="lena2", email="lena@vendor.example")
    standin.add_user("U0ADA", name="ada", team_id=CUSTOMER, email="ada@acme.example")
    standin.add_user("U0GONE", name="gone", email="gone@vendor.example")
    standin.ws.users["U0GONE"].deleted = True
    user = client.users_lookupByEmail(email="Lena@Vendor.example")["user"]
    assert (user["id"], user["profile"]["email"]) == ("U0LENA", "lena@vendor.example")
    for email in ("ada@acme.example", "gone@vendor.example", "nobody@vendor.example"):
        assert error_of(client.users_lookupByEmail, email=email) == "users_not_found", email
    assert SLACK_RATE_LIMITS["users.lookupByEmail"] == TIER_3
    standin.set_scopes({"users:read"})
    data = refused(client.users_lookupByEmail, email="lena@vendor.example")
    assert (data["error"], data["needed"]) == ("missing_scope", "users:read.email")
