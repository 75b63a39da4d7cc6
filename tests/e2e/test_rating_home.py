"""Issue 28, part 1: the customer's ratings on the vendor's App Home card — scores only, never who
gave them, and never on a customer's Home."""

from __future__ import annotations

import re

from sqlalchemy import event
from sqlmodel import col, select

from bot.slack.home import home_view
from sandbox.harness import APPROVER, CONTRIBUTOR, LEAD
from storage.models import Engagement, Rating
from tests.e2e.helpers import at, blocks_text, request_signoff
from tests.e2e.test_home import card_blocks, channel, open_home
from tests.e2e.test_ratings import asks, rate, rating_rows, start
from tests.e2e.test_signoffs import approve


def ratings_line(h, who=LEAD) -> str | None:
    text = blocks_text(card_blocks(open_home(h, who), "Acme Corp"))
    found = re.search(r"Ratings:[^\n]*", text)
    return found.group(0) if found else None


def test_the_vendors_home_shows_the_ratings_given_and_the_latest_low_one(harness):
    h = harness
    start(h)  # Solution design approved, its approver asked
    assert ratings_line(h) is None  # asked, not rated yet: nothing to show
    rate(h, asks(h, APPROVER)[0], 5)
    assert ratings_line(h) == "Ratings: *5* median of 1"
    # Ten business days on, the next gate is asked and rated low.
    at(h, "2026-12-14T10:00:00+01:00")
    request_signoff(h, "integration_workflows")
    approve(h, "integration_workflows", APPROVER)
    rate(h, asks(h, APPROVER)[-1], 2, "Slow")
    [_, second] = rating_rows(h)
    assert second.score == 2
    line = ratings_line(h)
    assert line == f"Ratings: *3.5* median of 2 · 1 low, the latest: {second.title}"
    # Scores only: the card names nobody, and not the comment.
    assert APPROVER.user_id not in line and APPROVER.name not in line and "Slow" not in line


def test_a_rating_given_republishes_the_home_of_the_lead_who_opened_it(harness):
    h = harness
    start(h)
    assert ratings_line(h) is None  # the lead opened Home: it is kept fresh from now on
    rate(h, asks(h, APPROVER)[0], 3)
    h.idle()
    home = h.standin.home(LEAD.user_id)  # not opened again: re-published by the rating
    assert "Ratings: *3* median of 1" in blocks_text(card_blocks(home, "Acme Corp"))


def test_a_customers_home_shows_no_ratings(harness):
    h = harness
    start(h)
    rate(h, asks(h, APPROVER)[0], 1, "Bad")
    assert ratings_line(h) is not None  # the vendor's card has them
    for who in (APPROVER, CONTRIBUTOR):
        h.driver.app_home_opened(who.user_id)
        h.idle()
        home = h.standin.home(who.user_id)
        assert home is not None
        text = blocks_text(home["view"]["blocks"])
        assert "Ratings" not in text and "Bad" not in text and "Acme Corp" not in text


def test_the_ratings_of_a_page_of_cards_are_one_query(harness):
    """However many engagements the page shows, their ratings are read in one statement."""
    h = harness
    start(h)
    rate(h, asks(h, APPROVER)[0], 4)
    for n in range(4):
        h.command(
            f"start Other {n} size=small kickoff=2026-11-30 tz=Europe/Berlin",
            channel=channel(h, f"C0OTHER{n}"),
        )
    now = h.clock.now()
    with h.services.db.session() as session:  # each with a rating given
        for e in session.exec(select(Engagement).where(col(Engagement.customer_name).startswith("Other"))):
            session.add(
                Rating(
                    engagement_id=e.id,
                    milestone="x",
                    title="X",
                    user_id="U0X",
                    asked_at=now,
                    score=3,
                    rated_at=now,
                )
            )
    seen: list[str] = []

    def count(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if re.search(r"\bFROM rating\b", statement):
            seen.append(statement)

    event.listen(h.services.db.engine, "before_cursor_execute", count)
    try:
        view = home_view(h.services, LEAD.user_id)
    finally:
        event.remove(h.services.db.engine, "before_cursor_execute", count)
    assert len(seen) == 1, seen
    assert blocks_text(view["blocks"]).count("Ratings:") == 5
