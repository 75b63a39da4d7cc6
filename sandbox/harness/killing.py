"""Killing `golive serve` in the middle of a burst of ticks, and counting what it forgot.

Used by `bench/kill_serve.py` (50 ticks from 10 clients, killed at random moments) and by
tests/e2e/test_processes.py (a smaller burst). A trial:

1. starts `golive serve` on the database, starts an engagement and adds one customer item per
   tick to phase 1, so that every tick has an item of its own and the outcome does not depend on
   the order the ticks are done in;
2. sends the ticks (signed, built beforehand from the posted checklist) from `clients` threads,
   and `kill_after` seconds after the first is sent, SIGKILLs the master and every worker at once
   (what an OOM kill of the container or a lost host does);
3. starts `golive serve` again on the same database and waits until the inbox is empty;
4. counts, for the ticks that had their 200: items not done (lost) and items with more than one
   `item.done` audit row (recorded twice).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import create_engine, text

from sandbox.harness import CHANNEL, CONTRIBUTOR, LEAD
from sandbox.harness.processes import kill_all, spawn_serve, stop, wait_http
from standin import SlackDriver, SlackStandIn
from standin.driver import FORM
from storage.db import inbox_url, is_sqlite


@dataclass
class Trial:
    ticks: int
    acked: int = 0
    lost: list[str] = field(default_factory=list)  # acked, not recorded
    doubled: list[str] = field(default_factory=list)  # recorded more than once
    replayed: int = 0  # inbox rows taken more than once (their first process died)
    recovery_seconds: float = 0.0  # restart until the inbox was empty
    log: str = ""


def start_serve(
    standin: SlackStandIn, database: str, cwd: Path, **env: str
) -> tuple[subprocess.Popen[str], int]:
    """`golive serve`, answering /healthz; its inbox process not niced (the machine is shared with
    the tests and the benchmark's clients, and this measures loss, not speed)."""
    proc, port = spawn_serve(standin, cwd, database, **env)
    status = wait_http(f"http://127.0.0.1:{port}/healthz", proc, timeout=60)
    if status != 200:
        raise RuntimeError(f"golive serve answered /healthz with {status}")
    return proc, port


def stop_serve(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, and its output."""
    return stop(proc)[1]


def _scalar(database: str, sql: str, **params: object) -> int:
    if " inbox " in sql:  # on SQLite, its own file beside the database's (`Database.inbox`)
        database = inbox_url(database) if is_sqlite(database) else database
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql), params).scalar() or 0)
    finally:
        engine.dispose()


def prepare(standin: SlackStandIn, database: str, cwd: Path, ticks: int, **env: str) -> list[tuple[str, str]]:
    """An engagement with `ticks` customer items added to phase 1, and the signed body of a tick of
    each, with the item's reference. A phase of many items is posted in several parts (at most 50
    blocks a message): each tick is built from the live part that holds its item. Leaves no
    process running."""
    proc, port = start_serve(standin, database, cwd, **env)
    try:
        driver = SlackDriver(standin, bot_url=f"http://127.0.0.1:{port}/slack/events")
        driver.command("/golive", "start Acme Corp size=small", user=LEAD.user_id, channel=CHANNEL)
        _wait(lambda: _scalar(database, "SELECT count(*) FROM engagement") == 1)
        driver.command(
            "/golive", f"role <@{CONTRIBUTOR.user_id}> contributor", user=LEAD.user_id, channel=CHANNEL
        )
        for n in range(ticks):
            r = driver.command(
                "/golive", f"add 1 Burst item {n} owner=customer", user=LEAD.user_id, channel=CHANNEL
            )
            assert r.status == 200, r.body
        _wait(lambda: _scalar(database, "SELECT count(*) FROM item WHERE title LIKE 'Burst item %'") == ticks)
        ids = _burst_ids(database)
        _wait(lambda: _parts_with(standin, database, [item_id for item_id, _ref in ids]))
    finally:
        stop_serve(proc)
    # Read once the server has stopped: its last refreshes may have moved or re-split the parts.
    holder = _parts_with(standin, database, [item_id for item_id, _ref in ids])
    if holder is None:
        raise RuntimeError("the posted checklist does not show every burst item")
    bodies = []
    for item_id, ref in ids:
        payload = driver.click_payload(
            CHANNEL,
            holder[item_id],
            f"tick:{item_id}",
            user=CONTRIBUTOR.user_id,
            selected_options=[str(item_id)],
        )
        bodies.append((ref, urlencode({"payload": json.dumps(payload)})))
    return bodies


def _parts_with(standin: SlackStandIn, database: str, ids: list[int]) -> dict[int, str] | None:
    """The ts of the checklist part holding each item's checkbox, once every item has one: only
    the parts in the bot's ledger (`posted_message`), which a tick is matched against."""
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            parts = {
                str(ts)
                for (ts,) in conn.execute(
                    text("SELECT ts FROM posted_message WHERE kind = 'checklist' AND channel_id = :c"),
                    {"c": CHANNEL},
                )
            }
    finally:
        engine.dispose()
    holder: dict[int, str] = {}
    for message in standin.messages(CHANNEL, include_deleted=False):
        if str(message["ts"]) not in parts:
            continue
        for block in message.get("blocks") or []:
            for el in block.get("elements") or []:
                action = str(el.get("action_id") or "") if isinstance(el, dict) else ""
                if action.startswith("tick:"):
                    holder[int(action.split(":")[1])] = str(message["ts"])
    return holder if all(i in holder for i in ids) else None


def _burst_ids(database: str) -> list[tuple[int, str]]:
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT item.id, engagement_phase.number, item.number FROM item "
                    "JOIN engagement_phase ON engagement_phase.id = item.phase_id "
                    "WHERE item.title LIKE 'Burst item %' ORDER BY item.id"
                )
            ).all()
    finally:
        engine.dispose()
    return [(int(r[0]), f"{r[1]}.{r[2]}") for r in rows]


