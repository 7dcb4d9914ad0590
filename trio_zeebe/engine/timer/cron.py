"""Cron expressions of timer cycles, as Zeebe reads them (the Spring ``CronExpression`` dialect)
and a deterministic "next fire time" over them, in UTC.

Six fields: second, minute, hour, day of month, month, day of week. Each field is ``*``, a
value, a range ``a-b``, a step ``*/n`` / ``a/n`` / ``a-b/n``, or a comma-separated list of
those; months and days of the week also take names (``JAN``-``DEC``, ``MON``-``SUN``, any
case); a day of the week is 0-7 where both 0 and 7 are Sunday, and ``*`` and ``a/n`` there run
from 1 (Monday) to 7 (Sunday), so ``*/2`` is Monday, Wednesday, Friday and Sunday, as in Spring.
``?`` means ``*`` in the two day fields. Day-of-month extras: ``L`` (last day), ``L-n`` (n days
before it), ``LW`` (last weekday), ``nW`` (the weekday nearest to day n, within the month).
Day-of-week extras: ``nL`` (the last such weekday of the month), ``n#k`` (the k-th such
weekday). A date must match both day fields (a ``*`` or ``?`` matches every day). Macros:
``@yearly`` / ``@annually``, ``@monthly``, ``@weekly``, ``@daily`` / ``@midnight``, ``@hourly``.

:func:`parse_cron` raises :class:`CronError` with a reason; :meth:`Cron.next_after` gives the
first matching whole second strictly after a time in epoch milliseconds, or None when no date
within 400 years matches (``0 0 0 30 2 *``). No clock, no time zone database: every replica
computes the same.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import re

import attrs

__all__ = ["Cron", "CronError", "parse_cron"]

_UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_SEARCH_YEARS = 400  # the Gregorian calendar repeats itself every 400 years

_MACROS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
_DAYS = {
    name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))
}
_FIELD_NAMES = ("second", "minute", "hour", "day of month", "month", "day of week")
_BOUNDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NUMBER = re.compile(r"\d{1,4}")


class CronError(ValueError):
    """A text that is not a cron expression; the message says why."""


@attrs.frozen
class _Days:
    """What the two day fields allow, beyond plain sets of values."""

    month_days: frozenset[int]  # plain days of the month
    last_offsets: frozenset[int]  # L (0), L-n (n)
    last_weekday: bool  # LW
    nearest_weekdays: frozenset[int]  # nW
    week_days: frozenset[int]  # plain days of the week, Python numbering (Monday 0)
    last_of_week_days: frozenset[int]  # nL
    nth_week_days: frozenset[tuple[int, int]]  # n#k as (weekday, k)
    any_month_day: bool
    any_week_day: bool

    def matches(self, year: int, month: int, day: int) -> bool:
        return self._month_day(year, month, day) and self._week_day(year, month, day)

    def _month_day(self, year: int, month: int, day: int) -> bool:
        if self.any_month_day or day in self.month_days:
            return True
        last = calendar.monthrange(year, month)[1]
        if any(day == last - offset for offset in self.last_offsets):
            return True
        if self.last_weekday and day == _nearest_weekday(year, month, last, last):
            return True
        return any(
            target <= last and day == _nearest_weekday(year, month, target, last)
            for target in self.nearest_weekdays
        )

    def _week_day(self, year: int, month: int, day: int) -> bool:
        if self.any_week_day:
            return True
        weekday = dt.date(year, month, day).weekday()
        if weekday in self.week_days:
            return True
        last = calendar.monthrange(year, month)[1]
        if weekday in self.last_of_week_days and day + 7 > last:
            return True
        return (weekday, (day - 1) // 7 + 1) in self.nth_week_days


def _nearest_weekday(year: int, month: int, day: int, last: int) -> int:
    """The Monday-to-Friday day nearest to ``day``, never leaving the month."""
    weekday = dt.date(year, month, day).weekday()
    if weekday < 5:
        return day
    if weekday == 5:  # Saturday: the Friday before, or the Monday after on the 1st
        return day - 1 if day > 1 else day + 2
    return day + 1 if day < last else day - 2  # Sunday


@attrs.frozen
class Cron:
    """A parsed cron expression; ``text`` is what was parsed (macros expanded)."""

    text: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    days: _Days

    def next_after(self, epoch_ms: int) -> int | None:
        """The first matching whole second strictly after ``epoch_ms``, in epoch ms."""
        try:
            start = _EPOCH + dt.timedelta(seconds=epoch_ms // 1000 + 1)
            found = self._search(start)
        except (OverflowError, ValueError):  # beyond the calendar's years
            return None
        if found is None:
            return None
        return int((found - _EPOCH).total_seconds()) * 1000

    def _search(self, at: dt.datetime) -> dt.datetime | None:
        limit = min(at.year + _SEARCH_YEARS, dt.MAXYEAR)
        year, month, day = at.year, at.month, at.day
        earliest = (at.hour, at.minute, at.second)  # on the first day only
        while year <= limit:
            if month not in self.months:
                year, month = _next_month(year, month, self.months)
                day, earliest = 1, (0, 0, 0)
                continue
            if self.days.matches(year, month, day):
                found = self._within_day(year, month, day, *earliest)
                if found is not None:
                    return found
            day, earliest = day + 1, (0, 0, 0)
            if day > calendar.monthrange(year, month)[1]:
                day = 1
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return None

    def _within_day(
        self, year: int, month: int, day: int, hour: int, minute: int, second: int
    ) -> dt.datetime | None:
        """The first matching time of this (matching) day at or after hour:minute:second."""
        for h in self.hours[bisect.bisect_left(self.hours, hour) :]:
            m_from, s_from = (minute, second) if h == hour else (0, 0)
            for m in self.minutes[bisect.bisect_left(self.minutes, m_from) :]:
                s_at = s_from if m == m_from else 0
                index = bisect.bisect_left(self.seconds, s_at)
                if index < len(self.seconds):
                    return dt.datetime(year, month, day, h, m, self.seconds[index], tzinfo=_UTC)
        return None


def _next_month(year: int, month: int, months: tuple[int, ...]) -> tuple[int, int]:
    index = bisect.bisect_right(months, month)
    if index < len(months):
        return year, months[index]
    return year + 1, months[0]


# --- parsing --------------------------------------------------------------------------------


def parse_cron(text: str) -> Cron:
    """A cron expression (see the module doc); raises CronError."""
    expanded = _MACROS.get(text.strip().lower(), text)
    fields = expanded.split()
    if len(fields) != 6:
        raise CronError(
            f'Cron expression must consist of 6 fields (found {len(fields)} in "{text}")'
        )
    try:
        seconds = _values(fields[0], 0)
        minutes = _values(fields[1], 1)
        hours = _values(fields[2], 2)
        months = _values(fields[4], 4, _MONTHS)
        days = _days(fields[3], fields[5])
    except CronError as error:
        raise CronError(f'{error} in cron expression "{text}"') from None
    return Cron(expanded, seconds, minutes, hours, months, days)


def _number(text: str, field: int, names: dict[str, int] | None) -> int:
    upper = text.upper()
    if names is not None and upper in names:
        return names[upper]
    if _NUMBER.fullmatch(text) is None:
        raise CronError(f"Invalid {_FIELD_NAMES[field]} value '{text}'")
    value = int(text)
    low, high = _BOUNDS[field]
    if not low <= value <= high:
        raise CronError(f"{_FIELD_NAMES[field]} value {value} is out of range [{low}..{high}]")
    return value


def _item(text: str, field: int, names: dict[str, int] | None) -> set[int]:
    low, high = _BOUNDS[field]
    step = 1
    if "/" in text:
        text, _, step_text = text.partition("/")
        if _NUMBER.fullmatch(step_text) is None or int(step_text) == 0:
            raise CronError(f"Invalid {_FIELD_NAMES[field]} step '{step_text}'")
        step = int(step_text)
        if text != "*" and "-" not in text:  # `a/n`: from a to the end of the range
            return set(range(_number(text, field, names), high + 1, step))
    if text in ("*", "?") and (text == "*" or field in (3, 5)):
        # a day of the week counts 1 (Monday) to 7 (Sunday) here, as java.time does
        return set(range(1 if field == 5 else low, high + 1, step))
    if "-" in text:
        first_text, _, last_text = text.partition("-")
        first, last = _number(first_text, field, names), _number(last_text, field, names)
        if first > last:
            raise CronError(
                f"Invalid {_FIELD_NAMES[field]} range '{text}': the minimum is above the maximum"
            )
        return set(range(first, last + 1, step))
    if step != 1:
        raise CronError(f"Invalid {_FIELD_NAMES[field]} value '{text}'")
    return {_number(text, field, names)}


def _values(text: str, field: int, names: dict[str, int] | None = None) -> tuple[int, ...]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"Empty {_FIELD_NAMES[field]} list item")
        values |= _item(item, field, names)
    return tuple(sorted(values))


def _days(month_text: str, week_text: str) -> _Days:
    month_days: set[int] = set()
    last_offsets: set[int] = set()
    nearest: set[int] = set()
    last_weekday = False
    any_month_day = month_text in ("*", "?")
    if not any_month_day:
        for item in month_text.split(","):
            upper = item.upper()
            if upper == "L":
                last_offsets.add(0)
            elif upper == "LW":
                last_weekday = True
            elif upper.startswith("L-") and _NUMBER.fullmatch(item[2:]):
                offset = int(item[2:])
                if not 0 <= offset <= 30:
                    raise CronError(f"Invalid day of month offset '{item}'")
                last_offsets.add(offset)
            elif upper.endswith("W") and _NUMBER.fullmatch(item[:-1]):
                nearest.add(_number(item[:-1], 3, None))
            elif item:
                month_days |= _item(item, 3, None)
            else:
                raise CronError("Empty day of month list item")
    week_days: set[int] = set()
    last_of: set[int] = set()
    nth: set[tuple[int, int]] = set()
    any_week_day = week_text in ("*", "?")
    if not any_week_day:
        for item in week_text.split(","):
            upper = item.upper()
            if "#" in item:
                day_text, _, ordinal = item.partition("#")
                if _NUMBER.fullmatch(ordinal) is None or not 1 <= int(ordinal) <= 5:
                    raise CronError(f"Invalid day of week ordinal '{item}'")
                nth.add((_weekday(_number(day_text, 5, _DAYS)), int(ordinal)))
            elif len(upper) > 1 and upper.endswith("L"):
                last_of.add(_weekday(_number(item[:-1], 5, _DAYS)))
            elif item:
                week_days |= {_weekday(d) for d in _item(item, 5, _DAYS)}
            else:
                raise CronError("Empty day of week list item")
    return _Days(
        frozenset(month_days),
        frozenset(last_offsets),
        last_weekday,
        frozenset(nearest),
        frozenset(week_days),
        frozenset(last_of),
        frozenset(nth),
        any_month_day,
        any_week_day,
    )


def _weekday(cron_day: int) -> int:
    """Cron's day of the week (0 and 7 Sunday, 1 Monday) as Python's (0 Monday)."""
    return (cron_day + 6) % 7
