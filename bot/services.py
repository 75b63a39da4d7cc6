"""What every listener and the scheduler share: settings, database, clock, Slack, templates."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.commands import CommandSet
from bot.config import Settings
from bot.playbook import Playbook
from bot.slack_gateway import SlackGateway
from messages import Message, Renderer
from storage.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    renderer: Renderer
    slack: SlackGateway
    playbook: Playbook
    commands: CommandSet

    @property
    def command(self) -> str:
        return self.settings.golive_command

    def notice(self, text: str, hint: str | None = None) -> Message:
        return self.renderer.message("notice.json.j2", text=text, hint=hint)

    def error(self, problem: str, usage: str | None = None, hint: str | None = None) -> Message:
        return self.renderer.message(
            "error.json.j2", problem=problem, usage=usage, hint=hint, command=self.command
        )
