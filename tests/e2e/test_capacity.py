"""Consultant capacity (issue 28, part 4), end to end: starting an engagement for a lead over
GOLIVE_CAPACITY warns them and names the least loaded consultant (by command, by the start form,
and from a CRM deal); App Home shows each consultant's engagements and weighted load.

Weights: small 1, medium 2, enterprise 3 (`bot.engagement.capacity.SIZE_WEIGHTS`).
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.harness import CONSULTANT, LEAD, OUTSIDER, PERSONAS
from tests.e2e.helpers import blocks_text, ephemeral_texts, last_answer, mention, shown
from tests.e2e.test_deals import ENV as DEAL_ENV
from tests.e2e.test_deals import deal, send_deal, told, wait_state
from tests.e2e.test_home import open_home

EVERYONE = [p.user_id for p in PERSONAS]


def channel(h: Any, channel_id: str) -> str:
    h.standin.add_channel(channel_id, name=channel_id.lower(), ext_shared=True, members=EVERYONE)
    return channel_id


def start(h: Any, name: str, size: str, channel_id: str, who: Any = LEAD) -> None:
    h.command(
        f"start {name} size={size} kickoff=2026-11-30 tz=Europe/Berlin",
        user=who,
        channel=channel(h, channel_id),
    )


def team_load(home: dict[str, Any]) -> str | None:
    """The text of Home's "Team load" section, as Slack shows it; None when there is none."""
    found = [b for b in home["view"]["blocks"] if b.get("block_id") == "home:load"]
    return shown(found[0]["text"]["text"]) if found else None


def portfolio(h: Any) -> None:
    """Lena leads two medium engagements (4 units; named consultant of one too, which counts once);
    Carl leads a small one (1 unit) and consults on one of Lena's (2 more: 3 units)."""
    h.lift_rate_limits()
    start(h, "Alpha Co", "medium", "C0ALPHA")
    start(h, "Beta Co", "medium", "C0BETA")
    start(h, "Gamma Co", "small", "C0GAMMA", who=CONSULTANT)
    h.command(f"role {mention(CONSULTANT)} consultant", channel="C0BETA")
    h.command(f"role {mention(LEAD)} consultant", channel="C0ALPHA")  # lead and consultant: counted once


def test_a_start_over_capacity_warns_the_lead_and_names_the_least_loaded_consultant(harness_factory):
    h = harness_factory(env={"GOLIVE_CAPACITY": "4"})
    portfolio(h)
    # At capacity, not over it: no warning for any of these starts.
    assert not [t for t in ephemeral_texts(h, LEAD.user_id) if "GOLIVE_CAPACITY" in t]
    assert not [t for t in ephemeral_texts(h, CONSULTANT.user_id) if "GOLIVE_CAPACITY" in t]

    start(h, "Delta Co", "small", "C0DELTA")  # Lena: 5 units, over 4
    warned = last_answer(h, LEAD)
    assert "Started. Worth a look:" in warned
    assert "You now carry 3 engagements weighing 5 units, over the team's capacity of 4" in warned
    # Carl carries 3 units: a small one (1) fits under 4; never Lena herself.
    assert f"<@{CONSULTANT.user_id}> has the lightest load (2 engagements, 3 units)" in warned
    assert "/golive role @Carl Consultant lead" in warned
    assert f"<@{LEAD.user_id}> has" not in warned

    # A medium one (2) fits nobody else: Carl would be at 5. Said so, nobody named.
    start(h, "Epsilon Co", "medium", "C0EPS")
    warned = last_answer(h, LEAD)
    assert "You now carry 4 engagements weighing 7 units" in warned
    assert "Nobody else carrying engagements has room for it." in warned
    assert CONSULTANT.user_id not in warned


def test_the_start_form_warns_the_same_way(harness_factory):
    h = harness_factory(env={"GOLIVE_CAPACITY": "4"})
    portfolio(h)
    channel(h, "C0FORM")
    h.command("start", channel="C0FORM")  # opens the start form
    [opened] = h.standin.open_views(LEAD.user_id)
    assert opened["view"]["callback_id"] == "start_engagement"
    done = h.driver.submit_view(
        opened["id"],
        {"customer": {"value": "Form Co"}, "size": {"value": "small"}, "tz": {"value": "Europe/Berlin"}},
        user=LEAD.user_id,
    )
    h.idle()
    assert done.status == 200 and not done.json
    warned = h.standin.wait_for(
        lambda: [t for t in ephemeral_texts(h, LEAD.user_id) if "GOLIVE_CAPACITY" in t], timeout=10
    )[-1]
    assert "You now carry 3 engagements weighing 5 units" in warned
    assert f"<@{CONSULTANT.user_id}> has the lightest load" in warned


def test_no_capacity_set_no_warning(harness):
    h = harness
    portfolio(h)
    start(h, "Delta Co", "enterprise", "C0DELTA")
    assert not [t for t in ephemeral_texts(h, LEAD.user_id) if "GOLIVE_CAPACITY" in t or "Worth a look" in t]


