from datetime import UTC, date, datetime

import pytest

from bot.engagement.lifecycle import build_start_options
from bot.values import ValueProblem, country_for_timezone, parse_country, parse_date, parse_timezone

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def opts(**kw):
    base = dict(
        name="Acme", size=None, kickoff=None, target=None, tz=None, country=None, pilot=None, ingest=None
    )
    base.update(kw)
    return build_start_options(now=NOW, default_tz="UTC", **base)


def test_defaults():
    o = opts()
    assert (o.size, o.kickoff, o.target, o.timezone, o.country, o.pilot, o.ingest) == (
        "medium",
        date(2026, 11, 27),
        None,
        "UTC",
        None,
        False,
        "warehouse",
    )


def test_timezone_is_canonicalised_and_gives_the_country():
    assert parse_timezone("europe/berlin") == "Europe/Berlin"
    assert opts(tz="America/New_York").country == "US"
    assert country_for_timezone("Asia/Tokyo") == "JP"


@pytest.mark.parametrize(
    "kw, fragment",
    [
        (dict(size="huge"), "not a size"),
        (dict(kickoff="2026-13-01"), "YYYY-MM-DD"),
        (dict(target="next week"), "YYYY-MM-DD"),
        (dict(tz="Mars/Olympus"), "not a time zone"),
        (dict(country="XX"), "not a country code"),
        (dict(pilot="maybe"), "yes or no"),
        (dict(ingest="carrier-pigeon"), "not an ingestion method"),
        (dict(kickoff="2026-12-10", target="2026-12-01"), "must be after the kickoff"),
        (dict(kickoff="2029-01-01"), "more than a year"),
        (dict(name="x" * 121), "keep it under 120"),
        (dict(name="   "), "empty"),
    ],
)
def test_bad_values_are_named(kw, fragment):
    with pytest.raises(ValueProblem) as exc:
        opts(**kw)
    assert fragment in str(exc.value)


def test_parse_helpers():
    assert parse_date("2026-12-01") == date(2026, 12, 1)
    assert parse_country("de") == "DE"
