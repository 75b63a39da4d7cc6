"""Who is who in a real Slack Connect channel: a third organisation, an Enterprise Grid vendor,
users whose organisation cannot be told, and clicks or forms that name another engagement."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from sandbox.harness import APPROVER, CHANNEL, CONTRIBUTOR, CUSTOMER_TEAM, LEAD, VENDOR_TEAM, Persona
from standin.api_views import slack_view
from standin.payloads import enterprise_object, team_object, user_object
from storage.models import AuditEvent, Engagement, Item, SignoffRequest
from tests.e2e.helpers import (
    approve_request,
    at,
    blocks_text,
    count,
    engagement,
    ephemeral_texts,
    mention,
    nudges,
    posts,
    request_signoff,
    send_payload,
)
from tests.e2e.test_checklist import checklist_msg, item, menu, tick

PARTNER = Persona("U0PARTNER", "Pat Partner", "T0PARTNER", "Reseller's consultant")
GRID = Persona("U0GRID", "Gina Grid", "T0VENDOR2", "Vendor colleague, another workspace of the org")
GHOST = Persona("U0GHOST", "Gus Ghost", "", "Someone whose organisation Slack does not tell")
VENDOR_GRID = "E0VENDOR"


def join(h, p: Persona, *, enterprise: str | None = None, visible: bool = True) -> None:
    """Someone joins the shared channel; a new organisation connects to it with them."""
    h.standin.add_user(p.user_id, name=p.name, team_id=p.team_id, enterprise_id=enterprise, visible=visible)
    if not p.team_id:  # a payload that names no home team
        with h.standin.ws.lock:
            h.standin.ws.users[p.user_id].team_id = ""
    h.standin.add_member(CHANNEL, p.user_id)
    if enterprise == VENDOR_GRID:
        h.standin.share_within_org(CHANNEL, p.team_id)
    elif p.team_id and p.team_id not in (VENDOR_TEAM, CUSTOMER_TEAM):
        h.standin.connect_team(CHANNEL, p.team_id)


def audit_rows(h) -> list[AuditEvent]:
    with h.services.db.session() as session:
        return list(session.exec(select(AuditEvent).order_by(AuditEvent.id)).all())


def partner_rows(h) -> list[AuditEvent]:
    """The audit rows but what the sweep told the lead of the customer's people."""
    return [r for r in audit_rows(h) if r.kind != "people.lead_told"]


def last_ephemeral(h, p: Persona) -> str:
    texts = ephemeral_texts(h, p.user_id)
    assert texts, f"{p.name} was told nothing"
    return texts[-1]


@pytest.fixture
def shared(harness):
    """Medium engagement; the channel holds the vendor and the customer when it starts, then a
    reseller's consultant joins from a third organisation."""
    h = harness
    h.command("start Acme Corp size=small kickoff=2026-11-30 tz=Europe/Berlin")
    h.command(f"role {mention(CONTRIBUTOR)} contributor")
    h.command(f"role {mention(APPROVER)} approver")
    join(h, PARTNER)
    return h


def test_the_customer_is_the_one_other_organisation_when_the_engagement_starts(shared):
    e = engagement(shared)
    assert (e.team_id, e.customer_team_id) == (VENDOR_TEAM, CUSTOMER_TEAM)
    started = audit_rows(shared)[0]
    assert json.loads(started.detail)["customer_team"] == CUSTOMER_TEAM


