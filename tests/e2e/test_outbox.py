"""Issue 11: Slack output through one paced queue — one live copy of a checklist, refreshes
coalesced per message (the latest state wins), 429s waited out, nothing dropped, acks never wait.

Signed clicks over real HTTP into the bot; its Web API calls answered by the stand-in, which
enforces Slack's rate limits (standin/ratelimits.py).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from bot.slack.call_counters import SLACK_CALLS
from bot.slack.pacing import Pacer
from bot.slack.publish import CHECKLIST, CHECKLIST_MOVED, ChecklistJob
from sandbox.harness import CHANNEL, CONTRIBUTOR, LEAD
from storage.models import Item, PostedMessage
from tests.e2e.helpers import blocks_text, checklists, hold_ticks, posts

ITEMS = 41  # 40 are ticked; one stays open, so the phase does not finish


def _playbook(tmp_path: Path, n: int = ITEMS) -> Path:
    """The default playbook with `n` short customer items in Discovery (phase 1)."""
    doc = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "bot/engagement/playbooks/default.yaml").read_text()
    )
    doc["phases"][1]["items"] = [
        {"key": f"task_{i}", "title": f"Customer task {i:02d}", "owner": "customer"} for i in range(n)
    ]
    path = tmp_path / "many.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def big(request, harness_factory, tmp_path):
    """An engagement whose Discovery checklist has 41 customer items, on SQLite and PostgreSQL."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    h = harness_factory(url, env={"GOLIVE_PLAYBOOK": str(_playbook(tmp_path))})
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    return h


def _items(h) -> list[Item]:
    with h.services.db.read() as session:
        rows = session.exec(select(Item).order_by(Item.number)).all()
    return [i for i in rows if i.title.startswith("Customer task")]


def _live(h) -> dict:
    [live] = checklists(h)
    return h.standin.message(CHANNEL, live["ts"])


def _ticked(message: dict) -> int:
    """Done items, as the message shows them: folded into its "✅ N done" line, their boxes gone."""
    import re

    folded = next((b for b in message["blocks"] if b.get("block_id") == "folded"), None)
    found = re.search(r":white_check_mark: (\d+) done", folded["text"]["text"]) if folded else None
    shown_open = sum(1 for b in message["blocks"] if str(b.get("block_id", "")).startswith("item:"))
    done = int(found.group(1)) if found else 0
    assert done + shown_open == ITEMS, "every item is either shown open or counted done"
    return done


def _click_burst(h, ts: str, items: list[Item]) -> None:
    """Every click sent at once from 8 threads, as a workshop would; returns once all are acked."""

    def click(it: Item) -> int:
        return h.driver.click(
            CHANNEL, ts, f"tick:{it.id}", user=CONTRIBUTOR.user_id, selected_options=[str(it.id)]
        ).status

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(click, items)) == [200] * len(items)


def _done(h, items: list[Item]) -> int:
    with h.services.db.read() as session:
        return sum(1 for it in items if session.get(Item, it.id).status == "done")  # type: ignore[union-attr]


def _hold_checklist_runs(monkeypatch) -> tuple[threading.Event, list[int]]:
    """Hold every run of a checklist job on its outbox worker until the returned event is set: a
    refresh in flight for as long as the test needs (a slow Slack), instead of a race between
    the burst and the machine's speed. The list grows by one as each run starts."""
    go, started = threading.Event(), []
    real = ChecklistJob.run

    def held(self, out):  # type: ignore[no-untyped-def]
        started.append(1)
        assert go.wait(30), "the test never let the checklist's refresh go"
        return real(self, out)

    monkeypatch.setattr(ChecklistJob, "run", held)
    return go, started


def _updates_of(h, ts: str) -> list:
    return [c for c in h.standin.calls_to("chat.update") if c.args.get("ts") == ts]


