"""`/golive plan`: show the dated plan, or change kickoff, size or target and recompute it."""

from __future__ import annotations

from datetime import date

from bot.commands import ParsedCommand
from bot.engagement.lifecycle import check_plan_change, replan
from bot.engagement.plan import describe_warnings
from bot.people import audit
from bot.reminders.milestones import sync_schedule
from bot.slack.notes import in_checklist_thread
from bot.slack.presenters import overview
from bot.slack.project_page import refresh_project_page
from bot.slack.publish import refresh_posted_checklists
from bot.user_input import ValueProblem, parse_date, parse_size
from handlers.base import Request, actor_for
from handlers.engagement import require_engagement
from storage.models import saved_id


def cmd_plan(req: Request, cmd: ParsedCommand) -> None:
    services = req.services
    engagement = require_engagement(req)
    now = services.clock.now()
    if not cmd.options:
        with services.db.read() as session:
            ctx = overview(session, engagement, services.playbook_for(engagement), now)
        req.ack(
            services.renderer.message("plan.json.j2", command=services.command, moves=None, actor=None, **ctx)
        )
        return
    o = cmd.options
    try:
        kickoff = parse_date(o["kickoff"], "kickoff date") if "kickoff" in o else None
        size = parse_size(o["size"]) if "size" in o else None
        target: date | str | None = "keep"
        if "target" in o:
            target = (
                None
                if o["target"].lower() in ("none", "-")
                else parse_date(o["target"], "target go-live date")
            )
        # Checked before the write session: a refused date never holds the writers' lock.
        warnings = check_plan_change(
            engagement,
            kickoff=kickoff,
            target=target,
            now=now,
            playbook=services.playbook_for(engagement),
            size=size,
        )
        with services.db.session() as session:
            e = session.merge(engagement)
            moves = replan(
                session, e, services.playbook_for(e), kickoff=kickoff, size=size, target=target, now=now
            )
            sync_schedule(session, e, now)  # the go-live day message follows the new date
            audit.record(
                session,
                saved_id(e),
                actor_for(req, session, e),
                "plan.changed",
                "plan",
                {
                    "kickoff": e.kickoff_on,
                    "size": e.size,
                    "target": e.target_on,
                    "moved": [f"{m.number}: {m.new[0]}..{m.new[1]}" for m in moves],
                },
                now=now,
            )
            ctx = overview(session, e, services.playbook_for(e), now)
    except ValueProblem as exc:
        raise cmd.fail(str(exc)) from None
    moved = (
        "no phase moved"
        if not moves
        else ("1 phase moved" if len(moves) == 1 else f"{len(moves)} phases moved")
    )
    done = f"Plan updated; {moved}. I posted the new dates under the current checklist."
    req.ack(
        services.notice(done + ("\n" + describe_warnings(warnings, services.command) if warnings else ""))
    )
    profile = services.slack.cached_profile(req.user_id)
    # Named, not mentioned: a mention in the checklist's thread would make them follow it.
    actor_name = profile.name if profile is not None else (req.user_name or "Someone")
    message = services.renderer.message(
        "plan.json.j2", command=services.command, moves=moves, actor=req.user_id, actor_name=actor_name, **ctx
    )
    # In the thread of the live checklist whose dates it moves (a quiet channel: the top level is
    # for the welcome, checklists, requests, the digest and announcements).
    services.outbox.post(
        engagement.channel_id,
        message,
        kind="plan",
        engagement_id=engagement.id,
        thread_ts=in_checklist_thread(services, saved_id(engagement)),
        top_if_no_thread=True,
    )
    refresh_posted_checklists(services, saved_id(engagement))
    refresh_project_page(services, saved_id(engagement))  # its dates
