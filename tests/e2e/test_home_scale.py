"""App Home at scale (issue 25, part 5): the page's order and count come from the database.

Each engagement keeps its sort key in its row (health rank, slip, overdue items), written by the
start and the sweep's plan; Home asks the database for one page of ids and the count and loads
only that page's cards. These tests hold the database's order to the definition (every card
computed and sorted in Python, as Home did before), across pages, views and viewers, with keys
fresh, a few stale (computed when drawn) and many stale (the order they have).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, col, select

import bot.engagement.portfolio as portfolio
from bot.engagement.health import RANK
from bot.engagement.portfolio import ALL, MINE, in_its_channel, load_cards, portfolio_page
from bot.people.sides import VENDOR, VENDOR_ROLES, member_side
from sandbox.harness import APPROVER, CONSULTANT, LEAD, OUTSIDER, PERSONAS
from storage.models import Engagement, Member, MemberRole, NextCheckRequest
from tests.e2e.helpers import at, blocks_text, mention
from tests.e2e.test_home import customers, open_home

EVERYONE = [p.user_id for p in PERSONAS]


def channel(h: Any, channel_id: str, members: list[str] = EVERYONE) -> str:
    h.standin.add_channel(channel_id, name=channel_id.lower(), ext_shared=True, members=members)
    return channel_id


def spy_cards(monkeypatch: Any) -> list[list[str]]:
    """The engagements each `load_cards` call computed (their names, sorted), from now on."""
    loaded: list[list[str]] = []
    real = portfolio.load_cards

    def spy(session: Any, engagements: list[Engagement], *args: Any, **kw: Any) -> Any:
        loaded.append(sorted(e.customer_name for e in engagements))
        return real(session, engagements, *args, **kw)

    monkeypatch.setattr(portfolio, "load_cards", spy)
    return loaded


def keys(h: Any) -> dict[str, tuple[int | None, int | None, int | None]]:
    with h.services.db.read() as session:
        return {
            e.customer_name: (e.risk_rank, e.risk_slip, e.risk_overdue)
            for e in session.exec(select(Engagement)).all()
        }


def test_the_page_comes_from_the_database_and_a_change_moves_its_engagement_to_the_top(harness, monkeypatch):
    h = harness
    h.lift_rate_limits()  # fourteen starts in seconds
    for n in range(13):
        h.command(
            f"start Customer {n:02d} size=medium kickoff=2026-11-30 tz=Europe/Berlin",
            channel=channel(h, f"C0S{n:02d}"),
        )
    # Last by name, first by risk: its planned go-live (Fri 20 Nov) has passed.
    h.command("start Zulu Late size=small kickoff=2026-11-02 tz=Europe/Berlin", channel=channel(h, "C0ZULU"))
    h.run_sweep()  # plans every one: their keys stored, no change waiting
    stored = keys(h)
    assert stored["Zulu Late"][0] == RANK["late"]
    assert {stored[f"Customer {n:02d}"] for n in range(13)} == {(RANK["on_track"], 0, 0)}
    with h.services.db.read() as session:
        assert not session.exec(select(NextCheckRequest)).all()

    loaded = spy_cards(monkeypatch)
    home = open_home(h, LEAD)
    first = ["Zulu Late", *(f"Customer {n:02d}" for n in range(11))]
    assert customers(home) == first
    assert "14 engagements, riskiest first · page 1 of 2" in blocks_text(home["view"]["blocks"])
    assert loaded == [sorted(first)]  # the page's twelve cards, and nothing else computed
    h.driver.click_view(home["id"], "home_page:2", user=LEAD.user_id)
    h.idle()
    assert customers(h.standin.home(LEAD.user_id)) == ["Customer 11", "Customer 12"]
    assert loaded[-1] == ["Customer 11", "Customer 12"]
    h.driver.click_view(home["id"], "home_page:1", user=LEAD.user_id)
    h.idle()

    # Customer 12, on page 2, goes late (its plan moves back eleven months): the Home re-published
    # by the change shows it first. The sweep has not planned it yet: its key is stale (a change
    # waits for the sweep), so it is computed when the page is drawn and merged into the order.
    del loaded[:]
    h.command("plan kickoff=2026-01-05", channel="C0S12")
    home = h.standin.home(LEAD.user_id)
    assert customers(home)[:2] == ["Customer 12", "Zulu Late"], customers(home)
    assert "page 1 of 2" in blocks_text(home["view"]["blocks"])
    assert ["Customer 12"] in loaded  # the stale one, computed
    assert all(len(names) <= 12 for names in loaded)
    assert keys(h)["Customer 12"][0] == RANK["on_track"]  # not stored yet

    h.run_sweep()  # the sweep's next tick stores it
    assert keys(h)["Customer 12"][0] == RANK["late"] and keys(h)["Customer 12"][1] > keys(h)["Zulu Late"][1]
    del loaded[:]
    home = open_home(h, LEAD)
    assert customers(home)[:2] == ["Customer 12", "Zulu Late"]
    assert loaded == [sorted(customers(home))]  # nothing stale left: only the page's cards


# -- the definition: every card computed, sorted in Python ------------------------------------
def shown_to(session: Session, user_id: str, view: str, *, admin: bool) -> list[Engagement]:
    """What the view shows, as Home computed it before the database did (issue 25, part 1)."""
    if view == ALL:
        query = select(Engagement).where(Engagement.status == "active")
        if not admin:
            query = query.where(in_its_channel(user_id))
        return list(session.exec(query).all())
    query = (
        select(Engagement, Member)
        .join(Member, col(Member.engagement_id) == col(Engagement.id))
        .join(MemberRole, col(MemberRole.member_id) == col(Member.id))
        .where(
            Member.user_id == user_id, Engagement.status == "active", col(MemberRole.role).in_(VENDOR_ROLES)
        )
    )
    if not admin:
        query = query.where(in_its_channel(user_id))
    found = {e.id: e for e, m in session.exec(query).all() if member_side(e, m) == VENDOR}
    return list(found.values())


def defined_order(h: Any, user_id: str, view: str, *, admin: bool, use_stored: bool = False) -> list[str]:
    """Riskiest first, every card computed (`use_stored`: by the keys stored, as they are)."""
    services = h.services
    with services.db.read() as session:
        engagements = shown_to(session, user_id, view, admin=admin)
        cards = load_cards(session, engagements, services.playbook, services.clock.now(), viewer=user_id)

    def key(c: Any) -> tuple[Any, ...]:
        e = c.engagement
        rank, slip, overdue = (e.risk_rank, e.risk_slip, e.risk_overdue) if use_stored else c.key
        return (rank is None, -(rank or 0), -(slip or 0), -(overdue or 0), e.customer_name.casefold(), e.id)

    return [c.engagement.customer_name for c in sorted(cards, key=key)]


def paged_order(h: Any, user_id: str, view: str, *, admin: bool, per_page: int = 4) -> list[str]:
    """Every page of the view, as Home asks the database for them, one after the other."""
    services = h.services
    names: list[str] = []
    page = 1
    while True:
        with services.db.read() as session:
            got = portfolio_page(
                session,
                services.playbook,
                services.clock.now(),
                viewer=user_id,
                view=view,
                admin=admin,
                page=page,
                per_page=per_page,
            )
            names += [c.engagement.customer_name for c in got.cards]
        assert got.page == page and len(got.cards) <= per_page
        if page == got.pages:
            assert got.count == len(names)
            return names
        assert len(got.cards) == per_page
        page += 1


VIEWERS = [
    (LEAD.user_id, MINE, False),
    (LEAD.user_id, ALL, False),
    (OUTSIDER.user_id, MINE, False),
    (OUTSIDER.user_id, ALL, False),
    (OUTSIDER.user_id, MINE, True),
    (OUTSIDER.user_id, ALL, True),
]


def varied_portfolio(h: Any) -> None:
    """Eleven engagements of every health, in an order that is neither the name's nor the start's;
    the colleague (OUTSIDER) is consultant on some, put on the customer's side on one, and not in
    two of the channels (one of which they are consultant on)."""
    h.lift_rate_limits()
    without = [u for u in EVERYONE if u != OUTSIDER.user_id]
    starts = [
        ("delta", "medium", "2026-11-30", EVERYONE),
        ("Alpha", "small", "2026-11-02", EVERYONE),  # late
        ("charlie", "small", "2026-11-16", without),  # late, less
        ("Bravo", "medium", "2026-11-30", without),
        ("echo", "enterprise", "2026-11-30", EVERYONE),
        ("Foxtrot", "small", "2026-11-30", EVERYONE),
        ("golf", "medium", "2026-11-23", EVERYONE),
        ("Hotel", "small", "2026-11-30", EVERYONE),
        ("india", "medium", "2026-11-30", EVERYONE),
        ("Juliet", "small", "2026-11-25", EVERYONE),
        ("kilo", "medium", "2026-11-30", EVERYONE),
    ]
    for n, (name, size, kickoff, members) in enumerate(starts):
        ch = channel(h, f"C0V{n:02d}", members)
        h.command(f"start {name} size={size} kickoff={kickoff} tz=Europe/Berlin", channel=ch)
    for n in (2, 3, 4, 6):
        h.command(f"role {mention(OUTSIDER)} consultant", channel=f"C0V{n:02d}")
    h.command(f"side {mention(OUTSIDER)} customer", channel="C0V06")  # a consultant, not of the vendor's side
    h.command(f"role {mention(CONSULTANT)} consultant", channel="C0V05")
    # Overdue items tomorrow: a few of the team's items are due today.
    for n, refs in ((5, "1.1"), (8, "1.1 1.2"), (10, "1.1 1.2 1.3")):
        h.command(f"due {refs} 2026-11-30", channel=f"C0V{n:02d}")
    h.command(f"role {mention(APPROVER)} approver", channel="C0V09")


def assert_keys_are_the_outlooks(h: Any) -> None:
    """Every stored key is the one computed now, with its next local midnight."""
    services = h.services
    now = services.clock.now()
    with services.db.read() as session:
        engagements = list(session.exec(select(Engagement)).all())
        computed = {
            c.engagement.customer_name: c.key
            for c in load_cards(session, engagements, services.playbook, now, viewer="")
        }
    assert keys(h) == computed
    assert {e.risk_until for e in engagements} == {portfolio.risk_until(now, "Europe/Berlin")}


def assert_pages_follow_the_definition(h: Any, *, use_stored: bool = False) -> None:
    for user_id, view, admin in VIEWERS:
        want = defined_order(h, user_id, view, admin=admin, use_stored=use_stored)
        assert paged_order(h, user_id, view, admin=admin) == want, (user_id, view, admin)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_database_pages_in_the_defined_order_fresh_a_few_stale_and_many_stale(
    harness_factory, request, monkeypatch, backend
):
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    h = harness_factory(url) if url else harness_factory()
    varied_portfolio(h)
    at(h, "2026-12-01T09:00:00+01:00")  # Tuesday: the items due Monday are overdue
    h.run_sweep()
    assert keys(h)["Alpha"][0] == RANK["late"] and keys(h)["kilo"][2] == 3  # stored, fresh
    assert_keys_are_the_outlooks(h)
    assert_pages_follow_the_definition(h)

    # A few changed since the sweep (stale: computed when drawn, merged into the stored order).
    h.command("done 1.1 1.2 1.3", channel="C0V10")  # kilo: no longer overdue
    h.command("due 1.1 1.2 1.3 1.4 2026-11-30", channel="C0V07")  # Hotel: four overdue
    assert keys(h)["kilo"][2] == 3  # not stored yet
    assert_pages_follow_the_definition(h)

    # Midnight passed and the sweep has not come yet: every key is stale. With more stale than
    # are computed when drawn, the page follows the keys as stored (until the sweep's tick).
    at(h, "2026-12-02T00:30:00+01:00")
    monkeypatch.setattr(portfolio, "STALE_MAX", 2)
    assert_pages_follow_the_definition(h, use_stored=True)
    h.run_sweep()
    assert_pages_follow_the_definition(h)
    assert_keys_are_the_outlooks(h)


def test_an_engagement_without_a_key_sorts_as_unknown_after_the_others(harness, monkeypatch):
    """After the upgrade that added the key, every active engagement has none and is due for the
    sweep: they sort last, by name, until the sweep has computed theirs (a few are computed when
    drawn)."""
    h = harness
    varied_portfolio(h)
    h.run_sweep()
    with h.services.db.session() as session:
        for name in ("Alpha", "delta"):  # as migration 0016 leaves them
            e = session.exec(select(Engagement).where(Engagement.customer_name == name)).one()
            e.risk_rank = e.risk_slip = e.risk_overdue = None
            e.risk_until = h.clock.now()
            session.add(e)
    assert_pages_follow_the_definition(h)  # two stale: computed when drawn, in their place
    monkeypatch.setattr(portfolio, "STALE_MAX", 1)
    names = paged_order(h, LEAD.user_id, MINE, admin=False)
    assert names[-2:] == ["Alpha", "delta"]  # unknown: last, by name
    h.run_sweep()
    assert keys(h)["Alpha"][0] == RANK["late"]
    assert paged_order(h, LEAD.user_id, MINE, admin=False)[0] == "Alpha"
