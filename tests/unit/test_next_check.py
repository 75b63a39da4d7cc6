"""The sweep's next check against the obvious walk, on many random cases.

The sweep plans an engagement only when its next check comes (or when it changes), so the next
check must never be late: a nudge or digest it misses is a reminder lost. The definitions here
walk time in 15-minute steps and ask the same questions the plan asks (working hours, the day
something becomes due, the digest days); the computed instant must be the walk's first hit.
Time zones with DST (and DST at midnight, and 30-minute DST), half-hour offsets, custom working
weeks and public holidays.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace

import pytest

from bot.reminders.digest import digest_week
from bot.reminders.next_check import AT_LATEST, next_check, next_digest_at, next_nudge_at
from bot.reminders.nudges import SIGNOFF_PATIENCE_DAYS, _item_due, item_ready_on, signoff_ready_on
from bot.reminders.working_hours import CustomerClock

pytestmark = pytest.mark.filterwarnings("ignore:Requested Holidays are available only")

SEED = 20261202
STEP = timedelta(minutes=15)
CLOCKS = [
    CustomerClock("Europe/Berlin", "DE"),
    CustomerClock("America/New_York", "US", time(8, 30), time(16, 45)),
    CustomerClock("Pacific/Auckland", "NZ"),
    CustomerClock("Asia/Dubai", "AE", days=(6, 0, 1, 2, 3)),  # Sunday to Thursday
    CustomerClock("Asia/Kolkata", "IN", time(9, 30), time(18, 0)),
    CustomerClock("America/Santiago", "CL", time(0, 0), time(2, 0)),  # DST changes at midnight
    CustomerClock("Australia/Lord_Howe", "AU", time(1, 30), time(3, 0)),  # a 30-minute DST shift
    CustomerClock("Asia/Kathmandu", None, time(22, 0), time(23, 45), (5,)),  # Saturday evenings only
]
# Around DST changes, Christmas, Easter and new year in both hemispheres.
STARTS = [
    datetime(2026, 3, 27, 6, 0, tzinfo=UTC),
    datetime(2026, 4, 1, 12, 0, tzinfo=UTC),
    datetime(2026, 9, 3, 11, 0, tzinfo=UTC),
    datetime(2026, 10, 22, 3, 0, tzinfo=UTC),
    datetime(2026, 12, 22, 16, 0, tzinfo=UTC),
    datetime(2027, 3, 24, 20, 0, tzinfo=UTC),
]


def on_grid(at: datetime) -> datetime:
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


def walk(start: datetime, wanted, days: int = 16) -> datetime | None:  # type: ignore[no-untyped-def]
    at = start
    while at < start + timedelta(days=days):
        if wanted(at):
            return at
        at += STEP
    return None


def cases(n: int):  # type: ignore[no-untyped-def]
    rng = random.Random(SEED)
    for _ in range(n):
        clock = rng.choice(CLOCKS)
        now = on_grid(rng.choice(STARTS) + timedelta(minutes=rng.randrange(0, 12 * 24 * 60)))
        yield rng, clock, now


def test_the_next_nudge_is_the_first_working_moment_something_is_due():
    for rng, clock, now in cases(300):
        today = clock.today(now)
        ready = today + timedelta(days=rng.randrange(-5, 9))
        nudged_today = rng.random() < 0.4

        def plannable(at: datetime, ready=ready, nudged_today=nudged_today, clock=clock, today=today) -> bool:
            day = clock.today(at)
            return clock.in_hours(at) and day >= ready and not (nudged_today and day == today)

        expected = walk(now, plannable)
        got = next_nudge_at(clock, now, ready, nudged_today)
        assert got == expected, (clock.tz, now, ready, nudged_today)


def test_no_nudge_check_when_nothing_will_be_due():
    assert next_nudge_at(CLOCKS[0], STARTS[0], None, False) is None


def test_the_next_digest_is_the_first_working_moment_of_a_digest_day_without_one():
    for rng, clock, now in cases(300):
        # This week's digest, and (a clock set back, a catch-up) next week's, may exist already.
        weeks = [(now + timedelta(days=7 * k)).isocalendar() for k in range(2)]
        sent = {f"{y}-W{w:02d}" for y, w, _ in weeks if rng.random() < 0.5}

        def plannable(at: datetime, clock=clock, sent=sent) -> bool:
            found = digest_week(clock, clock.today(at))
            return clock.in_hours(at) and found is not None and found[0] not in sent

        expected = walk(now, plannable, days=21)
        got = next_digest_at(clock, now, sent.__contains__)
        assert got == expected, (clock.tz, now, sorted(sent))


def test_examples_on_the_customers_calendar():
    berlin = CLOCKS[0]
    # Thursday 24 Dec 2026 after hours: Christmas and Boxing Day are holidays, then a weekend.
    christmas_eve = datetime(2026, 12, 24, 17, 30, tzinfo=UTC)
    assert next_nudge_at(berlin, christmas_eve, date(2026, 12, 1), False) == datetime(
        2026, 12, 28, 8, 0, tzinfo=UTC
    )
    # Nudged today: tomorrow at 09:00, not this afternoon.
    wednesday = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
    assert next_nudge_at(berlin, wednesday, date(2026, 12, 1), True) == datetime(
        2026, 12, 3, 8, 0, tzinfo=UTC
    )
    # Not nudged yet and inside hours: now.
    assert next_nudge_at(berlin, wednesday, date(2026, 12, 1), False) == wednesday
    # New York leaves DST on Sunday 1 Nov 2026: Monday 09:00 is 14:00 UTC, Friday's was 13:00.
    ny = CustomerClock("America/New_York", "US")
    friday_evening = datetime(2026, 10, 30, 22, 0, tzinfo=UTC)
    assert next_nudge_at(ny, friday_evening, date(2026, 10, 1), False) == datetime(
        2026, 11, 2, 14, 0, tzinfo=UTC
    )
    # Easter Monday 2027 is a holiday in Germany: that week's digest goes out on Tuesday.
    assert next_digest_at(berlin, datetime(2027, 3, 26, 17, 0, tzinfo=UTC), lambda week: False) == datetime(
        2027, 3, 30, 7, 0, tzinfo=UTC
    )
    # This week's digest went out: next Monday at 09:00.
    monday_noon = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    assert next_digest_at(berlin, monday_noon, {"2026-W50"}.__contains__) == datetime(
        2026, 12, 14, 8, 0, tzinfo=UTC
    )


def test_the_next_check_is_after_now_and_within_a_week():
    now = STARTS[0]
    assert next_check(now) == now + AT_LATEST
    assert next_check(now, now - timedelta(days=1), None) > now
    soon = now + timedelta(hours=3)
    assert next_check(now, None, soon, now + timedelta(days=2)) == soon
    assert next_check(now, now + timedelta(days=30)) == now + AT_LATEST


def _item(rng: random.Random, clock: CustomerClock, around: date) -> SimpleNamespace:
    return SimpleNamespace(
        status=rng.choice(["open"] * 6 + ["done", "na"]),
        owner_side=rng.choice(["customer"] * 4 + ["vendor"]),
        due_on=None if rng.random() < 0.1 else around + timedelta(days=rng.randrange(-10, 10)),
        blocked_reason=rng.choice([None] * 8 + ["waiting for legal", ""]),
        snoozed_until=None if rng.random() < 0.6 else around + timedelta(days=rng.randrange(-5, 15)),
        last_nudged_at=None
        if rng.random() < 0.4
        else clock.at_local(around + timedelta(days=rng.randrange(-8, 6)), time(rng.randrange(0, 24), 7)),
    )


def test_an_items_ready_day_is_the_first_day_the_nudge_lists_it():
    """`item_ready_on` against the nudge's own test (`_item_due`) on every day of six weeks."""
    rng = random.Random(SEED)
    for _ in range(400):
        clock = rng.choice(CLOCKS)
        around = clock.today(rng.choice(STARTS))
        item = _item(rng, clock, around)
        cadence = rng.randrange(1, 5)
        ready = item_ready_on(item, clock, cadence)
        for n in range(-12, 30):
            day = around + timedelta(days=n)
            due = _item_due(item, day, clock, cadence, clock.at_local(day, time(12, 0)))  # type: ignore[arg-type]
            assert due == (ready is not None and ready <= day), (item, cadence, day, ready)


