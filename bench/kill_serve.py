"""Benchmark: SIGKILL `golive serve` in the middle of a burst of ticks; does it forget or double any?

Since issue 24 every request whose work follows its ack is in the `inbox` table before its 200
and is replayed by a restarted (or any other) process when its own died. This runs the trials of
`sandbox.harness.killing` on SQLite (a fresh file per trial) and on PostgreSQL (a fresh database per
trial, made like tests/conftest.py's `pg_url` and dropped after), with
GOLIVE_INBOX_LEASE_SECONDS=2. A trial starts a fresh engagement with one customer item per tick
(`prepare`: the harness's, here for a checklist posted in two messages), sends `--ticks` signed
ticks from `--clients` threads, SIGKILLs the master and every worker at once at a random
moment, restarts `golive serve` on the same database, waits until the inbox is empty and counts,
among the ticks that had their 200: items not done (lost) and items with more than one
`item.done` audit row (recorded twice) (`sandbox.harness.killing.trial`). "replayed" counts the ticks'
inbox rows taken more than once: rows recorded before a 200 that the kill may have stopped.

The kill moment is uniform in [0, D], where D is the duration of one unkilled warm-up burst per
database (its first tick sent to its last 200), or `--kill-window` seconds when given (e.g. 1.5).

    .venv/bin/python bench/kill_serve.py [--trials 5] [--ticks 50] [--clients 10]
        [--database-url postgresql://postgres@127.0.0.1:5432/test] [--databases sqlite,postgresql]
        [--kill-window S] [--random-seed N] [--json]

`--database-url` defaults to $GOLIVE_TEST_POSTGRES_URL; without either, PostgreSQL is skipped
(said so). Exits 1 if any acked tick is lost or recorded twice. With `--json` the last line is

    {"ticks": 50, "clients": 10, "trials": 5, "lease_s": 2, "ok": true,
     "databases": {"SQLite": {"window_s": …, "trials": [{"kill_after_s": …, "acked": …,
        "lost": […], "doubled": […], "replayed": …, "recovery_s": …}, …]}, "PostgreSQL": {…}}}
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandbox.harness import scratch_postgres, start_standin
from sandbox.harness.killing import Trial, _scalar, prepare, start_serve, stop_serve, trial
from standin import SlackDriver
from standin.driver import FORM

ROOT = Path(__file__).resolve().parents[1]
PG_ENV = "GOLIVE_TEST_POSTGRES_URL"
LEASE_SECONDS = 2
ENV = {
    "GOLIVE_INBOX_LEASE_SECONDS": str(LEASE_SECONDS),
    "GOLIVE_SWEEP_SECONDS": "3600",
    "LOG_LEVEL": "WARNING",
}


@contextmanager
def fresh_database(kind: str, pg_base: str | None, tmp: Path) -> Iterator[str]:
    """A database no trial has used: a new SQLite file, or a new PostgreSQL database dropped
    after (as tests/conftest.py's `pg_url`)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / f'kill-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    assert pg_base
    with scratch_postgres(pg_base, "golive_kill") as url:
        yield url


def warm_up(database: str, ticks: int, clients: int) -> float:
    """Seconds from the first tick sent to the last 200, for one burst that nobody kills. Checks
    the bench itself too: once that server has stopped, every item is done."""
    standin = start_standin()
    try:
        bodies = prepare(standin, database, ROOT, ticks, **ENV)
        proc, port = start_serve(standin, database, ROOT, **ENV)
        log = ""
        try:
            driver = SlackDriver(standin, bot_url=f"http://127.0.0.1:{port}/slack/events")
            driver.timeout = 30
            last = [0.0]
            lock = threading.Lock()

            def send(entry: tuple[str, str]) -> None:
                r = driver.send(entry[1], FORM)
                if r.status != 200:
                    raise RuntimeError(f"warm-up tick {entry[0]}: HTTP {r.status}")
                with lock:
                    last[0] = max(last[0], time.monotonic())

            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=clients) as pool:
                list(pool.map(send, bodies))
            took = last[0] - started
        finally:
            log = stop_serve(proc)
        done = _scalar(
            database, "SELECT count(*) FROM item WHERE title LIKE 'Burst item %' AND status = 'done'"
        )
        if done != ticks:
            raise RuntimeError(
                f"the unkilled warm-up burst left {ticks - done} of {ticks} items not done:\n{log[-3000:]}"
            )
        return took
    finally:
        standin.stop()


