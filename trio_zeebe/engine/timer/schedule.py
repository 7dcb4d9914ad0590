"""Timer schedules: when a timer is first due and how it repeats, from the ISO 8601 texts (or
FEEL values) of ``timeDate`` / ``timeDuration`` / ``timeCycle`` (reference §6).

* A duration (``PT15S``, ``P14DT1H30M``, ``P1Y2M``, ``-PT5S``) is read the way Zeebe's
  ``Interval`` reads it: an optional calendar part (years, months, weeks, days) before the
  ``T`` and an exact part after it. Due = now + duration; zero or negative is due at once.
* A date (``2024-05-01T10:00:00Z``, ``...+02:00``, ``...[Europe/Berlin]``, no zone = UTC) is
  due at that instant (a past one at once).
* A cycle is a repeating interval ``R[n]/[start/]duration`` (``R`` alone: forever) or a cron
  expression (:mod:`.cron`). Without a start the first due date is now + duration; with one it
  is the start itself. After a firing, the next due date is the *previous due date* plus the
  duration, so a cycle does not drift with late ticks; only when that is already past (the
  partition had no leader for longer than an interval) does it start from now, so a long
  outage fires once, not once per missed interval. A cron cycle fires at its next matching
  second after the firing.

All arithmetic is in UTC epoch milliseconds (a calendar duration adds months and days in UTC,
whatever the broker's zone), so every replica computes the same. Errors are
:class:`TimerError` with the reason; the engine words the incident.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Any

import attrs

from ..feel.temporal import TemporalError, zone
from ..feel.values import YearMonths
from .cron import CronError, parse_cron

__all__ = [
    "INFINITE",
    "MIN_REPEAT_MS",
    "Interval",
    "Schedule",
    "TimerError",
    "add_interval",
    "cycle_schedule",
    "date_schedule",
    "duration_schedule",
    "next_due",
    "parse_date_time",
    "parse_interval",
    "parse_repeating",
]

INFINITE = -1  # repetitions of ``R/...`` and of cron cycles
#: A repeating timer is never due again sooner than this after it fired (Zeebe's due date
#: checker does not run more often either), so ``R/PT0S`` cannot spin a partition.
MIN_REPEAT_MS = 100
_UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_DAY_US = 86_400_000_000
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z

_PERIOD = re.compile(
    r"([-+]?)P(?:([-+]?\d{1,9})Y)?(?:([-+]?\d{1,9})M)?(?:([-+]?\d{1,9})W)?(?:([-+]?\d{1,9})D)?",
    re.IGNORECASE | re.ASCII,
)
_DURATION = re.compile(
    r"([-+]?)P(?:([-+]?\d{1,12})D)?"
    r"(T(?:([-+]?\d{1,14})H)?(?:([-+]?\d{1,16})M)?(?:([-+]?\d{1,18})(?:[.,](\d{0,9}))?S)?)?",
    re.IGNORECASE | re.ASCII,
)
_DATE_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
    r"(?:[Zz]|[-+]\d{2}:\d{2}(?::\d{2})?)?)(?:\[([^\]]{1,64})\])?",
    re.ASCII,
)


class TimerError(ValueError):
    """A timer text or value that cannot be scheduled; the message says why."""


@attrs.frozen
class Interval:
    """A duration as java.time splits it: calendar ``months`` and ``days`` (added on the
    calendar) and exact ``micros``."""

    months: int = 0
    days: int = 0
    micros: int = 0

    @property
    def is_calendar_based(self) -> bool:
        return self.months != 0 or self.days != 0 or abs(self.micros) >= _DAY_US


@attrs.frozen
class Schedule:
    """A timer as created: its first ``due_date`` (epoch ms), how many times it fires from there
    (``repetitions``; :data:`INFINITE` for ever; 1 for a date or a duration) and the ``cycle``
    text that gives the later due dates (``""`` for a timer that fires once)."""

    due_date: int
    repetitions: int = 1
    cycle: str = ""


# --- texts ----------------------------------------------------------------------------------


def _period(text: str, original: str) -> Interval:
    match = _PERIOD.fullmatch(text)
    if match is None or not any(match.groups()[1:]):
        raise TimerError(f"Text '{original}' cannot be parsed to a Duration")
    sign = -1 if match.group(1) == "-" else 1
    years, months, weeks, days = (int(g) if g else 0 for g in match.groups()[1:])
    return Interval(months=sign * (12 * years + months), days=sign * (7 * weeks + days))


def _duration(text: str, original: str) -> Interval:
    match = _DURATION.fullmatch(text)
    if match is None:
        raise TimerError(f"Text '{original}' cannot be parsed to a Duration")
    sign, days, t_part, hours, minutes, seconds, fraction = match.groups()
    if (days is None and t_part is None) or (t_part is not None and t_part.upper() == "T"):
        raise TimerError(f"Text '{original}' cannot be parsed to a Duration")
    micros = 0
    if fraction:
        micros = int((fraction + "000000")[:6])
        if seconds is not None and seconds.startswith("-"):
            micros = -micros
    total = (
        int(days or 0) * _DAY_US
        + int(hours or 0) * 3_600_000_000
        + int(minutes or 0) * 60_000_000
        + int(seconds or 0) * 1_000_000
        + micros
    )
    return Interval(micros=-total if sign == "-" else total)


def parse_interval(text: str) -> Interval:
    """An ISO 8601 duration, calendar part and exact part (``P1DT2H``, ``PT-5S``, ``P1Y``)."""
    offset = 1 if text[:1] in ("-", "+") else 0
    sign = "-" if text[:1] == "-" else ""
    t_at = text.find("T") if "T" in text else text.find("t")
    if t_at == -1:
        return _period(text, text)
    if t_at == offset + 1:
        return _duration(text, text)
    calendar_part = _period(text[:t_at], text)
    exact = _duration(sign + "P" + text[t_at:], text)
    return Interval(calendar_part.months, calendar_part.days, exact.micros)


def parse_date_time(text: str) -> int:
    """An ISO 8601 date-time (``Z``, an offset, ``[zone]`` or both; none means UTC) in epoch
    ms. With an offset and a zone, the offset fixes the instant."""
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        raise TimerError(f"Text '{text}' could not be parsed as a date-time")
    local, region = match.group(1), match.group(2)
    try:
        value = dt.datetime.fromisoformat(local.upper())
        region_zone = zone(region) if region else _UTC
        if value.tzinfo is None:
            value = value.replace(tzinfo=region_zone)
    except (ValueError, TemporalError):
        raise TimerError(f"Text '{text}' could not be parsed as a date-time") from None
    return _bounded(_epoch_ms(value))


def _epoch_ms(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def add_interval(epoch_ms: int, interval: Interval) -> int:
    """``epoch_ms`` plus ``interval``: exact durations shorter than a day in milliseconds,
    calendar ones on the UTC calendar (months clamp the day, as java.time does)."""
    if not interval.is_calendar_based:
        return _bounded(epoch_ms + interval.micros // 1000)
    try:
        start = _EPOCH + dt.timedelta(milliseconds=epoch_ms)
        if interval.months:
            total = start.year * 12 + start.month - 1 + interval.months
            year, month = divmod(total, 12)
            month += 1
            if not dt.MINYEAR <= year <= dt.MAXYEAR:
                raise OverflowError
            day = min(start.day, calendar.monthrange(year, month)[1])
            start = start.replace(year=year, month=month, day=day)
        end = start + dt.timedelta(days=interval.days, microseconds=interval.micros)
    except (OverflowError, ValueError):
        raise TimerError("the due date is out of range") from None
    return _bounded(_epoch_ms(end))


def _bounded(epoch_ms: int) -> int:
    if not -_MAX_MS <= epoch_ms <= _MAX_MS:
        raise TimerError("the due date is out of range")
    return epoch_ms


# --- schedules ------------------------------------------------------------------------------


def duration_schedule(value: Any, now: int) -> Schedule:
    """A ``timeDuration`` (a FEEL duration or period, or an ISO 8601 text): due now + it."""
    if isinstance(value, dt.timedelta):
        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        interval = Interval(micros=micros)
    elif isinstance(value, YearMonths):
        interval = Interval(months=value.months)
    else:
        interval = parse_interval(str(value))
    return Schedule(add_interval(now, interval))


def date_schedule(value: Any) -> Schedule:
    """A ``timeDate`` (a FEEL date-time, or an ISO 8601 text): due at that instant."""
    if isinstance(value, dt.datetime):
        return Schedule(_bounded(_epoch_ms(value)))
    return Schedule(parse_date_time(str(value)))


def parse_repeating(text: str) -> tuple[int, int | None, Interval]:
    """``R[n]/[start/]duration`` as (repetitions, start epoch ms or None, interval)."""
    slash = text.find("/")
    if slash == -1:
        raise TimerError(f"Text '{text}' cannot be parsed to a repeating interval: no interval")
    count = text[1:slash]
    if count and not count.isdigit():
        raise TimerError(f"Text '{text}' cannot be parsed to a repeating interval: bad count")
    repetitions = int(count) if count else INFINITE
    if repetitions > 2**31 - 1:
        raise TimerError(f"Text '{text}' cannot be parsed to a repeating interval: bad count")
    rest = text[slash + 1 :]
    last = rest.rfind("/")
    start = parse_date_time(rest[:last]) if last > 0 else None
    return repetitions, start, parse_interval(rest[last + 1 :])


def cycle_schedule(text: str, now: int) -> Schedule:
    """A ``timeCycle``: a repeating interval or a cron expression (see the module doc)."""
    if text.startswith("R"):
        repetitions, start, interval = parse_repeating(text)
        due = start if start is not None else add_interval(now, interval)
        return Schedule(due, repetitions, text)
    try:
        cron = parse_cron(text)
    except CronError as error:
        raise TimerError(str(error)) from None
    first = cron.next_after(now)
    if first is None:
        raise TimerError(f'Cron expression "{text}" matches no date')
    return Schedule(first, INFINITE, cron.text)


def next_due(cycle: str, previous_due: int, now: int) -> int | None:
    """The due date after a cycle fired at ``now`` for ``previous_due``; None if none."""
    try:
        if cycle.startswith("R"):
            _, _, interval = parse_repeating(cycle)
            due = add_interval(previous_due, interval)
            if due <= now:  # overdue: start over from now rather than fire in a burst
                due = add_interval(now, interval)
        else:
            due_or_none = parse_cron(cycle).next_after(now)
            if due_or_none is None:
                return None
            due = due_or_none
    except (TimerError, CronError):
        return None
    return max(due, now + MIN_REPEAT_MS)
