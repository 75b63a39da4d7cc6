"""The pacer: Slack's documented rates as token buckets, and a 429's Retry-After honoured."""

from __future__ import annotations

from bot.slack.pacing import SLACK_PACE, Pace, Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    pacer = Pacer({"chat.postMessage": Pace(per_minute=60, burst=3, per_channel=True)}, clock=clock)
    assert [pacer.take("chat.postMessage", "C1") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.take("chat.postMessage", "C1") == 1.0  # one a second
    assert pacer.take("chat.postMessage", "C2") == 0.0  # per channel
    clock.now += 0.5
    assert pacer.take("chat.postMessage", "C1") == 0.5  # nothing was counted by asking
    clock.now += 0.5
    assert pacer.take("chat.postMessage", "C1") == 0.0
    assert pacer.take("chat.postMessage", "C1") == 1.0


def test_workspace_wide_methods_share_one_bucket() -> None:
    clock = FakeClock()
    pacer = Pacer({"chat.update": Pace(per_minute=30, burst=2)}, clock=clock)
    assert pacer.take("chat.update", "C1") == 0.0
    assert pacer.take("chat.update", "C2") == 0.0
    assert pacer.take("chat.update", "C3") == 2.0  # 30 a minute: one every two seconds


def test_a_429_holds_the_method_for_retry_after_then_lets_one_call_through() -> None:
    clock = FakeClock()
    pacer = Pacer({"chat.update": Pace(per_minute=60, burst=10)}, clock=clock)
    assert pacer.take("chat.update") == 0.0
    pacer.hold("chat.update", None, 3.0)
    assert pacer.take("chat.update") == 3.0
    clock.now += 3.0
    assert pacer.take("chat.update") == 0.0
    assert pacer.take("chat.update") == 1.0  # the burst refills from there, not at once


def test_unpaced_methods_and_lifting_a_pace() -> None:
    pacer = Pacer(clock=FakeClock())
    assert pacer.paces == SLACK_PACE
    assert all(pacer.take("users.info") == 0.0 for _ in range(500))
    burst = SLACK_PACE["chat.update"].burst
    assert all(pacer.take("chat.update") == 0.0 for _ in range(burst))
    assert pacer.take("chat.update") > 0
    pacer.set("chat.update", None)
    assert pacer.take("chat.update") == 0.0


def test_the_bot_paces_under_slacks_documented_rates() -> None:
    """Slack: chat.update Tier 3 (50+ a minute), posting about one a second per channel."""
    assert SLACK_PACE["chat.update"].per_minute <= 50 and not SLACK_PACE["chat.update"].per_channel
    post = SLACK_PACE["chat.postMessage"]
    assert post.per_minute <= 60 and post.per_channel and post.burst > 1


def test_every_pace_stays_under_the_limit_slack_documents_for_its_method() -> None:
    """The pacer is tuned to Slack's tiers as the stand-in enforces them (standin/ratelimits.py):
    a call the pacer lets through must not be the one Slack answers 429."""
    from standin import SLACK_RATE_LIMITS

    for method, pace in SLACK_PACE.items():
        # files_upload_v2 is two calls per picture: files.getUploadURLExternal and .completeUploadExternal
        limits = (
            [
                SLACK_RATE_LIMITS["files.getUploadURLExternal"],
                SLACK_RATE_LIMITS["files.completeUploadExternal"],
            ]
            if method == "files.upload"
            else [SLACK_RATE_LIMITS[method]]
        )
        calls = 2 if method == "files.upload" else 1
        for limit in limits:
            assert pace.per_minute * calls <= limit.per_minute, method
            assert pace.burst * calls <= limit.burst, method
            assert pace.per_channel == limit.per_channel, method