# -- coalescing ----------------------------------------------------------------------------------
def test_forty_ticks_while_a_refresh_is_in_flight_cost_at_most_two_updates_and_show_all_forty(
    big, monkeypatch
):
    """The refresh the first tick asks for is held in flight (a slow Slack) while all forty are
    clicked: every click is acked all the same (nobody waits on Slack to be answered), and the
    refreshes the other ticks ask for merge into the one waiting run. So two chat.update calls at
    most, whatever the machine's speed; without coalescing it would be forty. (How many updates
    an unheld burst costs is a speed property: bench/ack_latency.py measures it.)"""
    h = big
    ts = _live(h)["ts"]
    items = _items(h)[:40]
    assert len(items) == 40
    go, started = _hold_checklist_runs(monkeypatch)
    h.standin.reset_calls()
    try:
        _click_burst(h, ts, items)  # all forty acked while the refresh cannot finish
        h.standin.wait_for(lambda: _done(h, items) == 40, timeout=30, message="the forty ticks written")
        assert _updates_of(h, ts) == [], "nothing reached Slack before the acks"
        assert len(started) <= 1, "one run of the checklist at a time"
    finally:
        go.set()
    h.idle(timeout=30)
    message = _live(h)
    assert _ticked(message) == 40
    assert "40 of 41 done" in blocks_text(message["blocks"])
    updates = _updates_of(h, ts)
    assert 1 <= len(updates) <= 2, f"{len(updates)} chat.update calls for 40 ticks"
    assert all(c.response["ok"] for c in updates)
    assert h.bot.outbox.depth == 0 and h.bot.outbox.in_flight == 0


def test_under_slacks_rate_limit_a_burst_still_ends_with_the_latest_state(big):
    h = big
    ts = _live(h)["ts"]
    # Slack stricter than the bot's pacing: one update a second for the workspace, no burst.
    h.standin.set_rate_limit("chat.update", per_minute=60, burst=1)
    h.standin.reset_calls()
    items = _items(h)[:40]
    for n in range(0, 40, 10):  # four bursts of ten, each while the last one's refresh is held
        _click_burst(h, ts, items[n : n + 10])
        time.sleep(0.3)
    h.idle(timeout=60)
    refused = h.standin.ratelimited_responses("chat.update")
    assert refused, "the stand-in's limit was never reached: the test tests nothing"
    assert all(c.status == 429 for c in refused)
    message = _live(h)
    assert _ticked(message) == 40, "the message ended stale"
    assert "40 of 41 done" in blocks_text(message["blocks"])
    landed = [c for c in _updates_of(h, ts) if c.response.get("ok")]
    assert landed and "40 of 41 done" in landed[-1].args["text"]


def test_a_refresh_that_gets_429_waits_retry_after_and_lands(big, caplog):
    h = big
    ts = _live(h)["ts"]
    first = _items(h)[0]
    before = SLACK_CALLS.ratelimited().get("chat.update", 0)
    h.standin.fail_next("chat.update", status=429, retry_after=1)
    h.standin.reset_calls()
    with caplog.at_level(logging.INFO, logger="golive.outbox"):
        _click_burst(h, ts, [first])
        h.idle(timeout=10)
    refused, landed = _updates_of(h, ts)
    assert (refused.status, refused.response["error"]) == (429, "ratelimited")
    assert landed.response["ok"]
    # Waited Retry-After: the refresh went back in the queue for the second Slack asked for (the
    # queue runs nothing before its time: tests/unit/test_outbox_queue.py), read from what the bot
    # scheduled rather than from the wall clock between the two calls.
    [put_back] = [r for r in caplog.records if "ratelimited; again in" in r.getMessage()]
    assert put_back.getMessage().endswith("chat.update ratelimited; again in 1.0s")
    assert _ticked(_live(h)) == 1
    assert SLACK_CALLS.ratelimited().get("chat.update", 0) == before + 1


