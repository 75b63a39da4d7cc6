"""The App Home tab: opening it, switching between *Mine* and *All engagements*, turning pages,
and the buttons on each engagement's card (checklist, request sign-off, settings, timeline).

Every listener acks first; the Home is published after the ack (views.publish), and a modal is
opened right after it (the trigger expires within seconds). The portfolio is for the vendor's
people only: someone else opening the tab gets a short note instead, and every card button checks
again, on the server, that the clicker is on the vendor's side of that engagement — the button's
value only says which engagement. A refusal is a friendly private message (`UserError`).
"""

from __future__ import annotations

import logging
import re

from slack_bolt import App
from sqlmodel import Session

from bot.engagement.checklist import phase_by_number
from bot.engagement.outlook import load_outlook
from bot.engagement.timeline import text_timeline
from bot.errors import UserError
from bot.people.sides import Actor
from bot.services import Services
from bot.slack import rosters
from bot.slack.home import is_vendor_user, publish_home, remember_viewer
from bot.slack.publish import post_checklist
from bot.slack.rosters import Viewer
from bot.slack.timeline_share import dryrun_day, timeline_summary
from handlers.base import Request, actor_for
from handlers.listening import listener
from handlers.settings import settings_view
from handlers.signoffs import request_gate
from messages import Trusted, fmt
from storage.models import Engagement, Gate, saved_id

log = logging.getLogger("golive.handlers.home")

VIEW = re.compile(r"^home_view:(mine|all)$")
PAGE = re.compile(r"^home_page:(\d+)$")
CHECKLIST = re.compile(r"^home_checklist:(\d+)$")
SIGNOFF = re.compile(r"^home_signoff:(\d+)$")
SETTINGS = re.compile(r"^home_settings:(\d+)$")
TIMELINE = re.compile(r"^home_timeline:(\d+)$")

GONE = "That engagement is no longer active, so nothing was done."


def is_vendor_viewer(req: Request) -> bool:
    """The requesting user is of the vendor's organisation (the installing workspace, or its
    Enterprise Grid org). An event names no team for its user, and a click from a sibling
    workspace needs the org: users.info tells (cached for a day)."""
    services = req.services
    team, enterprise = req.user_team_id, req.user_enterprise_id
    if team is None or (team != req.installing_team and enterprise is None):
        profile = services.slack.cached_profile(req.user_id) or services.slack.profile(req.user_id)
        team, enterprise = team or profile.team_id, enterprise or profile.enterprise_id
    if team and team == req.installing_team:
        return True
    if not enterprise:
        return False
    install = req.install_enterprise_id or services.slack.install_enterprise()
    return is_vendor_user(team, enterprise, install_team=req.installing_team, install_enterprise=install)


def home_viewer(req: Request) -> Viewer | None:
    """The requesting user as a viewer of the portfolio: None when they are not of the vendor's
    side; a guest of the vendor's workspace (users.info, cached for a day) sees no engagement, an
    admin (`GOLIVE_ADMINS`) every one, anyone else those whose channel they are in."""
    if not is_vendor_viewer(req):
        return None
    services = req.services
    profile = services.slack.cached_profile(req.user_id) or services.slack.profile(req.user_id)
    return rosters.viewer(services, req.user_id, guest=profile.is_guest)


def on_home_opened(req: Request) -> None:
    req.ack()
    event = req.body.get("event") or {}
    if event.get("tab") not in (None, "home"):
        return
    services = req.services
    user = str(event.get("user") or "")
    who = home_viewer(req)
    seen = (event.get("view") or {}).get("hash")  # the Home's hash, when they have one
    if who is None:
        publish_home(services, user, vendor=False, seen_hash=seen)
        return
    if not who.guest:  # a guest's Home is never re-published on changes: it shows none
        remember_viewer(services, user, opened=True)
    publish_home(services, user, seen_hash=seen)


def _navigate(req: Request, *, view: str | None = None, page: int | None = None) -> None:
    services = req.services
    who = home_viewer(req)
    if who is None:
        publish_home(services, req.user_id, vendor=False, seen_hash=req.view.get("hash"))
        return
    if not who.guest:
        remember_viewer(services, req.user_id, view=view, page=page, note="")
    publish_home(services, req.user_id, seen_hash=req.view.get("hash"))


NOT_VISIBLE = (
    "You see an engagement in golive once you are in its channel, and you are not in this one "
    "(or no longer), so nothing was done. Ask its lead consultant to add you to the channel."
)
GUEST = "Guests of the workspace can't act on engagements from this tab, so nothing was done."


def check_visible(req: Request, engagement_id: int) -> None:
    """Refuse a Home button on an engagement the clicker may not see (not in its channel, not an
    admin, or a guest), checked on the server whatever the button says; their Home is re-published,
    since the one they clicked is out of date."""
    services = req.services
    with services.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        channel = engagement.channel_id if engagement is not None else None
    if channel is None:
        raise UserError(GONE)
    who = home_viewer(req)
    if who is None:
        return  # not of the vendor's side: `_card_engagement` says so
    if who.guest or not rosters.may_see(services, who, channel):
        publish_home(services, req.user_id)
        raise UserError(GUEST if who.guest else NOT_VISIBLE)


