"""The same flows on PostgreSQL, and racing starts guarded by the database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import CHANNEL, CONTRIBUTOR, LEAD
from storage.models import Engagement
from tests.e2e.helpers import count, engagement, ephemeral_texts, welcomes


def test_start_and_status_on_postgresql(harness_factory, pg_url):
    h = harness_factory(pg_url)
    h.command("start Acme Corp size=enterprise tz=America/New_York")
    e = engagement(h)
    assert (e.customer_name, e.size, e.country) == ("Acme Corp", "enterprise", "US")
    assert e.created_at.tzinfo is not None
    h.command("status")
    assert any("Enterprise (8–16 weeks)" in t for t in ephemeral_texts(h, LEAD.user_id))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_racing_starts_make_one_engagement(harness_factory, request, backend):
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    h = harness_factory(url)

    def start(i: int):
        return h.driver.command("/golive", f"start Customer {i}", user=LEAD.user_id, channel=CHANNEL)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(start, range(8)))
    h.idle()
    assert all(r.status == 200 for r in results)
    assert count(h, Engagement) == 1
    assert len(welcomes(h)) == 1
    losers = [t for t in ephemeral_texts(h, LEAD.user_id) if "already runs" in t]
    assert len(losers) == 7


def test_checklist_flow_on_postgresql(harness_factory, pg_url):
    from tests.e2e.test_checklist import item, tick

    h = harness_factory(pg_url)
    h.command("start Acme Corp tz=Europe/Berlin")
    tick(h, "1.5", CONTRIBUTOR)
    assert item(h, "1.5").done_by_team == CONTRIBUTOR.team_id
    for n in range(1, 7):
        h.command(f"done 1.{n}")
    assert engagement(h).phase_index == 2
    h.command("plan target=2027-02-26")
    assert engagement(h).target_on.isoformat() == "2027-02-26"
