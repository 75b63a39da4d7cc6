"""`/golive timeline` (the picture, or the text when files are blocked) and `/golive calendar` (.ics).

Both ack at once: drawing, building the file and uploading happen after the ack — the picture in
an outbox job (`bot.slack.timeline_share`), the calendar in this listener's thread as the audit
export does.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from bot.commands import ParsedCommand
from bot.engagement.calendar_ics import calendar_filename, engagement_calendar
from bot.engagement.health import fmt as fmt_day
from bot.slack.gateway import SlackCallFailed
from bot.slack.timeline_share import share_timeline, uploads_blocked
from handlers.base import Request
from handlers.engagement import require_engagement
from messages import fmt

log = logging.getLogger("golive.handlers.timeline")


def cmd_timeline(req: Request, cmd: ParsedCommand) -> None:
    s = req.services
    engagement = require_engagement(req, finished_ok=True)
    req.ack()
    share_timeline(s, engagement.id, engagement.channel_id)  # type: ignore[arg-type]


def cmd_calendar(req: Request, cmd: ParsedCommand) -> None:
    s = req.services
    engagement = require_engagement(req, finished_ok=True)
    req.ack()
    now = s.clock.now()
    with s.db.read() as session:
        content, fc = engagement_calendar(session, engagement, s.playbook, now)
    try:
        s.slack.upload_file(
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
        if uploads_blocked(exc):
            text = (
                "I couldn't share the calendar file: files are blocked in this channel (a Slack Connect "
                f"admin's setting), so nothing was posted. The dates to put in your calendar: {dates}. "
                f"`{s.command} status` lists every phase."
            )
        else:
            text = (
                f"Slack refused the calendar file ({exc.error}), so nothing was posted. The dates: {dates}. "
                f"Check that I'm in this channel, then try `{s.command} calendar` again."
            )
        req.reply(s.notice(text))