def one_trial(database: str, ticks: int, clients: int, kill_after: float) -> Trial:
    standin = start_standin()
    try:
        bodies = prepare(standin, database, ROOT, ticks, **ENV)
        return trial(standin, database, ROOT, bodies, clients=clients, kill_after=kill_after, **ENV)
    finally:
        standin.stop()


def run_database(
    kind: str,
    pg_base: str | None,
    args: argparse.Namespace,
    rng: random.Random,
    tmp: Path,
    say: Callable[[str], None],
) -> dict[str, Any]:
    if args.kill_window is not None:
        window, how = args.kill_window, "fixed"
    else:
        with fresh_database(kind, pg_base, tmp) as db:
            window, how = warm_up(db, args.ticks, args.clients), "the warm-up burst's duration"
    say(f"kill moments uniform in [0, {window:.2f} s] ({how})")
    rows = []
    for n in range(args.trials):
        kill_after = rng.uniform(0.0, window)
        with fresh_database(kind, pg_base, tmp) as db:
            t = one_trial(db, args.ticks, args.clients, kill_after)
        rows.append(
            {
                "kill_after_s": round(kill_after, 3),
                "acked": t.acked,
                "lost": t.lost,
                "doubled": t.doubled,
                "replayed": t.replayed,
                "recovery_s": round(t.recovery_seconds, 2),
            }
        )
        say(
            f"  trial {n + 1}: killed at {kill_after:.2f} s, acked {t.acked}, lost {len(t.lost)}, "
            f"doubled {len(t.doubled)}, replayed {t.replayed}, recovered in {t.recovery_seconds:.1f} s"
        )
        if t.lost or t.doubled:
            say(f"  lost {t.lost}, doubled {t.doubled}; the servers' last output:\n{t.log[-3000:]}")
    return {"window_s": round(window, 3), "window": how, "trials": rows}


def table(name: str, result: dict[str, Any], ticks: int, clients: int) -> str:
    lines = [
        f"{name}: {ticks} ticks from {clients} clients per trial, killed at a random moment in "
        f"[0, {result['window_s']:.2f} s], inbox lease {LEASE_SECONDS} s",
        f"{'trial':>5} {'killed at':>9} {'acked':>6} {'lost':>5} {'doubled':>7} {'replayed':>8} {'recovery':>9}",
    ]
    rows = result["trials"]
    for n, r in enumerate(rows, start=1):
        lines.append(
            f"{n:>5} {r['kill_after_s']:>8.2f}s {r['acked']:>6} {len(r['lost']):>5} {len(r['doubled']):>7}"
            f" {r['replayed']:>8} {r['recovery_s']:>8.1f}s"
        )
    lines.append(
        f"{'all':>5} {'':>9} {sum(r['acked'] for r in rows):>6} {sum(len(r['lost']) for r in rows):>5}"
        f" {sum(len(r['doubled']) for r in rows):>7} {sum(r['replayed'] for r in rows):>8}"
        f" {max((r['recovery_s'] for r in rows), default=0.0):>8.1f}s (longest)"
    )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--ticks", type=int, default=50)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument(
        "--database-url", default=os.environ.get(PG_ENV), help=f"PostgreSQL server (default: ${PG_ENV})"
    )
    ap.add_argument("--databases", default="sqlite,postgresql", help="which, comma-separated")
    ap.add_argument(
        "--kill-window",
        type=float,
        default=None,
        help="kill within [0, S] seconds (default: the duration of an unkilled warm-up burst)",
    )
    ap.add_argument("--random-seed", type=int, default=None, help="for the kill moments")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rng = random.Random(args.random_seed)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    results: dict[str, Any] = {}
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    with tempfile.TemporaryDirectory() as tmpdir:
        for kind in kinds:
            if kind not in names:
                raise SystemExit(f"unknown database {kind!r}: sqlite or postgresql")
            if kind == "postgresql" and not args.database_url:
                print(f"PostgreSQL skipped: no --database-url and no ${PG_ENV}")
                continue
            say(f"{names[kind]}:")
            results[names[kind]] = run_database(kind, args.database_url, args, rng, Path(tmpdir), say)

    failed = False
    for name, result in results.items():
        print(table(name, result, args.ticks, args.clients))
        failed |= any(r["lost"] or r["doubled"] for r in result["trials"])
    print("FAIL: an acked tick was lost or recorded twice" if failed else "OK: no acked tick lost or doubled")
    if args.json:
        print(
            json.dumps(
                {
                    "ticks": args.ticks,
                    "clients": args.clients,
                    "trials": args.trials,
                    "lease_s": LEASE_SECONDS,
                    "ok": not failed,
                    "databases": results,
                }
            )
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
