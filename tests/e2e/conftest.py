"""Fixtures shared by the end-to-end tests: an engagement started (`started`, `small`)."""

from __future__ import annotations

import pytest

from sandbox.harness import APPROVER, CONTRIBUTOR, SPONSOR, Harness
from tests.e2e.helpers import mention


@pytest.fixture
def small(harness: Harness) -> Harness:
    """Small engagement from Mon 30 Nov 2026 in Berlin: Discovery (2 business days) ends Tue 1 Dec."""
    h = harness
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    h.command(f"role {mention(APPROVER)} approver")
    h.command(f"role {mention(SPONSOR)} sponsor")
    return h


@pytest.fixture
def started(harness: Harness) -> Harness:
    """Medium engagement from Mon 30 Nov 2026 in Berlin, no roles named."""
    harness.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    return harness
