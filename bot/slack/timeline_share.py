"""Sharing the timeline picture in a channel or a thread, or the text timeline when files are blocked.

The picture is drawn and uploaded by an outbox job (`TimelineJob`), never in a listener's ack
path nor in the sweep's loop: `/golive timeline` and the weekly digest queue it and go on.
Drawing costs about 0.2 s of CPU, so the digests' pictures share one lane (`DIGEST_LANE`): a
Monday morning of many digests draws them one at a time, in one outbox worker, and the others
stay free for the channels' posts and refreshes. A picture asked for with `/golive timeline`
runs in its channel's lane. It
renders the engagement as it is when the job runs, uploads with Slack's two-step upload
(files.getUploadURLExternal, the bytes, files.completeUploadExternal), in the digest's thread when
it is for the digest. When a Slack Connect admin blocks files in the channel, the text timeline
(week columns) is posted in its place, saying why. A 429 or a 5xx runs the job again later; the
picture drawn once is kept for the retry.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from bot.engagement.forecast import local_date
from bot.engagement.outlook import Outlook, load_outlook
from bot.engagement.timeline import text_timeline
from bot.services import Services
from bot.slack.gateway import SlackCallFailed
from bot.slack.sending import Job, Sending
from messages import Message, escape_mrkdwn
from storage.models import Engagement

log = logging.getLogger("golive.timeline")

DIGEST_LANE = "timelines:digests"

# Slack's answers when files may not be shared in a channel: a Slack Connect admin's block, or a
# workspace that allows no uploads (or images only, which a PNG is not refused by; listed for
# the text fallback of other files).
UPLOAD_BLOCKED = frozenset(
    {
        "slack_connect_file_upload_sharing_blocked",
        "file_uploads_disabled",
        "file_uploads_except_images_disabled",
    }
)


def uploads_blocked(exc: SlackCallFailed) -> bool:
    return exc.error in UPLOAD_BLOCKED


def timeline_summary(customer: str, outlook: Outlook) -> str:
    """One line for the picture's comment and the text fallback: the forecast and the health."""
    return f"{outlook.health.headline} Health: {outlook.health.label}."


def dryrun_day(engagement: Engagement) -> date | None:
    return local_date(engagement.dryrun_at, engagement.timezone) if engagement.dryrun_at else None


def text_message(s: Services, engagement: Engagement, outlook: Outlook, *, blocked: bool) -> Message:
    return s.renderer.message(
        "timeline_text.json.j2",
        customer_name=engagement.customer_name,
        summary=timeline_summary(engagement.customer_name, outlook),
        timeline=text_timeline(outlook.forecast, dryrun=dryrun_day(engagement)),
        blocked=blocked,
    )


def _filename(engagement: Engagement, today: date) -> str:
    return f"golive-timeline-{engagement.id}-{today.isoformat()}.png"


class TimelineJob(Job):
    """Draw the engagement's timeline when the job runs and share it in `channel` (in the thread of
    `thread_ts` when given), or the text timeline when files are blocked there."""

    def __init__(
        self,
        s: Services,
        engagement_id: int,
        channel: str,
        *,
        thread_ts: str | None = None,
        lane: str | None = None,
    ) -> None:
        self.s = s
        self.engagement_id = engagement_id
        self.channel = channel
        self.thread_ts = thread_ts
        self.lane = lane or channel
        self.key = ("timeline", engagement_id, channel, thread_ts)  # asked twice at once: drawn once
        self._drawn: tuple[bytes, str, str, str] | None = None  # picture, filename, title, comment

    def describe(self) -> str:
        where = f"thread {self.thread_ts}" if self.thread_ts else "channel"
        return f"timeline of engagement {self.engagement_id} in {self.channel} ({where})"

    def _load(self, now: datetime) -> tuple[Engagement, Outlook] | None:
        with self.s.db.read() as session:
            engagement = session.get(Engagement, self.engagement_id)
            if engagement is None:
                return None
            session.expunge(engagement)
            return engagement, load_outlook(session, engagement, self.s.playbook, now)

    def run(self, out: Sending) -> None:
        from bot.engagement.timeline_picture import timeline_png  # matplotlib: only when drawing

        now = self.s.clock.now()
        loaded = self._load(now)
        if loaded is None:
            return
        engagement, outlook = loaded
        if self._drawn is None:
            picture = timeline_png(
                outlook.forecast, customer=engagement.customer_name, dryrun=dryrun_day(engagement)
            )
            today = outlook.forecast.today
            name = escape_mrkdwn(engagement.customer_name)
            self._drawn = (
                picture,
                _filename(engagement, today),
                f"Timeline — {name} — {today:%-d %b %Y}",
                escape_mrkdwn(f"Timeline of the {engagement.customer_name} implementation: ")
                + escape_mrkdwn(timeline_summary(engagement.customer_name, outlook)),
            )
        picture, filename, title, comment = self._drawn
        # escaped like every text sent to Slack, though it is shown as plain text
        alt = escape_mrkdwn(
            f"Timeline of the {engagement.customer_name} implementation: planned, actual and "
            f"forecast dates of each phase. {timeline_summary(engagement.customer_name, outlook)}"
        )[:1000]
        try:
            out.call(
                "files.upload",
                self.channel,
                lambda: out.slack.upload_file(
                    self.channel,
                    filename=filename,
                    content=picture,
                    title=title,
                    initial_comment=comment,
                    thread_ts=self.thread_ts,
                    alt_txt=alt,
                ),
            )
        except SlackCallFailed as exc:
            if not uploads_blocked(exc):
                raise
            log.info("files are blocked in %s (%s): the timeline goes as text", self.channel, exc.error)
            message = text_message(self.s, engagement, outlook, blocked=True)
            out.post(
                self.channel,
                message,
                kind="timeline",
                engagement_id=self.engagement_id,
                thread_ts=self.thread_ts,
            )


def share_timeline(s: Services, engagement_id: int, channel: str, *, thread_ts: str | None = None) -> None:
    """Queue the timeline for `channel`; returns at once. In a thread (`thread_ts`, the weekly
    digest's) it is drawn in the digests' shared lane, one at a time."""
    lane = DIGEST_LANE if thread_ts else channel
    s.outbox.submit(TimelineJob(s, engagement_id, channel, thread_ts=thread_ts, lane=lane))
