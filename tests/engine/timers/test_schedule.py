"""Timer texts and their due dates: ISO 8601 durations, dates and repeating intervals, and
cron expressions (reference §6), computed in UTC epoch milliseconds."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_zeebe.engine.bpmn import timer_syntax
from trio_zeebe.engine.feel.values import YearMonths
from trio_zeebe.engine.timer import (
    INFINITE,
    MIN_REPEAT_MS,
    CronError,
    TimerError,
    add_interval,
    cycle_schedule,
    date_schedule,
    duration_schedule,
    next_due,
    parse_cron,
    parse_date_time,
    parse_interval,
)

UTC = dt.UTC


def ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp() * 1000)


def iso(epoch_ms: int) -> str:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")


NOW = ms("2024-03-15T12:00:00+00:00")  # a Friday


@pytest.mark.parametrize(
    ("text", "after"),
    [
        ("PT15S", 15_000),
        ("PT1.5S", 1_500),
        ("P14DT1H30M", (14 * 24 * 3600 + 5400) * 1000),
        ("P2W", 14 * 86_400_000),
        ("PT0S", 0),
        ("-PT5S", -5_000),
        ("PT-5S", -5_000),
        ("P1D", 86_400_000),
        ("pt1m", 60_000),
    ],
)
def test_durations_add_to_now(text: str, after: int) -> None:
    assert duration_schedule(text, NOW).due_date == NOW + after


def test_calendar_durations_add_months_on_the_utc_calendar_clamping_the_day() -> None:
    assert iso(duration_schedule("P1M", ms("2024-01-31T10:00:00+00:00")).due_date) == (
        "2024-02-29T10:00:00"
    )
    assert iso(duration_schedule("P1Y2M3DT4H", NOW).due_date) == "2025-05-18T16:00:00"
    assert iso(add_interval(NOW, parse_interval("-P1DT1H"))) == "2024-03-14T11:00:00"


def test_feel_durations_and_periods_are_durations() -> None:
    assert duration_schedule(dt.timedelta(minutes=5), NOW).due_date == NOW + 300_000
    assert iso(duration_schedule(YearMonths(2), NOW).due_date) == "2024-05-15T12:00:00"


@pytest.mark.parametrize("text", ["", "P", "PT", "15S", "P1DT", "PTS", "P1H", "PT1X", "soon"])
def test_malformed_durations_are_errors(text: str) -> None:
    with pytest.raises(TimerError, match="cannot be parsed to a Duration"):
        parse_interval(text)
    assert timer_syntax.check_duration(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-15T12:00:00Z",
        "2024-03-15T14:00:00+02:00",
        "2024-03-15T13:00:00[Europe/Berlin]",
        "2024-03-15T14:00:00+02:00[Europe/Berlin]",
        "2024-03-15T12:00:00",
        "2024-03-15T12:00Z",
        "2024-03-15T12:00:00.000Z",
    ],
)
def test_dates_with_zone_offset_or_none_name_one_instant(text: str) -> None:
    assert parse_date_time(text) == NOW
    assert date_schedule(text).due_date == NOW
    assert timer_syntax.check_date(text) is None


def test_feel_date_times_are_dates() -> None:
    value = dt.datetime(2024, 3, 15, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert date_schedule(value).due_date == NOW
    assert date_schedule(dt.datetime(2024, 3, 15, 12, 0)).due_date == NOW  # local = UTC


@pytest.mark.parametrize(
    "text", ["2024-03-15", "tomorrow", "2024-13-01T00:00:00Z", "2024-03-15T12:00:00[No/Zone]"]
)
def test_malformed_dates_are_errors(text: str) -> None:
    with pytest.raises(TimerError):
        parse_date_time(text)
    assert timer_syntax.check_date(text) is not None


def test_repeating_intervals_count_and_start() -> None:
    five = cycle_schedule("R5/PT10S", NOW)
    assert (five.due_date, five.repetitions, five.cycle) == (NOW + 10_000, 5, "R5/PT10S")
    forever = cycle_schedule("R/P1D", NOW)
    assert (forever.due_date, forever.repetitions) == (NOW + 86_400_000, INFINITE)
    # with a start: first due at the start itself (a past start is due at once)
    started = cycle_schedule("R3/2022-04-27T17:20:00Z/P1D", NOW)
    assert (iso(started.due_date), started.repetitions) == ("2022-04-27T17:20:00", 3)
    future = cycle_schedule("R3/2030-01-01T00:00:00Z/PT1H", NOW)
    assert iso(future.due_date) == "2030-01-01T00:00:00"


def test_a_cycle_goes_on_from_its_previous_due_date_not_from_the_late_tick() -> None:
    due = cycle_schedule("R/PT10S", NOW).due_date
    # fired 3 s late: the next one is still 10 s after the previous due date
    assert next_due("R/PT10S", due, due + 3_000) == due + 10_000
    # fired after a long outage: once, then a full interval from now (no burst)
    assert next_due("R/PT10S", due, due + 60_000) == due + 70_000
    # a cycle never spins: a zero interval waits a little
    assert next_due("R/PT0S", NOW, NOW) == NOW + MIN_REPEAT_MS


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("0 0 9-17 * * MON-FRI", "2024-03-15T13:00:00"),
        ("0 0 9 * * MON-FRI", "2024-03-18T09:00:00"),  # Friday noon -> Monday
        ("*/15 * * * * *", "2024-03-15T12:00:15"),
        ("0 30 12 * * *", "2024-03-15T12:30:00"),
        ("0 0 0 1 1 *", "2025-01-01T00:00:00"),
        ("@daily", "2024-03-16T00:00:00"),
        ("@hourly", "2024-03-15T13:00:00"),
        ("@weekly", "2024-03-17T00:00:00"),
        ("0 0 12 L * *", "2024-03-31T12:00:00"),
        ("0 0 12 L-3 * *", "2024-03-28T12:00:00"),
        ("0 0 12 LW * *", "2024-03-29T12:00:00"),  # the 31st is a Sunday
        ("0 0 12 16W * *", "2024-04-16T12:00:00"),  # 16 March is a Saturday -> Friday 15th
        ("0 0 12 ? * 5#3", "2024-04-19T12:00:00"),  # today is the 3rd Friday, at 12:00
        ("0 0 12 * * FRIL", "2024-03-29T12:00:00"),
        ("0 0 0 29 2 MON", "2044-02-29T00:00:00"),  # a leap day that is a Monday
        ("0 0 0 * JAN,jul *", "2024-07-01T00:00:00"),
        ("0 0 0 * * 7", "2024-03-17T00:00:00"),  # 0 and 7 are Sunday
        ("0 5/20 12 * * *", "2024-03-15T12:05:00"),
    ],
)
def test_cron_next_fire_times(text: str, first: str) -> None:
    schedule = cycle_schedule(text, NOW)
    assert iso(schedule.due_date) == first
    assert schedule.repetitions == INFINITE


def test_cron_steps_through_every_match_without_skipping() -> None:
    cron = parse_cron("0 0 9-17 * * MON-FRI")
    at, fired = NOW, []
    for _ in range(12):
        nxt = cron.next_after(at)
        assert nxt is not None
        fired.append(iso(nxt))
        at = nxt
    assert fired[:5] == [
        "2024-03-15T13:00:00",
        "2024-03-15T14:00:00",
        "2024-03-15T15:00:00",
        "2024-03-15T16:00:00",
        "2024-03-15T17:00:00",
    ]
    assert fired[5] == "2024-03-18T09:00:00"  # the weekend is skipped
    # the next fire time of a cron cycle is computed from the firing
    assert next_due("0 0 9-17 * * MON-FRI", NOW, NOW + 1) == ms("2024-03-15T13:00:00+00:00")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("* * * * *", "must consist of 6 fields (found 5"),
        ("60 * * * * *", "second value 60 is out of range"),
        ("0 0 25 * * *", "hour value 25 is out of range"),
        ("0 0 0 0 * *", "day of month value 0 is out of range"),
        ("0 0 0 * 13 *", "month value 13 is out of range"),
        ("0 0 0 * * 8", "day of week value 8 is out of range"),
        ("0 0 0 * * FOO", "Invalid day of week value 'FOO'"),
        ("0 0 0 * * */0", "Invalid day of week step '0'"),
        ("0 0 5-1 * * *", "the minimum is above the maximum"),
        ("? * * * * *", "Invalid second value '?'"),
        ("0 0 0 ,1 * *", "Empty"),
        ("0 0 0 * * 5#6", "ordinal"),
    ],
)
def test_malformed_cron_expressions_are_errors(text: str, reason: str) -> None:
    with pytest.raises(CronError, match=re.escape(reason)):
        parse_cron(text)
    assert reason in (timer_syntax.check_cycle(text) or "")


def test_a_cron_that_matches_no_date_cannot_be_scheduled() -> None:
    with pytest.raises(TimerError, match="matches no date"):
        cycle_schedule("0 0 0 30 2 *", NOW)
    assert parse_cron("0 0 0 30 2 *").next_after(NOW) is None


@pytest.mark.parametrize(
    "text", ["R5", "Rx/PT1S", "R5/soon", "R5/nodate/PT1S", "R99999999999/PT1S"]
)
def test_malformed_repeating_intervals_are_errors(text: str) -> None:
    with pytest.raises(TimerError):
        cycle_schedule(text, NOW)
    assert timer_syntax.check_cycle(text) is not None


# --- the cron search against a brute-force one ----------------------------------------------

_FIELD_RANGES = {
    "minute": (0, 59),
    "hour": (0, 23),
    "dom": (1, 31),
    "month": (1, 12),
    "dow": (0, 7),
}


def _field_text(draw: st.DrawFn, name: str) -> tuple[str, set[int]]:
    """A field and the values it allows; days of the week as Spring counts them (``*`` and
    ``a/n`` run 1..7), then Sunday as 0 (7 and 0 are both Sunday)."""
    low, high = _FIELD_RANGES[name]
    kind = draw(st.sampled_from(["*", "value", "range", "step", "list"]))
    if kind == "*":
        text, allowed = "*", set(range(1 if name == "dow" else low, high + 1))
    elif kind == "value":
        value = draw(st.integers(low, high))
        text, allowed = str(value), {value}
    elif kind == "range":
        a = draw(st.integers(low, high))
        b = draw(st.integers(a, high))
        text, allowed = f"{a}-{b}", set(range(a, b + 1))
    elif kind == "step":
        start = draw(st.integers(low, high))
        step = draw(st.integers(1, 20))
        text, allowed = f"{start}/{step}", set(range(start, high + 1, step))
    else:
        values = draw(st.lists(st.integers(low, high), min_size=1, max_size=4, unique=True))
        text, allowed = ",".join(map(str, values)), set(values)
    if name == "dow":
        allowed = {d % 7 for d in allowed}
    return text, allowed


@st.composite
def _crons(draw: st.DrawFn) -> tuple[str, dict[str, set[int]]]:
    fields = {name: _field_text(draw, name) for name in _FIELD_RANGES}
    text = "0 " + " ".join(fields[n][0] for n in ("minute", "hour", "dom", "month", "dow"))
    return text, {name: allowed for name, (_, allowed) in fields.items()}


def _brute_force(start: dt.datetime, allowed: dict[str, set[int]], days: int) -> int | None:
    """The first matching minute after ``start``: day by day, then minute by minute."""
    first = start.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    for n in range(days):
        day = (first + dt.timedelta(days=n)).date()
        if not (
            day.day in allowed["dom"]
            and day.month in allowed["month"]
            and (day.weekday() + 1) % 7 in allowed["dow"]  # Python's Monday is 0
        ):
            continue
        at = first if n == 0 else dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
        while at.date() == day:
            if at.hour in allowed["hour"] and at.minute in allowed["minute"]:
                return int(at.timestamp() * 1000)
            at += dt.timedelta(minutes=1)
    return None


@given(_crons(), st.integers(0, 3 * 366 * 24 * 60))
@settings(max_examples=300, deadline=None)
def test_the_cron_search_finds_the_first_match_a_brute_force_search_finds(
    cron: tuple[str, dict[str, set[int]]], offset_minutes: int
) -> None:
    text, allowed = cron
    start = dt.datetime(2023, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=offset_minutes, seconds=17)
    found = parse_cron(text).next_after(int(start.timestamp() * 1000))
    horizon = 9 * 366  # day and weekday combinations recur within this (leap days included)
    expected = _brute_force(start, allowed, horizon)
    if expected is None:
        assert found is None or found > int(start.timestamp() * 1000) + horizon * 86_400_000
    else:
        assert found == expected, text
