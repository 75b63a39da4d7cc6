"""`golive serve` imports before the fork what its workers need, so they share it.

A module first imported in a worker is that worker's alone (measured: about 19 MB of objects in
each of two workers, among them all 250 country modules of `holidays`). The check runs in a
fresh interpreter: what serve's master does before the fork, then a bot serving commands, a due
date and a sweep; any of the bot's or its libraries' modules imported after that would be loaded
per worker. (The timeline picture's matplotlib is left out on purpose: it is loaded only by a
worker that draws one, and the master would otherwise carry it for every install.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import json, sys, tempfile
from pathlib import Path

# What `golive serve`'s master does before the fork: the checks, the templates compiled and the
# preload (before_fork), and the database migrated.
from bot.config import load_settings
from golive.preload import before_fork
from storage.migrate import upgrade

tmp = tempfile.mkdtemp()
url = f"sqlite:///{tmp}/golive.sqlite3"
before_fork(load_settings(_env_file=None, DATABASE_URL=url, SLACK_BOT_TOKEN="xoxb-preload"))
upgrade(url)

from datetime import UTC, datetime

from bot.clock import Clock
from sandbox.harness import APPROVER, CONTRIBUTOR, Harness  # the stand-in and the driver: not the bot's
before = set(sys.modules)

# A Wednesday afternoon: on a Monday the sweep sends the weekly digest, whose timeline picture
# (matplotlib, left out on purpose) would be drawn here.
h = Harness(url, clock=Clock(datetime(2026, 12, 9, 14, 0, tzinfo=UTC))).start()
try:
    h.command("start Acme Corp size=medium country=DE")
    h.command(f"role <@{CONTRIBUTOR.user_id}> contributor")
    h.command(f"role <@{APPROVER.user_id}> approver")
    h.command("checklist")
    h.command("done 1.1")
    h.command("due 1.2 2030-01-15")
    h.command("status")
    h.command("nudges")
    h.run_sweep()
finally:
    h.stop()
OURS = ("bot", "handlers", "storage", "messages", "holidays", "apscheduler", "slack_bolt", "slack_sdk",
        "sqlalchemy", "sqlmodel", "alembic", "jinja2", "dateutil", "tzlocal", "tzdata", "encodings")
print(json.dumps(sorted(m for m in set(sys.modules) - before if m.split(".")[0] in OURS)))
"""


def test_workers_import_nothing_the_master_did_not() -> None:
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    late = json.loads(out.stdout.strip().splitlines()[-1])
    assert late == [], f"imported after the preload, so once per worker: {late}"
