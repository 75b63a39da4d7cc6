"""Who of the vendor's side sees which engagement (issue 25, part 1), end to end.

A private Slack Connect channel's engagement is shown in App Home to the vendor's people in the
channel and to golive's admins (`GOLIVE_ADMINS`: user ids or a user group); a colleague outside
the channel sees nothing of it and cannot act on it from a Home button (forged or stale), nor by
a slash command; a guest of the vendor's workspace gets no portfolio. Joining and leaving the
channel (member_joined_channel / member_left_channel) show and hide it.
"""

from __future__ import annotations

from typing import Any

from sandbox.harness import APPROVER, CONSULTANT, CONTRIBUTOR, LEAD, OUTSIDER, VENDOR_TEAM
from tests.e2e.helpers import blocks_text, last_answer
from tests.e2e.test_home import action_ids, customers, home_click, open_home

PRIVATE = "C0SECRET"
PUBLIC = "C0OPEN"
GUEST = "U0GUEST"


def two_engagements(h: Any) -> None:
    """A private Slack Connect channel without the colleague (OUTSIDER) and a shared one with
    everyone; a guest of the vendor's workspace is in both."""
    h.standin.add_user(GUEST, name="Gus Guest", team_id=VENDOR_TEAM, guest="multi")
    in_private = [LEAD.user_id, CONSULTANT.user_id, APPROVER.user_id, CONTRIBUTOR.user_id, GUEST]
    h.standin.add_channel(PRIVATE, name="secret-merger", ext_shared=True, private=True, members=in_private)
    h.standin.add_channel(PUBLIC, name="open-co", ext_shared=True, members=[*in_private, OUTSIDER.user_id])
    h.command("start Secret Merger size=medium kickoff=2026-11-30 tz=Europe/Berlin", channel=PRIVATE)
    h.command("start Open Co size=medium kickoff=2026-11-30 tz=Europe/Berlin", channel=PUBLIC)


def all_engagements(h: Any, who: Any) -> dict[str, Any]:
    home = open_home(h, who)
    h.driver.click_view(home["id"], "home_view:all", user=who.user_id)
    h.idle()
    return h.standin.home(who.user_id)


def dms(h: Any, user: str) -> list[str]:
    """What `user` was told in the bot's direct messages (a Home click's refusal goes there)."""
    return [blocks_text(m.get("blocks") or []) for m in h.standin.messages(h.standin.im_channel(user) or "")]


def test_a_colleague_outside_a_private_channel_sees_nothing_of_it_and_cannot_act_on_it(harness):
    h = harness
    two_engagements(h)
    assert set(customers(all_engagements(h, LEAD))) == {"Open Co", "Secret Merger"}
    home = all_engagements(h, OUTSIDER)
    assert customers(home) == ["Open Co"]
    text = blocks_text(home["view"]["blocks"])
    assert "Secret Merger" not in text and "secret" not in text.lower()
    assert "those whose channel you are in" in text

    # The lead's Home buttons of the private engagement, clicked by the colleague (a forged or
    # replayed payload): refused on the server, nothing opened or posted.
    secret = _engagement_id(h, PRIVATE)
    opened = len(h.standin.calls_to("views.open"))
    posted = len(h.standin.messages(PRIVATE))
    for action in (f"home_settings:{secret}", f"home_checklist:{secret}", f"home_timeline:{secret}"):
        home_click(h, LEAD, action, as_user=OUTSIDER)
    assert len(h.standin.calls_to("views.open")) == opened
    assert len(h.standin.messages(PRIVATE)) == posted  # no checklist posted there
    refusals = [t for t in dms(h, OUTSIDER.user_id) if "you are not in this one" in t]
    assert len(refusals) == 3, dms(h, OUTSIDER.user_id)
    assert all("Secret Merger" not in t for t in dms(h, OUTSIDER.user_id))

    # A slash command in the private channel from someone Slack says is not in it: refused.
    h.command("status", user=OUTSIDER, channel=PRIVATE)
    assert "not a member of this channel" in last_answer(h, OUTSIDER)
    assert "Secret Merger" not in last_answer(h, OUTSIDER)


