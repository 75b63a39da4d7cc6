"""Issue 10: the audit CSV is safe to open in a spreadsheet and readable without a lookup table.
Issue 25, part 3: the channel's copy holds only what both sides may read (at the end).

Hostile names go in through the real flows (a customer name, a Slack display name, an item
title, a username, a reason); the CSV the bot uploads to the stand-in is parsed with the csv
module: no cell may start with a character a spreadsheet runs as a formula unless it is
neutralised with a leading `'`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta

from sqlmodel import select

from bot.people.audit import CSV_COLUMNS, FORMULA_START, neutralise
from sandbox.harness import CHANNEL, CONSULTANT, CONTRIBUTOR, CUSTOMER_TEAM, LEAD, VENDOR_TEAM
from storage.models import AuditEvent, Gate
from tests.e2e.helpers import engagement, ephemeral_texts, last_answer, mention, nudges, request_signoff
from tests.e2e.test_checklist import checklist_msg, item
from tests.e2e.test_quiet_channel import lead_dms, sweep_on

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
    with h.services.db.read() as session:
        gate_title = session.exec(select(Gate.title).where(Gate.key == "solution_design")).one()
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


# -- issue 25, part 3: the trail in the right place ----------------------------------------------
# The channel is shared with the customer (and maybe a third organisation): its CSV holds only
# the rows both sides may read. The rows that are the implementation team's alone — the
# escalation ladder (the lead's "nudge again", the snooze chosen on it), the flag set when Slack
# refused the channel and the reminders resumed after it — go only to the vendor person who
# asked, as a CSV in their direct message with the bot, and to `golive audit` on the command line.


def _golive(*args: str, url: str, cwd) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GOLIVE_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "golive.cli", *args],
        cwd=cwd,
        env=env | {"DATABASE_URL": url},
        capture_output=True,
        timeout=120,
    )


def _audit_files(h) -> list[dict]:
    """The CSVs /golive audit uploaded (the digest's timeline pictures are files too)."""
    return [f for f in h.standin.files if f["filename"].startswith("golive-audit-")]


def _files_in(h, channel: str | None) -> list[dict]:
    return [f for f in _audit_files(h) if channel and f["channel_id"] == channel]


def _all_rows(h) -> list[AuditEvent]:
    with h.services.db.read() as session:
        return list(session.exec(select(AuditEvent).order_by(AuditEvent.id)).all())


def _is_vendor_only(row: dict[str, str]) -> bool:
    """By what the row says, not by the code under test: the escalation ladder, the flag, paused
    or resumed reminders, a snooze the lead chose on an escalation, and what the lead was told
    privately about the customer's people, and the team's record of a customer's reply in a bot
    thread (the reply itself is in the channel)."""
    kind = row["kind"]
    return (
        kind.startswith(("escalation.", "nudges."))
        or kind in ("engagement.flagged", "people.lead_told", "thread.replied")
        or (kind == "item.snoozed" and '"by_lead": true' in row["detail"])
    )


def _escalate_snooze_and_flag(h) -> None:
    """Vendor-only rows made through the bot's own flows (see the comment above), and one shared
    snooze: the customer's own, from a nudge's menu."""
    sweep_on(h, "2026-12-02", "2026-12-04", "2026-12-08")  # a third reminder without progress
    [dm] = lead_dms(h)
    dm_channel = h.standin.im_channel(LEAD.user_id)
    h.driver.click(dm_channel, dm["ts"], "escalation_again", user=LEAD.user_id)
    h.idle()
    h.run_sweep()
    h.idle()
    sweep_on(h, "2026-12-09", hour="09:00")
    sweep_on(h, "2026-12-11", "2026-12-15")  # two more without progress: the lead hears again
    second = lead_dms(h)[-1]
    assert second["ts"] != dm["ts"]
    h.driver.click(dm_channel, second["ts"], "escalation_snooze", user=LEAD.user_id, selected_option="3")
    h.idle()
    assert str(item(h, "1.5").snoozed_until) == "2026-12-18"
    # The snooze is over: the customer snoozes 1.5 themselves, from the nudge that names it.
    sweep_on(h, "2026-12-21")
    live = [m for m in nudges(h) if f"nudge_snooze:{item(h, '1.5').id}" in json.dumps(m["blocks"])][-1]
    i5 = item(h, "1.5")
    h.driver.click(
        CHANNEL, live["ts"], f"nudge_snooze:{i5.id}", user=CONTRIBUTOR.user_id, selected_option=f"1:{i5.id}"
    )
    h.idle()
    assert str(item(h, "1.5").snoozed_until) == "2026-12-22"
    # Slack refuses the channel (the bot was removed): the sweep flags the engagement.
    h.standin.remove_member(CHANNEL, h.standin.bot_user_id)
    for day in ("2026-12-22", "2026-12-23", "2026-12-24", "2026-12-28"):
        sweep_on(h, day)
        if engagement(h).flagged:
            break
    assert engagement(h).flagged == "I was removed from the channel"
    h.standin.add_member(CHANNEL, h.standin.bot_user_id)
    h.command("nudges resume")  # clears the flag


def test_the_channel_gets_the_shared_trail_and_the_lead_the_whole_of_it_privately(small, tmp_path):
    h = small
    _escalate_snooze_and_flag(h)
    everything = _all_rows(h)
    kinds = {r.kind for r in everything}
    assert {"escalation.nudged", "engagement.flagged", "nudges.resumed", "item.snoozed"} <= kinds
    h.command("audit")

    [shared] = _files_in(h, CHANNEL)
    rows = rows_of(shared["content"])
    assert rows and not [r for r in rows if _is_vendor_only(r)], [
        r["kind"] for r in rows if _is_vendor_only(r)
    ]
    # Everything else is there: the customer's own snooze too (the checklist shows it anyway).
    assert [int(r["id"]) for r in rows] == [r.id for r in everything if not _is_vendor_only(_as_cells(r))]
    cody = [r for r in rows if r["kind"] == "item.snoozed"]
    assert [(r["actor_id"], r["subject"]) for r in cody] == [(CONTRIBUTOR.user_id, "1.5")]
    assert {"role.added", "engagement.started", "item.snoozed"} <= {r["kind"] for r in rows}
    assert shared["initial_comment"].endswith(f": {len(rows)} entries.")

    # The lead got the whole trail, in their direct message with the bot, and nobody else did.
    dm = h.standin.im_channel(LEAD.user_id)
    [private] = _files_in(h, dm)
    assert h.standin.channel(dm).is_im and h.standin.channel(dm).im_user == LEAD.user_id
    assert [f["channel_id"] for f in _audit_files(h)] == [CHANNEL, dm]
    full = rows_of(private["content"])
    assert [int(r["id"]) for r in full] == [r.id for r in everything]
    hidden = [r for r in full if _is_vendor_only(r)]
    assert {r["kind"] for r in hidden} == {
        "escalation.nudged",
        "item.snoozed",
        "engagement.flagged",
        "nudges.resumed",
    } | (
        {"people.lead_told"} & {r["kind"] for r in hidden}
    )  # what the lead was told of the customer's people
    lead_snoozes = [r for r in hidden if r["kind"] == "item.snoozed"]
    assert lead_snoozes and {r["actor_id"] for r in lead_snoozes} == {LEAD.user_id}
    assert (
        f"{len(full)} entries, {len(hidden)} of them the implementation team's own"
        in private["initial_comment"]
    )
    told = last_answer(h)
    assert f"Shared the {len(rows)} entries both sides may read in this channel" in told
    assert "is in your direct messages with me" in told

    # `golive audit` on the command line has everything; --shared what the channel got.
    url = h.services.db.url
    cli = _golive("audit", str(engagement(h).id), url=url, cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr.decode()[-2000:]
    assert [int(r["id"]) for r in rows_of(cli.stdout)] == [r.id for r in everything]
    assert f"{len(everything)} entries, {len(hidden)} of them vendor-only" in cli.stderr.decode()
    by_channel = _golive("audit", CHANNEL, "--shared", url=url, cwd=tmp_path)
    assert by_channel.returncode == 0, by_channel.stderr.decode()[-2000:]
    assert [r["id"] for r in rows_of(by_channel.stdout)] == [r["id"] for r in rows]
    out = tmp_path / "trail.csv"
    by_name = _golive("audit", "acme corp", "--out", str(out), url=url, cwd=tmp_path)
    assert by_name.returncode == 0 and rows_of(out.read_bytes()) == rows_of(cli.stdout)
    unknown = _golive("audit", "Umbrella", url=url, cwd=tmp_path)
    assert unknown.returncode == 2 and b"no engagement is called 'Umbrella'" in unknown.stderr


def _as_cells(row: AuditEvent) -> dict[str, str]:
    return {"kind": row.kind, "detail": row.detail}


def test_a_refused_channel_upload_summarises_the_shared_rows_only(small):
    h = small
    h.command("nudges pause")  # vendor-only rows, the last ones of the trail
    h.command("nudges resume")
    h.standin.block_file_uploads(CHANNEL)
    h.command("audit")
    assert _files_in(h, CHANNEL) == []
    summary = last_answer(h)
    assert "Slack refused the CSV in this channel" in summary and "both sides may read" in summary
    assert "role.added" in summary and "nudges." not in summary
    shared = [r for r in _all_rows(h) if not r.kind.startswith("nudges.")]
    assert f"last {len(shared)} entries of {len(shared)}" in summary
    # The full trail still reached the lead in private, and the summary says where.
    [private] = _files_in(h, h.standin.im_channel(LEAD.user_id))
    assert {"nudges.paused", "nudges.resumed"} <= {r["kind"] for r in rows_of(private["content"])}
    assert "is in your direct messages with me" in summary


def test_a_refused_private_upload_points_to_the_command_line(small):
    h = small
    h.command("nudges pause")
    h.standin.block_file_uploads(h.standin.open_im(LEAD.user_id))
    h.command("audit")
    [shared] = _audit_files(h)
    assert shared["channel_id"] == CHANNEL
    assert "nudges.paused" not in {r["kind"] for r in rows_of(shared["content"])}
    told = last_answer(h)
    number = engagement(h).id
    assert "couldn't send you the 1 entry for the implementation team only" in told
    assert f"golive audit {number}" in told


def test_only_the_vendor_side_gets_the_vendor_rows(small):
    """Someone of the vendor's workspace whom a consultant counts as the customer's side (a
    partner, say) can run the command, and gets what the customer would: the channel's copy."""
    h = small
    h.command("nudges pause")
    h.command(f"side {mention(CONSULTANT)} customer")
    h.command("audit", user=CONSULTANT)
    [shared] = _audit_files(h)
    assert shared["channel_id"] == CHANNEL
    assert "nudges.paused" not in {r["kind"] for r in rows_of(shared["content"])}
    assert h.standin.im_channel(CONSULTANT.user_id) is None  # no direct message, no file
    assert not [t for t in ephemeral_texts(h, CONSULTANT.user_id) if "direct messages" in t]


def test_a_guest_of_the_vendors_workspace_gets_the_channels_copy_only(harness):
    """A guest (users.info `is_restricted`) is not the implementation team, though of its
    workspace: they can run the command in the channel, and get no direct message."""
    h = harness
    h.standin.add_user("U0GUEST", name="Gus Guest", team_id=VENDOR_TEAM, guest="multi")
    h.standin.add_member(CHANNEL, "U0GUEST")
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command("nudges pause")
    h.command("audit", user="U0GUEST")
    [shared] = _audit_files(h)
    assert shared["channel_id"] == CHANNEL
    assert "nudges.paused" not in {r["kind"] for r in rows_of(shared["content"])}
    assert h.standin.im_channel("U0GUEST") is None
    # The lead, asking the same, gets the whole trail in private.
    h.command("audit")
    [private] = _files_in(h, h.standin.im_channel(LEAD.user_id))
    assert "nudges.paused" in {r["kind"] for r in rows_of(private["content"])}


def test_a_channel_upload_slack_did_not_take_just_now_asks_for_a_second_try(small):
    """A 5xx that outlived the client's retries is not a refusal: the summary says to run the
    command again, in words, not Slack's code."""
    h = small
    h.standin.fail_next("files.completeUploadExternal", error="internal_error", status=500, times=20)
    h.command("audit")
    summary = last_answer(h)
    assert "Slack didn't take the CSV just now" in summary and "run the command again" in summary
    assert "both sides may read" in summary
