"""Fault injection, and slack_sdk's retry handlers against it."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from standin import SlackStandIn

from .ids import SHARED


def test_429_is_retried_by_rate_limit_handler_after_retry_after(
    standin: SlackStandIn, slept: list[float]
) -> None:
    client = WebClient(
        base_url=standin.api_url,
        token="xoxb-test",
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    standin.fail_next("chat.postMessage", status=429, retry_after=1)
    answer = client.chat_postMessage(channel=SHARED, text="eventually")
    assert answer["ok"] is True
    assert len(slept) == 1 and slept[0] >= 1.0, slept  # honoured Retry-After
    first, second = standin.calls_to("chat.postMessage")
    assert (first.status, first.response["error"]) == (429, "ratelimited")
    assert second.status == 200
    assert [m["text"] for m in standin.messages(SHARED)] == ["eventually"]


def test_429_without_retry_handler_surfaces_ratelimited(standin: SlackStandIn, client: WebClient) -> None:
    standin.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=SHARED, text="x")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"
    assert info.value.response["error"] == "ratelimited"


def test_503_is_retried_by_server_error_handler(standin: SlackStandIn) -> None:
    handler = ServerErrorRetryHandler(
        max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
    )
    client = WebClient(base_url=standin.api_url, token="xoxb-test", retry_handlers=[handler])
    standin.fail_next("conversations.info", status=503, times=2)
    assert client.conversations_info(channel=SHARED)["channel"]["id"] == SHARED
    assert [c.status for c in standin.calls_to("conversations.info")] == [503, 503, 200]


def test_500_surfaces_without_handler(standin: SlackStandIn, client: WebClient) -> None:
    standin.fail_next("users.info", status=500)
    with pytest.raises(SlackApiError) as info:
        client.users_info(user="U0LEAD")
    assert info.value.response.status_code == 500
    assert client.users_info(user="U0LEAD")["ok"] is True


def test_error_at_http_200_for_n_calls(standin: SlackStandIn, client: WebClient) -> None:
    standin.fail_next("chat.update", error="cant_update_message", times=2)
    posted = client.chat_postMessage(channel=SHARED, text="v1")
    for _ in range(2):
        with pytest.raises(SlackApiError) as info:
            client.chat_update(channel=SHARED, ts=posted["ts"], text="v2")
        assert info.value.response.status_code == 200
        assert info.value.response["error"] == "cant_update_message"
    client.chat_update(channel=SHARED, ts=posted["ts"], text="v2")
    assert standin.last_message(SHARED)["text"] == "v2"
    assert [c.response["ok"] for c in standin.calls_to("chat.update")] == [False, False, True]
