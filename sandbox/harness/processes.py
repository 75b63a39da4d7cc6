"""Running the real `golive` console script beside the stand-in: the process tests
(tests/e2e/test_processes.py, test_replicas.py), the kill trials (`sandbox.harness.killing`) and the kill
benchmark spawn, wait for and stop `golive serve` and `golive sweep` with these."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sandbox.harness import BOT_TOKEN, SIGNING_SECRET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GOLIVE_", "DATABASE_URL"))}
    base.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "golive.cli", *args],
        env=base,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError("did not stop on SIGTERM:\n" + out) from None
    return proc.returncode, out


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("process exited:\n" + proc.communicate()[0])
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def serve_env(standin, database: str, **env: str) -> dict[str, str]:
    """The environment of a `golive serve` or `golive sweep` talking to the stand-in."""
    base = {
        "SLACK_API_URL": standin.api_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "DATABASE_URL": database,
        # The tests run beside each other on a busy machine: a niced inbox process would wait behind
        # them. Its priority is for acks under load, which the benchmarks measure.
        "GOLIVE_INBOX_NICE": "0",
    }
    return base | env


def spawn_serve(standin, tmp_path: Path, database: str, **env: str) -> tuple[subprocess.Popen, int]:
    """`golive serve` on a free port, talking to the stand-in."""
    port = free_port()
    return spawn(
        ["serve", "--host", "127.0.0.1", "--port", str(port)], serve_env(standin, database, **env), tmp_path
    ), port


def descendants(pid: int) -> list[int]:
    """Every process `pid` started, and theirs (gunicorn's workers, the inbox process)."""
    found: list[int] = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(p) for p in f.read().split()]
    except OSError:
        return found
    for child in children:
        found += [child, *descendants(child)]
    return found


def kill_all(proc: subprocess.Popen) -> str:
    """SIGKILL the process and everything it started, at once; its output so far."""
    for pid in [*descendants(proc.pid), proc.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    return out or ""
