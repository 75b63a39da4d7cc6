"""`/golive` typed in a direct message: answered at once, without a Slack call.

A DM has no customer channel, and looking it up (conversations.info) needs im:read, a scope the
app does not ask for: Slack would refuse it with missing_scope and the user would get an apology.
"""

from __future__ import annotations

import pytest

from sandbox.harness import CHANNEL, LEAD, OUTSIDER
from storage.models import Engagement
from tests.e2e.helpers import count, ephemeral_texts


@pytest.mark.parametrize("text", ["start Acme Corp", "start", "status", "checklist", "done 1.1"])
def test_a_command_in_a_dm_points_to_the_shared_channel(harness, text: str) -> None:
    dm = harness.standin.open_im(LEAD.user_id)
    harness.standin.reset_calls()
    r = harness.command(text, channel=dm)
    assert r.status == 200
    [answer] = ephemeral_texts(harness, LEAD.user_id, channel=dm)
    word = text.split()[0]
    assert f"`/golive {word}` works in the channel you share with the customer" in answer
    assert "not in a direct message" in answer and "/invite @golive" in answer
    # Answered in the ack: no Web API call at all (none that needs im:read, no apology, no modal).
    assert [c.method for c in harness.standin.calls] == ["command.ack"]
    assert harness.standin.open_views(LEAD.user_id) == []
    assert count(harness, Engagement) == 0


def test_a_command_in_a_group_dm_is_answered_the_same_way(harness) -> None:
    harness.standin.add_channel(
        "G0GROUPDM", name="mpdm-lena--olaf-1", mpim=True, members=[LEAD.user_id, OUTSIDER.user_id]
    )
    harness.command("start Acme Corp", channel="G0GROUPDM")
    [answer] = ephemeral_texts(harness, LEAD.user_id, channel="G0GROUPDM")
    assert "not in a direct message" in answer
    assert harness.standin.calls_to("conversations.info") == []
    assert count(harness, Engagement) == 0


def test_help_works_in_a_dm_and_start_still_works_in_the_channel(harness) -> None:
    dm = harness.standin.open_im(LEAD.user_id)
    harness.command("help", channel=dm)
    [answer] = ephemeral_texts(harness, LEAD.user_id, channel=dm)
    assert "start" in answer and "direct message" not in answer
    harness.command("start Acme Corp", channel=CHANNEL)
    assert count(harness, Engagement) == 1
    [info] = harness.standin.calls_to("conversations.info")
    assert info.args["channel"] == CHANNEL and info.response["ok"] is True
