"""`golive serve`: the work after the acks in a process of its own, at a lower priority.

A tick and the item commands are acked before any of their work (`handlers.listening.after_ack`).
In one process that work (the read, the write and its audit row, the reply, the refresh) still
competed with the next requests' acks for the cores and the interpreter's lock: at ten clients
on two cores an ack of `due` waited behind it (p50 1.3-1.7x a bare ack, 1.8-2.4x with another
process busy on one core). Threads of one interpreter cannot be given priority over each other;
processes can.

So under `golive serve` the gunicorn workers only ack: `after_ack` hands the request (its body
as it arrived, its signature checked, and its headers) to a `Forwarder`, whose thread sends it
over a private Unix socket to the deferred process (`run_deferred`), forked from the master
before the workers and running at `NICE` (the kernel gives the acks the cores first); the master
starts the workers once it listens. That process builds the same bot without an HTTP server,
parses each body by the gate's rule and dispatches it through its own Bolt app, whose `after_ack`
runs the work there; the part of a handler before its ack only parses and reads, so it may run
twice. Its outbox sends the refreshes (coalesced across all workers now), and its metrics go to
the same multiprocess directory (`golive_after_ack_pending`).

When the socket is not there (the process died, or is not yet listening), a worker runs the work
itself, as before: slower under load. As before, work held in memory by a process that is
killed is lost with it: a click not recorded, which the checklist shows unticked at its next
refresh.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("golive.deferred")

Work = Callable[[], None]  # what `after_ack` runs: the request's work, under the error policy

NICE = 10  # CFS weight about a tenth of a worker's: acks run first when the cores are busy
_HEAD = struct.Struct("!II")  # a frame: the lengths of its headers (JSON) and of its body, then both
_MAX_FRAME = 4 * 1024 * 1024


class Forwarder:
    """In a gunicorn worker: sends acked requests to the deferred process, in order, from a thread
    of its own, so an ack never waits on the socket. `fallback(work)` runs what could not be sent."""

    def __init__(self, path: str, fallback: Callable[[Work], object]) -> None:
        self.path = path
        self.fallback = fallback
        self._queue: queue.SimpleQueue[tuple[bytes, Work] | None] = queue.SimpleQueue()
        self._sock: socket.socket | None = None
        self._down = False
        self._thread = threading.Thread(target=self._run, name="golive-forwarder", daemon=True)
        self._thread.start()

    def send(self, body: bytes, headers: dict[str, Any], work: Work) -> None:
        """Queue a request: its body as it arrived (the deferred process parses it there, at its
        lower priority) and its headers (with the content type that says how)."""
        meta = json.dumps(headers).encode("utf-8")
        self._queue.put((_HEAD.pack(len(meta), len(body)) + meta + body, work))

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                break
            data, work = entry
            if not self._deliver(data):
                try:
                    self.fallback(work)
                except Exception:
                    log.exception("running a request's work here failed")
        if self._sock is not None:
            self._sock.close()

    def _deliver(self, data: bytes) -> bool:
        problem = None
        for _attempt in range(2):  # a connection the other side closed is found out by sending
            try:
                if self._sock is None:
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    sock.connect(self.path)
                    self._sock = sock
                self._sock.sendall(data)
                if self._down:
                    log.info("the deferred-work process is reachable again")
                    self._down = False
                return True
            except OSError as exc:
                problem = exc
                if self._sock is not None:
                    self._sock.close()
                self._sock = None
        if not self._down:  # said once, not per request
            log.warning("the deferred-work process is not reachable (%s); the work runs here", problem)
            self._down = True
        return False


def _read_exactly(conn: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = conn.recv(min(n - got, 65536))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def run_deferred(build: Callable[[], Any], path: str) -> None:
    """The deferred process: lower its priority, build the bot, and dispatch every request a
    worker forwards until SIGTERM; then finish the work and send what it queued."""
    from slack_bolt import BoltRequest

    from golive.server import read_slack_body

    os.nice(NICE)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the master's Ctrl-C: it stops us with SIGTERM
    bot = build()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    server.bind(path)
    os.chmod(path, 0o600)
    server.listen(64)

    def serve(conn: socket.socket) -> None:
        with conn:
            while True:
                head = _read_exactly(conn, _HEAD.size)
                if head is None:
                    return
                meta_size, body_size = _HEAD.unpack(head)
                if meta_size + body_size > _MAX_FRAME:
                    log.error(
                        "a forwarded request of %d bytes: closing the connection", meta_size + body_size
                    )
                    return
                data = _read_exactly(conn, meta_size + body_size)
                if data is None:
                    return
                try:
                    headers = json.loads(data[:meta_size])
                    content_type = (headers.get("content-type") or [""])[0]
                    body, _form = read_slack_body(content_type, data[meta_size:].decode("utf-8"))
                    # As the workers do: the body parsed, its signature already checked (by the
                    # worker's gate; this socket is private to the server's processes).
                    bot.app.dispatch(BoltRequest(body=body, headers=headers, mode="socket_mode"))
                except Exception:
                    log.exception("a forwarded request failed")

    def accept() -> None:
        while not stopping.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), name="golive-deferred-conn", daemon=True).start()

    threading.Thread(target=accept, name="golive-deferred-accept", daemon=True).start()
    log.info("deferred work process ready on %s (nice %d)", path, NICE)
    stopping.wait()
    server.close()
    bot.wait_idle(timeout=20)
    bot.close()


READY_TIMEOUT = 30.0  # seconds `fork_deferred` waits for the process to listen


def fork_deferred(build: Callable[[], Any], path: str, ready_timeout: float = READY_TIMEOUT) -> int:
    """Fork the deferred-work process (`run_deferred`) and return its pid once it listens (or has
    failed, or `ready_timeout` has passed: then the workers run the work themselves). Waiting
    keeps the first requests' work from running in a worker only because the bot was still
    being built there (a second or two, its auth.test included). The process leaves with
    os._exit: the exit handlers it inherited are the master's (temporary directories...)."""
    pid = os.fork()
    if pid:
        _wait_listening(pid, path, ready_timeout)
        return pid
    code = 0
    try:
        run_deferred(build, path)
    except BaseException:
        log.exception("the deferred-work process failed")
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)


def _wait_listening(pid: int, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(path)
                return
            except OSError:
                pass
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            log.error("the deferred-work process exited while starting; the work runs in the workers")
            return
        time.sleep(0.05)
    log.warning(
        "the deferred-work process is not listening after %.0f s; the work runs in the workers", timeout
    )


def stop_deferred(pid: int, timeout: float = 25.0) -> None:
    """SIGTERM the deferred-work process and wait until it is gone (gunicorn's master may reap it
    first); then its live gauges (`golive_after_ack_pending`) no longer count on /metrics."""
    from prometheus_client import multiprocess

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                break
        except ChildProcessError:  # reaped by gunicorn's SIGCHLD handler
            break
        if time.monotonic() > deadline:
            log.warning("the deferred-work process did not stop in %.0f s; killing it", timeout)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
