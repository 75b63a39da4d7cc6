"""Prometheus metrics (`GET /metrics`): acks, the sweep, Slack calls, the refresh queue and the
work waiting after acks.

The metric objects live here so every package can record without importing the running
process. Under `golive serve` several gunicorn workers each keep their own values;
`PROMETHEUS_MULTIPROC_DIR` (set by `serve` before anything imports prometheus_client) makes
/metrics add them up across workers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

if TYPE_CHECKING:
    from storage.db import Database

ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)

ACK_SECONDS = Histogram(
    "golive_ack_seconds",
    "Time from receiving a Slack request to acknowledging it (Slack allows 3 s), by request kind.",
    ["kind"],
    buckets=ACK_BUCKETS,
)
REQUESTS_REFUSED = Counter(
    "golive_requests_refused_total",
    "Requests refused before Bolt saw them (413 too large, 401 unsigned, 400 malformed).",
    ["status"],
)
DEALS = Counter(
    "golive_deals_total",
    "Deals received from the CRM hooks, by source and what became of them (created, updated, unchanged, refused).",
    ["source", "outcome"],
)
SWEEP_SECONDS = Histogram(
    "golive_sweep_seconds",
    "Duration of one reminder sweep.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
REMINDERS = Counter(
    "golive_reminders_total",
    "Reminders handled by sweeps, by outcome: sent, failed, deferred (to retry later), skipped.",
    ["outcome"],
)
SLACK_CALLS = Counter("golive_slack_calls_total", "Slack Web API calls, by method.", ["method"])
SLACK_RATE_LIMITED = Counter(
    "golive_slack_ratelimited_total", "Slack Web API answers of HTTP 429, by method.", ["method"]
)
SLACK_ERRORS = Counter(
    "golive_slack_errors_total", "Slack Web API calls that failed, by method and error.", ["method", "error"]
)
REFRESH_QUEUE_DEPTH = Gauge(
    "golive_refresh_queue_depth",
    "Message refreshes waiting to be sent to Slack.",
    multiprocess_mode="livesum",
)
AFTER_ACK_PENDING = Gauge(
    "golive_after_ack_pending",
    "Clicks and item commands acked whose work (reads, write, queued refresh) is not done yet, "
    "in this process's memory (the inbox holds them all: golive_inbox_depth).",
    multiprocess_mode="livesum",
)
INBOX_REPLAYED = Counter(
    "golive_inbox_replayed_total",
    "Acked requests taken from the inbox after their process stopped before their work was done.",
)

HOOK_DELIVERIES = Counter(
    "golive_hook_deliveries_total",
    "Attempts to post an event to a webhook target, by outcome: delivered (2xx), retried (to be "
    "tried again with backoff), failed (given up 24 hours after the event).",
    ["outcome"],
)
HOOK_PENDING = Gauge(
    "golive_hook_deliveries_pending",
    "Events waiting to be delivered to a webhook target (in the database, as counted after the "
    "last delivery pass).",
    multiprocess_mode="livemostrecent",
)


def request_kind(body_type: str | None, is_command: bool) -> str:
    """A bounded label for a request: command, block_actions, view_submission, event, other."""
    if is_command:
        return "command"
    if body_type in ("block_actions", "view_submission", "view_closed", "block_suggestion", "shortcut"):
        return body_type
    if body_type in ("event_callback", "url_verification"):
        return "event"
    return "other"


# The health an active engagement's App Home sort key holds (`Engagement.risk_rank`, see
# bot.engagement.portfolio): written by the sweep and at each change, so at most a day old.
HEALTH_OF_RANK = {0: "on_track", 1: "at_risk", 2: "late"}


@dataclass(frozen=True)
class LiveCounts:
    """The portfolio now, read from the database at each scrape (two GROUP BY queries)."""

    engagements: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (status, phase, health)
    open_items: dict[str, int] = field(default_factory=dict)  # owner side -> open items of active ones


def live_counts(db: Database) -> LiveCounts:
    """Engagements by status, and the active ones by phase (its key) and health; the open items
    of active engagements by owner side. Not per engagement: the count of a scrape stays two
    queries at any portfolio size."""
    from sqlalchemy import and_, func, select

    from storage.models import Engagement, EngagementPhase, Item, table_of

    e, p, i = table_of(Engagement), table_of(EngagementPhase), table_of(Item)
    engagements: dict[tuple[str, str, str], int] = {}
    with db.read() as session:
        for status, phase, rank, n in session.execute(
            select(e.c.status, p.c.key, e.c.risk_rank, func.count())
            .select_from(e.outerjoin(p, and_(p.c.engagement_id == e.c.id, p.c.number == e.c.phase_index)))
            .group_by(e.c.status, p.c.key, e.c.risk_rank)
        ).all():
            key = (
                (status, phase or "", HEALTH_OF_RANK.get(rank, "unknown"))
                if status == "active"
                else (status, "", "")
            )
            engagements[key] = engagements.get(key, 0) + int(n)
        open_items = {
            side: int(n)
            for side, n in session.execute(
                select(i.c.owner_side, func.count())
                .select_from(i.join(e, e.c.id == i.c.engagement_id))
                .where(e.c.status == "active", i.c.status == "open")
                .group_by(i.c.owner_side)
            ).all()
        }
    return LiveCounts(engagements, open_items)


def exposition(inbox: tuple[int, float] | None = None, live: LiveCounts | None = None) -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, summed over server workers when there are several;
    with `inbox`, its depth and the age of its oldest row as read from the database just now (the
    same for every process and replica, so not a per-process gauge); with `live`, the portfolio's
    counts, read the same way."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    data = generate_latest(registry)
    if inbox is not None:
        now = CollectorRegistry()
        Gauge(
            "golive_inbox_depth", "Acked requests whose work is not done yet (the inbox).", registry=now
        ).set(inbox[0])
        Gauge(
            "golive_inbox_oldest_seconds",
            "Age of the oldest acked request whose work is not done yet (0 when none).",
            registry=now,
        ).set(inbox[1])
        data += generate_latest(now)
    if live is not None:
        now = CollectorRegistry()
        engagements = Gauge(
            "golive_engagements",
            "Engagements by status; the active ones by their current phase (its key) and health "
            "(on_track, at_risk, late, unknown: not computed yet).",
            ["status", "phase", "health"],
            registry=now,
        )
        for (status, phase, health), n in sorted(live.engagements.items()):
            engagements.labels(status, phase, health).set(n)
        items = Gauge(
            "golive_open_items",
            "Open checklist items of active engagements, by the side that owns them.",
            ["side"],
            registry=now,
        )
        for side in sorted({"vendor", "customer", *live.open_items}):
            items.labels(side).set(live.open_items.get(side, 0))
        data += generate_latest(now)
    return data, CONTENT_TYPE_LATEST
