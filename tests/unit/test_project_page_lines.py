"""The project page's lines (bot.slack.project_page): each shows a text no other line of the page
shows or contains, so that canvases.sections.lookup by it finds that one line; and what is kept
of a page in the database reads back the same."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

from bot.slack.project_page import (
    Link,
    Page,
    Section,
    forget_canvas,
    keep_canvas,
    page_layout,
    unique_lines,
    written_canvas,
)
from standin.api_canvases import blocks, normal_markdown, shown_text
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Engagement


def test_equal_lines_and_lines_inside_others_get_a_number() -> None:
    sections = [
        Section(
            "Team and roles",
            [("approver (customer): Ada", None), ("approver (customer): Ada Lovelace", None)],
        ),
        Section("Sign-offs", [("Design: not requested yet", None), ("Design: not requested yet", None)]),
    ]
    texts = [t for lines in unique_lines(sections) for t in lines]
    assert texts == [
        "approver (customer): Ada (2)",
        "approver (customer): Ada Lovelace",
        "Design: not requested yet (1)",
        "Design: not requested yet (2)",
    ]
    folded = [t.casefold() for t in texts]
    assert all(sum(t in other for other in folded) == 1 for t in folded)  # each found once


def test_a_line_is_not_a_part_of_a_heading_or_the_title() -> None:
    [[text]] = unique_lines([Section("Plan", [("Acme", None)])], taken=["Acme Corp: project page"])
    assert text == "Acme (2)"


def test_the_page_each_line_shows_its_text_and_reads_back_from_json() -> None:
    link = Link("checklist", "https://slack.com/archives/C1/p1")
    page = page_layout(
        "O_Brien & Co: project page",
        [Section("Plan and dates", [("1. Discovery: Mon 30 Nov 2026 to Fri 4 Dec 2026", link)])],
    )
    [(heading, [line])] = page.sections
    assert heading == "Plan and dates" and line.md.endswith("([checklist](https://slack.com/archives/C1/p1))")
    # What the line shows on a canvas holds the text the bot looks it up by.
    [_title, _heading, (kind, md), _footer] = blocks(page.markdown())
    assert kind == "list_item" and line.text in shown_text({"type": kind, "markdown": md})
    assert page.title == "# O\\_Brien & Co: project page"
    assert normal_markdown(page.markdown()) == page.markdown()  # a canvas shows it back as written
    assert Page.from_json(page.to_json()) == page


def test_what_was_written_is_kept_by_compare_and_set(tmp_path: Any) -> None:
    """Two processes that refreshed the same canvas from the same state: the second to store
    finds the version moved (and so rewrites the whole page rather than trust its edits)."""
    url = f"sqlite:///{tmp_path}/page.sqlite3"
    upgrade(url)
    db = Database(url)
    try:
        now = datetime(2026, 12, 7, 9, tzinfo=UTC)
        with db.session() as session:
            e = Engagement(
                team_id="T0",
                channel_id="C0",
                customer_name="Acme Corp",
                size="small",
                kickoff_on=date(2026, 12, 7),
                timezone="Europe/Berlin",
                created_by="U0LEAD",
                created_at=now,
                updated_at=now,
            )
            session.add(e)
            session.flush()
            eid = e.id
        assert eid is not None
        services: Any = SimpleNamespace(db=db, clock=SimpleNamespace(now=lambda: now))
        one = page_layout("Acme: project page", [Section("Team and roles", [("lead (vendor): Lena", None)])])
        two = page_layout("Acme: project page", [Section("Team and roles", [("lead (vendor): Eli", None)])])
        assert written_canvas(services, "F1") == (None, None)
        assert keep_canvas(services, "F1", eid, one, None, force=True)
        page, version = written_canvas(services, "F1")
        assert page == one and version is not None
        assert keep_canvas(services, "F1", eid, two, version)  # this refresh stored first
        assert not keep_canvas(services, "F1", eid, one, version)  # the other read the same version
        assert not keep_canvas(services, "F2", eid, one, 0)  # a row that is not there is no match
        assert written_canvas(services, "F1")[0] == two
        forget_canvas(services, "F1")
        assert written_canvas(services, "F1") == (None, None)
    finally:
        db.dispose()
