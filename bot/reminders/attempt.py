"""One attempt at sending a claimed reminder's messages, and what a failure does to it.

Every reminder message — a nudge's reply or direct message, a dry-run reminder, the digest, a
private note to the lead — goes out the same way: with message metadata naming the reminder (its
dedupe key, what it is about and whom it is for), so that after a post whose answer was lost
(a timeout) the message is looked for before it is sent again (in its thread, or the channel's
history; a direct message cannot be looked in: the bot does not read them); a reply whose thread
is gone (its parent was deleted) goes at the top level. A failure ends the attempt (`Stop`): a
channel Slack refuses flags the engagement and fails the reminder; anything else leaves it due,
retried with backoff (a timeout marks it unconfirmed: it may have landed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.slack.gateway import SlackCallFailed
from messages import Message

if TYPE_CHECKING:
    from bot.reminders.sweep import Sweeper, SweepReport

log = logging.getLogger("golive.sweep")

# Message metadata on every reminder post, so a post that timed out can be looked for.
REMINDER_EVENT = "golive_reminder"
# Errors of conversations.history that looking again will not fix: send without checking.
CANNOT_LOOK = frozenset({"missing_scope", "not_in_channel", "channel_not_found", "not_allowed_token_type"})
THREAD_GONE = frozenset({"thread_not_found", "cannot_reply_to_message"})


class Stop(Exception):
    """This attempt ends here (a retry is scheduled, or the channel flagged)."""


def reminder_metadata(
    key: str, kind: str, subjects: list[str], people: list[str], **more: Any
) -> dict[str, Any]:
    """What a reminder message is, for finding it again and for reading it without its text."""
    return {
        "event_type": REMINDER_EVENT,
        "event_payload": {"key": key, "kind": kind, **more, "subjects": subjects, "for": people},
    }


@dataclass
class Attempt:
    """Sending the claimed reminder `reminder_id` (`key`) of an engagement, on try `attempts + 1`."""

    sw: Sweeper
    reminder_id: int
    engagement_id: int
    key: str
    attempts: int
    unconfirmed: bool  # an earlier post timed out: it may have landed
    now: datetime
    report: SweepReport

    def retry(self, error: str, *, unconfirmed: bool = False) -> Stop:
        """Leave the reminder due, for a later sweep; returns the `Stop` to raise."""
        self.sw._retry(
            self.reminder_id, self.now, self.attempts, error, self.report, self.key, unconfirmed=unconfirmed
        )
        return Stop()

    def fail(self, channel: str, error: str) -> Stop:
        """Slack refuses the engagement's channel: flag it (the lead is told) and fail the reminder."""
        self.sw._flag(self.engagement_id, channel, error, self.now)
        self.sw._finish(
            self.reminder_id,
            self.now,
            "failed",
            status="failed",
            last_error=error,
            attempts=self.attempts + 1,
        )
        self.report.failed.append(f"{self.key}: {error}")
        return Stop()

    def send(
        self,
        channel: str,
        message: Message,
        *,
        kind: str,
        ledger_key: str,
        metadata: dict[str, Any],
        thread_ts: str | None = None,
        direct: bool = False,
    ) -> tuple[str, str | None]:
        """Post one message of the reminder (`direct`: in a direct message), unless an earlier post
        of it that timed out had landed; returns its ts and the thread it is in. Raises `Stop`."""
        if self.unconfirmed and not direct:
            found = self._landed(channel, thread_ts)
            if found is not None:
                self.sw.slack.record(
                    channel, found, kind=kind, key=ledger_key, engagement_id=self.engagement_id
                )
                log.info(
                    "%s: the earlier post that timed out had landed (%s); not sending it again",
                    self.key,
                    found,
                )
                return found, thread_ts
        while True:
            try:
                ts = self.sw.slack.post(
                    channel,
                    message,
                    kind=kind,
                    key=ledger_key,
                    engagement_id=self.engagement_id,
                    metadata=metadata,
                    thread_ts=thread_ts,
                )
                return ts, thread_ts
            except SlackCallFailed as exc:
                if exc.channel_gone and not direct:
                    raise self.fail(channel, exc.error) from exc
                if exc.error in THREAD_GONE and thread_ts is not None:
                    log.warning(
                        "%s: the thread %s is gone (%s); posting at the top level",
                        self.key,
                        thread_ts,
                        exc.error,
                    )
                    thread_ts = None
                    continue
                raise self.retry(exc.error) from exc
            except Exception as exc:  # timeouts, connection errors: it may have been posted anyway
                raise self.retry(f"{type(exc).__name__}: {exc}", unconfirmed=True) from exc

    def _landed(self, channel: str, thread_ts: str | None) -> str | None:
        """The ts of this reminder's earlier post in the channel (or thread), if it landed."""
        try:
            return self.sw.slack.find_by_metadata(channel, REMINDER_EVENT, self.key, thread_ts=thread_ts)
        except SlackCallFailed as exc:
            if exc.error not in CANNOT_LOOK:
                raise self.retry(f"checking the earlier post: {exc.error}") from exc
            log.warning("cannot check whether %s landed (%s); sending it again", self.key, exc.error)
            return None
        except Exception as exc:  # timeouts again: try the check on a later pass
            raise self.retry(f"checking the earlier post: {exc}") from exc