def test_a_third_organisation_reads_along_but_cannot_act(shared):
    h = shared
    rows_before, updates_before = len(partner_rows(h)), len(h.standin.calls_to("chat.update"))
    # Tick a customer item: refused, the box goes back, nothing recorded.
    _r, ts = tick(h, "1.5", PARTNER)
    assert item(h, "1.5").status == "open"
    told = last_ephemeral(h, PARTNER)
    assert "another organisation than Acme Corp" in told and "side @you customer" in told
    assert "Lena Lead" in told  # whom to ask
    assert len(h.standin.calls_to("chat.update")) > updates_before  # re-rendered: the box goes back
    # The item menu: assigning refused, details allowed (reading along).
    menu(h, "1.5", PARTNER, "assign")
    assert h.standin.open_views(PARTNER.user_id) == []
    menu(h, "1.5", PARTNER, "details")
    assert len(h.standin.open_views(PARTNER.user_id)) == 1
    # A nudge's Snooze and Blocked… buttons.
    at(h, "2026-12-02T10:00:00+01:00")
    h.run_sweep()
    [nudge] = nudges(h)
    it = item(h, "1.6")
    for action, option in ((f"nudge_blocked:{it.id}", None), (f"nudge_snooze:{it.id}", f"1:{it.id}")):
        if option:
            h.driver.click(CHANNEL, nudge["ts"], action, user=PARTNER.user_id, selected_option=option)
        else:
            h.driver.click(CHANNEL, nudge["ts"], action, user=PARTNER.user_id)
        h.idle()
    assert len(h.standin.open_views(PARTNER.user_id)) == 1  # only the details view
    it = item(h, "1.6")
    assert it.blocked_reason is None and it.snoozed_until is None
    # A sign-off: the approver role cannot be given to them, and Approve refuses them.
    h.command(f"role {mention(PARTNER)} approver")
    assert "from another organisation than the customer's" in ephemeral_texts(h, LEAD.user_id)[-1]
    assert len(partner_rows(h)) == rows_before  # nothing was written by any of it
    for n in range(1, 7):
        h.command(f"done 1.{n}")
    request_signoff(h, "solution_design")
    with h.services.db.session() as session:
        req = session.exec(select(SignoffRequest)).one()
    approve_request(h, req.ts, req.id, PARTNER)
    h.idle()
    with h.services.db.session() as session:
        assert session.get(SignoffRequest, req.id).status == "open"
    assert "another organisation than Acme Corp" in last_ephemeral(h, PARTNER)
    # The same person, given a side by a consultant, can act for the customer.
    h.command(f"side {mention(PARTNER)} customer")
    ref = next(f"2.{n}" for n in range(1, 15) if item(h, f"2.{n}").owner_side == "customer")
    tick(h, ref, PARTNER)
    assert item(h, ref).status == "done" and item(h, ref).done_by == PARTNER.user_id
    assert ts  # the ticked message


def test_blocked_form_cannot_block_the_implementation_teams_item(shared):
    """A customer's Blocked… form names the item it was opened for; a forged one naming a vendor
    item is refused, and a third organisation's is refused whatever it names."""
    h = shared
    at(h, "2026-12-02T10:00:00+01:00")
    h.run_sweep()
    [nudge] = nudges(h)
    customer_item, vendor_item = item(h, "1.6"), item(h, "1.1")
    h.driver.click(CHANNEL, nudge["ts"], f"nudge_blocked:{customer_item.id}", user=CONTRIBUTOR.user_id)
    h.idle()
    [view] = h.standin.open_views(CONTRIBUTOR.user_id)
    record = h.standin.ws.views[view["id"]]
    sealed = record["view"]["private_metadata"]
    signature, _, body = sealed.partition(".")
    forged = json.loads(body) | {"item": vendor_item.id}
    for who, metadata in (
        (CONTRIBUTOR, f"{signature}.{json.dumps(forged)}"),  # the seal no longer matches
        (PARTNER, sealed),  # a genuine form, submitted by someone of a third organisation
    ):
        with h.standin.ws.lock:
            v = slack_view(h.standin.ws, record)
        v["private_metadata"] = metadata
        v["state"] = {"values": {"reason": {"value": {"type": "plain_text_input", "value": "Not us"}}}}
        send_payload(
            h,
            {
                "type": "view_submission",
                "team": team_object(h.standin.ws),
                "user": user_object(h.standin.ws, who.user_id),
                "api_app_id": h.standin.app_id,
                "view": v,
                "enterprise": enterprise_object(h.standin.ws),
            },
        )
        h.idle()
    assert item(h, "1.1").blocked_reason is None and item(h, "1.6").blocked_reason is None
    # The forged form's channel is not trusted, and Slack will not let the bot DM the customer's
    # people: they are told in the channel of their engagement, where only they see it.
    assert h.standin.im_channel(CONTRIBUTOR.user_id) is None
    assert "couldn't verify" in last_ephemeral(h, CONTRIBUTOR)
    assert "another organisation" in last_ephemeral(h, PARTNER)


