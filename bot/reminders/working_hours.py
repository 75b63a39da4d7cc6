"""The customer's clock: working hours on working days, in the engagement's time zone, minus
its country's public holidays. Every instant is UTC outside this module; local wall-clock
times are built with zoneinfo, so the hours stay right across DST changes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.engagement.business_days import BusinessCalendar
from bot.user_input import ValueProblem

if TYPE_CHECKING:
    from storage.models import Engagement

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^([0-9]{1,2}):([0-9]{2})-([0-9]{1,2}):([0-9]{2})$")


@dataclass(frozen=True)
class CustomerClock:
    tz: str
    country: str | None
    start: time = time(9, 0)
    end: time = time(17, 0)
    days: tuple[int, ...] = (0, 1, 2, 3, 4)

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @cached_property
    def calendar(self) -> BusinessCalendar:
        # Made once per clock: planning asks for it for every item of every engagement.
        return BusinessCalendar(self.country, self.days)

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone)

    def today(self, at: datetime) -> date:
        return self.local(at).date()

    def at_local(self, day: date, when: time) -> datetime:
        """A local wall-clock time on a day, as a UTC instant (DST handled by zoneinfo)."""
        return datetime.combine(day, when, self.zone).astimezone(UTC)

    def is_working_day(self, day: date) -> bool:
        return self.calendar.is_business_day(day)

    def in_hours(self, at: datetime) -> bool:
        local = self.local(at)
        return (
            self.is_working_day(local.date()) and self.start <= local.time().replace(tzinfo=None) < self.end
        )

    def next_window(self, at: datetime) -> datetime:
        """`at` if it is inside working hours, else the start of the next working period."""
        if self.in_hours(at):
            return at
        local = self.local(at)
        day = local.date()
        if self.is_working_day(day) and local.time().replace(tzinfo=None) < self.start:
            return self.at_local(day, self.start)
        return self.at_local(self.calendar.add(day, 1), self.start)

    def business_days_since(self, earlier: datetime, at: datetime) -> int:
        """Business days from earlier's local date to at's local date (0 on the same day)."""
        a, b = self.today(earlier), self.today(at)
        if b <= a:
            return 0
        return self.calendar.count(a + timedelta(days=1), b)


def parse_hours(raw: str) -> tuple[time, time]:
    m = _HOURS.match(raw.strip())
    if not m:
        raise ValueProblem(f"`{raw[:20]}` is not working hours; use HH:MM-HH:MM, e.g. 09:00-17:00.")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59:
        raise ValueProblem(f"`{raw[:20]}` has an impossible time.")
    start, end = time(h1, m1), time(23, 59) if h2 == 24 else time(h2, m2)
    if end <= start:
        raise ValueProblem("Working hours must end after they start, e.g. 09:00-17:00.")
    return start, end


def parse_days(raw: str) -> tuple[int, ...]:
    """`mon-fri`, `sun-thu`, `mon,tue,thu` → weekday numbers (Monday = 0)."""
    value = raw.strip().lower()
    days: set[int] = set()
    try:
        for part in value.split(","):
            if "-" in part:
                a, b = (DAY_NAMES.index(x.strip()[:3]) for x in part.split("-", 1))
                i = a
                while True:
                    days.add(i)
                    if i == b:
                        break
                    i = (i + 1) % 7
            elif part.strip():
                days.add(DAY_NAMES.index(part.strip()[:3]))
    except ValueError:
        raise ValueProblem(f"`{raw[:20]}` is not a set of days; use e.g. mon-fri or sun-thu.") from None
    if not days:
        raise ValueProblem("Give at least one working day, e.g. mon-fri.")
    return tuple(sorted(days))


def format_days(days: tuple[int, ...]) -> str:
    ds = sorted(days)
    if len(ds) > 2 and ds == list(range(ds[0], ds[-1] + 1)):
        return f"{DAY_NAMES[ds[0]]}-{DAY_NAMES[ds[-1]]}"
    return ",".join(DAY_NAMES[d] for d in ds)


def clock_of(engagement: Engagement) -> CustomerClock:
    """The customer's clock of an engagement row."""
    h1, m1 = (int(x) for x in engagement.work_start.split(":"))
    h2, m2 = (int(x) for x in engagement.work_end.split(":"))
    days = tuple(int(d) for d in engagement.work_days.split(",") if d.strip())
    return CustomerClock(engagement.timezone, engagement.country, time(h1, m1), time(h2, m2), days)
