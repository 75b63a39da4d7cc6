"""What a failed upload means: whether running it again later may fix it, and when it will not,
why, in words for the people in the channel.

`SlackGateway.upload_file` raises `SlackCallFailed` for every failure of Slack's upload
(files.getUploadURLExternal, the POST of the bytes, files.completeUploadExternal). Slack lists
each method's errors (docs.slack.dev/reference/methods/files.getUploadURLExternal and
…/files.completeUploadExternal) and warns that "other errors can be returned in the case where
the service is down or other unexpected factors affect processing". So only what is known to be
passing is retried — a 429 (`ratelimited`), a 5xx or a 408, Slack's `internal_error`,
`fatal_error`, `service_unavailable` and `request_timeout`, no answer at all — and everything
else, a code listed nowhere included, is a refusal: the caller shares the text version instead
and says why, never only a log line.

`slack_connect_file_upload_sharing_blocked` (a Slack Connect admin's block) is documented for the
retired files.upload, not for the external upload; it is named here only to say it well.

For a caller outside the outbox (e.g. `/golive audit`, in its listener's thread after the ack):
the listener's client has already retried 429s, 5xx and lost connections, so
`if retryable(exc)`: say Slack did not take it just now and to try again; otherwise fall back to
the text version and say `refusal_reason(exc)`.
"""

from __future__ import annotations

from bot.slack.gateway import NO_ANSWER, UPLOAD_STEP, SlackCallFailed

# Slack's answers that mean "not now" rather than "no" (the same as the outbox's `_transient`),
# and the gateway's own for a step that got no answer.
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", NO_ANSWER}
)

# Why Slack refused, for "Slack refused the picture in this channel (…)". Codes from the error
# tables of the upload methods, files.upload and chat.postMessage (the text version's post).
_REASONS: dict[str, str] = {
    # a Slack Connect admin's settings
    "slack_connect_file_upload_sharing_blocked": "files are blocked by a Slack Connect admin",
    "slack_connect_blocked_file_type": "a Slack Connect admin blocks this type of file",
    # the workspace's settings
    "file_uploads_disabled": "the workspace's admins have turned file uploads off",
    "file_uploads_except_images_disabled": "the workspace allows only images to be uploaded",
    "blocked_file_type": "the workspace's admins block this type of file",
    "file_upload_size_restricted": "the workspace limits how large an uploaded file may be",
    "storage_limit_reached": "the workspace has used up its file storage",
    "ekm_access_denied": "the workspace's admins have suspended posting",
    # the channel
    "posting_to_channel_denied": "posting in this channel is restricted",
    "posting_to_general_channel_denied": "posting in this channel is restricted",
    "restricted_action": "posting in this channel is restricted",
    "not_in_channel": "golive is not a member of this channel",
    "channel_not_found": "golive cannot find this channel",
    "invalid_channel": "golive cannot find this channel",
    "is_archived": "the channel is archived",
    "channel_is_archived": "the channel is archived",
    "thread_not_found": "the message to reply under is gone",
    "cannot_reply_to_message": "the message to reply under is gone",
    "invalid_thread_ts": "the message to reply under is gone",
    # the app
    "missing_scope": "the golive app lacks a permission it needs to share files",
    "no_permission": "the golive app lacks a permission it needs to share files",
    "access_denied": "the golive app lacks a permission it needs to share files",
    "not_allowed_token_type": "the golive app lacks a permission it needs to share files",
    "invalid_auth": "golive's access to this Slack workspace is no longer valid",
    "not_authed": "golive's access to this Slack workspace is no longer valid",
    "account_inactive": "golive's access to this Slack workspace is no longer valid",
    "token_revoked": "golive's access to this Slack workspace is no longer valid",
    "token_expired": "golive's access to this Slack workspace is no longer valid",
}


def ratelimited(exc: SlackCallFailed) -> bool:
    """Slack said when to try again (429, Retry-After)."""
    return exc.error == "ratelimited" or exc.status == 429


def retryable(exc: SlackCallFailed) -> bool:
    """Whether the same call, run again later, may succeed: a 429, a 5xx or a 408, Slack's
    transient codes, or no answer. Anything else is a refusal."""
    status = exc.status or 0
    return ratelimited(exc) or status >= 500 or status == 408 or exc.error in TRANSIENT_ERRORS


def upload_refused(exc: SlackCallFailed) -> bool:
    """A refusal that running the upload again will not fix: share the text version instead."""
    return not retryable(exc)


def refusal_reason(exc: SlackCallFailed) -> str:
    """Why Slack did not take the file, as a clause for "Slack refused the picture in this channel
    (…)": "files are blocked by a Slack Connect admin". A code known nowhere is named as Slack
    gave it ("it said `some_code`")."""
    known = _REASONS.get(exc.error)
    if known is not None:
        return known
    if exc.method == UPLOAD_STEP and exc.error == "upload_failed":
        return f"its file service answered HTTP {exc.status}" if exc.status else "its file service failed"
    if exc.error == NO_ANSWER:
        return "it did not answer"
    if retryable(exc):  # given up on after several tries
        return f"it kept failing with `{exc.error}`"
    return f"it said `{exc.error}`"
