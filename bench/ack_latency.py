"""Benchmark: how fast `golive serve` acknowledges Slack requests, beside a bare Bolt app.

Both run as real processes on the same server stack (gunicorn, gthread worker, the same thread
count) against the Slack stand-in, in one run, so a noisy machine slows both alike. N clients
send signed requests over HTTP; the time to the HTTP answer is the ack (Slack allows 3 s). The
stand-in answers every Web API call after `--slack-delay` seconds, as a busy Slack does, so any
Slack work done before the ack shows up here.

Requests: `/golive status`, `/golive checklist`, a checkbox tick on the real posted checklist (a
customer ticking and unticking their items), `/golive due 1.2 …`. The bare app gets the same
commands and clicks and only acks.

    .venv/bin/python bench/ack_latency.py --clients 50 --requests 400 [--slack-delay 0.3]
        [--database-url URL] [--seed 10000] [--workers 1] [--json]

At the end of a run it reports the memory of `golive serve` after the load (PSS summed over the
master and all its descendant processes) and then, without a target, how long a tick takes to
show: `--probe-ticks` ticks (30) sent one at a time, each timed from sending it to the stand-in
receiving the chat.update of that checklist message that shows the item as the tick set it
(folded away when ticked, back when unticked); p50 and p95. (Under the load itself a refresh
shows many ticks, most of them on the same three items and already undone, so an update cannot
be told to belong to one tick.) The checklist's updates are paced to Slack's Tier 3 (a burst
of 40, then 45 a minute: `bot.slack.pacing`): after a busy minute an update waits its turn.

Targets (exit 1 when one is missed): p99 under 300 ms for every request at 50 clients or more;
p50 within 1.5x of bare Bolt at 1 and 10 clients; the serve processes' PSS at most 200 MB (with
or without `--seed`). With `--json` the last line is

    {"clients": N, "requests": M, "database": "SQLite" | "PostgreSQL", "slack_delay_s": S,
     "golive": {"status": {"p50_ms": …, "p95_ms": …, "p99_ms": …, "ratio_p50": …, "cpu_ms": …}, …},
     "bare": {"p50_ms": …, "p99_ms": …, "cpu_ms": …},
     "tick_to_update": {"p50_ms": …, "p95_ms": …, "ticks": …, "seen": …},
     "tick_updates": {"ticks": …, "updates": …, "per_tick": …},
     "pss_mb": …, "rss_mb": …, "ok": true | false}

where `cpu_ms` is the CPU per request of all the server's processes together (user + system,
including the work after the acks), `tick_to_update.ticks` the ticks sent one at a time and
`seen` those whose update came within 10 s, and `tick_updates` the chat.update calls in the
channel caused by the timed bursts of ticks (counted once each batch's after-ack work is done):
how well a burst's refreshes coalesce when nothing holds them, which depends on the machine's
speed and so is measured here, without a target (tests/e2e/test_outbox.py proves the bound with a
refresh held in flight).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import create_engine, text

from sandbox.harness import (
    BOT_TOKEN,
    CHANNEL,
    CONTRIBUTOR,
    LEAD,
    SIGNING_SECRET,
    scratch_postgres,
    start_standin,
)
from standin import SlackDriver, SlackStandIn

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("status", "checklist", "tick", "due")
P99_TARGET_MS = 300.0
RATIO_TARGET = 1.5
PSS_TARGET_MB = 200.0
DELAYED = (
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "chat.getPermalink",
    "users.info",
    "conversations.info",
    "views.open",
    "auth.test",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{proc.communicate()[0]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def inbox_depth(database: str) -> int:
    """Rows of golive's inbox whose work is not done (on SQLite, in its file beside the database)."""
    from storage.db import inbox_url, is_sqlite

    engine = create_engine(inbox_url(database) if is_sqlite(database) else database)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM inbox WHERE done_at IS NULL")).scalar() or 0)
    except Exception:  # not created yet
        return 0
    finally:
        engine.dispose()