def _wait(check: Callable[[], object], timeout: float = 30) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise RuntimeError("timed out")


def trial(
    standin: SlackStandIn,
    database: str,
    cwd: Path,
    bodies: list[tuple[str, str]],
    *,
    clients: int,
    kill_after: float,
    kill_at_acks: int | None = None,
    hold: Callable[[], Callable[[], None]] | None = None,
    **env: str,
) -> Trial:
    """Send `bodies`, kill everything `kill_after` seconds after the first (or, with
    `kill_at_acks`, as soon as that many were acked), restart, count.
    `hold()` (optional) runs before the burst and returns what releases it after the kill: the
    test holds the items' rows locked on PostgreSQL so that every acked tick's work is pending."""
    result = Trial(ticks=len(bodies))
    proc, port = start_serve(standin, database, cwd, **env)
    driver = SlackDriver(standin, bot_url=f"http://127.0.0.1:{port}/slack/events")
    driver.timeout = 5
    acked: list[str] = []
    lock = threading.Lock()
    release = hold() if hold is not None else None

    def send(entry: tuple[str, str]) -> None:
        ref, body = entry
        try:
            r = driver.send(body, FORM)
        except OSError:
            return  # killed before it answered: Slack shows the user an error, nothing was acked
        if r.status == 200:
            with lock:
                acked.append(ref)

    pool = ThreadPoolExecutor(max_workers=clients)
    started = time.monotonic()
    futures = [pool.submit(send, b) for b in bodies]
    while time.monotonic() - started < kill_after:
        if kill_at_acks is not None and len(acked) >= kill_at_acks:
            break
        time.sleep(0.002)
    result.log += kill_all(proc)
    for f in futures:
        f.result()
    pool.shutdown()
    if release is not None:
        release()
    result.acked = len(acked)
    # The restart: the rows left leased by the dead processes are taken when their lease runs out.
    restart = time.monotonic()
    proc, port = start_serve(standin, database, cwd, **env)
    try:
        _wait(lambda: _scalar(database, "SELECT count(*) FROM inbox WHERE done_at IS NULL") == 0, timeout=120)
        result.recovery_seconds = time.monotonic() - restart
    finally:
        result.log += stop_serve(proc)
    for ref in acked:
        phase, number = ref.split(".")
        done = _scalar(
            database,
            "SELECT count(*) FROM item JOIN engagement_phase ON engagement_phase.id = item.phase_id "
            "WHERE engagement_phase.number = :p AND item.number = :n AND item.status = 'done' "
            "AND item.title LIKE 'Burst item %'",
            p=int(phase),
            n=int(number),
        )
        audits = _scalar(
            database, "SELECT count(*) FROM audit_event WHERE kind = 'item.done' AND subject = :ref", ref=ref
        )
        if not done:
            result.lost.append(ref)
        if audits > 1:
            result.doubled.append(ref)
    result.replayed = _scalar(
        database, "SELECT count(*) FROM inbox WHERE attempts > 1 AND kind = 'block_actions'"
    )
    return result
