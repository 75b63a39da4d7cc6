"""Slack's rate limits in the stand-in: 429 ``ratelimited`` with Retry-After, as Slack answers.

chat.update is Tier 3 (50+ a minute for the workspace, bursts welcome); chat.postMessage allows
about one message a second per channel with short bursts (docs.slack.dev/apis/web-api/rate-limits).
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from standin import SLACK_RATE_LIMITS, RateLimit, SlackStandIn
from standin.ratelimits import TIER_2, TIER_3, TIER_4

from .ids import CUSTOMER_USER, ENGINEER, INTERNAL, LEAD, SHARED


def rate_limited(call, **kwargs) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        call(**kwargs)
    return info.value


def test_slacks_limits_are_on_by_default(standin: SlackStandIn) -> None:
    assert standin.rate_limits == SLACK_RATE_LIMITS
    assert SLACK_RATE_LIMITS["chat.update"] == RateLimit(per_minute=50, burst=50)  # Tier 3, workspace
    post = SLACK_RATE_LIMITS["chat.postMessage"]
    assert (post.per_minute, post.per_channel) == (60, True) and 1 < post.burst <= 10


def test_posting_past_the_burst_in_one_channel_answers_429_and_posts_nothing(
    standin: SlackStandIn, client: WebClient
) -> None:
    burst = SLACK_RATE_LIMITS["chat.postMessage"].burst
    for n in range(burst):
        client.chat_postMessage(channel=SHARED, text=f"burst {n}")
    error = rate_limited(client.chat_postMessage, channel=SHARED, text="one too many")
    assert error.response.status_code == 429
    assert error.response["error"] == "ratelimited" and error.response["ok"] is False
    assert error.response.headers["Retry-After"] == "1"
    assert [m["text"] for m in standin.messages(SHARED)] == [f"burst {n}" for n in range(burst)]
    # Per channel: another channel is not held up.
    assert client.chat_postMessage(channel=INTERNAL, text="elsewhere")["ok"] is True
    [refused] = standin.ratelimited_responses("chat.postMessage")
    assert refused.args["text"] == "one too many" and refused.status == 429
    # A second later the channel takes one more message (about one a second).
    time.sleep(1.05)
    assert client.chat_postMessage(channel=SHARED, text="a second later")["ok"] is True
    rate_limited(client.chat_postMessage, channel=SHARED, text="too soon again")


def test_chat_update_is_limited_for_the_whole_workspace(standin: SlackStandIn, client: WebClient) -> None:
    a = client.chat_postMessage(channel=SHARED, text="a v1")["ts"]
    b = client.chat_postMessage(channel=INTERNAL, text="b v1")["ts"]
    standin.set_rate_limit("chat.update", per_minute=60, burst=2)  # a short window for the test
    client.chat_update(channel=SHARED, ts=a, text="a v2")
    client.chat_update(channel=INTERNAL, ts=b, text="b v2")
    error = rate_limited(client.chat_update, channel=SHARED, ts=a, text="a v3")
    assert (error.response.status_code, error.response["error"]) == (429, "ratelimited")
    assert error.response.headers["Retry-After"] == "1"
    assert standin.message(SHARED, a)["text"] == "a v2", "a refused update changes nothing"
    time.sleep(1.05)
    client.chat_update(channel=SHARED, ts=a, text="a v3")
    assert standin.message(SHARED, a)["text"] == "a v3"


def test_tier_3_allows_a_burst_of_50_updates_then_asks_to_wait(
    standin: SlackStandIn, client: WebClient
) -> None:
    ts = client.chat_postMessage(channel=SHARED, text="v0")["ts"]
    for n in range(50):
        client.chat_update(channel=SHARED, ts=ts, text=f"v{n + 1}")
    error = rate_limited(client.chat_update, channel=SHARED, ts=ts, text="v51")
    # 50 a minute: a token every 1.2 s, counted from the burst's first update; Retry-After is whole
    # seconds, rounded up: 2 when the burst took under 0.2 s, 1 on a loaded machine where it took
    # longer (the wait is what is left of the 1.2 s, never nothing).
    assert error.response.headers["Retry-After"] in ("1", "2")
    assert standin.message(SHARED, ts)["text"] == "v50"


# What each method's page on docs.slack.dev/reference/methods says ("Rate limits: Tier N").
DOCUMENTED_TIERS = {
    "chat.postEphemeral": TIER_4,
    "chat.update": TIER_3,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "conversations.info": TIER_3,
    "conversations.members": TIER_4,
    "conversations.open": TIER_3,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
    "usergroups.users.list": TIER_2,
    "users.info": TIER_4,
    "views.open": TIER_4,
    "views.publish": TIER_4,
    "views.push": TIER_4,
    "views.update": TIER_4,
}


def test_every_method_has_its_documented_tier() -> None:
    for method, tier in DOCUMENTED_TIERS.items():
        assert SLACK_RATE_LIMITS[method] == tier, method
    assert (TIER_2.per_minute, TIER_3.per_minute, TIER_4.per_minute) == (20, 50, 100)
    # Special: "hundreds of requests per minute"; chat.postMessage about one a second per channel.
    assert SLACK_RATE_LIMITS["auth.test"].per_minute >= 200
    assert SLACK_RATE_LIMITS["chat.getPermalink"].per_minute >= 200


def test_every_web_api_method_the_bot_calls_has_a_limit() -> None:
    """The table follows the bot: a method it starts calling without a limit here would never
    meet Slack's 429 in the tests."""
    root = Path(__file__).resolve().parents[2]
    called: set[str] = set()
    for folder in ("bot", "handlers", "golive"):
        for path in (root / folder).rglob("*.py"):
            called |= set(re.findall(r"_call\(\s*\"([a-z]+\.[A-Za-z.]+)\"", path.read_text()))
    assert {"chat.postMessage", "conversations.open", "users.info", "views.publish"} <= called
    # Bolt's token check, and the two steps of slack_sdk's files_upload_v2.
    called |= {"auth.test", "files.getUploadURLExternal", "files.completeUploadExternal"}
    assert sorted(called - set(SLACK_RATE_LIMITS)) == []


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("users_info", {"user": LEAD}),  # Tier 4
        ("conversations_open", {"users": ENGINEER}),  # Tier 3
        ("conversations_info", {"channel": SHARED}),  # Tier 3
        ("chat_postEphemeral", {"channel": SHARED, "user": CUSTOMER_USER, "text": "psst"}),  # Tier 4
    ],
)
def test_a_method_past_its_tier_answers_429_ratelimited_with_retry_after(
    standin: SlackStandIn, client: WebClient, method: str, kwargs: dict
) -> None:
    name = method.replace("_", ".")
    limit = SLACK_RATE_LIMITS[name]
    call = getattr(client, method)
    for _ in range(limit.burst):
        assert call(**kwargs)["ok"] is True
    error = rate_limited(call, **kwargs)
    assert (error.response.status_code, error.response["error"]) == (429, "ratelimited")
    # A token every 60/per_minute seconds: Retry-After rounds what is left of it up.
    assert 1 <= int(error.response.headers["Retry-After"]) <= math.ceil(60 / limit.per_minute)
    [refused] = standin.ratelimited_responses(name)
    assert refused.status == 429