def on_view(req: Request) -> None:
    req.ack()
    found = VIEW.match(str(req.action.get("action_id") or ""))
    _navigate(req, view=found.group(1) if found else None)


def on_page(req: Request) -> None:
    req.ack()
    _navigate(req, page=req.action_number())


def _card_engagement(req: Request, session: Session, engagement_id: int) -> tuple[Engagement, Actor]:
    """The engagement of a card, still active, and the clicker, who must be on its vendor side."""
    engagement = session.get(Engagement, engagement_id)
    if engagement is None or engagement.status != "active":
        raise UserError(GONE)
    actor = actor_for(req, session, engagement, acting=False)
    if not actor.is_vendor:
        raise UserError(
            f"Only the implementation team of the {engagement.customer_name} implementation can do "
            "that. Nothing was changed."
        )
    return engagement, actor


def _answer(req: Request, note: Trusted) -> None:
    """Say on the Home what the click did (until the next visit or page)."""
    remember_viewer(req.services, req.user_id, note=note)
    publish_home(req.services, req.user_id, seen_hash=req.view.get("hash"))


def on_checklist(req: Request) -> None:
    """Post the current phase's checklist in the channel, as `/golive checklist` does (the copy
    posted before becomes a pointer to it)."""
    req.ack()
    services = req.services
    check_visible(req, req.action_number())
    with services.db.read() as session:
        engagement, _actor = _card_engagement(req, session, req.action_number())
        phase = phase_by_number(session, engagement, engagement.phase_index)
        name, customer, channel = phase.name, engagement.customer_name, engagement.channel_id
        engagement_id, number = saved_id(engagement), phase.number
    post_checklist(services, engagement_id, number)
    _answer(
        req,
        fmt(
            ":white_check_mark: Posted the {phase} checklist of *{customer}* in <#{channel}>.",
            phase=name,
            customer=customer,
            channel=Trusted(channel),
        ),
    )


def on_signoff(req: Request) -> None:
    """Request the current phase's ready sign-off: the request is posted in the channel, as
    `/golive signoff` posts it (acked once the click is in the inbox, written after: see
    `request_gate`), and the Home says so."""
    services = req.services
    gate_id = req.action_number()
    with services.db.read() as session:
        gate = session.get(Gate, gate_id)
        if gate is None:
            raise UserError(GONE)
        engagement_of_gate = gate.engagement_id
    check_visible(req, engagement_of_gate)
    with services.db.read() as session:
        gate = session.get(Gate, gate_id)
        assert gate is not None
        engagement, _actor = _card_engagement(req, session, gate.engagement_id)
        title, customer, channel, engagement_id = (
            gate.title,
            engagement.customer_name,
            engagement.channel_id,
            saved_id(engagement),
        )
    note = fmt(
        ":white_check_mark: Requested the {gate} sign-off of *{customer}* in <#{channel}>; its approvers "
        "are told in its thread.",
        gate=title,
        customer=customer,
        channel=Trusted(channel),
    )
    request_gate(req, engagement_id, gate_id, lambda r: _answer(r, note))


def on_settings(req: Request) -> None:
    """The engagement's settings form, the one `/golive settings` opens."""
    req.ack()
    services = req.services
    check_visible(req, req.action_number())
    with services.db.read() as session:
        engagement, _actor = _card_engagement(req, session, req.action_number())
        view = settings_view(services, engagement)
    services.slack.open_view(req.trigger_id or "", view)


def on_timeline(req: Request) -> None:
    """The timeline as text in a modal: nothing is posted in the channel."""
    req.ack()
    services = req.services
    check_visible(req, req.action_number())
    with services.db.read() as session:
        engagement, _actor = _card_engagement(req, session, req.action_number())
        outlook = load_outlook(session, engagement, services.playbook_for(engagement), services.clock.now())
        view = services.renderer.view(
            "timeline_modal.json.j2",
            customer_name=engagement.customer_name,
            channel=engagement.channel_id,
            summary=timeline_summary(engagement.customer_name, outlook),
            timeline=text_timeline(outlook.forecast, dryrun=dryrun_day(engagement)),
            command=services.command,
        )
    services.slack.open_view(req.trigger_id or "", view)


def register(app: App, services: Services) -> None:
    app.event("app_home_opened")(listener(services, on_home_opened))
    app.action(VIEW)(listener(services, on_view))
    app.action(PAGE)(listener(services, on_page))
    app.action(CHECKLIST)(listener(services, on_checklist))
    app.action(SIGNOFF)(listener(services, on_signoff))
    app.action(SETTINGS)(listener(services, on_settings))
    app.action(TIMELINE)(listener(services, on_timeline))
