"""A click must be on a message the bot posted for the engagement (issue 25, part 1): the message
the payload names — its channel and ts — is looked up in the ledger of what the bot posted, and a
click naming a message that is not there (another channel's message, a made-up ts, a payload
that says two different channels) is refused with a friendly note and changes nothing. Clicks on
ephemeral messages (a command's answer: Slack gives the bot no ts for it) and in forms still act
on the channel's engagement; a genuine click works as ever.

Payloads start from the stand-in driver's own (`click_payload`: what Slack sends for a click on a
stored message), then are edited as a forger would, signed and sent over HTTP into the bot.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlmodel import select

from bot.engagement import checklist as cl
from sandbox.harness import CHANNEL, CONTRIBUTOR, LEAD, PERSONAS
from storage.models import Engagement, Item
from tests.e2e.helpers import (
    checklists,
    db_snapshot,
    engagement,
    ephemeral_texts,
    forged_click,
    last_answer,
    mention,
    send_payload,
    welcomes,
)

OTHER = "C0OTHER"
NOT_OURS = "I couldn't find that message among the ones I posted for this engagement"


def two_engagements(h: Any) -> Item:
    """Acme in the harness's channel, Other Co in another; returns one of Acme's customer items
    (the checklist shows a checkbox for them)."""
    h.standin.add_channel(OTHER, name="other-co", ext_shared=True, members=[p.user_id for p in PERSONAS])
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    h.command("start Other Co size=small kickoff=2026-11-30 tz=Europe/Berlin", channel=OTHER)
    return next(i for i in (item_of(h, f"1.{n}") for n in range(1, 7)) if i.owner_side == "customer")


def item_of(h: Any, ref: str, channel: str = CHANNEL) -> Item:
    phase_no, item_no = (int(x) for x in ref.split("."))
    with h.services.db.read() as session:
        e = session.exec(select(Engagement).where(Engagement.channel_id == channel)).one()
        return cl.find_item(session, e, phase_no, item_no)[1]


def checklist_ts(h: Any, channel: str = CHANNEL) -> str:
    return checklists(h, channel)[-1]["ts"]


def tick_payload(h: Any, item: Item, user: str = CONTRIBUTOR.user_id) -> dict[str, Any]:
    """The payload Slack sends when `user` ticks `item` on Acme's checklist."""
    payload = h.driver.click_payload(
        CHANNEL, checklist_ts(h), f"tick:{item.id}", user=user, selected_options=[str(item.id)]
    )
    assert payload is not None
    return copy.deepcopy(payload)


def send(h: Any, payload: dict[str, Any]) -> None:
    r = send_payload(h, payload)
    assert r.status == 200, r.status
    h.idle()


def refused_without_a_change(
    h: Any, payload: dict[str, Any], item: Item, user: str = CONTRIBUTOR.user_id
) -> None:
    before = db_snapshot(h)
    told = len(ephemeral_texts(h, user))
    send(h, payload)
    assert item_of(h, f"1.{item.number}").status == cl.OPEN
    assert db_snapshot(h) == before, "a refused click wrote something"
    answers = ephemeral_texts(h, user)[told:]
    assert any(NOT_OURS in a and "nothing was changed" in a for a in answers), answers


def test_a_click_naming_a_message_of_another_channel_is_refused(harness):
    h = harness
    item = two_engagements(h)
    payload = tick_payload(h, item)
    other = checklist_ts(h, OTHER)  # Other Co's checklist: the bot's, but of another engagement
    payload["container"]["message_ts"] = other
    payload["message"] = h.standin.slack_message(OTHER, other)
    refused_without_a_change(h, payload, item)


def test_a_click_naming_a_made_up_message_is_refused(harness):
    h = harness
    item = two_engagements(h)
    payload = tick_payload(h, item)
    payload["container"]["message_ts"] = "1764500000.999999"
    payload["message"]["ts"] = "1764500000.999999"
    refused_without_a_change(h, payload, item)


def test_a_click_whose_payload_names_two_channels_or_two_messages_is_refused(harness):
    h = harness
    item = two_engagements(h)
    # `channel` says Acme's channel, `container` Other Co's, with a message that is there.
    payload = tick_payload(h, item)
    payload["container"]["channel_id"] = OTHER
    payload["container"]["message_ts"] = checklist_ts(h, OTHER)
    refused_without_a_change(h, payload, item)
    # `container` names Acme's checklist, `message` another message.
    payload = tick_payload(h, item)
    payload["message"]["ts"] = checklist_ts(h, OTHER)
    refused_without_a_change(h, payload, item)


def test_a_click_with_no_message_at_all_is_refused(harness):
    h = harness
    item = two_engagements(h)
    payload = tick_payload(h, item)
    del payload["container"]
    del payload["message"]
    refused_without_a_change(h, payload, item)


def test_a_genuine_click_still_works(harness):
    h = harness
    item = two_engagements(h)
    send(h, tick_payload(h, item))
    assert item_of(h, f"1.{item.number}").status == cl.DONE
    assert not [t for t in ephemeral_texts(h, CONTRIBUTOR.user_id) if NOT_OURS in t]


def test_a_click_on_an_ephemeral_message_still_acts_on_the_channels_engagement(harness):
    """`/golive cancel` answers privately with a Cancel button: Slack gives the bot no ts of that
    answer, so the click is not in the ledger and acts on the channel's engagement."""
    h = harness
    two_engagements(h)
    h.command("cancel")
    answer = h.standin.ephemerals(channel=CHANNEL, user=LEAD.user_id)[-1]
    assert "cancel_engagement" in str(answer["blocks"])
    h.driver.click_ephemeral(CHANNEL, answer["ts"], "cancel_engagement", user=LEAD.user_id)
    h.idle()
    acme = engagement(h)
    assert acme is not None and acme.status == "cancelled"
    with h.services.db.read() as session:
        other = session.exec(select(Engagement).where(Engagement.channel_id == OTHER)).one()
    assert other.status == "active"


def test_a_confirm_go_live_naming_another_engagement_is_refused(harness):
    """The Confirm go-live button's value names an engagement; the click acts on the message's
    engagement only: a value edited to name another one is refused, nothing written."""
    h = harness
    h.standin.add_channel(OTHER, name="other-co", ext_shared=True, members=[p.user_id for p in PERSONAS])
    h.command("start Other Co size=small kickoff=2026-11-30 tz=Europe/Berlin", channel=OTHER)
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    with h.services.db.read() as session:
        other = session.exec(select(Engagement).where(Engagement.channel_id == OTHER)).one()
    before = db_snapshot(h)
    forged_click(h, welcomes(h)[-1], "golive_confirm", LEAD.user_id, value=str(other.id))
    assert "belongs to another engagement" in last_answer(h)
    assert db_snapshot(h) == before
