"""The slash command: parse, route to a subcommand handler."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt import App

from bot.commands import ParsedCommand
from bot.errors import UserError
from bot.services import Services
from bot.slack.rosters import command_allowed
from handlers import (
    checklist,
    cutover,
    dryrun,
    engagement,
    item_commands,
    nudges,
    plan,
    settings,
    signoffs,
    team,
    timeline,
)
from handlers.base import Request
from handlers.listening import listener

SubHandler = Callable[[Request, ParsedCommand], None]

# Commands that act on no engagement of the channel.
OPEN_TO_ALL = frozenset({"help", "start"})
NOT_IN_CHANNEL = (
    "Slack tells me you are not a member of this channel, so I can't act on its engagement for you. "
    "Join the channel (or ask its lead consultant to add you), then run the command again."
)


def _help(req: Request, cmd: ParsedCommand) -> None:
    services = req.services
    req.ack(
        services.renderer.message("help.json.j2", command=services.command, commands=list(services.commands))
    )


ROUTES: dict[str, SubHandler] = {
    "help": _help,
    "start": engagement.start,
    "status": engagement.status,
    "checklist": checklist.cmd_checklist,
    "done": item_commands.cmd_done,
    "undo": item_commands.cmd_undo,
    "assign": item_commands.cmd_assign,
    "due": item_commands.cmd_due,
    "na": item_commands.cmd_na,
    "after": item_commands.cmd_after,
    "add": checklist.cmd_add,
    "plan": plan.cmd_plan,
    "timeline": timeline.cmd_timeline,
    "calendar": timeline.cmd_calendar,
    "side": team.cmd_side,
    "customer": team.cmd_customer,
    "role": team.cmd_role,
    "team": team.cmd_team,
    "signoff": signoffs.cmd_signoff,
    "audit": team.cmd_audit,
    "settings": settings.cmd_settings,
    "nudges": nudges.cmd_nudges,
    "unblock": nudges.cmd_unblock,
    "target": cutover.cmd_target,
    "dryrun": dryrun.cmd_dryrun,
    "live": cutover.cmd_live,
    "cancel": cutover.cmd_cancel,
}


def register(app: App, services: Services) -> None:
    def on_command(req: Request) -> None:
        cmd = services.commands.parse(req.body.get("text", ""))
        if engagement.answer_direct_message(req, cmd):
            return
        channel = req.channel_id
        if cmd.name not in OPEN_TO_ALL and channel and not command_allowed(services, channel, req.user_id):
            raise UserError(NOT_IN_CHANNEL)
        ROUTES[cmd.name](req, cmd)

    on_command.__name__ = "slash_command"
    app.command(services.command)(listener(services, on_command))
