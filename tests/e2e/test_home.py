"""The App Home tab: the consultant's portfolio (issue 13, part 4), end to end.

Signed `app_home_opened` events and Home clicks go over HTTP into the bot; its views.publish and
views.open calls are answered by the stand-in, which validates every view (100 blocks a Home,
250 kB, slack_sdk's checks) and refuses what Slack would refuse.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, CONSULTANT, CONTRIBUTOR, LEAD, OUTSIDER, PERSONAS, Persona
from storage.models import Engagement, EngagementPhase, HomeViewer, Item, SignoffRequest
from tests.e2e.helpers import (
    at,
    blocks_text,
    ephemeral_texts,
    mention,
    posts,
    request_signoff,
    send_payload,
    shown,
)

EVERYONE = [p.user_id for p in PERSONAS]
CARD = re.compile(r"^card:(\d+)$")


def channel(h: Any, channel_id: str) -> str:
    h.standin.add_channel(channel_id, name=channel_id.lower(), ext_shared=True, members=EVERYONE)
    return channel_id


def open_home(h: Any, who: Persona) -> dict[str, Any]:
    h.driver.app_home_opened(who.user_id)
    h.idle()
    home = h.standin.home(who.user_id)
    assert home is not None, f"no Home published for {who.name}"
    return home


def customers(home: dict[str, Any]) -> list[str]:
    """The customer names of the cards, top to bottom."""
    names = []
    for block in home["view"]["blocks"]:
        if CARD.match(str(block.get("block_id") or "")):
            names.append(shown(block["text"]["text"].split("*")[1]))
    return names


def card_blocks(home: dict[str, Any], customer: str) -> list[dict[str, Any]]:
    """The blocks of one customer's card."""
    blocks = home["view"]["blocks"]
    for n, block in enumerate(blocks):
        if CARD.match(str(block.get("block_id") or "")) and f"*{customer}*" in shown(block["text"]["text"]):
            prefix = block["block_id"]
            return [b for b in blocks[n:] if str(b.get("block_id") or "").startswith(prefix)]
    raise AssertionError(f"no card for {customer}")


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [el["action_id"] for b in blocks if b["type"] == "actions" for el in b["elements"]]


def engagement_of(h: Any, channel_id: str) -> Engagement:
    with h.services.db.read() as session:
        e = session.exec(select(Engagement).where(Engagement.channel_id == channel_id)).first()
    assert e is not None
    return e


def item_refs(h: Any, channel_id: str, phase: int, side: str) -> list[str]:
    e = engagement_of(h, channel_id)
    with h.services.db.read() as session:
        p = session.exec(
            select(EngagementPhase).where(
                EngagementPhase.engagement_id == e.id, EngagementPhase.number == phase
            )
        ).one()
        items = session.exec(select(Item).where(Item.phase_id == p.id).order_by(Item.number)).all()
    return [f"{phase}.{i.number}" for i in items if side in ("any", i.owner_side)]


def publishes_to(h: Any, user: str) -> int:
    return sum(1 for c in h.standin.calls_to("views.publish") if c.args.get("user_id") == user)