def test_a_refresh_that_gets_a_5xx_is_retried_with_backoff(big):
    h = big
    ts = _live(h)["ts"]
    h.standin.fail_next("chat.update", status=503, times=2)
    h.standin.reset_calls()
    _click_burst(h, ts, [_items(h)[0]])
    h.idle(timeout=15)
    assert [c.status for c in _updates_of(h, ts)] == [503, 503, 200]
    assert _ticked(_live(h)) == 1


def test_a_refresh_whose_message_is_gone_stops(big):
    h = big
    ts = _live(h)["ts"]
    h.standin.fail_next("chat.update", error="message_not_found")  # deleted meanwhile
    h.standin.reset_calls()
    _click_burst(h, ts, [_items(h)[0]])
    h.idle(timeout=5)
    # Idle means nothing is queued or running: a retry would be waiting in the queue, and idle
    # would have waited for it to run (the first backoff is half a second).
    [update] = _updates_of(h, ts)
    assert update.response["error"] == "message_not_found"
    assert h.bot.outbox.depth == 0 and h.bot.outbox.in_flight == 0


# -- one live copy ---------------------------------------------------------------------------------
def test_a_reposted_checklist_collapses_the_old_copy_and_ticks_update_only_the_new_one(harness):
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    [old] = checklists(h)
    h.command("checklist")
    [new] = checklists(h)
    assert new["ts"] != old["ts"]
    moved = h.standin.message(CHANNEL, old["ts"])
    text = blocks_text(moved["blocks"])
    [permalink] = [c for c in h.standin.calls_to("chat.getPermalink") if c.args["message_ts"] == new["ts"]]
    assert f"<{permalink.response['permalink']}|the newer copy>" in text
    assert "this checklist moved" in text and len(moved["blocks"]) == 1
    assert not [b for b in moved["blocks"] if b["type"] == "actions"], "nothing left to click on the old copy"
    with h.services.db.read() as session:
        kinds = {r.ts: r.kind for r in session.exec(select(PostedMessage)).all()}
    assert (kinds[old["ts"]], kinds[new["ts"]]) == (CHECKLIST_MOVED, CHECKLIST)
    h.standin.reset_calls()
    with h.services.db.read() as session:
        item = session.exec(select(Item).where(Item.owner_side == "customer")).first()
    h.driver.click(
        CHANNEL, new["ts"], f"tick:{item.id}", user=CONTRIBUTOR.user_id, selected_options=[str(item.id)]
    )
    h.idle()
    assert {c.args["ts"] for c in h.standin.calls_to("chat.update")} == {new["ts"]}
    assert h.standin.message(CHANNEL, old["ts"])["blocks"] == moved["blocks"]


def test_posting_the_checklist_again_and_again_leaves_one_live_copy(harness):
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    for _ in range(6):
        h.driver.command("/golive", "checklist", user=LEAD.user_id, channel=CHANNEL)
    h.idle(timeout=20)
    assert len(checklists(h)) == 1, "one live copy"
    copies = [m for m in posts(h) if "checklist moved" in m["text"] or "checklist:" in m["text"]]
    assert 2 <= len(copies) <= 7  # coalesced: no more posts than commands, maybe fewer
    assert h.standin.ratelimited_responses() == []