def test_a_deal_for_a_lead_over_capacity_warns_in_the_answer_and_the_first_direct_message(harness_factory):
    h = harness_factory(env={**DEAL_ENV, "GOLIVE_CAPACITY": "4"})
    portfolio(h)
    status, answer = send_deal(h, deal())  # medium, owned by Lena: 6 units with it
    assert status == 202 and answer["outcome"] == "created", answer
    [warning] = answer["warnings"]
    assert "You now carry 3 engagements weighing 6 units, over the team's capacity of 4" in warning
    assert "Nobody else carrying engagements has room for it." in warning  # Carl: 3 + 2 > 4
    wait_state(h, "waiting")
    [made] = told(h, "I made")
    assert "You now carry 3 engagements weighing 6 units" in shown(made)
    # Sent again, the deal changes nothing and warns no more.
    status, again = send_deal(h, deal())
    assert status == 202 and again["outcome"] == "unchanged" and again["warnings"] == []

    # A small deal for Carl (3 + 1 = 4): at capacity, no warning.
    status, answer = send_deal(
        h, deal(deal_id="D-2001", size="small", owner={"slack_id": CONSULTANT.user_id}, contacts=[])
    )
    assert status == 202 and answer["warnings"] == [], answer


def test_a_small_deal_names_the_consultant_with_room(harness_factory):
    h = harness_factory(env={**DEAL_ENV, "GOLIVE_CAPACITY": "4"})
    portfolio(h)
    status, answer = send_deal(h, deal(size="small"))  # Lena: 5 units
    assert status == 202, answer
    [warning] = answer["warnings"]
    assert "Carl Consultant has the lightest load (2 engagements, 3 units)" in warning
    wait_state(h, "waiting")
    [made] = told(h, "I made")
    assert "Carl Consultant has the lightest load" in shown(made)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_home_shows_each_consultants_load_to_admins_and_on_all_engagements(harness_factory, request, backend):
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    h = harness_factory(url, env={"GOLIVE_CAPACITY": "4", "GOLIVE_ADMINS": LEAD.user_id})
    portfolio(h)
    start(h, "Delta Co", "small", "C0DELTA")  # Lena: 5 units, over capacity
    home = open_home(h, LEAD)  # an admin: on her own engagements too
    load = team_load(home)
    assert load is not None, blocks_text(home["view"]["blocks"])
    assert "*Team load*" in load and "small 1, medium 2, enterprise 3" in load
    assert "capacity 4 · 1 over" in load
    lines = [line for line in load.split("\n") if line.startswith("• ")]
    assert lines == [
        f"• <@{LEAD.user_id}> · 3 engagements · *5* units · :warning: over capacity",
        f"• <@{CONSULTANT.user_id}> · 2 engagements · *3* units",
    ]
    assert len(home["view"]["blocks"]) <= 100

    # A colleague who is no admin: not on "Mine", on "All engagements".
    home = open_home(h, OUTSIDER)
    assert team_load(home) is None
    h.driver.click_view(home["id"], "home_view:all", user=OUTSIDER.user_id)
    h.idle()
    load = team_load(h.standin.home(OUTSIDER.user_id))
    assert load is not None and f"<@{CONSULTANT.user_id}> · 2 engagements · *3* units" in load

    # Lena hands Delta over to Carl, as the warning suggests, and leaves its team: both at 4.
    h.command(f"role {mention(CONSULTANT)} lead", channel="C0DELTA")
    h.command(f"role {mention(LEAD)} remove consultant", channel="C0DELTA")
    load = team_load(open_home(h, LEAD))
    assert load is not None and "over capacity" not in load and " over" not in load.split("\n")[0]
    lines = [line for line in load.split("\n") if line.startswith("• ")]
    assert lines == [
        f"• <@{CONSULTANT.user_id}> · 3 engagements · *4* units",
        f"• <@{LEAD.user_id}> · 2 engagements · *4* units",
    ]


def test_golive_deal_prints_the_warning(tmp_path):
    """`golive deal FILE.json` as a real process against the stand-in says it too."""
    import json
    import os
    import subprocess
    import sys

    from sandbox.harness import BOT_TOKEN, start_standin

    standin = start_standin(create_channels=True)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GOLIVE_", "DATABASE_URL"))}
        env |= {
            "SLACK_API_URL": standin.api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
            "GOLIVE_CREATE_CHANNELS": "true",
            "GOLIVE_CAPACITY": "1",
            "LOG_LEVEL": "WARNING",
        }
        file = tmp_path / "deal.json"
        file.write_text(json.dumps(deal(kickoff=None)))  # medium: 2 units
        done = subprocess.run(
            [sys.executable, "-m", "golive.cli", "deal", str(file)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert (
            "  worth a look: You now carry 1 engagement weighing 2 units, over the team's capacity of 1"
            in done.stdout
        ), done.stdout
    finally:
        standin.stop()