def home_click(h: Any, who: Persona, action_id: str, *, as_user: Persona | None = None) -> None:
    """Click a button of `who`'s Home; `as_user` sends the very same click as someone else (a
    forged or replayed payload: the server must not trust the button)."""
    home = h.standin.home(who.user_id)
    if as_user is None:
        h.driver.click_view(home["id"], action_id, user=who.user_id)
    else:
        view = copy.deepcopy(home["view"])
        el = next(
            e
            for b in view["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == action_id
        )
        u = h.standin.user(as_user.user_id)
        send_payload(
            h,
            {
                "type": "block_actions",
                "user": {"id": u.id, "username": u.name, "name": u.name, "team_id": u.team_id},
                "api_app_id": "A0GOLIVE",
                "container": {"type": "view", "view_id": home["id"]},
                "trigger_id": h.standin.issue_trigger(as_user.user_id),
                "team": {"id": "T0VENDOR"},
                "view": {"id": home["id"], "type": "home", "blocks": view["blocks"], "private_metadata": ""},
                "actions": [
                    {
                        "type": "button",
                        "action_id": action_id,
                        "block_id": "x",
                        "value": el["value"],
                        "action_ts": "1",
                    }
                ],
            },
        )
    h.idle()


def three_engagements(h: Any) -> None:
    """Mon 30 Nov 2026 (the harness clock). Started in an order that is not the risk order."""
    h.command("start Fine Co size=medium kickoff=2026-11-30 tz=Europe/Berlin", channel=channel(h, "C0FINE"))
    h.command("start Late Co size=small kickoff=2026-11-02 tz=Europe/Berlin", channel=channel(h, "C0LATE"))
    h.command(
        "start Risky & Sons size=medium kickoff=2026-11-30 tz=Europe/Berlin", channel=channel(h, "C0RISK")
    )
    # Risky: one of the team's items assigned to the lead and overdue, a customer item blocked,
    # a sign-off waiting since Monday.
    mine = item_refs(h, "C0RISK", 1, "vendor")[0]
    h.command(f"assign {mine} {mention(LEAD)}", channel="C0RISK")
    h.command(f"due {mine} 2026-11-30", channel="C0RISK")  # today: overdue from tomorrow
    blocked = item_refs(h, "C0RISK", 1, "customer")[0]
    with h.services.db.session() as session:  # what a customer's *Blocked…* on a nudge records
        e = engagement_of(h, "C0RISK")
        number = int(blocked.split(".")[1])
        item = next(
            i for i in session.exec(select(Item).where(Item.engagement_id == e.id)) if i.number == number
        )
        item.blocked_reason = "waiting for our IT"
        session.add(item)
    h.command(f"role {mention(APPROVER)} approver", channel="C0RISK")
    request_signoff(h, "solution_design", channel="C0RISK")
    at(h, "2026-12-01T09:00:00+01:00")  # Tuesday


def test_three_engagements_in_risk_order_with_their_facts_and_buttons(harness):
    h = harness
    three_engagements(h)
    home = open_home(h, LEAD)
    assert customers(home) == ["Late Co", "Risky & Sons", "Fine Co"]  # late, at risk, on track
    text = shown(blocks_text(home["view"]["blocks"]))
    assert "3 engagements, riskiest first" in text and "page 1 of" not in text  # one page

    late = shown(blocks_text(card_blocks(home, "Late Co")))
    assert ":red_circle: *Late* — The planned go-live (Fri 20 Nov) has passed" in late
    assert "Phase 1 of 5 · Discovery" in late and "0/" in late
    # The forecast is the reason, and says so: not a second time on a line of its own.
    assert ":calendar: Forecast go-live" not in late and late.count("Fri 20 Nov") == 1

    risky_blocks = card_blocks(home, "Risky & Sons")
    risky = shown(blocks_text(risky_blocks))
    assert ":large_yellow_circle: *At risk*" in risky and "overdue" in risky
    assert ":calendar: Forecast go-live" in risky  # the reason is another: the forecast has its line
    mine = item_refs(h, "C0RISK", 1, "vendor")[0]
    blocked = item_refs(h, "C0RISK", 1, "customer")[0]
    assert f":warning: Your overdue items: *{mine}*" in risky and "(due Mon 30 Nov)" in risky
    assert f":no_entry: Blocked: *{blocked}*" in risky
    assert "Waiting for sign-off: Solution design sign-off (1 business day)" in risky
    # The customer's name is text: escaped, never a link or a mention.
    assert "*Risky &amp; Sons*" in risky_blocks[0]["text"]["text"]

    fine = shown(blocks_text(card_blocks(home, "Fine Co")))
    assert ":large_green_circle: *On track*" in fine and "in line with the plan" in fine
    assert fine.count("in line with") == 1 and ":calendar:" not in fine
    assert "Blocked" not in fine and "Waiting for sign-off" not in fine and "Your overdue" not in fine

    for customer in ("Late Co", "Risky & Sons", "Fine Co"):
        ids = action_ids(card_blocks(home, customer))
        assert [a.split(":")[0] for a in ids] == ["home_checklist", "home_settings", "home_timeline"], ids
    # A card is at most five blocks, so a page of twelve stays far below 100.
    assert all(len(card_blocks(home, c)) <= 5 for c in customers(home))


def test_request_sign_off_button_only_when_a_sign_off_is_ready_and_it_posts_the_request(harness):
    h = harness
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(APPROVER)} approver")
    h.command("done " + " ".join(item_refs(h, "C0ACME", 1, "any")))  # Discovery done: Solutioning now
    home = open_home(h, LEAD)
    assert not [a for a in action_ids(card_blocks(home, "Acme Corp")) if a.startswith("home_signoff")]
    h.command("done " + " ".join(item_refs(h, "C0ACME", 2, "any")))  # its items done, gates open
    home = h.standin.home(LEAD.user_id)  # re-published by the change, without opening it again
    [button] = [a for a in action_ids(card_blocks(home, "Acme Corp")) if a.startswith("home_signoff")]
    home_click(h, LEAD, button)
    [request] = [
        m for m in posts(h) if "sign-off" in m["text"].lower() and "Approve" in blocks_text(m["blocks"])
    ]
    with h.services.db.read() as session:
        [row] = session.exec(select(SignoffRequest)).all()
    assert row.ts == request["ts"] and row.requested_by == LEAD.user_id
    home = h.standin.home(LEAD.user_id)
    assert "Requested the " in blocks_text(home["view"]["blocks"]) and "<#C0ACME>" in blocks_text(
        home["view"]["blocks"]
    )


