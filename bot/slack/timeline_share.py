"""Sharing the timeline picture in a channel or a thread, or the text timeline when Slack will not
take the picture.

The picture is drawn and uploaded by an outbox job (`TimelineJob`), never in a listener's ack
path nor in the sweep's loop: `/golive timeline` and the weekly digest queue it and go on.
Drawing costs about 0.2 s of CPU, so the digests' pictures share one lane (`DIGEST_LANE`): a
Monday morning of many digests draws them one at a time, in one outbox worker, and the others
stay free for the channels' posts and refreshes. A picture asked for with `/golive timeline`
runs in its channel's lane. It
renders the engagement as it is when the job runs, uploads with Slack's two-step upload
(files.getUploadURLExternal, the bytes, files.completeUploadExternal), in the digest's thread when
it is for the digest.

What Slack answers decides what follows (`bot.slack.uploads`):
- "not now" (a 429, a 5xx, `internal_error`, no answer…): the job runs again later, and the
  picture drawn once is kept for the retry. A 429 waits its Retry-After as long as it takes;
  the other failures are tried `UPLOAD_TRIES` times (Slack has answered `internal_error` for good
  to some uploads in Slack Connect channels, slackapi/node-slack-sdk#2301), then count as a
  refusal.
- any refusal, whatever its code (a Slack Connect admin's block, uploads turned off, a code
  documented nowhere): the text timeline (week columns) is posted where the picture would have
  gone, and its note says why in plain words — the person who ran `/golive timeline` reads it
  there, under their command, as does everyone else in the channel (the digest's thread gets the
  same one line). Only when the text cannot be posted either is the person who asked told
  privately (`tell`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime

from bot.engagement.forecast import local_date
from bot.engagement.outlook import Outlook, load_outlook
from bot.engagement.timeline import text_timeline
from bot.services import Services
from bot.slack.gateway import NO_ANSWER, UPLOAD_METHOD, SlackCallFailed
from bot.slack.sending import Job, Retry, Sending
from bot.slack.uploads import ratelimited, refusal_reason, retryable
from messages import Message, escape_mrkdwn
from storage.models import Engagement

log = logging.getLogger("golive.timeline")

DIGEST_LANE = "timelines:digests"
# Failures that may pass (not 429s) before the picture counts as refused: with the outbox's
# backoff (0.5 s doubling) about a minute of tries.
UPLOAD_TRIES = 8
# The pacer's key for a whole upload (`bot.slack.pacing`): two Tier 4 calls.
UPLOAD_PACE = "files.upload"
# How the job reaches the person who asked (for `/golive timeline`, their command's reply).
Tell = Callable[[Message], None]


def timeline_summary(customer: str, outlook: Outlook) -> str:
    """One line for the picture's comment and the text fallback: the forecast and the health."""
    return f"{outlook.health.headline} Health: {outlook.health.label}."


def dryrun_day(engagement: Engagement) -> date | None:
    return local_date(engagement.dryrun_at, engagement.timezone) if engagement.dryrun_at else None


def text_message(
    services: Services, engagement: Engagement, outlook: Outlook, *, reason: str | None
) -> Message:
    """The text timeline; `reason`: why Slack refused the picture, said in its note."""
    return services.renderer.message(
        "timeline_text.json.j2",
        customer_name=engagement.customer_name,
        summary=timeline_summary(engagement.customer_name, outlook),
        timeline=text_timeline(outlook.forecast, dryrun=dryrun_day(engagement)),
        reason=reason,
    )


def _filename(engagement: Engagement, today: date) -> str:
    return f"golive-timeline-{engagement.id}-{today.isoformat()}.png"