# -- pacing and lifecycle --------------------------------------------------------------------------
def test_posts_are_paced_per_channel_and_keep_their_order(harness):
    """The pacer runs on a clock the test moves (its arithmetic: tests/unit/test_pacing.py): what
    is left of the channel's burst goes at once, then one post per step of the clock, in order,
    whatever the machine's speed, and Slack never has to say 429."""
    h = harness
    outbox = h.services.outbox
    now = [1000.0]
    outbox.pacer = Pacer(outbox.pacer.paces, clock=lambda: now[0])  # before the engagement's posts
    h.command("start Acme Corp")
    pace = outbox.pacer.paces["chat.postMessage"]
    left = pace.burst - len(
        [c for c in h.standin.calls_to("chat.postMessage") if c.args["channel"] == CHANNEL]
    )
    assert left > 0

    def notes() -> list[str]:
        return [
            c.args["text"]
            for c in h.standin.calls_to("chat.postMessage")
            if c.args["text"].startswith("note ")
        ]

    for n in range(left + 3):
        outbox.post(CHANNEL, h.services.notice(f"note {n}"), kind="test")
    h.standin.wait_for(lambda: len(notes()) == left, timeout=10, message="the rest of the burst")
    for more in range(1, 4):
        assert len(notes()) == left + more - 1, "a post went before the pacer's clock allowed it"
        now[0] += 60.0 / pace.per_minute + 0.001  # one post's worth of the channel's rate
        h.standin.wait_for(lambda more=more: len(notes()) == left + more, timeout=10, message=f"post {more}")
    h.idle(timeout=10)
    assert h.standin.ratelimited_responses() == [], "paced before Slack had to say 429"
    assert notes() == [f"note {n}" for n in range(left + 3)]


def test_close_sends_what_is_queued_first(harness_factory):
    h = harness_factory()
    h.command("start Acme Corp")
    h.standin.fail_next("chat.postMessage", status=429, retry_after=1)
    h.services.outbox.post(CHANNEL, h.services.notice("sent while stopping"), kind="test")
    h.bot.close(drain_seconds=10)
    assert [m for m in posts(h) if m["text"] == "sent while stopping"]


def test_calls_are_counted_by_method(harness):
    before = SLACK_CALLS.calls()
    harness.command("start Acme Corp")
    after = SLACK_CALLS.calls()
    assert after.get("chat.postMessage", 0) - before.get("chat.postMessage", 0) == len(posts(harness)) == 2
    assert after.get("chat.getPermalink", 0) == before.get("chat.getPermalink", 0)  # only what was called


# -- lost answers ------------------------------------------------------------------------------------
SLOW = 1.6  # seconds Slack takes to answer; the bot's client gives up after 1


def test_an_update_whose_answer_timed_out_is_sent_again(harness_factory):
    h = harness_factory(env={"GOLIVE_SLACK_TIMEOUT": "1"})
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    [live] = checklists(h)
    with h.services.db.read() as session:
        item = session.exec(select(Item).where(Item.owner_side == "customer")).first()
    h.standin.reset_calls()
    h.standin.set_latency("chat.update", SLOW)
    h.driver.click(
        CHANNEL, live["ts"], f"tick:{item.id}", user=CONTRIBUTOR.user_id, selected_options=[str(item.id)]
    )
    h.standin.wait_for(lambda: h.standin.calls_to("chat.update"), message="the first update")
    h.standin.set_latency("chat.update", 0)
    h.idle(timeout=15)
    updates = h.standin.calls_to("chat.update")
    assert len(updates) == 2 and all(c.response["ok"] for c in updates)
    assert "1 of 6 done" in blocks_text(h.standin.message(CHANNEL, live["ts"])["blocks"])


def test_a_post_whose_answer_timed_out_is_looked_for_not_doubled(harness_factory):
    h = harness_factory(env={"GOLIVE_SLACK_TIMEOUT": "1"})
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.standin.reset_calls()
    h.standin.set_latency("chat.postMessage", SLOW)
    h.driver.command("/golive", "checklist", user=LEAD.user_id, channel=CHANNEL)
    h.standin.wait_for(lambda: h.standin.calls_to("chat.postMessage"), message="the post")
    h.standin.set_latency("chat.postMessage", 0)
    h.idle(timeout=15)
    assert len(h.standin.calls_to("chat.postMessage")) == 1, "posted once: it had landed"
    [looked] = h.standin.calls_to("conversations.history")
    assert looked.args.get("include_all_metadata") in (True, "true", "1", 1)
    [live] = checklists(h)
    with h.services.db.read() as session:
        row = session.exec(select(PostedMessage).where(PostedMessage.ts == live["ts"])).one()
    assert row.kind == CHECKLIST  # in the ledger: it is the live copy, updated from now on
    assert len([m for m in posts(h) if "checklist moved" in m["text"]]) == 1


