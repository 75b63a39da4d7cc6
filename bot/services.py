"""What every listener and the scheduler share: settings, database, clock, Slack, templates, and
the outbox every message the bot posts or updates in channels goes through.

This module only declares the bundle; `golive.app.build_services` (the program on top)
assembles it. The types of its parts come from the capability packages, which sit above this
module: they are named for the type checker only, so nothing here imports a package at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.cache import LRUCache
from messages import Message, Renderer

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.commands import CommandSet
    from bot.config import Settings
    from bot.engagement.playbook import Playbook
    from bot.executor import TrackingExecutor
    from bot.slack.gateway import SlackGateway
    from bot.slack.outbox import Outbox
    from storage.db import Database
    from storage.models import Engagement


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    renderer: Renderer
    slack: SlackGateway
    playbook: Playbook
    commands: CommandSet
    outbox: Outbox
    # Bolt's listener threads, and the few after-the-ack workers a burst of clicks and item
    # commands queues on (`handlers.listening.after_ack`).
    listeners: TrackingExecutor
    after_ack: TrackingExecutor
    # Whether this process runs the work of the requests it acks (`handlers.listening.after_ack`).
    # False in `golive serve`'s request processes: they record and ack, and the inbox process,
    # at a lower priority, runs the work (`golive.inbox`).
    runs_work: bool = True
    # The playbooks a deal chooses from (GOLIVE_PLAYBOOKS_DIR), by key (a file's name without
    # .yaml); `playbook` is the default, for engagements started by hand and deals none fits.
    playbooks: dict[str, Playbook] = field(default_factory=dict)
    # Rendered answers that are the same until the engagement changes (e.g. /golive status).
    rendered: LRUCache[Message] = field(default_factory=LRUCache)
    # Small facts this process learned and that do not change once true (e.g. a member known
    # with their team and name), so the same request does not ask the database again.
    memo: LRUCache[object] = field(default_factory=lambda: LRUCache(maxsize=8192))

    @property
    def command(self) -> str:
        return self.settings.golive_command

    def playbook_for(self, engagement: Engagement) -> Playbook:
        """The playbook the engagement was made from (its phases, items, gates and sizes)."""
        key = engagement.playbook
        return self.playbooks.get(key, self.playbook) if key else self.playbook

    def notice(self, text: str, hint: str | None = None) -> Message:
        return self.renderer.message("notice.json.j2", text=text, hint=hint)

    def error(self, problem: str, usage: str | None = None, hint: str | None = None) -> Message:
        return self.renderer.message(
            "error.json.j2", problem=problem, usage=usage, hint=hint, command=self.command
        )
