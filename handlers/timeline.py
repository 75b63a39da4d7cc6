"""`/golive timeline` (the picture, or the text when Slack refuses it) and `/golive calendar` (.ics).

Both ack at once: drawing, building the file and uploading happen after the ack — the picture in
an outbox job (`bot.slack.timeline_share`), the calendar in this listener's thread as the audit
export does. When Slack refuses the file, the text version takes its place and says why
(`bot.slack.uploads`): the text timeline in the channel, the calendar's dates to the person who
asked.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from bot.commands import ParsedCommand
from bot.engagement.health import fmt as fmt_day
from bot.exports.calendar_ics import calendar_filename, engagement_calendar
from bot.slack.gateway import SlackCallFailed
from bot.slack.timeline_share import share_timeline
from bot.slack.uploads import refusal_reason, retryable
from handlers.base import Request
from handlers.engagement import require_engagement
from messages import fmt
from storage.models import saved_id

log = logging.getLogger("golive.handlers.timeline")


def cmd_timeline(req: Request, cmd: ParsedCommand) -> None:
    services = req.services
    engagement = require_engagement(req, finished_ok=True)
    req.ack()
    share_timeline(services, saved_id(engagement), engagement.channel_id, tell=req.reply)


def cmd_calendar(req: Request, cmd: ParsedCommand) -> None:
    services = req.services
    engagement = require_engagement(req, finished_ok=True)
    req.ack()
    now = services.clock.now()
    with services.db.read() as session:
        content, fc = engagement_calendar(session, engagement, services.playbook_for(engagement), now)
    try:
        services.slack.upload_file(
            engagement.channel_id,
            filename=calendar_filename(engagement),
            content=content,
            title=fmt("Implementation calendar — {name}", name=engagement.customer_name),
            initial_comment=fmt(
                "The {name} implementation as a calendar file: its {n} phases, the sign-off targets, "
                "the dry run and the go-live. Import it into your calendar; importing a newer copy "
                "updates these events instead of adding them twice.",
                name=engagement.customer_name,
                n=len(fc.phases),
            ),
        )
    except SlackCallFailed as exc:
        log.info("calendar upload refused in %s (%s)", engagement.channel_id, exc.error)
        golive = fc.golive if fc.live else fc.planned_golive
        dates = f"Go-live {fmt_day(golive)}"
        if engagement.dryrun_at is not None:
            local = engagement.dryrun_at.astimezone(ZoneInfo(engagement.timezone))
            dates += f" · dry run {local:%a %-d %b %H:%M} ({engagement.timezone})"
        if retryable(exc):  # the client's own retries did not get it through
            text = (
                f"Slack didn't take the calendar file just now ({refusal_reason(exc)}), so nothing was "
                f"posted. Try `{services.command} calendar` again in a minute. The dates: {dates}."
            )
        else:
            text = (
                f"I couldn't share the calendar file: Slack refused it in this channel "
                f"({refusal_reason(exc)}), so nothing was posted. The dates to put in your calendar: "
                f"{dates}. `{services.command} status` lists every phase."
            )
        req.reply(services.notice(text))