class TimelineJob(Job):
    """Draw the engagement's timeline when the job runs and share it in `channel` (in the thread of
    `thread_ts` when given), or the text timeline when Slack refuses the picture; `tell` reaches
    whoever asked, when even the text cannot be posted."""

    def __init__(
        self,
        services: Services,
        engagement_id: int,
        channel: str,
        *,
        thread_ts: str | None = None,
        lane: str | None = None,
        tell: Tell | None = None,
    ) -> None:
        self.services = services
        self.engagement_id = engagement_id
        self.channel = channel
        self.thread_ts = thread_ts
        self.lane = lane or channel
        self.tell = tell
        self.key = ("timeline", engagement_id, channel, thread_ts)  # asked twice at once: drawn once
        self._drawn: tuple[bytes, str, str, str] | None = None  # picture, filename, title, comment
        self._failures = 0  # failures that may pass, so far

    def describe(self) -> str:
        where = f"thread {self.thread_ts}" if self.thread_ts else "channel"
        return f"timeline of engagement {self.engagement_id} in {self.channel} ({where})"

    def merge(self, newer: Job) -> Job:
        """Asked again while waiting: the newer job runs, and still reaches the first asker."""
        if isinstance(newer, TimelineJob) and newer.tell is None:
            newer.tell = self.tell
        return newer

    def _load(self, now: datetime) -> tuple[Engagement, Outlook] | None:
        with self.services.db.read() as session:
            engagement = session.get(Engagement, self.engagement_id)
            if engagement is None:
                return None
            session.expunge(engagement)
            return engagement, load_outlook(session, engagement, self.services.playbook_for(engagement), now)

    def run(self, out: Sending) -> None:
        from bot.exports.timeline_picture import timeline_png  # matplotlib: only when drawing

        now = self.services.clock.now()
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
                UPLOAD_PACE,
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
            return
        except Retry as retry:  # paced, a 429, a 5xx, Slack's transient codes
            cause = retry.__cause__
            if cause is None or (isinstance(cause, SlackCallFailed) and ratelimited(cause)):
                raise  # not a failure: the pace, or Slack said when to come back
            refused = self._failed(cause, retry)
        except SlackCallFailed as exc:
            refused = self._failed(exc, Retry(None, f"upload {exc.error}")) if retryable(exc) else exc
        self._post_text(out, engagement, outlook, refused)

    def _failed(self, cause: BaseException, retry: Retry) -> SlackCallFailed:
        """A failure that may pass: run again later (raises `retry`), until the `UPLOAD_TRIES`th,
        which is taken as a refusal."""
        self._failures += 1
        if self._failures < UPLOAD_TRIES:
            raise retry from cause
        log.warning(
            "%s: %d failed tries (%s); the timeline goes as text", self.describe(), self._failures, cause
        )
        if isinstance(cause, SlackCallFailed):
            return cause
        return SlackCallFailed(UPLOAD_METHOD, NO_ANSWER)

    def _post_text(
        self, out: Sending, engagement: Engagement, outlook: Outlook, refused: SlackCallFailed
    ) -> None:
        """The text timeline where the picture would have gone, its note saying why."""
        reason = refusal_reason(refused)
        log.info(
            "the timeline picture was refused in %s (%s: %s); the timeline goes as text",
            self.channel,
            refused.method,
            refused.error,
        )
        try:
            out.post(
                self.channel,
                text_message(self.services, engagement, outlook, reason=reason),
                kind="timeline",
                engagement_id=self.engagement_id,
                thread_ts=self.thread_ts,
            )
        except SlackCallFailed as exc:
            if self.tell is None:
                raise
            also = refusal_reason(exc)
            why = reason if also == reason else f"{reason}; the text version: {also}"
            log.warning("%s: the text timeline was refused too (%s)", self.describe(), exc.error)
            self.tell(
                self.services.notice(
                    f"I couldn't share the timeline in this channel: Slack refused it ({why}). "
                    f"`{self.services.command} status` shows you the timeline as text."
                )
            )


def share_timeline(
    services: Services,
    engagement_id: int,
    channel: str,
    *,
    thread_ts: str | None = None,
    tell: Tell | None = None,
) -> None:
    """Queue the timeline for `channel`; returns at once. In a thread (`thread_ts`, the weekly
    digest's) it is drawn in the digests' shared lane, one at a time. `tell` reaches the person
    who asked, should neither the picture nor the text be shared."""
    lane = DIGEST_LANE if thread_ts else channel
    services.outbox.submit(
        TimelineJob(services, engagement_id, channel, thread_ts=thread_ts, lane=lane, tell=tell)
    )
