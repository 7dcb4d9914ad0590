"""Temporal values: literals, arithmetic, properties, text and JSON forms (language guide:
temporal expressions; built-in temporal and conversion functions)."""

from __future__ import annotations

import pytest

from trio_zeebe.engine.feel import compile_expression

from .conftest import NOW, ev, feel, run


def s(source: str) -> object:
    """FEEL's own text of the result (the ``string()`` function)."""
    return ev(f"string({source})")


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ('date("2020-04-06")', "2020-04-06"),
        ('@"2020-04-06"', "2020-04-06"),
        ('time("08:00:00")', "08:00:00"),
        ('time("13:30")', "13:30:00"),
        ('time("08:00:00+02:00")', "08:00:00+02:00"),
        ('time("10:31:10@Europe/Paris")', "10:31:10@Europe/Paris"),
        ('@"08:00:00Z"', "08:00:00Z"),
        ('date and time("2015-09-18T10:31:10")', "2015-09-18T10:31:10"),
        ('date and time("2015-09-18T10:31:10+01:00")', "2015-09-18T10:31:10+01:00"),
        ('date and time("2015-09-18T10:31:10@Europe/Paris")', "2015-09-18T10:31:10@Europe/Paris"),
        ('date and time("2015-09-18")', "2015-09-18T00:00:00"),
        ('duration("P4D")', "P4D"),
        ('duration("PT2H")', "PT2H"),
        ('duration("P1DT6H")', "P1DT6H"),
        ('duration("-PT5M")', "-PT5M"),
        ('duration("P1Y6M")', "P1Y6M"),
        ('duration("P18M")', "P1Y6M"),
        ('@"P3M"', "P3M"),
    ],
)
def test_literals_and_their_text(source: str, text: str) -> None:
    assert s(source) == text


def test_invalid_literals_are_null() -> None:
    # temporal expressions: "@"2024-06-31" is invalid because June has only 30 days"
    assert ev('@"2024-06-31"') is None
    result = run('date("2024-06-31")')
    assert result.value is None
    assert "Failed to parse date from '2024-06-31'" in result.warnings[0]
    assert ev('duration("P1W")') is None
    assert ev('time("25:00:00")') is None


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ('date("2020-04-06") + duration("P1D")', "2020-04-07"),
        ('time("08:00:00") + duration("PT1H")', "09:00:00"),
        ('time("23:00:00") + duration("PT2H")', "01:00:00"),
        ('date and time("2020-04-06T08:00:00") + duration("P7D")', "2020-04-13T08:00:00"),
        ('duration("P2D") + duration("P5D")', "P7D"),
        ('date("2020-01-31") + duration("P1M")', "2020-02-29"),
        ('duration("P1M") + date("2020-01-31")', "2020-02-29"),
        ('date("2020-04-06") - date("2020-04-01")', "P5D"),
        ('date("2020-04-06") - duration("P5D")', "2020-04-01"),
        ('time("08:00:00") - time("06:00:00")', "PT2H"),
        ('time("08:00:00") - duration("PT2H")', "06:00:00"),
        ('duration("P7D") - duration("P2D")', "P5D"),
        ('duration("P1Y") - duration("P3M")', "P9M"),
        ('duration("P1D") * 5', "P5D"),
        ('5 * duration("P1M")', "P5M"),
        ('duration("P5D") / 5', "P1D"),
        ('duration("P1Y") / 12', "P1M"),
        (
            'date and time("2020-04-06T08:00:00Z") - date and time("2020-04-05T06:30:00Z")',
            "P1DT1H30M",
        ),
        (
            'date and time("2021-03-28T01:30:00@Europe/Berlin") + duration("PT1H")',
            "2021-03-28T03:30:00@Europe/Berlin",
        ),
    ],
)
def test_arithmetic(source: str, text: str) -> None:
    assert s(source) == text


def test_duration_division_gives_numbers() -> None:
    assert ev('duration("P5D") / duration("P1D")') == 5
    assert ev('duration("P1Y") / duration("P1M")') == 12


def test_mixing_local_and_zoned_values_is_null() -> None:
    result = run('date and time("2020-01-01T00:00:00Z") - date and time("2020-01-01T00:00:00")')
    assert result.value is None
    assert result.warnings[0].startswith("[INVALID_TYPE] Can't subtract")


def test_properties() -> None:
    assert ev('date("2020-04-06").year') == 2020
    assert ev('date("2020-04-06").month') == 4
    assert ev('date("2020-04-06").day') == 6
    assert ev('date("2020-04-06").weekday') == 1
    assert ev('time("08:15:30").hour') == 8
    assert ev('date and time("2020-04-06T08:15:30").minute') == 15
    assert ev('date and time("2020-04-06T08:15:30").second') == 30
    assert s('date and time("2020-04-06T08:00:00+02:00").time offset') == "PT2H"
    assert ev('date and time("2020-04-06T08:00:00@Europe/Berlin").timezone') == "Europe/Berlin"
    assert ev('date and time("2020-04-06T08:00:00").timezone') is None
    assert ev('duration("PT2H30M").hours') == 2
    assert ev('duration("PT2H30M").minutes') == 30
    assert ev('duration("P2DT3H").days') == 2
    assert ev('duration("P6M").months') == 6
    assert ev('duration("P14M").years') == 1
    result = run('date("2020-04-06").hour')
    assert result.value is None
    assert result.warnings[0].startswith("[NO_PROPERTY_FOUND] No property found with name 'hour'")


