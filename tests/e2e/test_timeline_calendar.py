"""Issue 13, parts 2 and 3, through the stand-in: the timeline picture, its text fallback, the
weekly digest's thread, and the calendar file.

The picture the bot uploads is read back with Pillow (matplotlib's own dependency): a PNG of the
expected size, not blank, with the colours of actual, forecast and late work in it. The calendar
is parsed back with icalendar: the right events, the dry run in the engagement's time zone, UIDs
that stay the same across exports and re-plans.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from PIL import Image

from bot.exports import charts
from sandbox.harness import CHANNEL, LEAD
from tests.e2e.helpers import at, blocks_text, ephemeral_texts, posts, shown


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def picture(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    return image.convert("RGB")


def colours(image: Image.Image) -> dict[tuple[int, int, int], int]:
    return {c: n for n, c in image.getcolors(maxcolors=1 << 20)}  # type: ignore[misc, union-attr]


@pytest.fixture
def late(harness):
    """A medium engagement ten days in with most of Discovery still open: late, and drawn so."""
    h = harness
    h.command("start Acme Corp size=medium kickoff=2026-11-30 tz=Europe/Berlin")
    for n in (1, 2):
        h.command(f"done 1.{n}")
    at(h, "2026-12-10T10:00:00+01:00")
    return h


def test_the_timeline_picture_is_uploaded_and_reads_back(late):
    h = late
    h.standin.reset_calls()
    h.command("timeline")
    [f] = h.standin.files
    assert [c.method for c in h.standin.calls if c.method.startswith(("files.", "upload"))] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    assert f["channel_id"] == CHANNEL and f["thread_ts"] is None
    assert f["filename"] == "golive-timeline-1-2026-12-10.png" and f["mimetype"] == "image/png"
    assert f["title"] == "Timeline — Acme Corp — 10 Dec 2026"
    assert f["initial_comment"].startswith("Timeline of the Acme Corp implementation: Forecast go-live")
    assert (
        "after the planned go-live (Tue 19 Jan)" in f["initial_comment"]
        and "Health: Late." in f["initial_comment"]
    )
    assert f["alt_txt"].startswith("Timeline of the Acme Corp implementation: planned, actual and forecast")
    image = picture(f["content"])
    assert Image.open(io.BytesIO(f["content"])).format == "PNG"
    assert image.size == (1100, 583)  # 10 x (2.2 + 5 phases x 0.62) inches at 110 dpi
    seen = colours(image)
    drawn = image.width * image.height - seen.get((255, 255, 255), 0)
    assert drawn > 30_000 and len(seen) > 50, "not blank"
    # the plan, the actual work and the late forecast are each drawn (and fill real area)
    for colour in (charts.PLAN, charts.ACTUAL, charts.LATE):
        assert seen.get(rgb(colour), 0) > 500, colour


def test_the_text_timeline_takes_the_pictures_place_when_files_are_blocked(late):
    h = late
    h.standin.block_file_uploads(CHANNEL)
    h.command("timeline")
    assert h.standin.files == []
    [message] = [m for m in posts(h) if m["text"].startswith("Timeline of the Acme Corp implementation")]
    text = shown(blocks_text(message["blocks"]))
    assert "Timeline — Acme Corp" in text and "Health: Late." in text
    lines = text.split("```")[1].strip("\n").splitlines()
    assert lines[0].startswith("Week of") and "Nov" in lines[0] and "Dec" in lines[0]
    assert lines[1].split()[:3] == ["30", "7", "14"]  # week columns from the kickoff's Monday
    assert lines[2].startswith("Today")
    assert lines[3].startswith("1 Discovery") and lines[3].endswith("d late") and "▓" in lines[3]
    assert "Milestones" in lines[-2] and "T" in lines[-2] and "G" in lines[-2]
    assert "Slack refused the picture in this channel (files are blocked by a Slack Connect admin)" in text


def test_status_and_plan_carry_the_text_timeline(late):
    h = late
    for command in ("status", "plan"):
        h.command(command)
        text = shown(ephemeral_texts(h, LEAD.user_id)[-1])
        block = text.split("```")[1]
        assert "Week of" in block and "5 Go-Live" in block and "▼" in block, command


def test_the_weekly_digest_carries_the_timeline_in_its_thread(small):
    h = small
    at(h, "2026-12-07T09:01:00+01:00")
    h.run_sweep()
    h.idle()
    [digest] = [m for m in posts(h) if "Weekly digest" in m["text"]]
    [f] = h.standin.files
    assert f["thread_ts"] == digest["ts"] and f["channel_id"] == CHANNEL
    assert picture(f["content"]).size[0] == 1100
    reply = h.standin.last_message(CHANNEL)
    assert reply["thread_ts"] == digest["ts"] and reply["files"][0]["id"] == f["id"]


def test_the_weekly_digest_has_the_text_timeline_in_its_thread_when_files_are_blocked(small):
    h = small
    h.standin.block_file_uploads(CHANNEL)
    at(h, "2026-12-07T09:01:00+01:00")
    h.run_sweep()
    h.idle()
    [digest] = [m for m in posts(h) if "Weekly digest" in m["text"]]
    assert h.standin.files == []
    [reply] = [m for m in posts(h) if m.get("thread_ts") == digest["ts"] and m["ts"] != digest["ts"]]
    assert reply["text"].startswith("Timeline of the Acme Corp implementation")
    assert "Week of" in blocks_text(reply["blocks"])


# -- the calendar -------------------------------------------------------------------------------
def events(content: bytes) -> dict[str, dict]:
    cal = Calendar.from_ical(content)
    out = {}
    for ev in cal.walk("VEVENT"):
        out[str(ev["UID"])] = {
            "summary": str(ev["SUMMARY"]),
            "start": ev.decoded("DTSTART"),
            "end": ev.decoded("DTEND"),
            "sequence": int(ev["SEQUENCE"]),
            "description": str(ev["DESCRIPTION"]),
            "status": str(ev["STATUS"]),
        }
    return out


def test_the_calendar_file_holds_the_plan_with_the_dry_run_in_the_customers_time(small):
    h = small
    h.command("dryrun 2026-12-16 10:00")
    h.command("calendar")
    [f] = h.standin.files
    assert f["filename"] == "acme-corp-implementation-1.ics" and f["channel_id"] == CHANNEL
    assert f["title"] == "Implementation calendar — Acme Corp"
    assert "importing a newer copy updates these events" in f["initial_comment"]
    cal = Calendar.from_ical(f["content"])
    assert str(cal["X-WR-TIMEZONE"]) == "Europe/Berlin" and str(cal["METHOD"]) == "PUBLISH"
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/Berlin"]
    found = events(f["content"])
    phases = sorted(
        (e for e in found.values() if ". " in e["summary"].split(" · ")[1][:3]), key=lambda e: e["start"]
    )
    assert [e["summary"] for e in phases] == [
        "Acme Corp · 1. Discovery",
        "Acme Corp · 2. Solutioning",
        "Acme Corp · 3. Configurations",
        "Acme Corp · 4. Testing & Validation",
        "Acme Corp · 5. Go-Live",
    ]
    assert phases[0]["start"] == date(2026, 11, 30) and phases[0]["end"] == date(
        2026, 12, 2
    )  # all day, end exclusive
    gates = [e for e in found.values() if "Sign-off:" in e["summary"]]
    assert len(gates) == 6 and all(e["start"] == e["end"] - timedelta(days=1) for e in gates)
    [dry] = [e for e in found.values() if e["summary"].endswith("Go-live dry run")]
    assert dry["start"] == datetime(2026, 12, 16, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert dry["start"].tzinfo.key == "Europe/Berlin"  # type: ignore[union-attr]
    assert dry["end"] - dry["start"] == timedelta(hours=2)
    assert "Invoices for the sample customers match the parallel run" in dry["description"]
    [golive] = [e for e in found.values() if e["summary"] == "Acme Corp · Go-live"]
    assert golive["start"] == date(2026, 12, 18)
    assert len(found) == 5 + 6 + 1 + 1


def test_calendar_uids_are_stable_across_exports_and_a_re_plan(small):
    h = small
    h.command("dryrun 2026-12-16 10:00")
    h.command("calendar")
    h.command("calendar")
    first, second = (events(f["content"]) for f in h.standin.files)
    assert set(first) == set(second)
    assert all(uid.endswith("@golive") and "-1-" in uid for uid in first)
    h.command("target 2027-01-08")
    h.command("calendar")
    third = events(h.standin.files[-1]["content"])
    assert set(third) == set(first), "a re-import updates the same events"
    uid = next(u for u, e in first.items() if e["summary"] == "Acme Corp · Go-live")
    assert first[uid]["start"] == date(2026, 12, 18) and third[uid]["start"] == date(2027, 1, 8)
    assert third[uid]["sequence"] > first[uid]["sequence"] == second[uid]["sequence"]


def test_calendar_when_files_are_blocked_says_so_plainly(small):
    h = small
    h.standin.block_file_uploads(CHANNEL)
    h.command("calendar")
    assert h.standin.files == []
    answer = ephemeral_texts(h, LEAD.user_id)[-1]
    assert (
        "I couldn't share the calendar file: Slack refused it in this channel (files are blocked by a "
        "Slack Connect admin)" in answer
    )
    assert "Go-live Fri 18 Dec" in answer


def test_a_hostile_customer_name_reaches_neither_comment_nor_calendar_unescaped(harness):
    h = harness
    name = "<!channel> $Acme$, Inc; & Co"
    typed = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # as Slack sends it
    h.command(f"start {typed} size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command("timeline")
    h.command("calendar")
    png, ics = h.standin.files
    for f in (png, ics):
        assert "<!channel>" not in f["initial_comment"] and "&lt;!channel&gt;" in f["initial_comment"]
        assert "<!channel>" not in f["title"]
    summaries = [e["summary"] for e in events(ics["content"]).values()]
    assert f"{name} · Go-live" in summaries  # the calendar's own escaping (\\, \\;) round-trips
    assert ics["filename"] == "channel-acme-inc-co-implementation-1.ics"
    assert picture(png["content"]).size == (1100, 583)
