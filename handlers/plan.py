"""`/golive plan`: show the dated plan, or change kickoff, size or target and recompute it.
`/golive side`: put someone on the vendor's or the customer's side."""

from __future__ import annotations

from bot import audit
from bot.checklist import Refused
from bot.commands import ParsedCommand
from bot.engagements import replan
from bot.members import add_member
from bot.presenters import overview
from bot.publish import refresh_posted_checklists
from bot.schedule import sync_schedule
from bot.sides import CUSTOMER, VENDOR
from bot.slacktext import plain_text, user_id_from_token
from bot.values import ValueProblem, parse_date, parse_size
from handlers.base import Request, actor_for
from handlers.engagement import require_engagement
from messages import Mention, fmt
from storage.models import Member


def cmd_plan(req: Request, cmd: ParsedCommand) -> None:
    s = req.services
    engagement = require_engagement(req)
    now = s.clock.now()
    if not cmd.options:
        with s.db.read() as session:
            ctx = overview(session, engagement, s.playbook, now)
        req.ack(s.renderer.message("plan.json.j2", command=s.command, moves=None, actor=None, **ctx))
        return
    o = cmd.options
    try:
        kickoff = parse_date(o["kickoff"], "kickoff date") if "kickoff" in o else None
        size = parse_size(o["size"]) if "size" in o else None
        target: object = "keep"
        if "target" in o:
            target = (
                None
                if o["target"].lower() in ("none", "-")
                else parse_date(o["target"], "target go-live date")
            )
        with s.db.session() as session:
            e = session.merge(engagement)
            moves = replan(session, e, s.playbook, kickoff=kickoff, size=size, target=target, now=now)  # type: ignore[arg-type]
            sync_schedule(session, e, now)  # the go-live day message follows the new date
            audit.record(
                session,
                e.id,
                actor_for(req, session, e),
                "plan.changed",
                "plan",  # type: ignore[arg-type]
                {
                    "kickoff": e.kickoff_on,
                    "size": e.size,
                    "target": e.target_on,
                    "moved": [f"{m.number}: {m.new[0]}..{m.new[1]}" for m in moves],
                },
                now=now,
            )
            ctx = overview(session, e, s.playbook, now)
    except ValueProblem as exc:
        raise cmd.fail(str(exc)) from None
    req.ack(s.notice(f"Plan updated; {len(moves)} phase(s) moved. I posted the new dates in the channel."))
    message = s.renderer.message("plan.json.j2", command=s.command, moves=moves, actor=req.user_id, **ctx)
    s.slack.post(engagement.channel_id, message, kind="plan", engagement_id=engagement.id)
    refresh_posted_checklists(s, engagement.id)  # type: ignore[arg-type]


def cmd_side(req: Request, cmd: ParsedCommand) -> None:
    s = req.services
    if len(cmd.words) != 2 or cmd.words[1].lower() not in (VENDOR, CUSTOMER):
        raise cmd.fail("Mention the person and the side, e.g. `side @ada customer`.")
    user = user_id_from_token(cmd.words[0])
    if user is None:
        raise cmd.fail(f"`{plain_text(cmd.words[0])[:40]}` is not a person I can find; mention them with @.")
    side = cmd.words[1].lower()
    engagement = require_engagement(req)
    with s.db.session() as session:
        actor = actor_for(req, session, engagement)
        if not actor.is_vendor:
            raise Refused("Only the implementation team can change sides.")
        member = add_member(
            session,
            engagement,
            user_id=user,
            team_id=None,
            display_name="",
            added_by=req.user_id,
            now=s.clock.now(),
        )
        member = session.get(Member, member.id)
        assert member is not None
        member.side_override = side
        session.add(member)
        audit.record(
            session,
            engagement.id,
            actor,
            "side.changed",
            user,
            {"user": user, "side": side},  # type: ignore[arg-type]
            now=s.clock.now(),
        )
    req.ack(
        s.notice(fmt("{who} now counts as the {side} side in this engagement.", who=Mention(user), side=side))
    )
