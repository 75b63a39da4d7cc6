"""Ratings: a customer approver's 1-5 rating, with an optional comment, of each milestone.

When a gate is approved, its approver is asked to rate it; the final gates' approvers are asked at
the go-live instead (the event the final approval leads to), `milestone` "golive". Only the person
asked may rate, once: the ask is a `Rating` row (one per milestone and person, a unique key), and
the score goes into it with a conditional update, so a second click, a double submit or a replay
changes nothing. A rating given is never changed, and it is recorded in the audit trail
(`rating.given`, the implementation team's alone: the comment is the customer's candid word).

Not every gate is rated: GOLIVE_RATINGS_SAMPLE is the share of gates whose approver is asked,
chosen by a hash of the engagement and the gate (`sampled`), so every replica and every replay of
an approval agrees. The go-live, the moment that matters most, is always asked unless the share is
0, which turns ratings off.

Nobody is asked twice within `COOLDOWN` business days of the engagement's calendar: an ask is
skipped (and not written) when the person was asked anything, in any engagement, less than that
ago. With GOLIVE_RATINGS_ANONYMOUS the audit row and the lead's alert do not name the person; the
row itself keeps who it was asked of (that is how a second rating is refused).
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from bot.engagement.lifecycle import calendar_for, local_today
from bot.engagement.phases import readiness
from bot.people import audit
from bot.people.sides import CUSTOMER, Actor
from storage.db import rowcount
from storage.models import Engagement, Gate, Rating, SignoffDecision, saved_id

COOLDOWN = 10  # business days between two asks of the same person
GOLIVE = "golive"
LOW = 2  # a score at or below this tells the lead at once
MAX_COMMENT = 2000
ANONYMOUS_NAME = "A customer approver"


def sampled(engagement_id: int, milestone: str, share: float) -> bool:
    """Whether the milestone is among the `share` (0 to 1) whose approver is asked: the same answer
    for the same engagement and milestone everywhere (a hash, not a random draw)."""
    if share >= 1:
        return True
    if share <= 0:
        return False
    digest = hashlib.sha256(f"{engagement_id}:{milestone}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def cooling_down(session: Session, engagement: Engagement, user_id: str, now: datetime) -> bool:
    """The person was asked something less than `COOLDOWN` business days ago."""
    last = session.exec(select(func.max(Rating.asked_at)).where(Rating.user_id == user_id)).one()
    if last is None:
        return False
    calendar = calendar_for(engagement)
    asked_on = local_today(last, engagement.timezone)
    return local_today(now, engagement.timezone) < calendar.add(asked_on, COOLDOWN)


def open_ask(
    session: Session,
    engagement: Engagement,
    *,
    milestone: str,
    title: str,
    gate_id: int | None,
    user_id: str,
    team_id: str | None,
    now: datetime,
) -> Rating | None:
    """Write the ask of `user_id` to rate the milestone; None (nothing written) when they were
    asked for it already or are in the cooldown."""
    asked = session.exec(
        select(Rating.id).where(
            Rating.engagement_id == engagement.id, Rating.milestone == milestone, Rating.user_id == user_id
        )
    ).first()
    if asked is not None or cooling_down(session, engagement, user_id, now):
        return None
    row = Rating(
        engagement_id=saved_id(engagement),
        gate_id=gate_id,
        milestone=milestone,
        title=title[:200],
        user_id=user_id,
        team_id=team_id,
        asked_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # asked by a concurrent decision or replay
        return None
    return row


def open_gate_ask(
    session: Session, engagement: Engagement, gate: Gate, actor: Actor, now: datetime, *, sample: float = 1.0
) -> int | None:
    """The approver of a gate just approved is asked to rate it (if the gate is `sampled` and they
    are not cooling down): the ask's id."""
    if not sampled(saved_id(engagement), gate.key, sample):
        return None
    row = open_ask(
        session,
        engagement,
        milestone=gate.key,
        title=gate.title,
        gate_id=saved_id(gate),
        user_id=actor.user_id,
        team_id=actor.team_id,
        now=now,
    )
    return row.id if row is not None else None


def open_golive_asks(
    session: Session, engagement: Engagement, now: datetime, *, sample: float = 1.0
) -> list[int]:
    """At the go-live, the customer approvers who approved the final gates are asked to rate it
    (each unless cooling down; always sampled unless `sample` is 0): the asks' ids."""
    final_gates = readiness(session, engagement).final_gates
    if not final_gates or sample <= 0:
        return []
    decisions = session.exec(
        select(SignoffDecision)
        .where(
            col(SignoffDecision.gate_id).in_([g.id for g in final_gates]),
            SignoffDecision.decision == "approved",
        )
        .order_by(col(SignoffDecision.decided_at))
    ).all()
    people = {d.user_id: d.team_id for d in decisions}
    asked = []
    for user_id, team_id in people.items():
        row = open_ask(
            session,
            engagement,
            milestone=GOLIVE,
            title=f"the go-live of {engagement.customer_name}",
            gate_id=None,
            user_id=user_id,
            team_id=team_id,
            now=now,
        )
        if row is not None:
            asked.append(saved_id(row))
    return asked


