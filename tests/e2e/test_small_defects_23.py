"""Issue 23, part 6: the smaller defects of the checklist, the item forms, the start form and the
snooze, each through the stand-in (the timeline picture's are in tests/unit/test_timeline_picture.py)."""

from __future__ import annotations

import re
from datetime import date

from sandbox.harness import CHANNEL, CONTRIBUTOR, LEAD
from storage.models import Engagement
from tests.e2e.helpers import at, blocks_text, count, ephemeral_texts, last_answer, nudges, posts
from tests.e2e.test_checklist import checklist_msg, item, menu, modal_row, show_all

ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
WEEKDAY_DATE = re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2}\b")


def test_the_start_forms_impossible_target_is_shown_under_the_target_in_one_date_format(harness):
    h = harness
    at(h, "2026-11-27T10:00:00+01:00")
    h.command("start")
    [view] = h.standin.open_views(LEAD.user_id)
    values = {
        "customer": {"value": "Initech"},
        "size": {"value": "medium"},
        "kickoff": {"value": "2026-11-30"},
        "target": {"value": "2026-12-02"},
        "tz": {"value": "Europe/Berlin"},
    }
    r = h.driver.submit_view(view["id"], values, user=LEAD.user_id)
    assert r.json["response_action"] == "errors"
    assert list(r.json["errors"]) == ["target"], "under Target go-live, not Customer name"
    problem = r.json["errors"]["target"]
    assert "The earliest target go-live is Fri 11 Dec 2026." in problem
    assert not ISO.search(problem), "one date format in the line"
    assert count(h, Engagement) == 0


def test_due_on_a_saturday_after_the_go_live_is_set_and_said_with_the_next_business_day(started):
    h = started  # planned go-live Tue 19 Jan 2027
    h.command("due 1.1 2027-01-30")
    answer = last_answer(h)
    assert item(h, "1.1").due_on == date(2027, 1, 30), "accepted"
    assert "The due date, Sat 30 Jan 2027, is a Saturday, not a working day" in answer
    assert "the next business day is Mon 1 Feb 2027. To change it: `/golive due 1.1 2027-02-01`" in answer
    assert "1.1 is now due after the planned go-live (Tue 19 Jan 2027)" in answer


def test_the_menus_due_form_says_what_the_command_says(started):
    h = started
    menu(h, "1.2", LEAD, "due")
    [form] = h.standin.open_views(LEAD.user_id)
    h.driver.submit_view(form["id"], {"due": {"value": "2026-12-05"}}, user=LEAD.user_id)  # a Saturday
    h.idle()
    assert item(h, "1.2").due_on == date(2026, 12, 5)
    answer = last_answer(h)
    assert "1.2 Identify usage data sources and formats — due Sat 5 Dec 2026." in answer
    assert "The due date, Sat 5 Dec 2026, is a Saturday, not a working day" in answer
    assert "the next business day is Mon 7 Dec 2026" in answer
    assert "after Discovery is planned to end (Fri 4 Dec 2026)" in answer
    # A business day inside the phase is set without a word.
    before = len(ephemeral_texts(h, LEAD.user_id))
    menu(h, "1.3", LEAD, "due")
    [form] = h.standin.open_views(LEAD.user_id)
    h.driver.submit_view(form["id"], {"due": {"value": "2026-12-03"}}, user=LEAD.user_id)
    h.idle()
    assert item(h, "1.3").due_on == date(2026, 12, 3)
    assert len(ephemeral_texts(h, LEAD.user_id)) == before


def test_an_item_ticked_on_monday_morning_in_berlin_was_done_on_monday(started):
    h = started
    at(h, "2026-12-07T00:30:00+01:00")  # Mon 7 Dec in Berlin, still Sun 6 Dec in UTC
    h.command("done 1.1")
    row = modal_row(show_all(h, LEAD), item(h, "1.1").id)
    assert "done by Lena Lead · Mon 7 Dec" in row["text"]["text"]
    assert "Sun 6 Dec" not in row["text"]["text"]