def test_joining_and_leaving_the_channel_shows_and_hides_the_engagement(harness):
    h = harness
    two_engagements(h)
    assert customers(all_engagements(h, OUTSIDER)) == ["Open Co"]
    h.driver.member_joined_channel(OUTSIDER.user_id, PRIVATE)
    h.idle()
    home = h.standin.home(OUTSIDER.user_id)  # re-published: the change concerns them
    assert set(customers(home)) == {"Open Co", "Secret Merger"}
    h.driver.member_left_channel(OUTSIDER.user_id, PRIVATE)
    h.idle()
    assert customers(h.standin.home(OUTSIDER.user_id)) == ["Open Co"]


def test_a_vendor_guest_gets_no_portfolio_and_cannot_act_from_home(harness):
    h = harness
    two_engagements(h)
    home = open_home(h, _Guest)
    text = blocks_text(home["view"]["blocks"])
    assert "guests of the workspace don't get one" in text
    assert not customers(home) and not action_ids(home["view"]["blocks"])
    open_home(h, LEAD)
    opened = len(h.standin.calls_to("views.open"))
    home_click(h, LEAD, f"home_settings:{_engagement_id(h, PUBLIC)}", as_user=_Guest)
    assert len(h.standin.calls_to("views.open")) == opened
    assert any("Guests of the workspace can't act" in t for t in dms(h, GUEST)), dms(h, GUEST)


def test_an_admin_sees_every_engagement_also_by_user_group(harness_factory):
    for admins in (OUTSIDER.user_id, "S0LEADS"):
        h = harness_factory(env={"GOLIVE_ADMINS": admins})
        h.standin.add_usergroup("S0LEADS", [OUTSIDER.user_id])
        two_engagements(h)
        home = all_engagements(h, OUTSIDER)
        assert set(customers(home)) == {"Open Co", "Secret Merger"}, admins
        assert "every active one" in blocks_text(home["view"]["blocks"])
        opened = len(h.standin.calls_to("views.open"))
        h.driver.click_view(home["id"], f"home_settings:{_engagement_id(h, PRIVATE)}", user=OUTSIDER.user_id)
        h.idle()
        assert len(h.standin.calls_to("views.open")) == opened + 1  # the settings form


class _Guest:
    user_id = GUEST
    name = "Gus Guest"


def _engagement_id(h: Any, channel: str) -> int:
    from sqlmodel import select

    from storage.models import Engagement

    with h.services.db.read() as session:
        e = session.exec(select(Engagement).where(Engagement.channel_id == channel)).first()
    assert e is not None and e.id is not None
    return e.id


def test_channels_never_read_are_read_on_the_sweeps_beat_and_again_a_day_later(harness):
    """An engagement from before rosters existed (no roster) shows to admins only until the
    clock's job reads it; a leave whose event never came is caught by the daily re-read."""
    from datetime import timedelta

    from sqlalchemy import delete

    from bot.slack.rosters import backfill_rosters
    from storage.models import ChannelMember, ChannelRoster

    h = harness
    two_engagements(h)
    with h.services.db.session() as session:  # as after the upgrade: nothing known of the channels
        session.exec(delete(ChannelMember))
        session.exec(delete(ChannelRoster))
    assert customers(all_engagements(h, OUTSIDER)) == []
    assert backfill_rosters(h.services) == 2
    assert backfill_rosters(h.services) == 0  # read: nothing more until tomorrow
    assert customers(all_engagements(h, OUTSIDER)) == ["Open Co"]

    h.standin.remove_member(PUBLIC, OUTSIDER.user_id)  # no member_left_channel event delivered
    assert backfill_rosters(h.services) == 0
    h.clock.set(h.clock.now() + timedelta(days=1, minutes=1))
    assert backfill_rosters(h.services) == 2
    assert customers(all_engagements(h, OUTSIDER)) == []
