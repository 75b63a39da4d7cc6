"""Validation of the values users type: dates, sizes, time zones, countries, names, numbers.

Every date a user gives is bounded relative to today in the engagement's time zone, and the
answer names the allowed range (`check_date_range`): a kickoff within a year of today, a
target within two years of the kickoff, a due date up to two years ahead, a snooze within 90
days, a dry run before go-live; nothing is ever more than `MAX_YEARS_AWAY` years away. Numbers
are read from ASCII digits only and bounded before anything uses them, so a typed
`99999999999999999999` is answered with the allowed range, never passed on.
"""

from __future__ import annotations

import functools
import re
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays

SIZES = ("small", "medium", "enterprise")
INGEST_CHOICES = ("warehouse", "spreadsheet", "api")
MAX_NAME = 120
MAX_YEARS_AWAY = 5
_DIGITS = re.compile(r"^[0-9]+$")


class ValueProblem(ValueError):
    """A value a user typed is not acceptable; the message says why and what to type."""


def parse_date(raw: str, what: str = "date") -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise ValueProblem(
            f"`{raw[:30]}` is not a {what} I can read; use YYYY-MM-DD, e.g. 2026-12-01."
        ) from None


def years_from(d: date, years: int) -> date:
    """The same day `years` later (earlier when negative); 29 Feb becomes 28 Feb; clamped to
    the dates Python has."""
    year = d.year + years
    if year > date.max.year:
        return date.max
    if year < date.min.year:
        return date.min
    try:
        return d.replace(year=year)
    except ValueError:  # 29 February in a year without one
        return d.replace(year=year, day=28)


def check_date_range(d: date, what: str, earliest: date, latest: date, why: str = "") -> date:
    """`d` if earliest <= d <= latest, else a ValueProblem naming the allowed range."""
    if earliest <= d <= latest:
        return d
    reason = f" {why}" if why else ""
    raise ValueProblem(
        f"The {what} {d.isoformat()} is out of range{reason}; use a date from "
        f"{earliest.isoformat()} to {latest.isoformat()}."
    )


def parse_int(raw: str, what: str, low: int, high: int, example: str | None = None) -> int:
    """A whole number from `low` to `high`, typed in ASCII digits; anything else a ValueProblem."""
    value = raw.strip()
    shown = value[:24] + ("…" if len(value) > 24 else "")
    hint = f", e.g. {example}" if example else ""
    if not _DIGITS.match(value):
        raise ValueProblem(f"`{shown}` is not a {what}; use a whole number from {low} to {high}{hint}.")
    digits = value.lstrip("0") or "0"  # never int() a huge string: compare lengths first
    if len(digits) > len(str(high)) or not low <= int(digits) <= high:
        raise ValueProblem(
            f"`{shown}` is out of range for a {what}; use a number from {low} to {high}{hint}."
        )
    return int(digits)


def parse_size(raw: str) -> str:
    value = raw.strip().lower()
    if value not in SIZES:
        raise ValueProblem(f"`{raw[:30]}` is not a size; use small, medium or enterprise.")
    return value


@functools.cache
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def parse_timezone(raw: str) -> str:
    name = _zone_names().get(raw.strip().lower())
    if not name:
        raise ValueProblem(
            f"`{raw[:40]}` is not a time zone I know; use an IANA name such as Europe/Berlin or America/New_York."
        )
    try:
        ZoneInfo(name)
    except ZoneInfoNotFoundError:  # pragma: no cover - listed but not loadable
        raise ValueProblem(f"`{raw[:40]}` is not a usable time zone.") from None
    return name


@functools.cache
def _supported_countries() -> frozenset[str]:
    return frozenset(holidays.list_supported_countries())


def parse_country(raw: str) -> str:
    code = raw.strip().upper()
    if code not in _supported_countries():
        raise ValueProblem(
            f"`{raw[:10]}` is not a country code I have holidays for; use a two-letter ISO code such as DE, US or GB."
        )
    return code


@functools.cache
def _zone_countries() -> dict[str, str]:
    """IANA zone → ISO country, from the tz database's zone.tab."""
    import tzdata

    mapping: dict[str, str] = {}
    tab = Path(tzdata.__file__).parent / "zoneinfo" / "zone.tab"
    for line in tab.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) >= 3:
            mapping[parts[2]] = parts[0]
    return mapping


def country_for_timezone(tz: str) -> str | None:
    """The country a zone belongs to, if we have its holidays (Europe/Berlin → DE)."""
    code = _zone_countries().get(tz)
    return code if code and code in _supported_countries() else None


def parse_name(raw: str, what: str = "customer name") -> str:
    name = " ".join(raw.split())
    if not name:
        raise ValueProblem(f"The {what} is empty.")
    if len(name) > MAX_NAME:
        raise ValueProblem(f"The {what} is {len(name)} characters long; keep it under {MAX_NAME}.")
    return name


def parse_yes_no(raw: str, what: str) -> bool:
    value = raw.strip().lower()
    if value in ("yes", "y", "true", "on", "1"):
        return True
    if value in ("no", "n", "false", "off", "0"):
        return False
    raise ValueProblem(f"`{what}=` takes yes or no, not `{raw[:20]}`.")


def parse_ingest(raw: str) -> str:
    value = raw.strip().lower()
    if value not in INGEST_CHOICES:
        raise ValueProblem(f"`{raw[:20]}` is not an ingestion method; use warehouse, spreadsheet or api.")
    return value