def test_already_running_says_the_day_it_started_on_the_customers_clock(harness):
    h = harness
    at(h, "2026-11-30T00:30:00+01:00")  # Mon 30 Nov in Berlin, Sun 29 Nov in UTC
    h.command("start Acme Corp size=medium tz=Europe/Berlin")
    h.command("start")  # the form is not opened: the channel runs one already
    assert "(started 30 Nov 2026)" in last_answer(h)


def test_the_date_change_request_uses_one_date_format_per_line(started):
    h = started
    before = item(h, "1.5").due_on
    menu(h, "1.5", CONTRIBUTOR, "due")
    [form] = h.standin.open_views(CONTRIBUTOR.user_id)
    h.driver.submit_view(form["id"], {"due": {"value": "2026-12-11"}}, user=CONTRIBUTOR.user_id)
    h.idle()
    [note] = [m for m in posts(h) if "asks to move 1.5" in m["text"]]
    for line in blocks_text(note["blocks"]).split("\n"):
        assert not (ISO.search(line) and WEEKDAY_DATE.search(line)), line
        assert not re.search(r"\b\d{1,2} [A-Z][a-z]{2} \d{4}\b", line) or not WEEKDAY_DATE.search(line), line
    assert f"from {before:%a %-d %b} to *Fri 11 Dec*" in blocks_text(note["blocks"])


def test_no_form_says_optional_twice(started):
    """Slack adds "(optional)" to an optional input's label itself."""
    h = started
    menu(h, "1.5", CONTRIBUTOR, "due")
    forms = [h.standin.open_views(CONTRIBUTOR.user_id)[0]]
    h.driver.close_view(forms[0]["id"], CONTRIBUTOR.user_id)
    h.driver.click(CHANNEL, checklist_msg(h)["ts"], "add_item", user=CONTRIBUTOR.user_id)
    h.idle()
    forms.append(h.standin.open_views(CONTRIBUTOR.user_id)[0])
    optional = [b for f in forms for b in f["view"]["blocks"] if b["type"] == "input" and b.get("optional")]
    assert [b["label"]["text"] for b in optional] == ["Why?", "Why?"]
    labels = [b["label"]["text"] for f in forms for b in f["view"]["blocks"] if b["type"] == "input"]
    assert not [label for label in labels if "optional" in label.lower()]


def test_snooze_says_business_days_where_it_is_offered(small):
    h = small
    at(h, "2026-12-02T09:30:00+01:00")
    h.run_sweep()
    [nudge] = nudges(h)
    overflow = next(
        el
        for b in nudge["blocks"]
        for el in b.get("elements", [])
        if el.get("action_id", "").startswith("nudge_snooze")
    )
    assert [o["text"]["text"] for o in overflow["options"]] == [
        "Snooze 1 business day",
        "Snooze 3 business days",
        "Snooze until…",
    ]
    h.driver.click(
        CHANNEL,
        nudge["ts"],
        overflow["action_id"],
        user=CONTRIBUTOR.user_id,
        selected_option=overflow["options"][2]["value"],
    )
    h.idle()
    [form] = h.standin.open_views(CONTRIBUTOR.user_id)
    assert form["view"]["callback_id"] == "nudge_snooze"
    assert "5 business days from today" in blocks_text(form["view"]["blocks"])
    # Wed 2 Dec + 5 business days: Wed 9 Dec.
    [picker] = [b for b in form["view"]["blocks"] if b.get("block_id") == "until"]
    assert picker["element"]["initial_date"] == "2026-12-09"


def test_a_finished_engagement_says_the_day_it_ended_on_the_customers_clock(harness):
    h = harness
    h.command("start Acme Corp size=medium tz=Asia/Tokyo")
    at(h, "2026-12-07T23:30:00+00:00")  # Tue 8 Dec in Tokyo, still Mon 7 Dec in UTC
    h.command("cancel")
    eph = h.standin.ephemerals(user=LEAD.user_id)[-1]
    h.driver.click_ephemeral(CHANNEL, eph["ts"], "cancel_engagement", user=LEAD.user_id)
    h.idle()
    h.command("done 1.1")
    assert "was cancelled on Tue 8 Dec 2026" in last_answer(h)