def test_a_click_acts_on_the_engagement_of_the_message_it_came_from(harness):
    """A tick naming an item of another channel's engagement changes nothing there."""
    h = harness
    h.standin.add_channel(
        "C0BETA", name="beta-implementation", ext_shared=True, members=[LEAD.user_id, CONTRIBUTOR.user_id]
    )
    h.command("start Acme Corp kickoff=2026-11-30")
    h.command("start Beta Ltd kickoff=2026-11-30", channel="C0BETA")
    with h.services.db.session() as session:
        beta = session.exec(select(Engagement).where(Engagement.channel_id == "C0BETA")).one()
        beta_item = session.exec(
            select(Item).where(Item.engagement_id == beta.id, Item.owner_side == "customer")
        ).first()
    msg = checklist_msg(h)
    u = h.standin.user(CONTRIBUTOR.user_id)
    payload = {
        "type": "block_actions",
        "user": {"id": u.id, "username": u.name, "name": u.name, "team_id": u.team_id},
        "api_app_id": h.standin.app_id,
        "container": {"type": "message", "message_ts": msg["ts"], "channel_id": CHANNEL},
        "team": team_object(h.standin.ws),
        "channel": {"id": CHANNEL},
        "message": {"ts": msg["ts"], "blocks": msg["blocks"]},
        "actions": [
            {
                "type": "checkboxes",
                "action_id": f"tick:{beta_item.id}",
                "block_id": "x",
                "selected_options": [
                    {"value": str(beta_item.id), "text": {"type": "plain_text", "text": "x"}}
                ],
            }
        ],
    }
    send_payload(h, payload)
    h.idle()
    with h.services.db.session() as session:
        assert session.get(Item, beta_item.id).status == "open"
    assert "no longer belongs to this engagement" in last_ephemeral(h, CONTRIBUTOR)


def test_a_customer_cannot_submit_the_start_form(harness):
    h = harness
    h.standin.add_channel(
        "C0NEW", name="new-customer", ext_shared=True, members=[LEAD.user_id, APPROVER.user_id]
    )
    h.command("start", channel="C0NEW")  # opens the start form for the consultant
    [view] = h.standin.open_views(LEAD.user_id)
    record = h.standin.ws.views[view["id"]]
    with h.standin.ws.lock:
        v = slack_view(h.standin.ws, record)
    v["state"] = {"values": {"customer": {"value": {"type": "plain_text_input", "value": "Hijack Inc"}}}}
    send_payload(
        h,
        {
            "type": "view_submission",
            "team": team_object(h.standin.ws),
            "user": user_object(h.standin.ws, APPROVER.user_id),
            "api_app_id": h.standin.app_id,
            "view": v,
            "enterprise": None,
        },
    )
    h.idle()
    assert count(h, Engagement) == 0
    assert "Only the implementation team starts engagements" in last_ephemeral(h, APPROVER)


def test_several_organisations_wait_for_a_consultant_to_name_the_customer(harness):
    h = harness
    join(h, PARTNER)  # the channel already holds three organisations when the engagement starts
    h.command("start Acme Corp size=small kickoff=2026-11-30")
    assert engagement(h).customer_team_id is None
    tick(h, "1.5", CONTRIBUTOR)
    assert item(h, "1.5").status == "open"
    assert "hasn't said yet which one is Acme Corp" in last_ephemeral(h, CONTRIBUTOR)
    # The first customer role a consultant gives names the customer's organisation.
    h.command(f"role {mention(APPROVER)} approver")
    assert engagement(h).customer_team_id == CUSTOMER_TEAM
    pinned = [r for r in audit_rows(h) if r.kind == "customer.pinned"]
    assert len(pinned) == 1 and pinned[0].actor_id == LEAD.user_id
    tick(h, "1.5", CONTRIBUTOR)
    assert item(h, "1.5").status == "done"
    tick(h, "1.6", PARTNER)
    assert item(h, "1.6").status == "open"
    # A consultant can say it is the other organisation after all.
    h.command(f"customer {mention(PARTNER)}")
    assert engagement(h).customer_team_id == PARTNER.team_id
    tick(h, "1.6", PARTNER)
    assert item(h, "1.6").status == "done"
    h.command("customer")
    assert "T0PARTNER" in ephemeral_texts(h, LEAD.user_id)[-1]


def test_the_customer_joining_later_is_learned_from_channel_shared(harness):
    h = harness
    h.standin.add_channel("C0SOLO", name="solo", members=[LEAD.user_id])
    h.command("start Acme Corp size=small kickoff=2026-11-30", channel="C0SOLO")
    with h.services.db.session() as session:
        e = session.exec(select(Engagement).where(Engagement.channel_id == "C0SOLO")).one()
    assert e.customer_team_id is None
    h.standin.add_member("C0SOLO", CONTRIBUTOR.user_id)
    h.standin.connect_team("C0SOLO", CUSTOMER_TEAM)
    h.driver.event({"type": "channel_shared", "connected_team_id": CUSTOMER_TEAM, "channel": "C0SOLO"})
    h.idle()
    with h.services.db.session() as session:
        assert session.get(Engagement, e.id).customer_team_id == CUSTOMER_TEAM


