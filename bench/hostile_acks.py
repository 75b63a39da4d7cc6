"""Benchmark: hostile input is answered as fast as normal input, and does not slow it down.

Sends hostile slash commands (dates thousands of years away, numbers too large for the
database), junk HTTP requests (unsigned, a 30 MB body, signed but unreadable) and normal
commands side by side, several at a time, in one run, over real HTTP into the bot with the
Slack stand-in behind it. Reports the time to the HTTP answer (the ack) of each.

    .venv/bin/python bench/hostile_acks.py [--rounds 10] [--concurrency 4]

Exits 1 when a hostile ack is not in the range of the normal ones — slower than
max(2 x the normal p95, the slowest normal ack) + 100 ms — when any ack takes 3 s or more
(Slack's limit), or when a request gets another HTTP status than expected (200 for commands,
401 unsigned, 400 signed junk, 413 too large).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import logging
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from sandbox.harness import CHANNEL, LEAD, SIGNING_SECRET, Harness, sqlite_url

HOSTILE_COMMANDS = [
    "target 9999-12-31",
    "target 0001-01-01",
    "plan kickoff=9999-12-31",
    "plan target=5000-01-01",
    "checklist 99999999999999999999",
    "add 99999999999999999999 Hostile item",
    "due 1.5 9999-12-31",
    "dryrun 9999-12-31 23:59",
    "settings cadence=99999999999999999999",
]
NORMAL_COMMANDS = ["status", "plan", "nudges", "help", "done 1.1", "undo 1.1"]
MB = 1024 * 1024


def raw_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST only the first 64 KB of `body` with its full Content-Length: a server that waits for
    the rest never answers (0 after the 10 s timeout)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest("POST", parts.path, skip_accept_encoding=True)
        conn.putheader("Content-Length", str(len(body)))
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        conn.send(body[: 64 * 1024])
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def signed(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    mac = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": "v0=" + mac.hexdigest(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the server logs one line per refused request

    with tempfile.TemporaryDirectory() as d:
        h = Harness(sqlite_url(Path(d))).start()
        try:
            h.command("start Acme Corp size=medium tz=Europe/Berlin")
            url = h.server.events_url

            def command(text: str) -> Callable[[], tuple[int, int]]:
                def send() -> tuple[int, int]:
                    try:
                        r = h.driver.command("/golive", text, user=LEAD.user_id, channel=CHANNEL)
                    except OSError:  # no answer within the driver's 10 s
                        return 0, 200
                    return r.status, 200

                return send

            def http_junk(body: bytes, headers: dict[str, str], expect: int) -> Callable[[], tuple[int, int]]:
                def send() -> tuple[int, int]:
                    return raw_post(url, body, headers), expect

                return send

            huge = b"command=%2Fgolive&text=" + b"a" * (30 * MB)
            work: list[tuple[str, str, Callable[[], tuple[int, int]]]] = [
                *(("hostile", t, command(t)) for t in HOSTILE_COMMANDS),
                *(("normal", t, command(t)) for t in NORMAL_COMMANDS),
                ("hostile", "unsigned payload=notjson", http_junk(b"payload=notjson", {}, 401)),
                (
                    "hostile",
                    "signed payload=notjson",
                    http_junk(b"payload=notjson", signed(b"payload=notjson"), 400),
                ),
                ("hostile", "30 MB body", http_junk(huge, signed(huge), 413)),
                (
                    "hostile",
                    "timestamp not a number",
                    http_junk(
                        b"payload=notjson",
                        {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=x"},
                        401,
                    ),
                ),
            ]
            order = [w for _ in range(args.rounds) for w in work]
            random.Random(10).shuffle(order)

            wrong: list[str] = []

            def timed(entry: tuple[str, str, Callable[[], tuple[int, int]]]) -> tuple[str, str, float]:
                kind, label, send = entry
                start = time.perf_counter()
                status, expected = send()
                if status != expected:
                    wrong.append(f"{label!r} answered HTTP {status}, not {expected}")
                return kind, label, time.perf_counter() - start

            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                results = list(pool.map(timed, order))
            h.idle(timeout=120)
        finally:
            h.stop()

    by_label: dict[tuple[str, str], list[float]] = defaultdict(list)
    for kind, label, seconds in results:
        by_label[(kind, label)].append(seconds)
    normal = sorted(s for k, _, s in results if k == "normal")
    hostile = sorted(s for k, _, s in results if k == "hostile")
    p95 = normal[int(0.95 * (len(normal) - 1))]
    limit = max(2 * p95, normal[-1]) + 0.1
    print(f"{len(results)} requests, {args.concurrency} at a time, hostile and normal mixed:")
    for (kind, label), times in sorted(by_label.items()):
        times.sort()
        flag = "  <-- out of range" if kind == "hostile" and times[-1] > limit else ""
        print(
            f"  {kind:7} {label:40} p50 {statistics.median(times) * 1000:6.0f} ms  "
            f"max {times[-1] * 1000:6.0f} ms{flag}"
        )
    print(
        f"  normal  p50 {statistics.median(normal) * 1000:.0f} ms · p95 {p95 * 1000:.0f} ms · "
        f"max {normal[-1] * 1000:.0f} ms"
    )
    print(
        f"  hostile p50 {statistics.median(hostile) * 1000:.0f} ms · "
        f"p95 {hostile[int(0.95 * (len(hostile) - 1))] * 1000:.0f} ms · max {hostile[-1] * 1000:.0f} ms"
    )
    for problem in sorted(set(wrong)):
        print(f"  {problem}")
    ok = hostile[-1] <= limit and max(hostile[-1], normal[-1]) < 3.0 and not wrong
    print(
        "  OK"
        if ok
        else f"  FAIL: every hostile ack must be ≤ {limit * 1000:.0f} ms, every ack under 3 s, "
        "and every answer the expected HTTP status"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