def wait_outbox_idle(server_pid: int, timeout: float = 60.0, database: str | None = None) -> None:
    """Until golive's after-the-ack work (the inbox's rows not done, read from `database`;
    `golive_after_ack_pending`: work taken, not done) and its refresh queue
    (`golive_refresh_queue_depth`) have been empty for a second: the work a batch queued after its
    acks, paced to Slack's rate limits, is done, and does not run into the next batch. Read from
    the workers' metric files and the database here, not from /metrics: each /metrics answer
    costs the server CPU, which would be charged to the batch."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    path = None
    for p in server_pids(server_pid):
        try:
            with open(f"/proc/{p}/maps") as f:
                path = next(
                    (os.path.dirname(line.split()[-1]) for line in f if "/golive-metrics-" in line), None
                )
        except OSError:
            continue
        if path:
            break
    if path is None:
        time.sleep(1.0)  # no metric files found: the old fixed pause
        return
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    deadline = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < deadline:
        depth = sum(
            registry.get_sample_value(name) or 0.0
            for name in ("golive_refresh_queue_depth", "golive_after_ack_pending")
        ) + (inbox_depth(database) if database else 0)
        if depth > 0:
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= 1.0:
            return
        time.sleep(0.2)


def server_pids(pid: int) -> list[int]:
    """A process and all its descendants: gunicorn's master, its workers and whatever they
    started."""
    pids = [pid]
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return pids
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children = [int(p) for p in f.read().split()]
        except OSError:
            continue
        for child in children:
            pids += server_pids(child)
    return pids


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of a process and its descendants (gunicorn master + workers), in MB. Summed RSS
    counts the pages the forked workers share with the master once per process; PSS splits each
    shared page among its sharers, so it is the memory the server really takes."""
    rss = pss = 0
    for p in server_pids(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss / 1024, pss / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU so far of a process and its descendants (gunicorn master + workers, which
    ack and then do the work after their acks), all together."""
    tick = os.sysconf("SC_CLK_TCK")
    used = 0.0
    for p in server_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            used += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return used


def seed(url: str, count: int) -> None:
    """`count` more engagements, each in its own channel, made as `/golive start` makes them."""
    from datetime import UTC, datetime

    from bot.engagement.lifecycle import build_start_options, start_engagement
    from bot.engagement.playbook import load_playbook
    from storage.db import Database
    from storage.migrate import upgrade

    upgrade(url)
    db = Database(url)
    playbook = load_playbook(None)
    now = datetime.now(UTC)
    try:
        for n in range(count):
            opts = build_start_options(
                name=f"Seeded {n}",
                size=("small", "medium", "enterprise")[n % 3],
                kickoff=None,
                target=None,
                tz=("Europe/Berlin", "America/New_York", "Asia/Tokyo")[n % 3],
                country=None,
                pilot=None,
                ingest=None,
                now=now,
                default_tz="UTC",
            )
            with db.session() as session:
                start_engagement(
                    session,
                    opts,
                    playbook=playbook,
                    team_id="T0VENDOR",
                    channel_id=f"C0SEED{n:06d}",
                    user_id=LEAD.user_id,
                    user_name=LEAD.name,
                    now=now,
                    channel_teams=["T0VENDOR", "T0CUST"],
                )
    finally:
        db.dispose()


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GOLIVE_", "DATABASE_URL"))}
    return subprocess.Popen(
        [sys.executable, *args],
        env=base | env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def tick_payload(driver: SlackDriver, ts: str, item: int, checked: list[str]) -> dict[str, Any]:
    """The block_actions of a tick, as Slack sends it. Built here rather than found in the message:
    a done item is folded out of the checklist, and a client that still shows it may send its
    untick."""
    user = driver.standin.user(CONTRIBUTOR.user_id)
    option = {"text": {"type": "mrkdwn", "text": "item"}, "value": str(item)}
    return {
        "type": "block_actions",
        "user": {"id": user.id, "username": user.name, "name": user.name, "team_id": user.team_id},
        "api_app_id": "A0GOLIVE",
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": False},
        "trigger_id": driver.standin.issue_trigger(CONTRIBUTOR.user_id),
        "team": {"id": "T0VENDOR"},
        "channel": {"id": CHANNEL, "name": "acme-implementation"},
        # The message as Slack sends it in the payload: its size is part of the request. (Not the
        # stand-in's record, whose edit history grows with every update: 260 KB after 600 ticks,
        # which made both servers' ticks slower and golive's memory grow with every round.)
        "message": driver.standin.slack_message(CHANNEL, ts) or {"ts": ts},
        "actions": [
            {
                "type": "checkboxes",
                "action_id": f"tick:{item}",
                "block_id": f"item:{item}",
                "selected_options": [option] if checked else [],
                "action_ts": "1",
            }
        ],
    }


class Target:
    """One server under load: sends the four kinds of request and times each answer."""

    def __init__(self, standin: SlackStandIn, url: str, checklist_ts: str, items: list[int]) -> None:
        self.driver = SlackDriver(standin, url, timeout=30)
        self.ts = checklist_ts
        self.items = items
        self.counter = itertools.count()
        self.lock = threading.Lock()

    def live_checklist(self) -> str:
        """The ts of the live copy of the checklist (`/golive checklist` moves it; older copies
        become a pointer without checkboxes)."""
        for m in reversed(self.driver.standin.messages(CHANNEL, include_deleted=False)):
            if "checklist:" in (m.get("text") or "") and '"tick:' in json.dumps(m.get("blocks") or []):
                return str(m["ts"])
        return self.ts

    def prepare(self, kind: str) -> str:
        """The signed request's body, built before the clock starts (as Slack would send it):
        the benchmark times the server, not the building of payloads."""
        n = next(self.counter)
        item = self.items[n % len(self.items)]
        if kind == "tick":
            checked = [str(item)] if (n // len(self.items)) % 2 == 0 else []
            payload = tick_payload(self.driver, self.live_checklist(), item, checked)
            return urlencode({"payload": json.dumps(payload)})
        text = {"status": "status", "checklist": "checklist", "due": f"due 1.2 2027-01-{10 + n % 15:02d}"}[
            kind
        ]
        return urlencode(self.driver.command_fields("/golive", text, user=LEAD.user_id, channel=CHANNEL))

    def send(self, body: str, kind: str) -> float:
        start = time.perf_counter()
        r = self.driver.send(body, "application/x-www-form-urlencoded")
        elapsed = time.perf_counter() - start
        if r.status != 200:
            raise SystemExit(f"{kind}: HTTP {r.status} {r.body[:200]}")
        return elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k] * 1000


def run_batch(target: Target, kind: str, clients: int, requests: int) -> list[float]:
    bodies = [target.prepare(kind) for _ in range(requests)]
    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(lambda body: target.send(body, kind), bodies))


def ticks_shown(blocks: Any) -> set[int]:
    """The items a checklist message shows with a checkbox (open ones: a done item is folded)."""
    shown: set[int] = set()
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, dict):
            continue
        for el in block.get("elements") or []:
            action = str(el.get("action_id") or "") if isinstance(el, dict) else ""
            if action.startswith("tick:"):
                shown.add(int(action.split(":")[1]))
    return shown


def tick_to_update(target: Target, count: int, gap: float, timeout: float = 10.0) -> list[float]:
    """`count` ticks sent one at a time after the load, each on a customer item in turn (ticked
    when the live checklist shows it open, unticked when it is folded away as done): for each,
    the seconds from sending it to the stand-in receiving the chat.update of that checklist
    message that shows the item as the tick set it. One at a time, so that every update belongs
    to one tick: under the load, three customer items are ticked and unticked by ten or fifty
    clients at once and a refresh shows many ticks, most of them already undone. After each
    update, `gap` seconds (the stand-in's answer to it, and a little more) before the next tick,
    so that a tick does not wait for the previous one's update to be answered."""
    standin = target.driver.standin
    ws = standin.ws
    took = []
    for n in range(count):
        item = target.items[n % len(target.items)]
        # The live checklist, even when it shows no checkbox (every customer item done); an older
        # copy says "this checklist moved".
        ts = next(
            str(m["ts"])
            for m in reversed(standin.messages(CHANNEL, include_deleted=False))
            if "checklist:" in (m.get("text") or "")
        )
        message = standin.slack_message(CHANNEL, ts) or {}
        ticked = item in ticks_shown(message.get("blocks"))  # open: this tick marks it done
        payload = tick_payload(target.driver, ts, item, [str(item)] if ticked else [])
        body = urlencode({"payload": json.dumps(payload)})
        with ws.lock:
            seen = len(ws.calls)
        sent = time.time()
        target.send(body, "tick")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with ws.lock:
                new = ws.calls[seen:]
                seen = len(ws.calls)
            update = next(
                (
                    c
                    for c in new
                    if c.method == "chat.update"
                    and c.response.get("ok")
                    and c.args.get("channel") == CHANNEL
                    and str(c.args.get("ts")) == ts
                    and (item not in ticks_shown(c.args.get("blocks"))) == ticked
                ),
                None,
            )
            if update is not None:
                took.append(update.at - sent)
                break
            time.sleep(0.005)
        time.sleep(gap)
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--requests", type=int, default=200, help="per kind of request and per server")
    ap.add_argument(
        "--slack-delay", type=float, default=0.3, help="seconds the stand-in takes per Web API call"
    )
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    ap.add_argument("--seed", type=int, default=0, help="engagements to create first (memory with data)")
    ap.add_argument("--workers", type=int, default=None, help="gunicorn worker processes for golive")
    ap.add_argument("--set", action="append", default=[], help="a setting for golive serve, NAME=VALUE")
    ap.add_argument("--rounds", type=int, default=3, help="golive and bare alternate this many times")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--profile", default=None, help="py-spy raw samples of the serve process to this file")
    ap.add_argument("--kinds", default=",".join(KINDS), help="which requests, comma-separated")
    ap.add_argument(
        "--probe-ticks", type=int, default=30, help="ticks sent one at a time after the load (tick to update)"
    )
    args = ap.parse_args()
    kinds = [k for k in args.kinds.split(",") if k in KINDS]

    tmp = tempfile.TemporaryDirectory()
    scratch = contextlib.ExitStack()
    if args.database_url and args.database_url.startswith("postgres"):
        url = scratch.enter_context(scratch_postgres(args.database_url))
    else:
        url = args.database_url or f"sqlite:///{tmp.name}/bench.sqlite3"
    standin = start_standin()
    procs: list[subprocess.Popen[str]] = []
    try:
        if args.seed:
            t0 = time.perf_counter()
            seed(url, args.seed)
            print(f"seeded {args.seed} engagements in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        env = {
            "SLACK_API_URL": standin.api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "DATABASE_URL": url,
            "GOLIVE_SWEEP_SECONDS": "3600",
            "LOG_LEVEL": "WARNING",
        }
        if args.workers:
            env["GOLIVE_WEB_WORKERS"] = str(args.workers)
        for setting in args.set:  # e.g. --set GOLIVE_INBOX_NICE=0, to compare settings
            name, _, value = setting.partition("=")
            env[name] = value
        if args.seed:
            # The seeded engagements were never planned: the first sweep plans them all (about 13 s
            # for 10,000 on SQLite), as once after an upgrade. Run it first, as a running install
            # would have, so the acks are timed in the steady state and not beside that sweep.
            t0 = time.perf_counter()
            first = spawn(["-m", "golive.cli", "sweep"], env)
            out, _ = first.communicate(timeout=600)
            if first.returncode != 0:
                raise SystemExit(f"the first sweep failed:\n{out}")
            print(
                f"first sweep over the seeded engagements: {time.perf_counter() - t0:.0f} s", file=sys.stderr
            )
        golive_port, bare_port = free_port(), free_port()
        golive = spawn(["-m", "golive.cli", "serve", "--host", "127.0.0.1", "--port", str(golive_port)], env)
        bare = spawn([str(ROOT / "bench" / "bare_bolt.py"), "--port", str(bare_port), "--threads", "8"], env)
        procs += [golive, bare]
        wait_http(f"http://127.0.0.1:{golive_port}/healthz", golive)
        wait_http(f"http://127.0.0.1:{bare_port}/healthz", bare)
        golive_url = f"http://127.0.0.1:{golive_port}/slack/events"
        setup = SlackDriver(standin, golive_url, timeout=30)
        setup.command(
            "/golive", "start Acme Corp size=medium tz=Europe/Berlin", user=LEAD.user_id, channel=CHANNEL
        )
        setup.command(
            "/golive", f"role <@{CONTRIBUTOR.user_id}> contributor", user=LEAD.user_id, channel=CHANNEL
        )
        checklist = standin.wait_for(
            lambda: [m for m in standin.messages(CHANNEL) if "checklist:" in (m.get("text") or "")],
            timeout=30,
            message="the first checklist is posted",
        )[-1]
        items, side = [], ""
        for b in checklist["blocks"]:  # the customer's items: under the checklist's first heading
            bid = str(b.get("block_id", ""))
            side = bid.removeprefix("group:") if bid.startswith("group:") else side
            if bid.startswith("item:") and "/" not in bid and side == "customer":
                items.append(int(bid.split(":")[1]))
        for method in DELAYED:
            standin.set_latency(method, args.slack_delay)
        profiler = None
        if args.profile:
            # py-spy samples every thread of the serve processes while the load runs.
            profiler = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--subprocesses",
                    "--threads",
                    "--gil",
                    "--rate",
                    "1000",
                    "--format",
                    "raw",
                    "-o",
                    args.profile,
                    "--pid",
                    str(golive.pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)
        targets = {
            "golive": Target(standin, golive_url, checklist["ts"], items),
            "bare": Target(standin, f"http://127.0.0.1:{bare_port}/slack/events", checklist["ts"], items),
        }
        times: dict[str, dict[str, list[float]]] = {t: {k: [] for k in KINDS} for t in targets}
        cpu: dict[str, dict[str, float]] = {t: {k: 0.0 for k in KINDS} for t in targets}
        pids = {"golive": golive.pid, "bare": bare.pid}
        per_round = max(1, args.requests // args.rounds)
        coalesced = {"ticks": 0, "updates": 0}
        # The setup's posts and their refreshes are done before the first batch is timed.
        wait_outbox_idle(golive.pid, database=url)
        for _round in range(args.rounds):
            for kind in random.sample(kinds, len(kinds)):
                for name in ("golive", "bare"):
                    before = cpu_seconds(pids[name])
                    with standin.ws.lock:
                        mark = len(standin.ws.calls)
                    times[name][kind] += run_batch(targets[name], kind, args.clients, per_round)
                    if name == "golive":
                        # The batch's after-ack work (refreshes paced to Slack's rate limits) is
                        # charged to it, and does not run into the next batch.
                        wait_outbox_idle(golive.pid, database=url)
                        if kind == "tick":
                            with standin.ws.lock:
                                new = standin.ws.calls[mark:]
                            coalesced["ticks"] += per_round
                            coalesced["updates"] += sum(
                                1
                                for c in new
                                if c.method == "chat.update" and c.args.get("channel") == CHANNEL
                            )
                    cpu[name][kind] += cpu_seconds(pids[name]) - before
        rss, pss = memory_mb(golive.pid)
        shown = (
            tick_to_update(targets["golive"], args.probe_ticks, args.slack_delay + 0.2)
            if "tick" in kinds
            else []
        )
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
    finally:
        for p in procs:
            stop(p)
        standin.stop()
        scratch.close()
        tmp.cleanup()

    bare_all = [t for k in kinds for t in times["bare"][k]]
    bare_p50, bare_p99 = percentile(bare_all, 0.5), percentile(bare_all, 0.99)
    bare_cpu = sum(cpu["bare"][k] for k in kinds) * 1000 / (len(bare_all) or 1)
    db = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(
        f"{args.clients} clients, {per_round * args.rounds} requests per kind, Slack answering in "
        f"{args.slack_delay:.2f} s, {db}, {os.cpu_count()} cores"
    )
    print(
        f"{'request':<10} {'golive p50':>10} {'p95':>7} {'p99':>7} {'bare p50':>9} {'p99':>7} {'p50 ratio':>9}"
        f" {'CPU/request golive':>18} {'bare':>6}"
    )
    result: dict[str, Any] = {
        "clients": args.clients,
        "requests": per_round * args.rounds,
        "database": db,
        "slack_delay_s": args.slack_delay,
        "golive": {},
        "bare": {"p50_ms": round(bare_p50, 1), "p99_ms": round(bare_p99, 1), "cpu_ms": round(bare_cpu, 2)},
    }
    problems = []
    for kind in kinds:
        g = times["golive"][kind]
        b = times["bare"][kind]
        p50, p95, p99 = percentile(g, 0.5), percentile(g, 0.95), percentile(g, 0.99)
        bp50, bp99 = percentile(b, 0.5), percentile(b, 0.99)
        ratio = p50 / bp50 if bp50 else float("inf")
        gcpu = cpu["golive"][kind] * 1000 / (len(g) or 1)
        bcpu = cpu["bare"][kind] * 1000 / (len(b) or 1)
        print(
            f"{kind:<10} {p50:>8.0f}ms {p95:>5.0f}ms {p99:>5.0f}ms {bp50:>7.0f}ms {bp99:>5.0f}ms {ratio:>8.2f}x"
            f" {gcpu:>16.1f}ms {bcpu:>4.1f}ms"
        )
        result["golive"][kind] = {
            "p50_ms": round(p50, 1),
            "p95_ms": round(p95, 1),
            "p99_ms": round(p99, 1),
            "ratio_p50": round(ratio, 2),
            "cpu_ms": round(gcpu, 2),
        }
        if args.clients >= 50 and p99 > P99_TARGET_MS:
            problems.append(f"{kind} p99 {p99:.0f} ms > {P99_TARGET_MS:.0f} ms")
        if args.clients in (1, 10) and ratio > RATIO_TARGET:
            problems.append(f"{kind} p50 {ratio:.2f}x bare > {RATIO_TARGET}x")
    if shown:
        up50, up95 = percentile(shown, 0.5), percentile(shown, 0.95)
        print(
            f"from a tick to its chat.update, after the load: p50 {up50:.0f} ms, p95 {up95:.0f} ms "
            f"({len(shown)} of {args.probe_ticks} ticks, one at a time, updated within 10 s)"
        )
    result["tick_to_update"] = {
        "p50_ms": round(up50, 1) if shown else None,
        "p95_ms": round(up95, 1) if shown else None,
        "ticks": args.probe_ticks if "tick" in kinds else 0,
        "seen": len(shown),
    }
    if coalesced["ticks"]:
        per_tick = coalesced["updates"] / coalesced["ticks"]
        print(
            f"chat.update calls for the timed ticks: {coalesced['updates']} for {coalesced['ticks']} ticks "
            f"in bursts of {args.clients} clients ({per_tick:.2f} a tick; one a tick without coalescing)"
        )
        result["tick_updates"] = {**coalesced, "per_tick": round(per_tick, 3)}
    print(
        f"serve memory after the load: PSS {pss:.0f} MB over the master and its descendants "
        f"(RSS summed over them {rss:.0f} MB)" + (f", {args.seed} seeded engagements" if args.seed else "")
    )
    result["pss_mb"], result["rss_mb"] = round(pss, 1), round(rss, 1)
    if pss > PSS_TARGET_MB:
        problems.append(f"memory PSS {pss:.0f} MB > {PSS_TARGET_MB:.0f} MB")
    print("OK" if not problems else "FAIL: " + "; ".join(problems))
    result["ok"] = not problems
    if args.json:
        print(json.dumps(result))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
