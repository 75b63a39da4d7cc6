"""Issue 10: the audit CSV is safe to open in a spreadsheet and readable without a lookup table.

Hostile names go in through the real flows (a customer name, a Slack display name, an item
title, a username, a reason); the CSV the bot uploads to the stand-in is parsed with the csv
module: no cell may start with a character a spreadsheet runs as a formula unless it is
neutralised with a leading `'`.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from sqlmodel import select

from bot.people.audit import CSV_COLUMNS, FORMULA_START, neutralise
from harness import CHANNEL, CUSTOMER_TEAM, LEAD
from storage.models import Gate
from tests.e2e.helpers import mention, request_signoff
from tests.e2e.test_checklist import checklist_msg, item

CUSTOMER = "=cmd|' /C calc'!A0"
DISPLAY = '=HYPERLINK("http://x")'
TITLE = "+SUM(A1:A9)"
USERNAME = "-evil"
REASON = "@here -1+1"


class Evil:
    user_id = "U0EVIL"
    name = "Evil Eve"


def rows_of(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def test_the_uploaded_csv_has_no_live_formula_and_readable_columns(harness):
    h = harness
    h.standin.add_user(
        Evil.user_id, name=USERNAME, display_name=DISPLAY, real_name=DISPLAY, team_id=CUSTOMER_TEAM
    )
    h.standin.add_member(CHANNEL, Evil.user_id)
    h.command(f"start {CUSTOMER} size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(Evil)} contributor")
    h.command(f"role {mention(Evil)} approver")
    h.command(f"add 1 {TITLE} owner=customer")
    it = item(h, "1.7")
    h.driver.click(
        CHANNEL, checklist_msg(h, 1)["ts"], f"tick:{it.id}", user=Evil.user_id, selected_options=[str(it.id)]
    )
    h.idle()
    h.command(f"na 1.6 {REASON}")
    for n in range(1, 6):
        h.command(f"done 1.{n}")
    request_signoff(h, "solution_design")
    h.command("audit")

    [f] = h.standin.files
    raw = f["content"].decode("utf-8")
    rows = rows_of(f["content"])
    assert list(rows[0]) == CSV_COLUMNS
    # Every cell of every row: nothing a spreadsheet would run.
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(FORMULA_START), (column, cell)
    # Every cell quoted, so a `;` or `,` inside one cannot open a new cell.
    assert all(line.startswith('"') and line.endswith('"') for line in raw.splitlines())
    # The hostile values are all there, as text.
    assert {r["engagement"] for r in rows} == {"'" + CUSTOMER}
    kinds = {r["kind"]: r for r in rows}
    assert kinds["role.added"]["subject"] == "'" + DISPLAY  # the display name Slack gave
    added = next(r for r in rows if r["kind"] == "item.added")
    assert added["subject"] == "1.7" and added["subject_title"] == "'" + TITLE
    ticked = next(r for r in rows if r["kind"] == "item.done" and r["subject"] == "1.7")
    assert ticked["actor_id"] == Evil.user_id and ticked["actor_name"] == "'" + USERNAME
    assert ticked["subject_title"] == "'" + TITLE
    assert REASON in next(r for r in rows if r["kind"] == "item.na")["detail"]
    # Readable columns beside the ids.
    with h.services.db.read() as s:
        gate_title = s.exec(select(Gate.title).where(Gate.key == "solution_design")).one()
    requested = kinds["signoff.requested"]
    assert requested["subject"] == "solution_design" and requested["subject_title"] == gate_title
    done_11 = next(r for r in rows if r["kind"] == "item.done" and r["subject"] == "1.1")
    assert done_11["subject_title"] == item(h, "1.1").title
    assert done_11["actor_id"] == LEAD.user_id and done_11["actor_name"]
    for r in rows:
        utc, local = datetime.fromisoformat(r["time_utc"]), datetime.fromisoformat(r["time_local"])
        assert r["timezone"] == "Europe/Berlin"
        assert local == utc and local.utcoffset() == timedelta(hours=1)  # same instant, Berlin in winter
    # The upload's own texts carry the customer's name escaped (it is not mrkdwn-dangerous here,
    # but the same path escapes `<!channel>`; see test_hostile_names).
    assert f["initial_comment"].startswith("Audit trail of the " + CUSTOMER)


def test_neutralise_follows_owasp():
    for bad in ["=1+1", "+1", "-1", "@SUM(1)", "\t=1", "\r=1", "\n1", "\0x", "  =1+1"]:
        assert neutralise(bad) == "'" + bad
    for fine in ["Acme", "2.3", "2026-11-30T08:00:00+00:00", '{"a": 1}', "'=already text", "", "a=b"]:
        assert neutralise(fine) == fine
    assert neutralise(None) == "" and neutralise(12) == "12"
