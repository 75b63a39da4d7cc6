"""Business-day arithmetic against the obvious day-by-day walk, on many random cases.

The calendar jumps whole weeks and corrects for holidays; the walk here is the definition it
must agree with: weekends of any custom working week, public holidays of several countries,
negative offsets, ranges across years, starts on weekends and holidays.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta

import pytest

from bot.engagement import business_days
from bot.engagement.business_days import MAX_SPAN_YEARS, BusinessCalendar, CalendarRangeError

# Holidays far ahead are computed by rule; the package warns that it only vouches to 2035.
pytestmark = pytest.mark.filterwarnings("ignore:Requested Holidays are available only")

COUNTRIES = (None, "DE", "US", "GB", "IL", "AE", "IN", "JP")
SEED = 20261130


def walk_is_business_day(cal: BusinessCalendar, d: date) -> bool:
    return d.weekday() in cal.workdays and cal.holiday(d) is None


def walk_add(cal: BusinessCalendar, d: date, n: int) -> date:
    step = 1 if n >= 0 else -1
    remaining = abs(n)
    while remaining:
        d += timedelta(days=step)
        if walk_is_business_day(cal, d):
            remaining -= 1
    return d


def walk_count(cal: BusinessCalendar, start: date, end: date) -> int:
    n, d = 0, start
    while d <= end:
        n += walk_is_business_day(cal, d)
        d += timedelta(days=1)
    return n


def random_calendar(rng: random.Random) -> BusinessCalendar:
    country = rng.choice(COUNTRIES)
    kind = rng.random()
    if kind < 0.4:
        workdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    elif kind < 0.55:
        workdays = (6, 0, 1, 2, 3)  # sun-thu
    else:
        workdays = tuple(sorted(rng.sample(range(7), rng.randint(1, 7))))
    return BusinessCalendar(country, workdays)


def random_day(rng: random.Random) -> date:
    return date(2019, 1, 1) + timedelta(days=rng.randint(0, 365 * 14))


@pytest.mark.parametrize("chunk", range(4))
def test_add_matches_the_day_walk(chunk):
    rng = random.Random(SEED + chunk)
    for _ in range(400):
        cal = random_calendar(rng)
        d = random_day(rng)
        n = rng.choice([rng.randint(-12, 12), rng.randint(-400, 400), rng.randint(-1500, 1500)])
        assert cal.add(d, n) == walk_add(cal, d, n), (cal.country, cal.workdays, d, n)


@pytest.mark.parametrize("chunk", range(4))
def test_count_matches_the_day_walk(chunk):
    rng = random.Random(SEED * 7 + chunk)
    for _ in range(400):
        cal = random_calendar(rng)
        start = random_day(rng)
        end = start + timedelta(days=rng.choice([rng.randint(-10, 30), rng.randint(-30, 2000)]))
        assert cal.count(start, end) == walk_count(cal, start, end), (cal.country, cal.workdays, start, end)


def test_add_and_count_agree_around_christmas_in_germany():
    # 24 Dec 2026 is a Thursday; 25 Dec (Fri) and 1 Jan (Fri) are public holidays in Germany.
    cal = BusinessCalendar("DE")
    assert cal.add(date(2026, 12, 24), 1) == date(2026, 12, 28)
    assert cal.add(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert cal.add(date(2027, 1, 4), -1) == date(2026, 12, 31)
    assert cal.count(date(2026, 12, 21), date(2027, 1, 3)) == 8
    for n in range(-30, 31):
        d = cal.add(date(2026, 12, 24), n)
        assert cal.is_business_day(d)
        if n > 0:
            assert cal.count(date(2026, 12, 25), d) == n


def test_on_or_after_and_before_skip_weekends_and_holidays():
    cal = BusinessCalendar("DE")
    assert cal.on_or_after(date(2026, 12, 25)) == date(2026, 12, 28)  # Fri holiday → Mon
    assert cal.on_or_before(date(2026, 12, 27)) == date(2026, 12, 24)  # Sun → Thu (Fri is a holiday)
    assert cal.on_or_after(date(2026, 12, 28)) == date(2026, 12, 28)
    assert cal.days(date(2026, 12, 24), 3) == [date(2026, 12, 24), date(2026, 12, 28), date(2026, 12, 29)]


def test_a_one_day_week_counts_one_day_a_week():
    wednesdays = BusinessCalendar(None, (2,))
    assert wednesdays.add(date(2026, 12, 2), 52) == date(2027, 12, 1)
    assert wednesdays.count(date(2026, 12, 1), date(2027, 11, 30)) == 52


def test_ranges_beyond_the_limit_fail_fast_instead_of_walking(monkeypatch):
    """Counted, not timed: refusing these ranges looks up no year's holidays and shifts a date
    a handful of times (a day walk over them would be millions of steps)."""
    calls: Counter[str] = Counter()

    def counted(name: str) -> Callable[..., object]:
        real = getattr(business_days, name)

        def wrapper(*args: object) -> object:
            calls[name] += 1
            return real(*args)

        return wrapper

    for name in ("_holidays", "_workday_holidays", "_shift"):
        monkeypatch.setattr(business_days, name, counted(name))
    cal = BusinessCalendar("DE")
    with pytest.raises(CalendarRangeError):
        cal.count(date(1, 1, 1), date(9999, 12, 31))
    with pytest.raises(CalendarRangeError):
        cal.add(date(2026, 11, 30), 99_999_999)
    with pytest.raises(CalendarRangeError):
        BusinessCalendar(None, (2,)).add(date(2026, 11, 30), 366 * MAX_SPAN_YEARS)  # one a week: centuries
    with pytest.raises(CalendarRangeError):
        cal.add(date(9999, 12, 30), 5)  # past the last date Python has
    with pytest.raises(CalendarRangeError):
        cal.add(date(1, 1, 2), -5)
    assert calls["_holidays"] == calls["_workday_holidays"] == 0, calls
    assert calls["_shift"] <= 5 * 8, calls  # a week's steps at most, per refusal


def test_a_long_but_allowed_range_is_exact():
    cal = BusinessCalendar("US")
    start, end = date(2000, 1, 1), date(2040, 12, 31)
    assert cal.count(start, end) == walk_count(cal, start, end)
    assert cal.add(start, 10_000) == walk_add(cal, start, 10_000)
