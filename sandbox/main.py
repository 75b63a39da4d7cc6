"""`golive sandbox`: the whole bot in a browser page that behaves like a shared Slack channel."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType

from .session import Sandbox
from .web import SandboxHTTPServer, serve_in_thread


def _bind(host: str, port: int) -> SandboxHTTPServer:
    """Bind the page's port, or exit with status 2 and one line when it is taken."""
    try:
        return SandboxHTTPServer((host, port))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(
            f"golive: cannot serve the sandbox on {host}:{port}: {reason} — choose another with --port",
            file=sys.stderr,
        )
        raise SystemExit(2) from None


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(host: str, port: int, data_dir: Path) -> None:
    """Start the bot, the Slack stand-in and the page; serve until Ctrl-C or SIGTERM."""
    server = _bind(host, port)
    sandbox: Sandbox | None = None
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if on_main else None
    try:
        sandbox = Sandbox(data_dir).start()
        server.sandbox = sandbox
        if on_main:
            signal.signal(signal.SIGTERM, _interrupt)
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
        print(
            f"golive sandbox on http://{shown}:{server.server_address[1]} — open it in your browser",
            flush=True,
        )
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        if on_main and previous is not None:
            signal.signal(signal.SIGTERM, previous)
        server.server_close()
        if sandbox is not None:
            sandbox.stop()


class SandboxServer:
    """The sandbox and its page on a loopback port in a background thread (for tests)."""

    def __init__(
        self, data_dir: Path, *, host: str = "127.0.0.1", port: int = 0, now: datetime | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.now = now
        self.sandbox: Sandbox
        self.server: SandboxHTTPServer
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> SandboxServer:
        self.server = SandboxHTTPServer((self.host, self.port))
        try:
            self.sandbox = Sandbox(self.data_dir, now=self.now).start()
        except BaseException:
            self.server.server_close()
            raise
        self.server.sandbox = self.sandbox
        self._thread = serve_in_thread(self.server)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sandbox.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
