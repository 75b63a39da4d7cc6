"""Ephemeral messages ("Only visible to you") in the sandbox: finding them and clicking them
through the stand-in driver's `click_ephemeral`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from standin import DriverResponse, SlackStandIn
from standin.driver import SlackDriver
from standin.driver_ephemeral import ephemeral_blocks

__all__ = ["click_ephemeral", "ephemeral_blocks", "find_ephemeral"]


def find_ephemeral(standin: SlackStandIn, channel: str, ts: str, user: str) -> dict[str, Any] | None:
    """The user's ephemeral message `ts` in `channel` (a copy), unless deleted."""
    return next(
        (e for e in standin.ephemerals(channel=channel, user=user) if e["ts"] == ts and not e.get("deleted")),
        None,
    )


def click_ephemeral(
    standin: SlackStandIn,
    driver: SlackDriver,
    *,
    user: str,
    record: Mapping[str, Any],
    block: Mapping[str, Any],
    element: Mapping[str, Any],
    value: Any = None,
    has_value: bool = False,
) -> DriverResponse:
    """Send the `block_actions` of a click on an element of the ephemeral message `record`."""
    return driver.click_ephemeral(
        str(record["channel"]),
        str(record["ts"]),
        str(element["action_id"]),
        user=user,
        value=value,
        has_value=has_value,
        block_id=str(block.get("block_id")),
    )
