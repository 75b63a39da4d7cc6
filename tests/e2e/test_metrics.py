"""GET /metrics: Prometheus' text format over real HTTP, counting what the bot did."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from sandbox.harness import CHANNEL, CONTRIBUTOR, LEAD
from tests.e2e.helpers import at, hold_ticks, mention
from tests.e2e.test_checklist import checklist_msg, tick
from tests.e2e.test_checklist import item as tick_item


def live_ts(h) -> str:
    return checklist_msg(h, 1)["ts"]


def scrape(h) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(h.server.url + "/metrics", timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_acks_by_kind_refusals_and_sweeps(harness):
    h = harness
    before = scrape(h)
    h.command("start Acme Corp size=small kickoff=2026-11-30")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    tick(h, "1.5", CONTRIBUTOR)
    h.driver.command("/golive", "status", user=LEAD.user_id, channel=CHANNEL, signature="v0=" + "0" * 64)
    at(h, "2026-12-02T10:00:00+01:00")  # 1.6 is overdue: the sweep sends a nudge
    report = h.run_sweep()
    assert [s.split(" ")[0] for s in report.sent] == ["nudge", "health"]  # and the lead told: at risk
    h.idle()  # the nudge's Home fan-out is held half a second to gather a burst: let it run
    after = scrape(h)
    assert (
        value(after, "golive_ack_seconds_count", kind="command")
        - value(before, "golive_ack_seconds_count", kind="command")
        == 2
    )
    assert (
        value(after, "golive_ack_seconds_count", kind="block_actions")
        - value(before, "golive_ack_seconds_count", kind="block_actions")
        == 1
    )
    # Every ack was under Slack's 3 seconds: all of them fall in the 3 s bucket.
    assert value(after, "golive_ack_seconds_bucket", kind="command", le="3.0") == value(
        after, "golive_ack_seconds_count", kind="command"
    )
    assert (
        value(after, "golive_requests_refused_total", status="401")
        - value(before, "golive_requests_refused_total", status="401")
        == 1
    )
    assert value(after, "golive_sweep_seconds_count") - value(before, "golive_sweep_seconds_count") == 1
    assert (
        value(after, "golive_reminders_total", outcome="sent")
        - value(before, "golive_reminders_total", outcome="sent")
        == 2
    )
    posts = value(after, "golive_slack_calls_total", method="chat.postMessage") - value(
        before, "golive_slack_calls_total", method="chat.postMessage"
    )
    assert posts >= 3  # welcome, checklist, nudge
    assert value(after, "golive_refresh_queue_depth") == 0  # idle: nothing waiting


def test_metrics_show_the_work_waiting_after_acks(harness, monkeypatch):
    """`golive_after_ack_pending`: clicks acked whose write has not run yet (an operator's view
    of a backlog; the benchmark waits for it between batches)."""
    h = harness
    h.command("start Acme Corp size=small kickoff=2026-11-30")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    go = hold_ticks(monkeypatch)
    try:
        for ref in ("1.5", "1.6", "1.5"):  # the contributor's items (the team's have no box)
            item_ = tick_item(h, ref)
            r = h.driver.click(
                CHANNEL,
                live_ts(h),
                f"tick:{item_.id}",
                user=CONTRIBUTOR.user_id,
                selected_options=[str(item_.id)],
            )
            assert r.status == 200
        assert value(scrape(h), "golive_after_ack_pending") == 3
    finally:
        go.set()
    h.idle()
    assert value(scrape(h), "golive_after_ack_pending") == 0


def test_metrics_can_be_switched_off(harness_factory):
    h = harness_factory(env={"GOLIVE_METRICS": "false"})
    try:
        urllib.request.urlopen(h.server.url + "/metrics", timeout=5)
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    else:
        raise AssertionError("/metrics answered while switched off")
    assert re.match(r"http://127\.0\.0\.1:\d+", h.server.url)
