"""A minimal Socket Mode endpoint: hello on connect, envelopes out, acks back."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from .state import Workspace


class SocketModeServer:
    """WebSocket server the stand-in's ``apps.connections.open`` points at (started lazily)."""

    def __init__(self, workspace: Workspace, host: str = "127.0.0.1") -> None:
        self._ws = workspace
        self._host = host
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._connections: list[ServerConnection] = []
        self._acks: dict[str, dict[str, Any]] = {}
        self._start_lock = threading.Lock()

    def url(self) -> str:
        """A fresh ``ws://`` URL for one connection."""
        with self._start_lock:
            if self._server is None:
                self._server = serve(self._handle, self._host, 0, compression=None)
                self._thread = threading.Thread(
                    target=self._server.serve_forever, name="standin-socket", daemon=True
                )
                self._thread.start()
            port = self._server.socket.getsockname()[1]
        return f"ws://{self._host}:{port}/link?ticket={uuid.uuid4()}"

    def _handle(self, conn: ServerConnection) -> None:
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "applink-standin", "build_number": 1, "approximate_connection_time": 3600},
            "connection_info": {"app_id": self._ws.app_id},
        }
        conn.send(json.dumps(hello))
        with self._cond:
            self._connections.append(conn)
            self._cond.notify_all()
        try:
            for raw in conn:
                try:
                    message = json.loads(raw)
                except (TypeError, json.JSONDecodeError):
                    continue
                if isinstance(message, dict) and message.get("envelope_id"):
                    with self._cond:
                        self._acks[message["envelope_id"]] = message
                        self._cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                if conn in self._connections:
                    self._connections.remove(conn)
                self._cond.notify_all()

    def connected(self) -> bool:
        with self._cond:
            return bool(self._connections)

    def send(self, envelope: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Send an envelope to the newest connection and return the client's ack message."""
        envelope_id = envelope["envelope_id"]
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._connections), timeout):
                raise AssertionError(f"no Socket Mode client connected within {timeout}s")
            conn = self._connections[-1]
        conn.send(json.dumps(envelope))
        with self._cond:
            if not self._cond.wait_for(lambda: envelope_id in self._acks, timeout):
                raise AssertionError(
                    f"the Socket Mode client did not ack envelope {envelope_id} within {timeout}s"
                )
            return self._acks.pop(envelope_id)

    def close_connections(self) -> None:
        """Close every client connection (clients with auto-reconnect will reconnect)."""
        with self._cond:
            connections = list(self._connections)
        for conn in connections:
            conn.close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
