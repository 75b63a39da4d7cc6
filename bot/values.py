"""Validation of the values users type: dates, sizes, time zones, countries, names."""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays

SIZES = ("small", "medium", "enterprise")
INGEST_CHOICES = ("warehouse", "spreadsheet", "api")
MAX_NAME = 120


class ValueProblem(ValueError):
    """A value a user typed is not acceptable; the message says why and what to type."""


def parse_date(raw: str, what: str = "date") -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise ValueProblem(
            f"`{raw[:30]}` is not a {what} I can read; use YYYY-MM-DD, e.g. 2026-12-01."
        ) from None


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
