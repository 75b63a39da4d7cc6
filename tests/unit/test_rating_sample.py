"""GOLIVE_RATINGS_SAMPLE: which milestones' approvers are asked is a hash of the engagement and the
milestone, so replicas and replays agree, and a share of 0.5 asks about half."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.config import Settings
from bot.engagement.ratings import sampled

GATES = ("solution_design", "integration_workflows", "config_signoff", "uat_signoff", "final_golive")
KEYS = [(engagement, gate) for engagement in range(1, 201) for gate in GATES]


def test_half_asks_about_half_and_the_same_keys_every_time():
    chosen = {key for key in KEYS if sampled(*key, 0.5)}
    assert 0.35 <= len(chosen) / len(KEYS) <= 0.65
    assert chosen == {key for key in KEYS if sampled(*key, 0.5)}
    # Not a pattern of the engagement alone: engagements with some gates asked and some not.
    mixed = {e for e in range(1, 201) if 0 < sum((e, g) in chosen for g in GATES) < len(GATES)}
    assert len(mixed) > 100


def test_a_larger_share_asks_everyone_a_smaller_one_did_and_the_ends_are_all_and_none():
    small = {key for key in KEYS if sampled(*key, 0.2)}
    large = {key for key in KEYS if sampled(*key, 0.7)}
    assert small < large
    assert all(sampled(*key, 1.0) for key in KEYS)
    assert not any(sampled(*key, 0.0) for key in KEYS)


@pytest.mark.parametrize(("raw", "share"), [(None, 1.0), ("0", 0.0), ("0.25", 0.25)])
def test_the_setting(monkeypatch, raw, share):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    if raw is None:
        monkeypatch.delenv("GOLIVE_RATINGS_SAMPLE", raising=False)
    else:
        monkeypatch.setenv("GOLIVE_RATINGS_SAMPLE", raw)
    assert Settings(_env_file=None).golive_ratings_sample == share


@pytest.mark.parametrize("raw", ["1.5", "-0.1", "half"])
def test_a_share_outside_0_to_1_is_refused(monkeypatch, raw):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("GOLIVE_RATINGS_SAMPLE", raw)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)