def test_a_sign_off_requests_ready_day_is_the_first_day_the_nudge_lists_it():
    """What `entries` asks of an open request: waited more than the patience, and the cadence
    passed since its last nudge (both in business days)."""
    rng = random.Random(SEED)
    for _ in range(300):
        clock = rng.choice(CLOCKS)
        around = clock.today(rng.choice(STARTS))
        requested = clock.at_local(
            around + timedelta(days=rng.randrange(-10, 3)), time(rng.randrange(0, 24), 30)
        )
        last = (
            None
            if rng.random() < 0.5
            else clock.at_local(around + timedelta(days=rng.randrange(-3, 8)), time(rng.randrange(0, 24), 0))
        )
        request = SimpleNamespace(status="open", requested_at=requested, last_nudged_at=last)
        cadence = rng.randrange(1, 5)
        ready = signoff_ready_on(request, clock, cadence)
        for n in range(-12, 30):
            day = around + timedelta(days=n)
            now = clock.at_local(day, time(12, 0))
            listed = clock.business_days_since(requested, now) > SIGNOFF_PATIENCE_DAYS and (
                last is None or clock.business_days_since(last, now) >= cadence
            )
            assert listed == (ready is not None and ready <= day), (requested, last, cadence, day, ready)
    decided = SimpleNamespace(status="approved", requested_at=STARTS[0], last_nudged_at=None)
    assert signoff_ready_on(decided, CLOCKS[0], 2) is None
