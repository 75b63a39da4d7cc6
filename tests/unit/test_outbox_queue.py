"""The outbox's queue rules with jobs that only record what ran (no Slack call at all): one run
in flight and one waiting per key, merged; one job at a time per channel, in order; a job that
asks to run again keeps one place in the queue; stop() drains first. Its Slack calls (429s,
5xx, pacing, coalesced refreshes) are tested end to end in tests/e2e/test_outbox.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from bot.slack.outbox import Job, Outbox, Retry, Sending
from bot.slack.sending import Entry


class Recorder(Job):
    def __init__(
        self,
        log: list[str],
        name: str,
        *,
        key: str | None = None,
        lane: str | None = None,
        hold: threading.Event | None = None,
        action: Callable[[Sending], None] | None = None,
    ) -> None:
        self.log, self.name, self.key, self.lane, self.hold, self.action = log, name, key, lane, hold, action
        self.names = [name]

    def merge(self, newer: Job) -> Job:
        assert isinstance(newer, Recorder)
        merged = Recorder(
            self.log, newer.name, key=self.key, lane=self.lane, hold=newer.hold, action=newer.action
        )
        merged.names = self.names + newer.names
        return merged

    def run(self, out: Sending) -> None:
        self.log.append("+".join(self.names))
        if self.hold is not None:
            assert self.hold.wait(5)
        if self.action is not None:
            self.action(out)

    def describe(self) -> str:
        return self.name


def outbox(workers: int = 4) -> Outbox:
    return Outbox(None, workers=workers, backoff_first=0.01).start()  # type: ignore[arg-type]


def test_a_burst_of_one_key_is_one_run_in_flight_and_one_waiting_with_them_all() -> None:
    ran: list[str] = []
    box = outbox()
    gate = threading.Event()
    box.submit(Recorder(ran, "r0", key="checklist", hold=gate))
    assert _until(lambda: ran == ["r0"])
    for n in range(1, 6):
        box.submit(Recorder(ran, f"r{n}", key="checklist"))
    assert box.depth == 1 and box.in_flight == 1
    gate.set()
    assert box.wait_idle(5)
    assert ran == ["r0", "r1+r2+r3+r4+r5"]
    box.stop()


def test_a_job_that_gathers_waits_even_when_none_of_its_key_runs_and_a_burst_is_one_run() -> None:
    """A quick job (the Home fan-out) finds none of its key running after every click, so the
    settle never held it: with `gather`, a burst submitted within the window is one run."""
    ran: list[str] = []
    box = outbox()

    def gathering(name: str) -> Recorder:
        job = Recorder(ran, name, key="homes")
        job.gather = 0.3
        return job

    box.submit(gathering("h0"))
    time.sleep(0.1)
    assert ran == []  # not run at once, although nothing of its key runs
    for n in range(1, 5):
        box.submit(gathering(f"h{n}"))
    assert box.wait_idle(5)
    assert ran == ["h0+h1+h2+h3+h4"]
    box.stop()


def test_jobs_of_one_channel_run_one_at_a_time_in_order_other_channels_alongside() -> None:
    ran: list[str] = []
    box = outbox()
    gate = threading.Event()
    box.submit(Recorder(ran, "a1", lane="C1", hold=gate))
    box.submit(Recorder(ran, "a2", lane="C1"))
    box.submit(Recorder(ran, "b1", lane="C2"))
    assert _until(lambda: sorted(ran) == ["a1", "b1"])
    assert "a2" not in ran  # waits for a1, its channel's earlier job
    gate.set()
    assert box.wait_idle(5)
    assert ran.index("a2") > ran.index("a1")
    box.stop()


def test_a_job_that_asks_to_run_again_takes_what_came_meanwhile() -> None:
    ran: list[str] = []
    box = outbox()
    tries = {"n": 0}

    def flaky(_out: Sending) -> None:
        tries["n"] += 1
        if tries["n"] == 1:
            box.submit(Recorder(ran, "newer", key="k", action=flaky))
            raise Retry(0.05, "ratelimited")

    box.submit(Recorder(ran, "first", key="k", action=flaky))
    assert box.wait_idle(5)
    assert ran == ["first", "first+newer"], "retried once, with the newer request merged in"
    assert box.waits == 1
    box.stop()


def test_a_job_put_back_for_retry_after_is_not_picked_before_its_time() -> None:
    """What the end-to-end 429 tests rely on, with the queue's own clock passed in instead of a
    wall clock measured: a job that asks to run again `after` seconds later (a 429's
    Retry-After) is ready no sooner, and the workers' pick passes it over until then, saying how
    long to sleep."""
    box = Outbox(None, backoff_first=0.01)  # type: ignore[arg-type]  # no workers: nothing runs
    entry = Entry(Recorder([], "refresh", key="k"), 1)
    before = time.monotonic()
    box._again(entry, Retry(1.0, "chat.update ratelimited"))
    assert before + 1.0 <= entry.ready_at <= time.monotonic() + 1.0
    picked, wait = box._pick(entry.ready_at - 0.25)
    assert picked is None and wait == pytest.approx(0.25)
    assert box._pick(entry.ready_at) == (entry, None)
    assert box.waits == 1  # a Retry-After waited out is counted; a backoff (after=None) is not
    other = Entry(Recorder([], "post"), 2)
    box._again(other, Retry(None, "chat.postMessage 503"))
    assert box.waits == 1 and other.attempts == 1


def test_stop_sends_what_is_queued_then_reports_what_it_could_not() -> None:
    ran: list[str] = []
    box = outbox(workers=1)
    for n in range(3):
        box.submit(Recorder(ran, f"j{n}"))
    assert box.stop(timeout=5) == []
    assert ran == ["j0", "j1", "j2"]

    stuck = outbox(workers=1)

    def always_later(_out: Sending) -> None:
        raise Retry(30, "ratelimited")

    stuck.submit(Recorder(ran, "never", key="x", action=always_later))
    assert stuck.stop(timeout=0.3) == ["never"]


def test_without_workers_a_job_runs_in_the_callers_thread() -> None:
    ran: list[str] = []
    box = Outbox(None, backoff_first=0.01)  # type: ignore[arg-type]
    tries = {"n": 0}

    def once_more(_out: Sending) -> None:
        tries["n"] += 1
        if tries["n"] < 3:
            raise Retry(None, "5xx")

    box.submit(Recorder(ran, "inline", key="k", action=once_more))
    assert ran == ["inline", "inline", "inline"] and box.depth == 0


def _until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False
