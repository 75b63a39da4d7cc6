"""Business days for one engagement: its working weekdays and its country's public holidays."""

from __future__ import annotations

import functools
from datetime import date, timedelta

import holidays

MON_FRI = (0, 1, 2, 3, 4)
_MAX_SCAN_DAYS = 3660


@functools.lru_cache(maxsize=512)
def _holidays(country: str, year: int) -> dict[date, str]:
    try:
        return dict(holidays.country_holidays(country, years=year))
    except (NotImplementedError, KeyError):
        return {}


class BusinessCalendar:
    def __init__(self, country: str | None = None, workdays: tuple[int, ...] = MON_FRI) -> None:
        if not workdays:
            raise ValueError("a calendar needs at least one working weekday")
        self.country = country
        self.workdays = tuple(sorted(set(workdays)))

    def holiday(self, d: date) -> str | None:
        if not self.country:
            return None
        return _holidays(self.country, d.year).get(d)

    def is_business_day(self, d: date) -> bool:
        return d.weekday() in self.workdays and self.holiday(d) is None

    def on_or_after(self, d: date) -> date:
        for _ in range(_MAX_SCAN_DAYS):
            if self.is_business_day(d):
                return d
            d += timedelta(days=1)
        raise ValueError("no business day found within ten years")

    def on_or_before(self, d: date) -> date:
        for _ in range(_MAX_SCAN_DAYS):
            if self.is_business_day(d):
                return d
            d -= timedelta(days=1)
        raise ValueError("no business day found within ten years")

    def add(self, d: date, n: int) -> date:
        """The n-th business day after d (n may be negative); d itself need not be one."""
        step = 1 if n >= 0 else -1
        remaining = abs(n)
        while remaining:
            d += timedelta(days=step)
            if self.is_business_day(d):
                remaining -= 1
        return d

    def count(self, start: date, end: date) -> int:
        """Business days in [start, end] (inclusive); 0 when end < start."""
        if end < start:
            return 0
        n = 0
        d = start
        while d <= end:
            if self.is_business_day(d):
                n += 1
            d += timedelta(days=1)
        return n

    def days(self, start: date, n: int) -> list[date]:
        """The first n business days on or after start."""
        out: list[date] = []
        d = self.on_or_after(start)
        while len(out) < n:
            out.append(d)
            d = self.add(d, 1)
        return out
