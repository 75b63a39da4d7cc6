"""Issue 25, part 4: uploads that degrade gracefully, through the stand-in.

Any refusal that running the upload again will not fix — a documented code, a code documented
nowhere, the upload URL's 4xx — ends with the text timeline where the picture would have gone,
its note saying why in plain words: `/golive timeline`'s asker reads it under their command, the
digest's thread gets it as one line. What may pass (a 429, a 5xx, `internal_error`) runs the job
again and the picture lands, with no text; what never passes ends as text after a few tries.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.timeline_share import UPLOAD_TRIES
from sandbox.harness import CHANNEL, LEAD
from tests.e2e.helpers import at, blocks_text, ephemeral_texts, posts, shown

NOTE = "Slack refused the picture in this channel ({}), so here is the timeline as text."


def timeline_texts(h: Any) -> list[dict[str, Any]]:
    """The text timelines posted (the picture's own message, whose comment reads alike, aside)."""
    return [
        m
        for m in posts(h)
        if (m.get("text") or "").startswith("Timeline of the Acme Corp implementation") and not m.get("files")
    ]


@pytest.mark.parametrize(
    ("refuse", "reason"),
    [
        # documented for files.getUploadURLExternal: "Team has disabled all file uploads"
        (
            lambda s: s.set_file_settings(uploads_disabled=True),
            "the workspace's admins have turned file uploads off",
        ),
        # documented for files.getUploadURLExternal: "the team has restricted uploads of large files"
        (
            lambda s: s.set_file_settings(max_bytes=1000),
            "the workspace limits how large an uploaded file may be",
        ),
        # documented for files.completeUploadExternal: "does not have the permissions necessary"
        (
            lambda s: s.fail_next("files.completeUploadExternal", error="no_permission"),
            "the golive app lacks a permission it needs to share files",
        ),
        # a code documented nowhere: a refusal all the same, named as Slack gave it
        (
            lambda s: s.fail_next("files.completeUploadExternal", error="file_sharing_paused"),
            "it said `file_sharing_paused`",
        ),
        # the upload URL's answer to the bytes: "a non-200 response indicates a failure"
        (lambda s: s.fail_next("upload", status=413), "its file service answered HTTP 413"),
    ],
    ids=["uploads-off", "size-limit", "no-permission", "undocumented-code", "upload-url-413"],
)
def test_a_refused_timeline_picture_comes_as_text_saying_why(small, refuse, reason) -> None:
    h = small
    refuse(h.standin)
    h.standin.reset_calls()
    told_before = len(ephemeral_texts(h, LEAD.user_id))
    h.command("timeline")
    assert h.standin.files == []
    assert len(h.standin.calls_to("files.getUploadURLExternal")) == 1, "a refusal is not retried"
    [message] = timeline_texts(h)
    assert message.get("thread_ts") in (None, message["ts"])  # in the channel, under the command
    text = shown(blocks_text(message["blocks"]))
    assert "Timeline — Acme Corp" in text and "Week of" in text
    assert NOTE.format(reason) in text
    # the note told the asker, under their command; nothing is said to them privately besides
    assert len(ephemeral_texts(h, LEAD.user_id)) == told_before


def test_a_slack_connect_block_still_reads_as_one(small) -> None:
    h = small
    h.standin.block_file_uploads(CHANNEL)
    h.command("timeline")
    [message] = timeline_texts(h)
    assert NOTE.format("files are blocked by a Slack Connect admin") in shown(blocks_text(message["blocks"]))


def test_when_the_text_is_refused_too_the_asker_is_told_privately(small) -> None:
    h = small
    h.standin.fail_next("files.completeUploadExternal", error="posting_to_channel_denied")
    h.standin.fail_next("chat.postMessage", error="restricted_action")
    h.command("timeline")
    assert h.standin.files == [] and timeline_texts(h) == []
    answer = ephemeral_texts(h, LEAD.user_id)[-1]
    assert (
        "I couldn't share the timeline in this channel: Slack refused it (posting in this channel is "
        "restricted)." in answer
    )
    assert "`/golive status` shows you the timeline as text" in answer


@pytest.mark.parametrize(
    "fail",
    [
        lambda s: s.fail_next("upload", status=500),
        lambda s: s.fail_next("files.completeUploadExternal", status=429, retry_after=1),
        lambda s: s.fail_next("files.getUploadURLExternal", error="internal_error"),
        lambda s: s.fail_next("files.completeUploadExternal", status=503),
    ],
    ids=["upload-url-500", "ratelimited", "internal_error", "complete-503"],
)
def test_a_failure_that_may_pass_is_retried_and_the_picture_lands(small, fail) -> None:
    h = small
    fail(h.standin)
    h.standin.reset_calls()
    told_before = len(ephemeral_texts(h, LEAD.user_id))
    h.command("timeline")
    [f] = h.standin.files
    assert f["channel_id"] == CHANNEL and f["mimetype"] == "image/png"
    assert len(h.standin.calls_to("files.getUploadURLExternal")) == 2  # once failed, once landed
    assert timeline_texts(h) == [], "no text fallback"
    assert len(ephemeral_texts(h, LEAD.user_id)) == told_before


def test_a_failure_that_never_passes_ends_as_text(small) -> None:
    """Slack has answered `internal_error` for good to some uploads (slackapi/node-slack-sdk#2301):
    after UPLOAD_TRIES tries the picture counts as refused."""
    h = small
    h.bot.outbox.backoff_first = 0.01
    h.standin.fail_next("files.completeUploadExternal", error="internal_error", times=UPLOAD_TRIES + 5)
    h.standin.reset_calls()
    h.command("timeline")
    assert h.standin.files == []
    assert len(h.standin.calls_to("files.completeUploadExternal")) == UPLOAD_TRIES
    [message] = timeline_texts(h)
    assert NOTE.format("it kept failing with `internal_error`") in shown(blocks_text(message["blocks"]))


def test_the_digests_picture_comes_as_text_in_its_thread_with_the_reason(small) -> None:
    h = small
    h.standin.fail_next("files.completeUploadExternal", error="file_sharing_paused")
    at(h, "2026-12-07T09:01:00+01:00")
    h.run_sweep()
    h.idle()
    [digest] = [m for m in posts(h) if "Weekly digest" in m["text"]]
    assert h.standin.files == []
    [reply] = [m for m in posts(h) if m.get("thread_ts") == digest["ts"] and m["ts"] != digest["ts"]]
    assert reply["text"].startswith("Timeline of the Acme Corp implementation")
    text = shown(blocks_text(reply["blocks"]))
    assert "Week of" in text and NOTE.format("it said `file_sharing_paused`") in text
    assert [m["ts"] for m in timeline_texts(h)] == [reply["ts"]], "only in the thread"


def test_the_digests_picture_lands_after_a_passing_failure(small) -> None:
    h = small
    h.standin.fail_next("upload", status=502)
    at(h, "2026-12-07T09:01:00+01:00")
    h.run_sweep()
    h.idle()
    [digest] = [m for m in posts(h) if "Weekly digest" in m["text"]]
    [f] = h.standin.files
    assert f["thread_ts"] == digest["ts"]
    assert timeline_texts(h) == []


# -- the calendar: the dates are its text version --------------------------------------------------
def test_a_refused_calendar_gives_the_dates_and_says_why(small) -> None:
    h = small
    h.standin.set_file_settings(uploads_disabled=True)
    h.command("calendar")
    assert h.standin.files == []
    answer = ephemeral_texts(h, LEAD.user_id)[-1]
    assert (
        "I couldn't share the calendar file: Slack refused it in this channel (the workspace's admins "
        "have turned file uploads off), so nothing was posted." in answer
    )
    assert "Go-live Fri 18 Dec" in answer


def test_a_calendar_slack_did_not_take_just_now_says_to_try_again(small) -> None:
    h = small
    h.standin.fail_next("upload", status=503)
    h.command("calendar")
    assert h.standin.files == []
    answer = ephemeral_texts(h, LEAD.user_id)[-1]
    assert "Slack didn't take the calendar file just now (its file service answered HTTP 503)" in answer
    assert "Try `/golive calendar` again in a minute" in answer and "Go-live Fri 18 Dec" in answer