def test_sixty_engagements_paginated_every_page_valid(harness):
    h = harness
    h.lift_rate_limits()  # sixty starts in seconds; the Home's own pacing is tested below
    for n in range(60):
        h.command(f"start Customer {n:02d} size=medium kickoff=2026-11-30", channel=channel(h, f"C0E{n:03d}"))
    home = open_home(h, LEAD)
    seen: list[str] = []
    for page in range(1, 6):
        view = home["view"]
        assert len(view["blocks"]) <= 100
        assert f"60 engagements, riskiest first · page {page} of 5" in blocks_text(view["blocks"])
        names = customers(home)
        assert len(names) == (12 if page < 5 else 60 - 48)
        seen += names
        ids = action_ids(view["blocks"])
        assert ("home_page:" + str(page - 1) in ids) == (page > 1)
        if page < 5:
            h.driver.click_view(home["id"], f"home_page:{page + 1}", user=LEAD.user_id)
            h.idle()
            home = h.standin.home(LEAD.user_id)
    assert sorted(seen) == [f"Customer {n:02d}" for n in range(60)]  # each once, none missing
    assert not h.standin.invalid_block_responses()
    # The page is remembered: a change re-publishes the page being looked at.
    h.command("done 1.1", channel="C0E000")
    assert "page 5 of 5" in blocks_text(h.standin.home(LEAD.user_id)["view"]["blocks"])
    h.driver.click_view(home["id"], "home_page:4", user=LEAD.user_id)
    h.idle()
    assert "page 4 of 5" in blocks_text(h.standin.home(LEAD.user_id)["view"]["blocks"])


def test_customer_opening_home_gets_a_note_not_the_portfolio(harness):
    h = harness
    three_engagements(h)
    for who in (APPROVER, CONTRIBUTOR):
        home = open_home(h, who)
        text = blocks_text(home["view"]["blocks"])
        assert "My tasks" in text and "nothing here for you" in text
        assert not customers(home) and not action_ids(home["view"]["blocks"])
        assert "Fine Co" not in text and "Late Co" not in text
    with h.services.db.read() as session:
        assert session.get(HomeViewer, APPROVER.user_id) is None  # never re-published on changes


