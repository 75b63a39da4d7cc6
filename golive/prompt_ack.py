"""Answering Slack as soon as a listener acks, not at Bolt's next 10-ms poll.

With `process_before_response` off, Bolt runs a listener on a pool thread and the thread that
dispatched the request waits for its `ack()` by polling: `while ack.response is None: sleep(0.01)`
(`slack_bolt.listener.thread_runner`). A listener acks within a millisecond or two, after the
dispatching thread has already gone to sleep, so every answer waited out the rest of the 10 ms:
at one client a bare Bolt app that only acks answered in 10.5 ms, 0.6 ms of it CPU, and golive's
acks likewise (measured in process, sequential requests). Under load each waiting answer also
holds one of the server's threads.

`PromptAck` is Bolt's `Ack` whose `response`, read by the thread that dispatches, waits on an
event that the ack sets, so that thread wakes at the ack. Any other thread reads it as before.
`GoliveApp.dispatch` gives every request one (HTTP, the deferred-work process, Socket Mode),
through the request's context, where Bolt's own `BoltContext.ack` looks first.

What Bolt does without an ack is unchanged: it stops waiting `ACK_TIMEOUT` seconds after the
request was dispatched (a listener that fails first sets a 500 response, which wakes it too).
"""

from __future__ import annotations

import threading
import time

from slack_bolt import Ack, App, BoltRequest, BoltResponse

ACK_TIMEOUT = 3.0  # Bolt's listener.ack_timeout: how long it waits for an ack


class PromptAck(Ack):
    """Bolt's ack; `response`, read on the dispatching thread, waits for the ack (at most until
    `ACK_TIMEOUT` after the dispatch began)."""

    def __init__(self) -> None:
        self._response: BoltResponse | None = None
        self._acked = threading.Event()
        self._dispatcher = threading.get_ident()
        self._deadline = time.monotonic() + ACK_TIMEOUT

    @property  # type: ignore[override]
    def response(self) -> BoltResponse | None:
        if self._response is None and threading.get_ident() == self._dispatcher:
            self._acked.wait(max(0.0, self._deadline - time.monotonic()))
        return self._response

    @response.setter
    def response(self, value: BoltResponse | None) -> None:
        self._response = value
        if value is not None:
            self._acked.set()


class GoliveApp(App):  # type: ignore[misc]
    """Bolt's App, answering at the ack (`PromptAck`)."""

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        if not isinstance(req.context.get("ack"), PromptAck):
            req.context["ack"] = PromptAck()
        return super().dispatch(req)
