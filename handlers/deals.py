"""A deal's channel (`bot.deals.setup`): Slack Connect invitations answered, the customer's side
joining, and the lead's Re-send button.

- `shared_channel_invite_accepted` / `_approved` / `_declined`: the contact's invitation state
  (and their Slack id); accepted without an approval pending, or approved, they are in.
- `member_joined_channel` in a deal's channel by someone outside the vendor's organisation: the
  customer's side is in — the engagement becomes active, its welcome and first checklist are
  posted, and each contact gets the role the deal gave them (`handlers.events` hands these on).
- The Re-send button in the lead's direct message sends that contact's invitation again; only
  the deal's lead (or a golive admin) may.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App

from bot.deals import setup
from bot.errors import UserError
from bot.people.sides import is_vendor_org
from bot.services import Services
from handlers.base import Request
from handlers.listening import after_ack, listener
from storage.models import Deal, DealContact, Engagement

log = logging.getLogger("golive.handlers.deals")

RESEND = "deal_resend"


def _is_vendor(services: Services, user: str, team: str | None, engagement: Engagement) -> bool:
    """Whether the person who joined is of the vendor's side (`is_vendor_org`: the installing
    workspace, or another workspace of its Enterprise Grid org; users.info tells, cached)."""
    if user == services.slack.install_bot_user() or is_vendor_org(engagement, team, None):
        return True
    profile = services.slack.profile(user)
    return is_vendor_org(engagement, profile.team_id, profile.enterprise_id)


def on_invite_event(req: Request) -> None:
    """An invitation accepted, approved or declined: recorded after the ack (in the inbox)."""
    event = req.body.get("event") or {}
    kind = str(event.get("type") or "")
    invite = event.get("invite") or {}
    invite_id = str(invite.get("id") or "")
    if not invite_id:
        req.ack()
        return

    def work(r: Request) -> None:
        services = r.services
        accepting = event.get("accepting_user") or {}
        user = accepting.get("id") or invite.get("recipient_user_id")
        email = invite.get("recipient_email") or (accepting.get("profile") or {}).get("email")
        if kind == "shared_channel_invite_declined":
            state = "declined"
        elif kind == "shared_channel_invite_accepted" and event.get("approval_required"):
            state = "accepted"  # an admin's approval is pending
        else:
            state = "approved" if kind == "shared_channel_invite_approved" else "accepted"
        row = setup.invite_answered(services, invite_id, state=state, user=user, email=email)
        if row is None or row.id is None:
            return
        if state == "declined":
            setup.tell_lead(
                services, row.id, [f"{email or 'A contact'} declined the invitation to the channel."]
            )
        elif state == "accepted" and event.get("approval_required"):
            setup.tell_lead(
                services,
                row.id,
                [
                    f"{email or 'A contact'} accepted the invitation; it waits for an admin's approval "
                    "(Slack Connect: the vendor's or the customer's admins must approve new connections)."
                ],
            )

    after_ack(req, work)


def member_joined(req: Request, channel: str, user: str) -> bool:
    """For `handlers.events`: someone joined a channel with no active engagement. When it is a
    deal's channel, take the event (True): after the ack, someone of the customer's side makes
    the engagement active (the vendor's own people joining change nothing)."""
    services = req.services
    row = setup.deal_in_channel(services, channel)
    if row is None:
        return False
    team = (req.body.get("event") or {}).get("team") or req.user_team_id
    row_id, deal_id = row.id, row.deal_id
    assert row_id is not None
    with services.db.read() as session:
        engagement = session.get(Engagement, row.engagement_id) if row.engagement_id else None
    if engagement is None:
        return False

    def work(r: Request) -> None:
        if _is_vendor(r.services, user, team, engagement):
            return  # the lead or a colleague: the customer's side has not joined yet
        if setup.customer_joined(r.services, row_id, user, team, r.services.clock.now()):
            log.info("deal %s: the customer's side joined %s; the engagement is active", deal_id, channel)

    after_ack(req, work)
    return True


def on_resend(req: Request) -> None:
    """The lead's Re-send: check the clicker before the ack, send after it."""
    services = req.services
    contact_id = req.action_number()
    with services.db.read() as session:
        contact = session.get(DealContact, contact_id)
        row = session.get(Deal, contact.deal_ref) if contact is not None else None
    if contact is None or row is None or row.channel_id is None:
        raise UserError("I don't know that invitation any more; nothing was sent.")
    if req.user_id != row.lead_user_id and req.user_id not in services.settings.golive_admins:
        raise UserError("Only the deal's lead consultant can send its invitations again.")
    if contact.invite_state == "joined":
        raise UserError(f"{contact.email} has joined the channel already.")

    def work(r: Request) -> Any:
        sent, error = setup.resend(r.services, contact_id)
        text = (
            f"Sent the invitation to {contact.email} again."
            if sent
            else f"Slack did not send the invitation to {contact.email}: {error}."
        )
        message = r.services.notice(text)
        return lambda: r.reply(message)

    after_ack(req, work)


def register(app: App, services: Services) -> None:
    for kind in (
        "shared_channel_invite_accepted",
        "shared_channel_invite_approved",
        "shared_channel_invite_declined",
    ):
        app.event(kind)(listener(services, on_invite_event))
    app.action({"action_id": re.compile(rf"^{RESEND}:\d+$")})(listener(services, on_resend))
