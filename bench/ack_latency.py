"""Benchmark: how fast the bot acknowledges Slack requests (Slack's limit is 3 seconds).

Sends signed slash commands and checklist clicks over real HTTP into the bot, N at a time,
while the Slack stand-in answers every Web API call slowly (as a rate-limited Slack would), and
reports the time to the HTTP answer — the ack. Slack calls happen after the ack, so a slow
Slack must not slow the ack down.

    .venv/bin/python bench/ack_latency.py [--requests 200] [--concurrency 8] [--slack-latency 0.5]

Exits 1 when the 95th percentile exceeds --p95 seconds (default 0.5) or any ack exceeds 3 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import CHANNEL, CONTRIBUTOR, LEAD, Harness, sqlite_url


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument(
        "--slack-latency", type=float, default=0.5, help="seconds the stand-in waits per Web API call"
    )
    ap.add_argument("--p95", type=float, default=0.5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as d:
        h = Harness(sqlite_url(Path(d))).start()
        try:
            h.command("start Acme Corp size=medium tz=Europe/Berlin")
            checklist = [m for m in h.standin.messages(CHANNEL) if "checklist:" in m["text"]][-1]
            for method in (
                "chat.postMessage",
                "chat.update",
                "chat.postEphemeral",
                "users.info",
                "views.open",
            ):
                h.standin.set_latency(method, args.slack_latency)
            item_ids = [
                int(b["block_id"].split(":")[1])
                for b in checklist["blocks"]
                if str(b.get("block_id", "")).startswith("item:") and b["type"] == "actions"
            ]

            def one(i: int) -> float:
                start = time.perf_counter()
                kind = i % 3
                if kind == 0:
                    r = h.driver.command("/golive", "status", user=LEAD.user_id, channel=CHANNEL)
                elif kind == 1:
                    r = h.driver.command("/golive", f"done 1.{1 + i % 4}", user=LEAD.user_id, channel=CHANNEL)
                else:
                    item = item_ids[4 + i % 2]  # customer items 1.5 and 1.6
                    r = h.driver.click(
                        CHANNEL,
                        checklist["ts"],
                        f"tick:{item}",
                        user=CONTRIBUTOR.user_id,
                        selected_options=[str(item)] if i % 4 else [],
                    )
                elapsed = time.perf_counter() - start
                if r.status != 200:
                    raise SystemExit(f"request {i} answered {r.status}")
                return elapsed

            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                times = sorted(pool.map(one, range(args.requests)))
            h.idle(timeout=600)
        finally:
            h.stop()
    p50 = statistics.median(times)
    p95 = times[int(0.95 * (len(times) - 1))]
    print(f"{len(times)} requests, {args.concurrency} at a time, Slack answering in {args.slack_latency}s:")
    print(f"  ack p50 {p50 * 1000:.0f} ms · p95 {p95 * 1000:.0f} ms · max {times[-1] * 1000:.0f} ms")
    ok = p95 <= args.p95 and times[-1] < 3.0
    print("  OK" if ok else f"  FAIL: p95 must be ≤ {args.p95 * 1000:.0f} ms and every ack under 3 s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
