"""The project page's lines (bot.slack.project_page): each shows a text no other line of the page
shows or contains, so that canvases.sections.lookup by it finds that one line; and what is kept
of a page in the database reads back the same."""

from __future__ import annotations

from bot.slack.project_page import Link, Page, Section, page_layout, unique_lines
from standin.api_canvases import blocks, normal_markdown, shown_text


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