def test_vendor_colleague_without_a_role_has_no_engagements_of_their_own_but_can_see_all(harness):
    h = harness
    three_engagements(h)
    h.command("done " + item_refs(h, "C0FINE", 1, "any")[0], user=OUTSIDER, channel="C0FINE")  # now a member
    home = open_home(h, OUTSIDER)
    assert customers(home) == []
    assert "You are not lead or consultant on any active engagement" in blocks_text(home["view"]["blocks"])
    h.driver.click_view(home["id"], "home_view:all", user=OUTSIDER.user_id)
    h.idle()
    home = h.standin.home(OUTSIDER.user_id)
    assert customers(home) == ["Late Co", "Risky & Sons", "Fine Co"]
    assert "All engagements" in blocks_text(home["view"]["blocks"][:1])


def test_card_buttons_checklist_settings_timeline(harness):
    h = harness
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    home = open_home(h, LEAD)
    eid = engagement_of(h, "C0ACME").id
    first = [m for m in posts(h) if "checklist:" in m["text"]]
    home_click(h, LEAD, f"home_checklist:{eid}")
    checklists = [m for m in posts(h) if "checklist:" in m["text"]]
    assert len(first) == len(checklists) == 1 and checklists[0]["ts"] != first[0]["ts"]  # a fresh copy
    assert any(m["ts"] == first[0]["ts"] and "newer copy" in blocks_text(m["blocks"]) for m in posts(h))
    note = blocks_text(h.standin.home(LEAD.user_id)["view"]["blocks"])
    assert "Posted the Discovery checklist of *Acme Corp* in <#C0ACME>." in note

    home_click(h, LEAD, f"home_settings:{eid}")
    [settings] = h.standin.open_views(LEAD.user_id)
    assert settings["view"]["callback_id"] == "settings"
    h.driver.submit_view(settings["id"], {"cadence": {"value": "3"}}, user=LEAD.user_id)
    h.idle()
    assert engagement_of(h, "C0ACME").cadence_days == 3  # the form saves as /golive settings does

    home_click(h, LEAD, f"home_timeline:{eid}")
    [timeline] = h.standin.open_views(LEAD.user_id)
    text = blocks_text(timeline["view"]["blocks"])
    assert "Acme Corp" in text and "Discovery" in text and "```" in text
    assert home["id"] == h.standin.home(LEAD.user_id)["id"]


def test_card_buttons_refuse_anyone_not_on_the_vendor_side(harness):
    h = harness
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    eid = engagement_of(h, "C0ACME").id
    open_home(h, LEAD)
    before = len(posts(h))
    # A customer replays the lead's Home click: the server checks who clicked, not the button.
    home_click(h, LEAD, f"home_checklist:{eid}", as_user=APPROVER)
    home_click(h, LEAD, f"home_settings:{eid}", as_user=APPROVER)
    assert len(posts(h)) == before and not h.standin.open_views(APPROVER.user_id)
    # A Home click has no channel, and Slack will not let the bot DM the customer's people: they
    # are told in the channel they share with the bot, where only they see it.
    assert h.standin.im_channel(APPROVER.user_id) is None
    told = ephemeral_texts(h, APPROVER.user_id, channel=CHANNEL)
    assert len(told) == 2 and all("Only the implementation team" in t for t in told)
    # A vendor colleague the team put on the customer's side is refused too.
    h.command(f"side {mention(OUTSIDER)} customer")
    home_click(h, LEAD, f"home_settings:{eid}", as_user=OUTSIDER)
    assert not h.standin.open_views(OUTSIDER.user_id)
    assert "Only the implementation team" in blocks_text(
        h.standin.messages(h.standin.im_channel(OUTSIDER.user_id) or "")[-1]["blocks"]
    )


