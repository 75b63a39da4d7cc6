"""Fixtures for the sandbox tests: the sandbox page on a loopback port, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
