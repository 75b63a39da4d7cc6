"""Business days for one engagement: its working weekdays and its country's public holidays.

Nothing here walks the calendar a day at a time over a range: counting is arithmetic on whole
weeks plus a look-up of the holidays in the range, and adding n business days jumps whole
weeks and then corrects for the holidays it jumped over. Work grows with the number of years
and holidays in the range, never with its days. A range longer than `MAX_SPAN_YEARS` is refused
with `CalendarRangeError`: user input is bounded long before that (see `bot.user_input`), so
reaching it means a bug, and it must fail fast rather than stall a request.
"""

from __future__ import annotations

import bisect
import functools
from datetime import date, timedelta

import holidays

MON_FRI = (0, 1, 2, 3, 4)
MAX_SPAN_YEARS = 50
_MAX_SPAN_DAYS = 366 * MAX_SPAN_YEARS


class CalendarRangeError(ValueError):
    """Dates too far apart (or outside the calendar) for business-day arithmetic."""


@functools.lru_cache(maxsize=512)
def _holidays(country: str, year: int) -> dict[date, str]:
    try:
        return dict(holidays.country_holidays(country, years=year))
    except (NotImplementedError, KeyError):
        return {}


@functools.lru_cache(maxsize=1024)
def _workday_holidays(country: str, year: int, workdays: tuple[int, ...]) -> tuple[date, ...]:
    """The year's holidays that fall on a working weekday, sorted."""
    return tuple(sorted(d for d in _holidays(country, year) if d.weekday() in workdays))


def _shift(d: date, days: int) -> date:
    try:
        return d + timedelta(days=days)
    except OverflowError:
        raise CalendarRangeError(f"{d.isoformat()} {days:+d} days is outside the calendar") from None


class BusinessCalendar:
    def __init__(self, country: str | None = None, workdays: tuple[int, ...] = MON_FRI) -> None:
        if not workdays:
            raise ValueError("a calendar needs at least one working weekday")
        if any(not 0 <= w <= 6 for w in workdays):
            raise ValueError("working weekdays are numbered 0 (Monday) to 6 (Sunday)")
        self.country = country
        self.workdays = tuple(sorted(set(workdays)))
        self._is_workday = tuple(w in self.workdays for w in range(7))

    # -- single days -----------------------------------------------------------------------
    def holiday(self, d: date) -> str | None:
        if not self.country:
            return None
        return _holidays(self.country, d.year).get(d)

    def is_business_day(self, d: date) -> bool:
        return self._is_workday[d.weekday()] and self.holiday(d) is None

    def on_or_after(self, d: date) -> date:
        return d if self.is_business_day(d) else self.add(d, 1)

    def on_or_before(self, d: date) -> date:
        return d if self.is_business_day(d) else self.add(d, -1)

    # -- ranges ----------------------------------------------------------------------------
    def _check_span(self, start: date, end: date) -> None:
        if abs((end - start).days) > _MAX_SPAN_DAYS:
            raise CalendarRangeError(
                f"{start.isoformat()} to {end.isoformat()} is more than {MAX_SPAN_YEARS} years"
            )

    def _holidays_between(self, start: date, end: date) -> int:
        """Holidays on working weekdays in [start, end]; 0 when end < start."""
        if not self.country or end < start:
            return 0
        n = 0
        for year in range(start.year, end.year + 1):
            days = _workday_holidays(self.country, year, self.workdays)
            n += bisect.bisect_right(days, end) - bisect.bisect_left(days, start)
        return n

    def _workdays_between(self, start: date, end: date) -> int:
        """Working weekdays in [start, end], holidays ignored; 0 when end < start."""
        if end < start:
            return 0
        weeks, rest = divmod((end - start).days + 1, 7)
        first = start.weekday()
        return weeks * len(self.workdays) + sum(self._is_workday[(first + i) % 7] for i in range(rest))

    def _nth_workday(self, d: date, n: int) -> date:
        """The n-th working weekday after d (before it for n < 0), holidays ignored; n != 0."""
        k = len(self.workdays)
        step = 1 if n > 0 else -1
        whole, rest = divmod(abs(n) - 1, k)  # whole weeks keep k workdays each; then 1..k more
        rest += 1
        d = _shift(d, step * 7 * whole)
        while True:  # at most 7 steps
            d = _shift(d, step)
            if self._is_workday[d.weekday()]:
                rest -= 1
                if rest == 0:
                    return d

    def count(self, start: date, end: date) -> int:
        """Business days in [start, end] (inclusive); 0 when end < start."""
        if end < start:
            return 0
        self._check_span(start, end)
        return self._workdays_between(start, end) - self._holidays_between(start, end)

    def _crossed(self, frm: date, to: date) -> int:
        """Holidays on working weekdays passed going from `frm` (excluded) to `to` (included)."""
        if to > frm:
            return self._holidays_between(frm + timedelta(days=1), to)
        if to < frm:
            return self._holidays_between(to, frm - timedelta(days=1))
        return 0

    def add(self, d: date, n: int) -> date:
        """The n-th business day after d (n may be negative); d itself need not be one."""
        if n == 0:
            return d
        if abs(n) > _MAX_SPAN_DAYS:
            raise CalendarRangeError(f"{n} business days is more than {MAX_SPAN_YEARS} years")
        step = 1 if n > 0 else -1
        target = self._nth_workday(d, n)
        self._check_span(d, target)
        # Every holiday jumped over costs one more working weekday; that jump may land on or
        # pass more holidays, so repeat until a jump passes none. Each round passes at least
        # one holiday, so this ends after at most as many rounds as there are holidays.
        missed = self._crossed(d, target)
        while missed:
            previous = target
            target = self._nth_workday(previous, step * missed)
            self._check_span(d, target)
            missed = self._crossed(previous, target)
        return target

    def days(self, start: date, n: int) -> list[date]:
        """The first n business days on or after start."""
        out: list[date] = []
        d = self.on_or_after(start) if n > 0 else start
        while len(out) < n:
            out.append(d)
            d = self.add(d, 1)
        return out