def test_a_change_republishes_the_home_of_team_members_who_opened_it_only(harness):
    h = harness
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONSULTANT)} consultant")
    open_home(h, LEAD)
    assert "0/" in blocks_text(h.standin.home(LEAD.user_id)["view"]["blocks"])
    published = publishes_to(h, LEAD.user_id)
    h.command("done 1.1 1.2")
    assert publishes_to(h, LEAD.user_id) == published + 1  # one publish for the change, after the ack
    assert "2/" in blocks_text(h.standin.home(LEAD.user_id)["view"]["blocks"])
    assert publishes_to(h, CONSULTANT.user_id) == 0  # never opened Home: costs nothing
    open_home(h, CONSULTANT)
    h.command("undo 1.1")
    assert "1/" in blocks_text(h.standin.home(CONSULTANT.user_id)["view"]["blocks"])
    # Not opened for more than 30 days: no longer kept up to date (opening it renders it afresh).
    at(h, "2027-01-08T10:00:00+01:00")
    lead, consultant = publishes_to(h, LEAD.user_id), publishes_to(h, CONSULTANT.user_id)
    h.command("done 1.3")
    assert (publishes_to(h, LEAD.user_id), publishes_to(h, CONSULTANT.user_id)) == (lead, consultant)
    open_home(h, LEAD)
    h.command("done 1.4")
    assert publishes_to(h, LEAD.user_id) == lead + 2  # the opening, then the change
    assert "3/" in blocks_text(h.standin.home(LEAD.user_id)["view"]["blocks"])
    assert publishes_to(h, CONSULTANT.user_id) == consultant


def test_a_new_consultant_and_items_gone_overdue_republish_the_home(harness):
    h = harness
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    assert customers(open_home(h, OUTSIDER)) == []  # a vendor colleague, on no engagement yet
    h.command(f"role {mention(OUTSIDER)} consultant")
    assert customers(h.standin.home(OUTSIDER.user_id)) == ["Acme Corp"]  # without opening it again
    assert ":red_circle: *Late*" not in blocks_text(open_home(h, LEAD)["view"]["blocks"])
    before = publishes_to(h, LEAD.user_id)
    # Nothing was done; days later the sweep nudges about overdue items: the Home follows.
    at(h, "2026-12-08T10:00:00+01:00")
    report = h.run_sweep()
    h.idle()
    assert [line for line in report.sent if line.startswith("nudge")]
    assert publishes_to(h, LEAD.user_id) == before + 1
    assert ":red_circle: *Late*" in blocks_text(h.standin.home(LEAD.user_id)["view"]["blocks"])


def test_a_consultant_taken_off_the_engagement_no_longer_sees_it_in_their_home(harness):
    h = harness
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(OUTSIDER)} consultant")
    assert customers(open_home(h, OUTSIDER)) == ["Acme Corp"]
    h.command(f"role {mention(OUTSIDER)} remove consultant")
    # Without opening it again: the Home they have open follows the change.
    assert customers(h.standin.home(OUTSIDER.user_id)) == []
    # Someone who never opened Home gets no publish for it.
    h.command(f"role {mention(CONSULTANT)} consultant")
    h.command(f"role {mention(CONSULTANT)} remove")
    assert publishes_to(h, CONSULTANT.user_id) == 0


def test_home_publishes_under_slacks_rate_limit_wait_out_429s_and_end_with_the_latest_state(harness):
    h = harness
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONSULTANT)} consultant")
    for who in (LEAD, CONSULTANT):
        open_home(h, who)
    h.driver.click_view(open_home(h, OUTSIDER)["id"], "home_view:all", user=OUTSIDER.user_id)
    h.idle()
    # Slack stricter than the bot's pacing: one publish a second, no burst, and the bot not pacing.
    h.standin.set_rate_limit("views.publish", per_minute=60, burst=1)
    h.bot.outbox.pacer.set("views.publish", None)
    h.standin.reset_calls()
    for ref in ("1.1", "1.2", "1.3"):
        h.command(f"done {ref}")
    h.idle(timeout=30)
    refused = h.standin.ratelimited_responses("views.publish")
    assert refused, "the stand-in's limit was never reached: the test tests nothing"
    assert all(c.status == 429 for c in refused)
    for who in (LEAD, CONSULTANT, OUTSIDER):
        assert "3/" in blocks_text(h.standin.home(who.user_id)["view"]["blocks"]), who.name
