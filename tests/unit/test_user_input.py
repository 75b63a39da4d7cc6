from datetime import UTC, date, datetime

import pytest

from bot.engagement.lifecycle import build_start_options
from bot.errors import UserError
from bot.refs import parse_choice, parse_id, parse_phase_number, parse_ref
from bot.user_input import (
    ValueProblem,
    check_date_range,
    country_for_timezone,
    parse_country,
    parse_date,
    parse_int,
    parse_timezone,
    years_from,
)

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


# -- bounds (issue 10) ---------------------------------------------------------------------
def test_years_from_keeps_the_day_and_clamps():
    assert years_from(date(2026, 11, 30), 5) == date(2031, 11, 30)
    assert years_from(date(2028, 2, 29), 1) == date(2029, 2, 28)
    assert years_from(date(9998, 1, 1), 5) == date.max
    assert years_from(date(3, 1, 1), -5) == date.min


def test_a_date_out_of_range_names_the_range():
    with pytest.raises(ValueProblem) as exc:
        check_date_range(date(9999, 12, 31), "due date", date(2026, 11, 30), date(2028, 11, 30))
    assert str(exc.value) == (
        "The due date 9999-12-31 is out of range; use a date from 2026-11-30 to 2028-11-30."
    )
    assert check_date_range(date(2028, 11, 30), "d", date(2026, 11, 30), date(2028, 11, 30))


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ("99999999999999999999", "out of range"),
        ("9" * 5000, "out of range"),  # int() of this would raise: it is never attempted
        ("0", "out of range"),
        ("11", "out of range"),
        ("two", "is not a cadence"),
        ("²", "is not a cadence"),  # a digit to str.isdigit, not to int()
        ("-3", "is not a cadence"),
        ("", "is not a cadence"),
    ],
)
def test_numbers_are_ascii_digits_within_bounds(raw, fragment):
    with pytest.raises(ValueProblem) as exc:
        parse_int(raw, "cadence", 1, 10)
    assert fragment in str(exc.value) and "from 1 to 10" in str(exc.value)


def test_numbers_in_range_are_read():
    assert parse_int(" 007 ", "cadence", 1, 10) == 7
    assert parse_phase_number("03") == 3
    assert parse_ref("2.3") == (2, 3)
    assert parse_id("12") == 12 and parse_choice("due:12") == ("due", 12)


@pytest.mark.parametrize("raw", ["99999999999999999999", "100", "0", "²", "-1", "1.5", "٣"])
def test_phase_numbers_are_bounded(raw):
    with pytest.raises(UserError):
        parse_phase_number(raw)


@pytest.mark.parametrize("raw", ["9" * 20, "2147483648", "0", "-1", "x", "", None, "٣"])
def test_ids_from_slack_are_bounded(raw):
    with pytest.raises(UserError) as exc:
        parse_id(raw)
    assert "out of date" in exc.value.message
