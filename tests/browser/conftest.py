"""Fixtures for the sandbox tests: the sandbox page on a loopback port, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from sandbox.harness import BOT_TOKEN
from sandbox.main import SandboxServer
from tests.conftest import DEFAULT_NOW


@pytest.fixture
def sandbox_server(tmp_path) -> Iterator[SandboxServer]:
    server = SandboxServer(tmp_path / "data", now=DEFAULT_NOW).start()
    try:
        yield server
        bad = server.sandbox.h.standin.invalid_block_responses()
        assert not bad, "the stand-in refused Block Kit: " + "; ".join(
            f"{c.method}: {c.response.get('errors') or c.response.get('error')}" for c in bad
        )
    finally:
        server.stop()


@pytest.fixture
def web(sandbox_server: SandboxServer):  # type: ignore[no-untyped-def]
    """The sandbox page over HTTP, as a browser without JavaScript reads it."""
    from tests.browser.test_sandbox_web import Browser

    return Browser(sandbox_server)


@pytest.fixture
def slack(sandbox_server: SandboxServer) -> WebClient:
    """The stand-in's Web API with the bot's token: messages posted as golive posts them."""
    return WebClient(base_url=sandbox_server.sandbox.h.standin.api_url, token=BOT_TOKEN)
