"""Posting and updating the engagement's messages in the channel.

Rendering reads the database in a short session; the Slack calls come after it is closed.
Checklists are posted per phase (one message per part of at most 40 items) and recorded in
the ledger; every later change updates the recorded copies in place with chat.update.
"""

from __future__ import annotations

import logging

from bot.engagement.checklist import phase_by_number
from bot.engagement.lifecycle import phases_of
from bot.services import Services
from bot.slack.gateway import SlackCallFailed
from bot.slack.presenters import checklist_key, checklist_parts, overview, phase_data
from messages import Message
from storage.models import Engagement

log = logging.getLogger("golive.publish")

CHECKLIST = "checklist"


def render_checklist(s: Services, engagement_id: int, phase_number: int) -> tuple[str, list[Message]]:
    with s.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        assert engagement is not None
        phase = phase_by_number(session, engagement, phase_number)
        parts = checklist_parts(session, engagement, phase, s.clock.now())
    return engagement.channel_id, [
        s.renderer.message("checklist.json.j2", command=s.command, **p) for p in parts
    ]


def post_checklist(s: Services, engagement_id: int, phase_number: int) -> list[str]:
    """Post the phase checklist as new message(s); returns their ts."""
    channel, messages = render_checklist(s, engagement_id, phase_number)
    return [
        s.slack.post(
            channel, m, kind=CHECKLIST, key=checklist_key(phase_number, n), engagement_id=engagement_id
        )
        for n, m in enumerate(messages, start=1)
    ]


def refresh_checklist(s: Services, engagement_id: int, phase_number: int) -> None:
    """Update every posted copy of the phase checklist in place.

    When added items need a new part and earlier parts are in the channel, the new part is
    posted once (there was nothing to update).
    """
    channel, messages = render_checklist(s, engagement_id, phase_number)
    posted_any = bool(s.slack.posted(engagement_id, CHECKLIST, checklist_key(phase_number, 1)))
    for n, m in enumerate(messages, start=1):
        key = checklist_key(phase_number, n)
        if s.slack.posted(engagement_id, CHECKLIST, key):
            s.slack.refresh(engagement_id, CHECKLIST, key, m)
        elif posted_any:
            try:
                s.slack.post(channel, m, kind=CHECKLIST, key=key, engagement_id=engagement_id)
            except SlackCallFailed as exc:
                log.warning("could not post checklist part %s: %s", key, exc.error)


def refresh_posted_checklists(s: Services, engagement_id: int) -> None:
    """Update every phase checklist already in the channel (after the plan or settings changed)."""
    with s.db.read() as session:
        numbers = [p.number for p in phases_of(session, engagement_id)]
    for n in numbers:
        if s.slack.posted(engagement_id, CHECKLIST, checklist_key(n, 1)):
            refresh_checklist(s, engagement_id, n)


def announce_phase(s: Services, engagement_id: int, phase_number: int) -> None:
    """The next phase starts: say so in the channel, then post its checklist. One past the last
    phase means the customer is live: that is announced instead."""
    with s.db.read() as session:
        engagement = session.get(Engagement, engagement_id)
        assert engagement is not None
        ctx = overview(session, engagement, s.playbook, s.clock.now())
        live = engagement.status == "live" and phase_number > len(ctx["phases"])
        if live:
            message = s.renderer.message("live.json.j2", command=s.command, **ctx)
        else:
            phase = phase_by_number(session, engagement, phase_number)
            ctx |= {
                "phase": phase_data(phase),
                "finished": next((p for p in ctx["phases"] if p["number"] == phase_number - 1), None),
            }
            message = s.renderer.message("phase_started.json.j2", command=s.command, **ctx)
    kind, key = ("live", "live") if live else ("phase", str(phase_number))
    s.slack.post(engagement.channel_id, message, kind=kind, key=key, engagement_id=engagement_id)
    if not live:
        post_checklist(s, engagement_id, phase_number)