def refusal(session: Session, rating: Rating | None, user_id: str) -> str | None:
    """Why `user_id` may not rate with this ask (None: they may). Friendly: said to the clicker."""
    if rating is None or rating.user_id != user_id:
        return "This rating was asked of someone else, so nothing was recorded. Thank you all the same."
    if rating.score is not None:
        return (
            f"You already rated {rating.title}: {rating.score} of 5. A rating is kept as it was given, "
            "so nothing was changed. Thank you!"
        )
    if rating.gate_id is not None:
        gate = session.get(Gate, rating.gate_id)
        if gate is None or gate.status != "approved":
            return f"{rating.title} is not approved any more, so it is not rated now. Nothing was recorded."
    else:
        engagement = session.get(Engagement, rating.engagement_id)
        if engagement is None or engagement.status != "live":
            return "The go-live is not confirmed, so it is not rated now. Nothing was recorded."
    return None


def mark_ask_sent(session: Session, rating_id: int, now: datetime) -> None:
    """Slack took the ask (an ephemeral or a DM): the sweep does not send it again."""
    session.execute(
        update(Rating)
        .where(col(Rating.id) == rating_id, col(Rating.ask_sent_at).is_(None))
        .values(ask_sent_at=now, retry_at=None)
    )


def mark_lead_told(session: Session, rating_id: int, now: datetime) -> None:
    """Slack took the lead's alert of a low rating: the sweep does not tell it again."""
    session.execute(
        update(Rating)
        .where(col(Rating.id) == rating_id, col(Rating.lead_told_at).is_(None))
        .values(lead_told_at=now, retry_at=None)
    )


@dataclass(frozen=True)
class Given:
    """A rating just recorded: what the lead is told of a low one."""

    rating_id: int
    engagement_id: int
    score: int
    comment: str | None
    title: str
    low: bool


def give(
    session: Session,
    rating: Rating,
    actor: Actor,
    *,
    score: int,
    comment: str | None,
    anonymous: bool,
    now: datetime,
) -> Given | None:
    """Record the score (1-5) and comment; None when it was given already (nothing changed)."""
    if not 1 <= score <= 5:
        raise ValueError(f"a rating is 1 to 5, not {score}")
    comment = " ".join((comment or "").split())[:MAX_COMMENT] or None
    moved = session.execute(
        update(Rating)
        .where(col(Rating.id) == rating.id, col(Rating.score).is_(None), col(Rating.user_id) == actor.user_id)
        .values(score=score, comment=comment, rated_at=now)
    )
    if rowcount(moved) == 0:
        return None
    who = (
        Actor(user_id="anonymous", team_id=actor.team_id, name=ANONYMOUS_NAME, side=CUSTOMER)
        if anonymous
        else actor
    )
    audit.record(
        session,
        rating.engagement_id,
        who,
        "rating.given",
        rating.milestone,
        {"score": score, "title": rating.title, **({"comment": comment} if comment else {})},
        now=now,
    )
    return Given(
        rating_id=saved_id(rating),
        engagement_id=rating.engagement_id,
        score=score,
        comment=comment,
        title=rating.title,
        low=score <= LOW,
    )


@dataclass(frozen=True)
class Summary:
    """An engagement's ratings given so far, as App Home's card shows them (scores only, never
    who gave them)."""

    count: int
    median: float
    low: int  # scores of `LOW` or less
    latest_low: str | None  # what the latest low one rated (its title)


def summaries(session: Session, engagement_ids: Collection[int]) -> dict[int, Summary]:
    """The ratings given per engagement, for a page of engagements: one query for all of them."""
    if not engagement_ids:
        return {}
    rows = session.exec(
        select(Rating.engagement_id, Rating.score, Rating.title)
        .where(col(Rating.engagement_id).in_(list(engagement_ids)), col(Rating.score).is_not(None))
        .order_by(col(Rating.rated_at), col(Rating.id))
    ).all()
    by_engagement: dict[int, list[tuple[int, str]]] = {}
    for engagement_id, score, title in rows:
        if score is not None:
            by_engagement.setdefault(engagement_id, []).append((score, title))
    out = {}
    for engagement_id, given in by_engagement.items():
        lows = [title for score, title in given if score <= LOW]
        out[engagement_id] = Summary(
            count=len(given),
            median=float(statistics.median(score for score, _ in given)),
            low=len(lows),
            latest_low=lows[-1] if lows else None,
        )
    return out