def test_the_first_action_of_the_only_other_organisation_pins_it(harness):
    """Channel shared after the start, and the event missed: the customer's first click looks
    the channel up, finds theirs is the only other organisation, and goes ahead."""
    h = harness
    h.standin.add_channel("C0LATE", name="late", members=[LEAD.user_id])
    h.command("start Acme Corp size=small kickoff=2026-11-30", channel="C0LATE")
    h.standin.add_member("C0LATE", CONTRIBUTOR.user_id)
    h.standin.connect_team("C0LATE", CUSTOMER_TEAM)
    with h.services.db.session() as session:
        e = session.exec(select(Engagement).where(Engagement.channel_id == "C0LATE")).one()
        it = session.exec(select(Item).where(Item.engagement_id == e.id, Item.number == 5)).first()
    msg = next(m for m in posts(h, "C0LATE") if "checklist:" in m["text"])
    h.driver.click(
        "C0LATE", msg["ts"], f"tick:{it.id}", user=CONTRIBUTOR.user_id, selected_options=[str(it.id)]
    )
    h.idle()
    with h.services.db.session() as session:
        assert session.get(Item, it.id).status == "done"
        assert session.get(Engagement, e.id).customer_team_id == CUSTOMER_TEAM


def test_an_enterprise_grid_colleague_is_on_the_vendors_side(harness_factory):
    h = harness_factory()
    h.standin.set_enterprise(VENDOR_GRID)
    join(h, GRID, enterprise=VENDOR_GRID)
    h.command("start Acme Corp size=small kickoff=2026-11-30")
    e = engagement(h)
    assert (e.vendor_enterprise_id, e.customer_team_id) == (VENDOR_GRID, CUSTOMER_TEAM)
    menu(h, "1.1", GRID, "done")  # a vendor item (no box: the team marks it done from ⋯)
    it = item(h, "1.1")
    assert (it.status, it.done_by, it.done_by_team, it.on_behalf) == (
        "done",
        GRID.user_id,
        GRID.team_id,
        False,
    )
    tick(h, "1.5", GRID)  # a customer item, ticked for the customer
    assert item(h, "1.5").on_behalf
    # They can never be the customer's approver, so the vendor cannot approve its own sign-off.
    h.command(f"role {mention(GRID)} approver")
    assert "on the vendor's side" in ephemeral_texts(h, LEAD.user_id)[-1]
    with h.services.db.session() as session:
        assert not any(
            r.kind == "role.added" and GRID.user_id in r.detail for r in session.exec(select(AuditEvent))
        )


def test_someone_whose_organisation_cannot_be_told_is_never_the_vendor(harness):
    h = harness
    h.command("start Acme Corp size=small kickoff=2026-11-30")
    join(h, GHOST, visible=False)  # no team in the payload, and users.info does not answer
    tick(h, "1.5", GHOST)
    assert item(h, "1.5").status == "open"
    assert "can't tell which organisation you belong to" in last_ephemeral(h, GHOST)
    h.command(f"role {mention(GHOST)} consultant")
    assert "not on the implementation team's side" in ephemeral_texts(h, LEAD.user_id)[-1] or (
        "can't find that person" in ephemeral_texts(h, LEAD.user_id)[-1]
    )
    text = blocks_text(checklist_msg(h)["blocks"])
    assert "Gus Ghost" not in text


def test_forged_ids_in_buttons_get_a_clear_answer(shared):
    """Every id that comes back from a button or menu is checked before use: a huge or
    malformed one is "out of date", never the generic apology."""
    h = shared
    msg = checklist_msg(h)
    u = h.standin.user(CONTRIBUTOR.user_id)
    for action in (
        {"type": "button", "action_id": "signoff_approve:99999999999999999999", "value": "x"},
        {"type": "button", "action_id": "nudge_done:-1", "value": "x"},
        {
            "type": "overflow",
            "action_id": "item_menu:1",
            "selected_option": {"value": "assign:1e9", "text": {"type": "plain_text", "text": "x"}},
        },
    ):
        send_payload(
            h,
            {
                "type": "block_actions",
                "user": {"id": u.id, "username": u.name, "name": u.name, "team_id": u.team_id},
                "api_app_id": h.standin.app_id,
                "container": {"type": "message", "message_ts": msg["ts"], "channel_id": CHANNEL},
                "team": team_object(h.standin.ws),
                "channel": {"id": CHANNEL},
                "message": {"ts": msg["ts"], "blocks": msg["blocks"]},
                "actions": [action | {"block_id": "b"}],
            },
        )
        h.idle()
        told = last_ephemeral(h, CONTRIBUTOR)
        assert "out of date" in told and "reference" not in told.lower(), action["action_id"]
