"""A Slack Connect invitation's life, played by the driver as the customer's side: accepted
(with or without an admin's approval), approved, declined, run out — and Slack's events, signed,
in the shapes of Slack's reference (docs.slack.dev/reference/events/shared_channel_invite_accepted,
_approved, _declined, channel_shared, member_joined_channel) and of a payload Slack really sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from standin import Delivery, InviteError, SlackDriver, SlackStandIn

from .helpers import RecordingBot, bolt_server, recording_bot
from .ids import CUSTOMER, CUSTOMER_USER, ENGINEER, LEAD, VENDOR

APPROVER, CONTRIBUTOR = "U0APPR", "U0CONTRIB"
ADA, CODY = "ada@acme.example", "cody@acme.example"

# The keys of Slack's examples (each event's reference page; the approved and declined pages
# carry the same invite, channel and team objects as the accepted one).
ACCEPTED_KEYS = {
    "type",
    "approval_required",
    "invite",
    "channel",
    "teams_in_channel",
    "accepting_user",
    "event_ts",
}
APPROVED_KEYS = {
    "type",
    "invite",
    "channel",
    "approving_team_id",
    "teams_in_channel",
    "approving_user",
    "event_ts",
}
DECLINED_KEYS = {
    "type",
    "invite",
    "channel",
    "declining_team_id",
    "teams_in_channel",
    "declining_user",
    "event_ts",
}
INVITE_KEYS = {"id", "date_created", "date_invalid", "inviting_team", "inviting_user"}
CHANNEL_KEYS = {"id", "is_private", "is_im", "name"}
TEAM_KEYS = {"id", "name", "icon", "is_verified", "domain", "date_created"}
USER_KEYS = {"id", "team_id", "name", "updated", "profile"}
PROFILE_KEYS = {"real_name", "display_name", "real_name_normalized", "display_name_normalized", "team"}
CHANNEL_SHARED_KEYS = {"type", "connected_team_id", "channel", "event_ts"}
MEMBER_JOINED_KEYS = {"type", "user", "channel", "channel_type", "team", "event_ts"}


@pytest.fixture
def bot() -> Iterator[RecordingBot]:
    with recording_bot() as recorder:
        yield recorder


@pytest.fixture
def driver(standin: SlackStandIn, bot: RecordingBot) -> SlackDriver:
    standin.add_team(CUSTOMER, "Acme Corp")
    standin.add_user(APPROVER, name="ada", real_name="Ada Approver", team_id=CUSTOMER, email=ADA)
    standin.add_user(CONTRIBUTOR, name="cody", real_name="Cody Contributor", team_id=CUSTOMER, email=CODY)
    return SlackDriver(standin, bot_url=bot.url)


@pytest.fixture
def channel(client: WebClient) -> str:
    made = client.conversations_create(name="ext-acme-implementation")["channel"]["id"]
    client.conversations_invite(channel=made, users=[LEAD, ENGINEER])
    return str(made)


def invite(client: WebClient, channel: str, email: str = ADA, **kwargs: Any) -> str:
    return str(client.conversations_inviteShared(channel=channel, emails=email, **kwargs)["invite_id"])


def received(bot: RecordingBot) -> list[dict[str, Any]]:
    """The envelopes the bot got, each checked to be signed as Slack signs."""
    verifier = SignatureVerifier("secret")
    envelopes = []
    for request in bot.requests:
        assert verifier.is_valid_request(request.body, request.headers)
        assert request.headers["Content-Type"] == "application/json"
        envelopes.append(json.loads(request.body))
    return envelopes


def assert_invite_object(found: dict[str, Any], invite_id: str, standin: SlackStandIn) -> None:
    record = standin.invite(invite_id)
    assert set(found) == INVITE_KEYS | {"recipient_email"}
    assert (found["id"], found["recipient_email"]) == (invite_id, record.email)
    assert (found["date_created"], found["date_invalid"]) == (record.created, record.expires)
    assert found["date_invalid"] - found["date_created"] == 14 * 86400
    assert set(found["inviting_team"]) >= TEAM_KEYS and found["inviting_team"]["id"] == VENDOR
    assert found["inviting_team"]["name"] == "Vendor Inc"
    inviting = found["inviting_user"]
    assert set(inviting) >= USER_KEYS and set(inviting["profile"]) >= PROFILE_KEYS
    assert (inviting["id"], inviting["team_id"]) == ("U0BOT", VENDOR)
    assert inviting["profile"]["email"].endswith("@slack-bots.com")


def test_accepted_without_approval_joins_the_customer(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, bot: RecordingBot, channel: str
) -> None:
    invite_id = invite(client, channel)
    deliveries = driver.accept_invite(invite_id, APPROVER)
    assert [d.type for d in deliveries] == [
        "shared_channel_invite_accepted",
        "channel_shared",
        "member_joined_channel",
    ]
    assert all(d.response is not None and d.response.status == 200 and d.withheld is None for d in deliveries)

    envelopes = received(bot)
    assert [e["event"] for e in envelopes] == [d.event for d in deliveries]
    assert all(e["type"] == "event_callback" and e["team_id"] == VENDOR for e in envelopes)
    # Slack's own accepted payload says the channel was not shared yet when it was sent.
    assert envelopes[0]["is_ext_shared_channel"] is False and envelopes[2]["is_ext_shared_channel"] is True

    accepted, shared, joined = (d.event for d in deliveries)
    assert set(accepted) == ACCEPTED_KEYS and accepted["approval_required"] is False
    assert_invite_object(accepted["invite"], invite_id, standin)
    assert accepted["channel"] == {
        "id": channel,
        "is_private": False,
        "is_im": False,
        "name": "ext-acme-implementation",
    }
    assert set(accepted["channel"]) == CHANNEL_KEYS
    assert [t["id"] for t in accepted["teams_in_channel"]] == [VENDOR, CUSTOMER]
    assert all(set(t) >= TEAM_KEYS for t in accepted["teams_in_channel"])
    user = accepted["accepting_user"]
    assert set(user) >= USER_KEYS and (user["id"], user["team_id"], user["name"]) == (
        APPROVER,
        CUSTOMER,
        "ada",
    )
    assert user["profile"]["real_name"] == "Ada Approver" and user["profile"]["email"] == ADA
    assert float(accepted["event_ts"]) > 0

    assert set(shared) == CHANNEL_SHARED_KEYS
    assert (shared["connected_team_id"], shared["channel"]) == (CUSTOMER, channel)
    assert set(joined) == MEMBER_JOINED_KEYS
    assert (joined["user"], joined["channel"], joined["channel_type"], joined["team"]) == (
        APPROVER,
        channel,
        "C",
        CUSTOMER,
    )

    record = standin.invite(invite_id)
    assert (record.state, record.accepted_by, record.accepting_team, record.joined) == (
        "accepted",
        APPROVER,
        CUSTOMER,
        True,
    )
    info = client.conversations_info(channel=channel)["channel"]
    assert info["is_ext_shared"] is True and info["is_pending_ext_shared"] is False
    assert info["connected_team_ids"] == [VENDOR, CUSTOMER] and info["shared_team_ids"] == [CUSTOMER]
    assert standin.channel(channel).members == ["U0BOT", LEAD, ENGINEER, APPROVER]
    # The customer is now someone the bot shares a channel with.
    person = client.users_info(user=APPROVER)["user"]
    assert person["team_id"] == CUSTOMER and person["is_stranger"] is False


def test_a_second_person_of_the_same_organisation_joins_without_channel_shared(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, channel: str
) -> None:
    first, second = invite(client, channel, ADA), invite(client, channel, CODY)
    driver.accept_invite(first, APPROVER)
    deliveries = driver.accept_invite(second, CONTRIBUTOR)
    assert [d.type for d in deliveries] == ["shared_channel_invite_accepted", "member_joined_channel"]
    assert [t["id"] for t in deliveries[0].event["teams_in_channel"]] == [VENDOR, CUSTOMER]
    assert standin.channel(channel).connected_teams == [VENDOR, CUSTOMER]
    assert [i.state for i in standin.invites(channel)] == ["accepted", "accepted"]


def test_someone_new_to_the_standin_accepts(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver
) -> None:
    channel = client.conversations_create(name="ext-globex")["channel"]["id"]
    invite_id = invite(client, channel, "gina@globex.example")
    deliveries = driver.accept_invite(invite_id, "U0GINA", team_id="T0GLOBEX", name="Gina")
    assert deliveries[0].event["accepting_user"]["team_id"] == "T0GLOBEX"
    assert deliveries[1].event == {
        **deliveries[1].event,
        "type": "channel_shared",
        "connected_team_id": "T0GLOBEX",
    }
    gina = client.users_info(user="U0GINA")["user"]
    assert (gina["team_id"], gina["name"], gina["profile"]["email"]) == (
        "T0GLOBEX",
        "Gina",
        "gina@globex.example",
    )
    assert standin.channel(channel).connected_teams == [VENDOR, "T0GLOBEX"]


def test_approval_required_waits_for_an_admin(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, bot: RecordingBot, channel: str
) -> None:
    invite_id = invite(client, channel)
    deliveries = driver.accept_invite(invite_id, APPROVER, approval_required=True)
    assert [d.type for d in deliveries] == ["shared_channel_invite_accepted"]
    assert deliveries[0].event["approval_required"] is True
    record = standin.invite(invite_id)
    assert record.state == "accepted" and record.awaiting_approval and not record.joined
    # Nobody has joined: the channel is still only pending.
    info = client.conversations_info(channel=channel)["channel"]
    assert info["is_ext_shared"] is False and info["is_pending_ext_shared"] is True
    assert APPROVER not in standin.channel(channel).members

    standin.add_user("U0ADMIN", name="adam", team_id=VENDOR, is_admin=True)
    deliveries = driver.approve_invite(invite_id)
    assert [d.type for d in deliveries] == [
        "shared_channel_invite_approved",
        "channel_shared",
        "member_joined_channel",
    ]
    approved = deliveries[0].event
    assert set(approved) == APPROVED_KEYS and approved["approving_team_id"] == VENDOR
    assert_invite_object(approved["invite"], invite_id, standin)
    assert approved["approving_user"]["id"] == "U0ADMIN" and set(approved["approving_user"]) >= USER_KEYS
    assert [t["id"] for t in approved["teams_in_channel"]] == [VENDOR, CUSTOMER]
    assert deliveries[2].event["user"] == APPROVER
    record = standin.invite(invite_id)
    assert (record.state, record.approved_by, record.approving_team, record.joined) == (
        "approved",
        "U0ADMIN",
        VENDOR,
        True,
    )
    assert [h[0] for h in record.history] == ["sent", "accepted", "approved"]
    assert client.conversations_info(channel=channel)["channel"]["is_ext_shared"] is True
    assert len(bot.requests) == 4
    with pytest.raises(InviteError, match="awaits no approval"):
        driver.approve_invite(invite_id)


def test_approval_by_the_customers_admin(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, channel: str
) -> None:
    invite_id = invite(client, channel, CODY)
    driver.accept_invite(invite_id, CONTRIBUTOR, approval_required=True)
    with pytest.raises(InviteError, match="nobody of T0NOBODY"):
        driver.approve_invite(invite_id, approving_team_id="T0NOBODY")
    with pytest.raises(InviteError, match="belongs to"):
        driver.approve_invite(invite_id, approving_team_id=VENDOR, user=APPROVER)
    deliveries = driver.approve_invite(invite_id, approving_team_id=CUSTOMER, user=APPROVER)
    assert deliveries[0].event["approving_team_id"] == CUSTOMER
    assert deliveries[0].event["approving_user"]["id"] == APPROVER
    assert CONTRIBUTOR in standin.channel(channel).members


def test_declined(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, bot: RecordingBot, channel: str
) -> None:
    invite_id = invite(client, channel)
    (delivery,) = driver.decline_invite(invite_id, APPROVER)
    declined = delivery.event
    assert set(declined) == DECLINED_KEYS and declined["type"] == "shared_channel_invite_declined"
    assert_invite_object(declined["invite"], invite_id, standin)
    assert declined["declining_team_id"] == CUSTOMER and declined["declining_user"]["id"] == APPROVER
    # The declining organisation is not in the channel.
    assert [t["id"] for t in declined["teams_in_channel"]] == [VENDOR]
    assert received(bot)[0]["event"] == declined
    record = standin.invite(invite_id)
    assert (record.state, record.declined_by, record.declining_team) == ("declined", APPROVER, CUSTOMER)
    assert client.conversations_info(channel=channel)["channel"]["is_pending_ext_shared"] is False
    with pytest.raises(InviteError, match="declined"):
        driver.accept_invite(invite_id, APPROVER)
    with pytest.raises(InviteError, match="nothing left to decline"):
        driver.decline_invite(invite_id, APPROVER)


def test_an_approval_refused_is_a_decline(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, channel: str
) -> None:
    invite_id = invite(client, channel)
    driver.accept_invite(invite_id, APPROVER, approval_required=True)
    (delivery,) = driver.decline_invite(invite_id)  # by default the person who accepted
    assert delivery.event["declining_user"]["id"] == APPROVER
    assert standin.invite(invite_id).state == "declined" and APPROVER not in standin.channel(channel).members
    with pytest.raises(InviteError):
        driver.approve_invite(invite_id)


def test_an_expired_invite_cannot_be_accepted(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, bot: RecordingBot, channel: str
) -> None:
    invite_id = invite(client, channel)
    assert standin.invites(channel, state="sent")[0].id == invite_id
    record = standin.expire_invite(invite_id)
    assert record.state == "expired" and standin.invites(channel, state="expired")[0].id == invite_id
    with pytest.raises(InviteError, match="ran out"):
        driver.accept_invite(invite_id, APPROVER)
    assert bot.requests == [] and APPROVER not in standin.channel(channel).members
    assert client.conversations_info(channel=channel)["channel"]["is_pending_ext_shared"] is False
    # Sent again, the new invitation can be accepted.
    again = invite(client, channel)
    assert (
        again != invite_id and client.conversations_info(channel=channel)["channel"]["is_pending_ext_shared"]
    )
    assert driver.accept_invite(again, APPROVER)[0].type == "shared_channel_invite_accepted"
    with pytest.raises(ValueError, match="only a sent invite"):
        standin.expire_invite(again)


def test_invites_run_out_fourteen_days_on_the_connect_clock(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, channel: str
) -> None:
    now = [1_800_000_000.0]
    standin.set_connect_clock(lambda: now[0])
    invite_id = invite(client, channel)
    record = standin.invite(invite_id)
    assert (record.created, record.expires) == (1_800_000_000, 1_800_000_000 + 14 * 86400)
    now[0] += 14 * 86400 - 1
    assert standin.invite(invite_id).state == "sent"
    now[0] += 1
    assert standin.invite(invite_id).state == "expired"
    assert client.conversations_info(channel=channel)["channel"]["is_pending_ext_shared"] is False
    with pytest.raises(InviteError):
        driver.accept_invite(invite_id, APPROVER)
    standin.set_connect_clock(None)


def test_only_the_other_organisation_accepts(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, channel: str
) -> None:
    invite_id = invite(client, channel)
    with pytest.raises(InviteError, match="own organisation"):
        driver.accept_invite(invite_id, LEAD)
    with pytest.raises(InviteError, match="give the team_id"):
        driver.accept_invite(invite_id, "U0UNKNOWN")
    with pytest.raises(InviteError, match="belongs to"):
        driver.accept_invite(invite_id, APPROVER, team_id="T0OTHER")
    by_id = client.conversations_inviteShared(channel=channel, user_ids=CUSTOMER_USER)["invite_id"]
    with pytest.raises(InviteError, match=f"is for {CUSTOMER_USER}"):
        driver.accept_invite(by_id, APPROVER)
    assert standin.invites(channel, state="sent") == standin.invites(channel)
    with pytest.raises(KeyError):
        driver.accept_invite("I0NOPE", APPROVER)


def test_events_the_bots_scopes_do_not_cover_are_withheld(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver, bot: RecordingBot, channel: str
) -> None:
    invite_id, second = invite(client, channel), invite(client, channel, CODY)
    standin.set_scopes({"chat:write", "channels:read"})  # no conversations.connect:read
    deliveries = driver.accept_invite(invite_id, APPROVER)
    assert [(d.type, d.withheld) for d in deliveries] == [
        ("shared_channel_invite_accepted", "conversations.connect:read"),
        ("channel_shared", None),
        ("member_joined_channel", None),
    ]
    assert deliveries[0].response is None
    assert [e["event"]["type"] for e in received(bot)] == ["channel_shared", "member_joined_channel"]
    # The join happened all the same: Slack withholds the event, not the acceptance.
    assert APPROVER in standin.channel(channel).members

    standin.set_scopes({"chat:write", "conversations.connect:read"})
    deliveries = driver.accept_invite(second, CONTRIBUTOR)
    assert [d.withheld for d in deliveries] == [None, "channels:read"]


def test_a_private_channels_events_need_groups_read(
    standin: SlackStandIn, client: WebClient, driver: SlackDriver
) -> None:
    private = client.conversations_create(name="ext-acme-private", is_private=True)["channel"]["id"]
    invite_id = invite(client, private)
    standin.set_scopes({"conversations.connect:read", "channels:read"})
    deliveries = driver.accept_invite(invite_id, APPROVER)
    assert [d.withheld for d in deliveries] == [None, "groups:read", "groups:read"]
    assert deliveries[0].event["channel"]["is_private"] is True


def test_bolt_routes_the_invite_events(standin: SlackStandIn, client: WebClient, channel: str) -> None:
    """A Bolt app's listeners get the events by their type, as golive's will."""
    standin.add_team(CUSTOMER, "Acme Corp")
    standin.add_user(APPROVER, name="ada", team_id=CUSTOMER, email=ADA)
    app = App(client=WebClient(base_url=standin.api_url, token="xoxb-test"), signing_secret="secret")
    seen: list[tuple[str, Any]] = []

    @app.event("shared_channel_invite_accepted")
    def accepted(event: dict[str, Any]) -> None:
        seen.append((event["type"], event["invite"]["id"]))

    @app.event("channel_shared")
    def shared(event: dict[str, Any]) -> None:
        seen.append((event["type"], event["connected_team_id"]))

    @app.event("member_joined_channel")
    def joined(event: dict[str, Any]) -> None:
        seen.append((event["type"], event["user"]))

    invite_id = invite(client, channel)
    with bolt_server(app) as url:
        deliveries: list[Delivery] = SlackDriver(standin, bot_url=url).accept_invite(invite_id, APPROVER)
        assert all(d.response is not None and d.response.status == 200 for d in deliveries)
        standin.wait_for(lambda: len(seen) == 3)
    assert seen == [
        ("shared_channel_invite_accepted", invite_id),
        ("channel_shared", CUSTOMER),
        ("member_joined_channel", APPROVER),
    ]