def test_a_burst_of_ticks_does_its_after_the_ack_work_a_few_at_a_time(harness_factory, tmp_path, monkeypatch):
    """Each click is acked at once; the writes behind the acks run at most AFTER_ACK_SLOTS at a
    time, queued for the after-the-ack workers instead of competing with the next requests' acks
    for the GIL."""

    import handlers.checklist as checklist_handlers
    from golive.app import AFTER_ACK_SLOTS

    h = harness_factory(None, env={"GOLIVE_PLAYBOOK": str(_playbook(tmp_path))})
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    lock, running, peak = threading.Lock(), [0], [0]
    go = threading.Event()
    real = checklist_handlers._tick

    def held_tick(*args, **kwargs):  # type: ignore[no-untyped-def]
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            assert go.wait(30), "the test never let the writes go"  # held: the ticks overlap
            return real(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(checklist_handlers, "_tick", held_tick)
    items = _items(h)[:16]
    after_ack = h.services.after_ack
    try:
        _click_burst(h, _live(h)["ts"], items)  # all sixteen acked while no write can finish
        # Every tick's work is queued for the after-the-ack workers; as many run as there are slots.
        h.standin.wait_for(
            lambda: after_ack.in_flight >= len(items) and running[0] == AFTER_ACK_SLOTS,
            timeout=10,
            message="the burst's writes queued, the slots full",
        )
    finally:
        go.set()
    h.idle(timeout=30)
    assert peak[0] == AFTER_ACK_SLOTS, f"{peak[0]} ticks were written at once"
    assert _done(h, items) == 16
    assert "16 of 41 done" in blocks_text(_live(h)["blocks"])


def test_more_ticks_than_listener_threads_are_all_acked_while_their_work_waits(
    harness_factory, tmp_path, monkeypatch
):
    """A burst of ticks larger than Bolt's listener pool is acked at once even while none of their
    writes can run: the work waits in the after-the-ack workers' queue, not in a listener thread
    (holding one each, the 65th tick waited for a free thread before it could be acked)."""
    import golive.app

    # A smaller pool than a server's 64, so the burst that overflows it is small and quick.
    monkeypatch.setattr(golive.app, "LISTENER_THREADS_MIN", 8)
    h = harness_factory(None, env={"GOLIVE_PLAYBOOK": str(_playbook(tmp_path))})
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    burst = h.services.listeners._max_workers + 4
    items = _items(h)[:burst]
    assert len(items) == burst < ITEMS
    go = hold_ticks(monkeypatch)
    try:
        parts = [h.standin.message(CHANNEL, m["ts"]) for m in checklists(h)]  # one or more messages
        where = {
            it.id: next(p["ts"] for p in parts if f'"tick:{it.id}"' in json.dumps(p["blocks"]))
            for it in items
        }

        def click(it: Item) -> int:
            return h.driver.click(
                CHANNEL,
                where[it.id],
                f"tick:{it.id}",
                user=CONTRIBUTOR.user_id,
                selected_options=[str(it.id)],
            ).status

        with ThreadPoolExecutor(max_workers=8) as pool:
            acks = list(pool.map(click, items))
        assert acks == [200] * burst
        with h.services.db.read() as session:  # acked, and nothing written yet
            assert all(session.get(Item, it.id).status == "open" for it in items)  # type: ignore[union-attr]
    finally:
        go.set()
    h.idle(timeout=60)
    with h.services.db.read() as session:
        assert all(session.get(Item, it.id).status == "done" for it in items)  # type: ignore[union-attr]
    assert f"{burst} of {ITEMS} done" in blocks_text(checklists(h)[0]["blocks"])