def test_now_and_today_use_the_engines_clock() -> None:
    expression = compile_expression("now()")
    assert s("now()") == "2023-11-14T22:13:20Z"
    assert ev("today()") == "2023-11-14"
    assert expression.evaluate({}, now=0.0).value.year == 1970
    assert ev('now() - @"1970-01-01T00:00Z"') == "PT472222H13M20S"
    assert ev('(now() - @"1970-01-01T00:00Z") / @"PT1S" * 1000') == int(NOW * 1000)


def test_json_form_is_javas_to_string() -> None:
    # Zeebe writes temporal results with java.time's toString()
    assert ev('date("2020-04-06")') == "2020-04-06"
    assert ev('time("08:00:00")') == "08:00"
    assert ev('time("08:00:01.5")') == "08:00:01.500"
    assert ev('date and time("2020-04-06T08:00:00")') == "2020-04-06T08:00"
    assert ev('date and time("2020-04-06T08:00:00+02:00")') == "2020-04-06T08:00+02:00"
    assert ev('date and time("2020-04-06T08:00:00Z")') == "2020-04-06T08:00Z"
    assert (
        ev('date and time("2020-04-06T08:00:00@Europe/Berlin")')
        == "2020-04-06T08:00+02:00[Europe/Berlin]"
    )
    assert ev('duration("P2D")') == "PT48H"
    assert ev('duration("-PT90S")') == "PT-1M-30S"
    assert ev('duration("PT0S")') == "PT0S"
    assert ev('duration("P1Y2M")') == "P1Y2M"
    assert ev('duration("P0M")') == "P0D"


def test_conversions() -> None:
    assert s('date(date and time("2020-04-06T08:00:00Z"))') == "2020-04-06"
    assert s("date(2020, 4, 6)") == "2020-04-06"
    assert ev("date(2020, 2, 30)") is None
    assert s('time(date and time("2020-04-06T08:00:00+01:00"))') == "08:00:00+01:00"
    assert s("time(14, 30, 15)") == "14:30:15"
    assert s('time(14, 30, 15, duration("PT1H"))') == "14:30:15+01:00"
    assert s('date and time(date("2020-04-06"), time("08:00:00"))') == "2020-04-06T08:00:00"
    assert (
        s('date and time(date("2020-04-06"), time("08:00:00@Europe/Berlin"))')
        == "2020-04-06T08:00:00@Europe/Berlin"
    )
    assert (
        s('date and time(date and time("2020-04-06T08:00:00Z"), "Europe/Berlin")')
        == "2020-04-06T10:00:00@Europe/Berlin"
    )
    assert s('years and months duration(date("2011-12-22"), date("2013-08-24"))') == "P1Y8M"
    assert s('years and months duration(date("2021-03-01"), date("2020-01-01"))') == "-P1Y2M"


def test_temporal_functions() -> None:
    assert ev('day of year(date("2019-09-17"))') == 260
    assert ev('day of week(date("2019-09-17"))') == "Tuesday"
    assert ev('month of year(date("2019-09-17"))') == "September"
    assert ev('week of year(date("2019-09-17"))') == 38
    assert ev('last day of month(date("2024-02-10"))') == 29


def test_age_example() -> None:
    # temporal expressions, "Calculate the Age" (today() is 2023-11-14 here)
    assert (
        ev("years and months duration(date(birthday), today()).years", birthday="1990-11-15") == 32
    )


def test_format_example() -> None:
    # temporal expressions, "Change the format of Dates"
    source = """for d in dates return {
      date: date(date and time(d)),
      day: string(date.day),
      month: substring(month of year(date), 1, 3),
      year: string(date.year),
      formatted: day + "-" + month + "-" + year
    }.formatted"""
    dates = ["2021-04-21T07:25:06.000Z", "2021-04-22T07:25:06.000Z"]
    assert ev(source, dates=dates) == ["21-Apr-2021", "22-Apr-2021"]


def test_next_weekday_example() -> None:
    # temporal expressions, "Calculate the Next Weekday" (from Tuesday 2023-11-14)
    source = """(for x in 1..3
      return date and time(today(), @"00:00:00Z") + @"P1D" * x
    )[not(day of week(item) in ("Saturday","Sunday"))][1]"""
    assert feel(source).isoformat() == "2023-11-15T00:00:00+00:00"


def test_cycle_for_timers() -> None:
    # Zeebe's FEEL extension for timer cycles
    assert ev('cycle(3, duration("PT1H"))') == "R3/PT1H"
    assert ev('cycle(duration("P1D"))') == "R/PT24H"
    assert ev('cycle(null, duration("P1M"))') == "R/P1M"
    assert ev("cycle(3, 5)") is None
