"""Issue 25 §6: Slack may refuse the bot a direct message with a person of another organisation.

Whether the bot may open a DM with a Slack Connect customer is up to both organisations' Slack
Connect settings (conversations.open documents `invalid_user_combination`); the stand-in refuses
it unless a test allows it (`SlackStandIn.allow_external_dm`). Whatever a DM was for still reaches
its person: a private answer as an ephemeral in the channel they share with the bot, a reminder as
a reply in the channel's thread that mentions them. Signed requests over real HTTP into the bot,
its Web API calls answered by the stand-in.
"""

from __future__ import annotations

from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, LEAD, Harness
from storage.models import Reminder
from tests.e2e.helpers import (
    at,
    blocks_text,
    direct_messages,
    ephemeral_texts,
    mention,
    notified_by,
    nudges,
    reminder_kind,
)
from tests.e2e.test_home import engagement_of, home_click, open_home
from tests.e2e.test_sides import PARTNER, join


def dm_refusals(h: Harness, user: str) -> list[str]:
    return [
        c.response.get("error")
        for c in h.standin.calls_to("conversations.open")
        if c.args.get("users") == user and not c.response.get("ok")
    ]


def test_a_customer_the_bot_cannot_dm_is_told_in_their_channel_and_by_dm_once_slack_allows_it(
    harness: Harness,
) -> None:
    h = harness
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    eid = engagement_of(h, CHANNEL).id
    open_home(h, LEAD)
    # The customer replays a Home button of the lead's: a click with no channel to answer in.
    home_click(h, LEAD, f"home_settings:{eid}", as_user=APPROVER)
    assert dm_refusals(h, APPROVER.user_id) == ["invalid_user_combination"]
    assert h.standin.im_channel(APPROVER.user_id) is None
    [told] = ephemeral_texts(h, APPROVER.user_id, channel=CHANNEL)
    assert "Only the implementation team" in told
    assert not h.standin.open_views(APPROVER.user_id)
    # Once both organisations let the bot DM them, the answer is a DM, as for the vendor's people.
    h.standin.allow_external_dm(APPROVER.user_id)
    home_click(h, LEAD, f"home_settings:{eid}", as_user=APPROVER)
    [dm] = direct_messages(h, APPROVER)
    assert "Only the implementation team" in blocks_text(dm["blocks"])
    assert len(ephemeral_texts(h, APPROVER.user_id, channel=CHANNEL)) == 1


def test_a_partner_on_the_teams_side_the_bot_cannot_dm_gets_their_reminder_in_the_thread(
    harness: Harness,
) -> None:
    """The team's own items are reminded by DM; a reseller's consultant the team took on its side
    cannot be DMed: their reminder is a reply in the checklist's thread mentioning them, sent once,
    not a DM retried sweep after sweep."""
    h = harness
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(APPROVER)} approver")
    join(h, PARTNER)
    h.command(f"side {mention(PARTNER)} vendor")
    h.command(f"assign 1.2 {mention(PARTNER)}")  # the team's item, due Tue 1 Dec
    at(h, "2026-12-02T10:00:00+01:00")
    report = h.run_sweep()
    h.idle()
    assert dm_refusals(h, PARTNER.user_id) == ["invalid_user_combination"]
    assert h.standin.im_channel(PARTNER.user_id) is None
    [theirs] = [m for m in nudges(h) if "*1.2*" in blocks_text(m["blocks"])]
    assert theirs.get("thread_ts"), "a reply in the checklist's thread, not a new top-level message"
    assert notified_by(h, theirs).get(PARTNER.user_id) == "mention"
    assert f"<@{PARTNER.user_id}>" in theirs["text"]  # a push shows the text
    # The lead's own reminder still goes by DM, without the partner's item.
    [lena] = [m for m in direct_messages(h, LEAD) if reminder_kind(m) == "nudge"]
    assert "*1.2*" not in blocks_text(lena["blocks"]) and "*1.1*" in blocks_text(lena["blocks"])
    assert not report.retried and not report.failed, (report.retried, report.failed)
    assert any(line.startswith("nudge") for line in report.sent), report.sent
    with h.services.db.read() as session:
        errors = [r.last_error for r in session.exec(select(Reminder).where(Reminder.kind == "nudge")).all()]
    assert not any(errors), errors
