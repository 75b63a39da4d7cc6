"""Fixtures: a started stand-in with a vendor workspace, a Slack Connect channel and a WebClient."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from slack_sdk import WebClient

from standin import SlackStandIn

from .ids import CUSTOMER, CUSTOMER_USER, ENGINEER, INTERNAL, LEAD, SHARED, VENDOR


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    s = SlackStandIn(
        bot_token="xoxb-test",
        signing_secret="secret",
        team_id=VENDOR,
        team_name="Vendor Inc",
        bot_user_id="U0BOT",
        bot_id="B0BOT",
    )
    s.add_team(CUSTOMER, "Customer Co")
    s.add_user(LEAD, name="lena", real_name="Lena Lead", team_id=VENDOR, tz="Europe/Berlin")
    s.add_user(ENGINEER, name="eli", real_name="Eli Engineer", team_id=VENDOR)
    s.add_user(
        CUSTOMER_USER, name="carla", real_name="Carla Customer", team_id=CUSTOMER, tz="America/New_York"
    )
    s.add_channel(
        SHARED, name="acme-implementation", ext_shared=True, members=[LEAD, ENGINEER, CUSTOMER_USER]
    )
    s.add_channel(INTERNAL, name="internal", members=[LEAD])
    with s:
        yield s


@pytest.fixture
def client(standin: SlackStandIn) -> WebClient:
    return WebClient(base_url=standin.api_url, token="xoxb-test")


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits slack_sdk's retry handlers ask for (and still wait): a Retry-After is checked by
    what the client was told to wait, not by a wall-clock gap between two calls."""
    import slack_sdk.http_retry.builtin_handlers as builtin_handlers

    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(builtin_handlers, "time", SimpleNamespace(sleep=sleep))
    return waits
