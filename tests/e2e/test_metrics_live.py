"""Issue 28, part 3: GET /metrics shows the portfolio now — engagements by status, phase and
health, and open items by side — read from the database at each scrape."""

from __future__ import annotations

from sqlmodel import select

from sandbox.harness import CHANNEL, CONTRIBUTOR, LEAD
from storage.models import Engagement, Item
from tests.e2e.helpers import at, mention
from tests.e2e.test_checklist import tick
from tests.e2e.test_metrics import scrape, value


def open_items(h) -> dict[str, int]:
    """Counted here one item at a time, not as /metrics counts them."""
    out: dict[str, int] = {"vendor": 0, "customer": 0}
    with h.services.db.read() as session:
        active = {e.id for e in session.exec(select(Engagement)).all() if e.status == "active"}
        for i in session.exec(select(Item)).all():
            if i.engagement_id in active and i.status == "open":
                out[i.owner_side] += 1
    return out


def test_metrics_show_engagements_by_phase_and_health_and_open_items_by_side(harness):
    h = harness
    before = scrape(h)
    assert value(before, "golive_open_items", side="customer") == 0
    assert not any(name == "golive_engagements" for name, _labels in before)  # none yet

    h.command("start Acme Corp size=small kickoff=2026-11-30")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    started = scrape(h)
    assert value(started, "golive_engagements", status="active", phase="discovery", health="on_track") == 1
    counted = open_items(h)
    assert counted["vendor"] > 0 and counted["customer"] > 0
    assert value(started, "golive_open_items", side="vendor") == counted["vendor"]
    assert value(started, "golive_open_items", side="customer") == counted["customer"]

    tick(h, "1.5", CONTRIBUTOR)  # a customer item done
    ticked = scrape(h)
    assert value(ticked, "golive_open_items", side="customer") == counted["customer"] - 1
    assert value(ticked, "golive_open_items", side="vendor") == counted["vendor"]

    at(h, "2026-12-02T10:00:00+01:00")  # 1.6 is overdue: the sweep finds the engagement at risk
    h.run_sweep()
    h.idle()
    later = scrape(h)
    assert value(later, "golive_engagements", status="active", phase="discovery", health="at_risk") == 1
    assert value(later, "golive_engagements", status="active", phase="discovery", health="on_track") == 0

    h.command("cancel")  # no longer active: counted by status only, its items no longer open work
    confirm = h.standin.ephemerals(channel=CHANNEL, user=LEAD.user_id)[-1]
    h.driver.click_ephemeral(CHANNEL, confirm["ts"], "cancel_engagement", user=LEAD.user_id)
    h.idle()
    gone = scrape(h)
    assert value(gone, "golive_engagements", status="active", phase="discovery", health="at_risk") == 0
    assert value(gone, "golive_engagements", status="cancelled", phase="", health="") == 1
    assert value(gone, "golive_open_items", side="customer") == 0


def test_live_counts_read_postgresql_too(pg_url):
    """The scrape's two GROUP BY queries on PostgreSQL, over the report's seeded portfolio."""
    from bot.metrics import live_counts
    from storage.db import Database
    from tests.e2e.portfolio import seed_portfolio

    seed_portfolio(pg_url)
    db = Database(pg_url)
    try:
        counts = live_counts(db)
        by_phase: dict[str, int] = {}
        for (status, phase, _health), n in counts.engagements.items():
            if status == "active":
                by_phase[phase] = by_phase.get(phase, 0) + n
        assert by_phase == {"solutioning": 2, "configurations": 2}  # Initech, <script>; Globex, Umbrella
        assert counts.engagements[("live", "", "")] == 4 and counts.engagements[("cancelled", "", "")] == 1
        expected: dict[str, int] = {}
        with db.read() as session:
            active = {e.id for e in session.exec(select(Engagement)).all() if e.status == "active"}
            for i in session.exec(select(Item)).all():
                if i.engagement_id in active and i.status == "open":
                    expected[i.owner_side] = expected.get(i.owner_side, 0) + 1
        assert counts.open_items == expected and expected["customer"] > 0
    finally:
        db.dispose()
