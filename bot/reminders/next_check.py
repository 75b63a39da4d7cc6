"""When an engagement next needs planning: the earliest instant at which the sweep's plan could
produce a reminder for it, computed from the engagement as it is now.

Planning runs when this instant comes or when something changes (a `NextCheckRequest`). Being
early costs one more plan that finds nothing; being late would lose a reminder, so every rule
here errs early: a day whose window is uncertain is offered, never skipped.

- A nudge: the first working window (the customer's hours on a working day, holidays excluded,
  in the engagement's time zone) on or after the first day something is due
  (`nudges.ready_dates`), and not on a day that already has its nudge.
- The weekly digest: the first working window on a digest day (`digest.digest_week`) whose
  week has no digest yet.
- The dry-run and go-live-day reminders are rows of their own, made when the engagement
  changes and claimed through the reminder index when due; they need no check here.
- At the latest after `AT_LATEST`, a safety net: the engagement is planned again anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from bot.reminders.digest import digest_week
from bot.reminders.working_hours import CustomerClock

AT_LATEST = timedelta(days=7)
# Never "now": the plan that computed it just ran, so a check at now would spin in one sweep.
MIN_DELAY = timedelta(seconds=1)
DIGEST_LOOKAHEAD_DAYS = 21  # calendar days: a digest day comes every week


def window_on(clock: CustomerClock, day: date, now: datetime) -> datetime | None:
    """The earliest instant not before `now` in the working hours of local `day`, or None when
    that day's window is over (or the day is not a working day)."""
    if not clock.is_working_day(day):
        return None
    start, end = clock.at_local(day, clock.start), clock.at_local(day, clock.end)
    at = max(now, start)
    return at if at < end else None


def first_window(clock: CustomerClock, day: date, now: datetime) -> datetime:
    """The earliest instant not before `now` in working hours on `day` or a later day."""
    at = window_on(clock, day, now)
    if at is not None:
        return at
    nxt = clock.calendar.add(day, 1)
    return window_on(clock, nxt, now) or clock.at_local(nxt, clock.start)


def next_nudge_at(
    clock: CustomerClock, now: datetime, ready: date | None, nudged_today: bool
) -> datetime | None:
    """When a nudge could next be planned: on or after the first day something is due (`ready`),
    not today when today's nudge exists."""
    if ready is None:
        return None
    today = clock.today(now)
    day = max(today, ready)
    if nudged_today and day == today:
        day = today + timedelta(days=1)
    return first_window(clock, day, now)


def next_digest_at(clock: CustomerClock, now: datetime, has_week: Callable[[str], bool]) -> datetime | None:
    """When a digest could next be planned: the first working window on a digest day whose week
    has no digest yet (`has_week(week)` says whether it has)."""
    today = clock.today(now)
    for n in range(DIGEST_LOOKAHEAD_DAYS):
        day = today + timedelta(days=n)
        found = digest_week(clock, day)
        if found is None or has_week(found[0]):
            continue
        at = window_on(clock, day, now)
        if at is not None:
            return at
    return None


def next_check(now: datetime, *candidates: datetime | None) -> datetime:
    """The earliest candidate, not later than `AT_LATEST` from now and always after now."""
    found = [c for c in candidates if c is not None] + [now + AT_LATEST]
    return max(min(found), now + MIN_DELAY)
