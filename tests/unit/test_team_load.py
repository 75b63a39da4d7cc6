"""Home's "Team load" section within Slack's limits: the heaviest fifteen consultants named, the
rest counted, the section's text under 3,000 characters; and the capacity settings read."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings
from bot.engagement.capacity import SIZE_WEIGHTS, Load, OverCapacity, weight_of
from bot.slack.home import LOAD_SHOWN
from messages.render import Renderer


def render(load: dict[str, object]) -> dict[str, object]:
    return Renderer().view(
        "home.json.j2",
        outsider=False,
        guest=False,
        admin=True,
        view="mine",
        cards=[],
        preparing=[],
        load=load,
        count=0,
        page=1,
        pages=1,
        note=None,
        command="/golive",
    )


def test_the_list_is_capped_and_the_rest_counted_within_a_sections_text_limit():
    rows = [
        {"user": f"U{n:010d}", "name": "x" * 200, "engagements": 99, "units": 297, "over": True}
        for n in range(LOAD_SHOWN)
    ]
    view = render({"rows": rows, "more": 485, "over": 500, "capacity": 12, "weights": SIZE_WEIGHTS})
    [section] = [b for b in view["blocks"] if b.get("block_id") == "home:load"]
    text = section["text"]["text"]
    assert len(text) <= 3000
    assert text.count("• ") == LOAD_SHOWN and text.endswith("and 485 more")
    assert "capacity 12 · 500 over" in text and text.count(":warning: over capacity") == LOAD_SHOWN
    assert "<@U0000000000> · 99 engagements · *297* units" in text


def test_no_capacity_no_marks_and_no_section_without_consultants():
    rows = [{"user": "U0LEAD", "name": "Lena", "engagements": 1, "units": 1, "over": False}]
    view = render({"rows": rows, "more": 0, "over": 0, "capacity": None, "weights": SIZE_WEIGHTS})
    text = str(view["blocks"])
    assert "<@U0LEAD> · 1 engagement · *1* unit" in text and "capacity" not in text and "more" not in text
    empty = render({"rows": [], "more": 0, "over": 0, "capacity": None, "weights": SIZE_WEIGHTS})
    assert "home:load" not in str(empty["blocks"])


def test_weights_and_the_warning_text():
    assert [weight_of(s) for s in ("small", "medium", "enterprise", "unknown")] == [1, 2, 3, 2]
    heavy = OverCapacity(
        lead=Load("U0LEAD", "Lena", 3, 7), capacity=6, weight=2, suggest=Load("U0CONS", "Carl & Co", 1, 1)
    )
    assert heavy.mrkdwn("/golive") == (
        "You now carry 3 engagements weighing 7 units, over the team's capacity of 6 (GOLIVE_CAPACITY). "
        "<@U0CONS> has the lightest load (1 engagement, 1 unit); to hand it over: "
        "`/golive role @Carl &amp; Co lead`"
    )
    assert "Carl & Co has the lightest load" in heavy.plain("/golive")


def test_golive_capacity_is_a_positive_number_or_unset(monkeypatch):
    monkeypatch.setenv("GOLIVE_CAPACITY", "")
    assert load_settings(_env_file=None).golive_capacity is None
    monkeypatch.setenv("GOLIVE_CAPACITY", "8")
    assert load_settings(_env_file=None).golive_capacity == 8
    monkeypatch.setenv("GOLIVE_CAPACITY", "0")
    with pytest.raises(ConfigError, match="GOLIVE_CAPACITY"):
        load_settings(_env_file=None)
