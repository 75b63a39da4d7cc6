"""Bolt listeners. Only this package knows Bolt's listener signatures.

One module per capability of `bot/`, so a flow is found in the same place on both sides:
- the engagement (`bot.engagement`): `engagement` (start, status), `plan`, `checklist`,
  `signoffs`, `golive` (target, dry run, cancel), `tasks` (My tasks, for everyone);
- people (`bot.people`): `team` (roles, sides, the team form, the audit export);
- reminders (`bot.reminders`): `nudges` (the nudge buttons, blocks, `/golive nudges`),
  `settings` (the customer's clock);
- Slack plumbing: `base` (who is asking, where, one way to answer), `commands` (routing the slash
  command), `events` (Events API deliveries, deduplicated), `home` (the App Home tab: the
  consultant's portfolio and its buttons).

Listeners import `bot` and its packages, `storage` and `messages`; never `golive`, which
registers them.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App

from bot.errors import new_reference
from bot.services import Services

log = logging.getLogger("golive.handlers")


def register(app: App, services: Services) -> None:
    from handlers import (
        checklist,
        commands,
        cutover,
        deals,
        dryrun,
        engagement,
        events,
        home,
        nudges,
        ratings,
        settings,
        signoffs,
        tasks,
        team,
    )

    events.register(app, services)  # the dedupe middleware first
    commands.register(app, services)
    engagement.register(app, services)
    checklist.register(app, services)
    signoffs.register(app, services)
    team.register(app, services)
    nudges.register(app, services)
    settings.register(app, services)
    cutover.register(app, services)
    dryrun.register(app, services)
    tasks.register(app, services)
    home.register(app, services)
    deals.register(app, services)
    ratings.register(app, services)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        ref = new_reference()
        log.error(
            "[ref %s] unhandled error for a %s request", ref, body.get("type") or "command", exc_info=error
        )
