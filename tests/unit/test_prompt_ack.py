"""`golive.prompt_ack`: the thread that dispatches a request answers at the listener's ack,
not at Bolt's next 10-ms poll, and Bolt's rules without an ack are kept."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import slack_bolt.listener.thread_runner as thread_runner
from slack_bolt import App, BoltRequest
from slack_bolt.authorization import AuthorizeResult

from golive import prompt_ack
from golive.prompt_ack import GoliveApp


class _CountingTime:
    """`time` as Bolt's listener runner sees it, counting the sleeps of its waiting loop."""

    def __init__(self) -> None:
        self.sleeps: list[int] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(threading.get_ident())
        time.sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def bolt_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    counting = _CountingTime()
    monkeypatch.setattr(thread_runner, "time", counting)
    return counting.sleeps


def _authorize(**_: Any) -> AuthorizeResult:
    return AuthorizeResult(
        enterprise_id=None, team_id="T1", bot_token="xoxb-test", bot_user_id="UB", bot_id="B1"
    )


def _app(cls: type[App] = GoliveApp) -> App:
    # No Web API call: the authorization Bolt would ask auth.test for is given.
    return cls(signing_secret="secret", authorize=_authorize)


def _command(text: str = "") -> BoltRequest:
    body = {"command": "/go", "text": text, "team_id": "T1", "user_id": "U1", "channel_id": "C1"}
    return BoltRequest(body=body, mode="socket_mode")


def test_the_answer_comes_at_the_ack_without_polling(bolt_sleeps: list[int]) -> None:
    release = threading.Event()
    finished = threading.Event()

    def slow_to_ack(ack: Any) -> None:
        release.wait(5)  # the dispatching thread is certainly waiting by now
        ack("acked")
        finished.wait(5)  # work after the ack: the answer does not wait for it

    results: dict[str, Any] = {}
    for cls in (App, GoliveApp):
        app = _app(cls)
        app.command("/go")(slow_to_ack)
        release.clear()
        finished.clear()
        bolt_sleeps.clear()
        t = threading.Thread(
            target=lambda app=app, cls=cls: results.__setitem__(cls.__name__, app.dispatch(_command()))
        )
        t.start()
        time.sleep(0.05)
        release.set()
        t.join(5)
        finished.set()
        results[cls.__name__ + " sleeps"] = len(bolt_sleeps)
    # Bolt's own App polls (the baseline this replaces); golive's waits on the ack itself.
    assert results["App sleeps"] >= 1
    assert results["GoliveApp sleeps"] == 0
    assert results["GoliveApp"].status == 200 and results["GoliveApp"].body == "acked"


def test_a_listener_that_fails_before_its_ack_is_answered_500_at_once(bolt_sleeps: list[int]) -> None:
    app = _app()

    @app.command("/go")
    def broken(ack: Any) -> None:
        raise RuntimeError("boom")

    response = app.dispatch(_command())
    assert response.status == 500
    assert bolt_sleeps == []


def test_without_an_ack_bolt_gives_up_after_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prompt_ack, "ACK_TIMEOUT", 0.3)
    app = _app()
    returned = threading.Event()

    @app.command("/go")
    def never_acks(ack: Any) -> None:
        returned.wait(5)

    started = time.monotonic()
    response = app.dispatch(_command())
    waited = time.monotonic() - started
    returned.set()
    assert response.status == 404  # Bolt's answer when no listener acked: nothing was handled
    assert waited >= 0.3


def test_other_threads_read_the_ack_without_waiting() -> None:
    ack = prompt_ack.PromptAck()
    seen: list[Any] = []
    reader = threading.Thread(target=lambda: seen.append(ack.response))
    reader.start()
    reader.join(1)
    assert seen == [None] and not reader.is_alive()
    ack("done")
    assert ack.response is not None and ack.response.body == "done"
