"""bot.slack.uploads: which upload failures are retried, and how a refusal is said."""

from __future__ import annotations

import pytest

from bot.slack.gateway import NO_ANSWER, UPLOAD_STEP, HttpAnswer, SlackCallFailed
from bot.slack.uploads import refusal_reason, retryable, upload_refused


def failed(
    error: str, status: int | None = None, method: str = "files.completeUploadExternal"
) -> SlackCallFailed:
    return SlackCallFailed(method, error, HttpAnswer(status) if status is not None else None)


@pytest.mark.parametrize(
    "exc",
    [
        failed("ratelimited", 429),
        failed("upload_failed", 429, UPLOAD_STEP),
        failed("unknown_error", 500),
        failed("upload_failed", 503, UPLOAD_STEP),
        failed("upload_failed", 408, UPLOAD_STEP),
        failed("internal_error"),
        failed("fatal_error"),
        failed("service_unavailable"),
        failed("request_timeout"),
        failed(NO_ANSWER),
    ],
    ids=lambda e: f"{e.method}:{e.error}:{e.status}",
)
def test_what_may_pass_is_retried(exc: SlackCallFailed) -> None:
    assert retryable(exc) and not upload_refused(exc)


@pytest.mark.parametrize(
    "exc",
    [
        failed("slack_connect_file_upload_sharing_blocked"),
        failed("file_uploads_disabled", method="files.getUploadURLExternal"),
        failed("posting_to_channel_denied"),
        failed("not_in_channel"),
        failed("invalid_arguments"),
        failed("missing_scope"),
        failed("upload_failed", 413, UPLOAD_STEP),
        failed("upload_failed", None, UPLOAD_STEP),
        failed("a_code_nobody_documented"),
    ],
    ids=lambda e: f"{e.method}:{e.error}:{e.status}",
)
def test_everything_else_is_a_refusal(exc: SlackCallFailed) -> None:
    assert upload_refused(exc) and not retryable(exc)


def test_a_refusal_is_said_in_words_and_an_unknown_code_as_slack_gave_it() -> None:
    assert refusal_reason(failed("slack_connect_file_upload_sharing_blocked")) == (
        "files are blocked by a Slack Connect admin"
    )
    assert (
        refusal_reason(failed("file_uploads_disabled"))
        == "the workspace's admins have turned file uploads off"
    )
    assert refusal_reason(failed("a_code_nobody_documented")) == "it said `a_code_nobody_documented`"
    assert refusal_reason(failed("upload_failed", 413, UPLOAD_STEP)) == "its file service answered HTTP 413"
    assert refusal_reason(failed("internal_error")) == "it kept failing with `internal_error`"
    assert refusal_reason(failed(NO_ANSWER)) == "it did not answer"
