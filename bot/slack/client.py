"""The Web API client: slack_sdk's WebClient at SLACK_API_URL, with retries.

Retries (429 honouring Retry-After, 5xx, connection errors) sleep, so they must only ever
happen after the ack: listeners call Slack after `ack()`, and the scheduler's sweep is not a
request at all.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler

DEFAULT_TIMEOUT_SECONDS = 15


def retry_handlers(max_retries: int = 3) -> list[RetryHandler]:
    return [
        ConnectionErrorRetryHandler(max_retry_count=max_retries),
        RateLimitErrorRetryHandler(max_retry_count=max_retries),
        ServerErrorRetryHandler(max_retry_count=max_retries),
    ]


def make_client(
    token: str | None, base_url: str, *, max_retries: int = 3, timeout: int = DEFAULT_TIMEOUT_SECONDS
) -> WebClient:
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=retry_handlers(max_retries),
        logger=logging.getLogger("golive.slack"),
    )


def make_sweep_client(
    token: str | None,
    base_url: str,
    *,
    max_rate_limit_retries: int = 3,
    timeout: int = DEFAULT_TIMEOUT_SECONDS,
) -> WebClient:
    """For the reminder sweep: 429s are waited out (Retry-After); 5xx and timeouts are not retried
    here, because the sweep retries the reminder on a later pass, with backoff."""
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=max_rate_limit_retries)],
        logger=logging.getLogger("golive.slack.sweep"),
    )