def test_a_limit_can_be_lifted_and_other_methods_are_not_limited(
    standin: SlackStandIn, client: WebClient
) -> None:
    standin.set_rate_limit("chat.postMessage", None)
    posted = [client.chat_postMessage(channel=SHARED, text=f"m{n}")["ts"] for n in range(12)]
    for ts in posted:
        client.chat_delete(channel=SHARED, ts=ts)  # not a method the bot calls: not limited
    assert standin.ratelimited_responses() == []
    assert "chat.postMessage" not in standin.rate_limits


def test_no_limits_when_asked_for_none() -> None:
    with SlackStandIn(bot_token="xoxb-t", rate_limits=None) as s:
        s.add_channel("C0X", name="x")
        client = WebClient(base_url=s.api_url, token="xoxb-t")
        for n in range(8):
            client.chat_postMessage(channel="C0X", text=f"m{n}")
        assert len(s.messages("C0X")) == 8 and s.rate_limits == {}


def test_slack_sdks_rate_limit_handler_waits_out_retry_after(
    standin: SlackStandIn, slept: list[float]
) -> None:
    client = WebClient(
        base_url=standin.api_url,
        token="xoxb-test",
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    burst = SLACK_RATE_LIMITS["chat.postMessage"].burst
    for n in range(burst + 1):
        client.chat_postMessage(channel=SHARED, text=f"m{n}")
    assert len(slept) == 1 and slept[0] >= 1.0, slept  # the last one waited Retry-After
    assert len(standin.messages(SHARED)) == burst + 1
    assert [c.status for c in standin.calls_to("chat.postMessage")][-2:] == [429, 200]


def test_a_limit_needs_a_rate_and_a_burst() -> None:
    with pytest.raises(ValueError):
        RateLimit(per_minute=0)
    with pytest.raises(ValueError):
        RateLimit(per_minute=10, burst=0)
