"""Temporal values: parsing FEEL's text forms and the arithmetic between dates, times,
date-times and durations (DMN 1.3 §10.3.2.3, FEEL-Scala's java.time semantics).

Deterministic by construction: nothing here reads a clock. A time with a region zone
(``10:00@Europe/Paris``) carries that zone's standard offset as of 2024-01-01, so every replica
computes the same value (FEEL-Scala takes the standard offset "now").
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from .values import (
    CTX,
    T_DATE,
    T_DT,
    T_DTDUR,
    T_LDT,
    T_LTIME,
    T_NUM,
    T_TIME,
    T_YMDUR,
    YearMonths,
    ZonedTime,
    tag,
)

UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_ZONE_REFERENCE = dt.datetime(2024, 1, 1, tzinfo=UTC)
_MAX_MONTHS = 12 * 20000

_DATE = r"(-?(?:[1-9]\d{0,4})?\d{4})-(\d{2})-(\d{2})"
_TIME = r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
_TIME_S = r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
_ZONE = r"(Z|[+-]\d{2}:\d{2}(?::\d{2})?)(?:\[([^\]]{1,64})\])?|@(.{1,64})"

DATE_RE = re.compile(_DATE)
LOCAL_TIME_RE = re.compile("T?" + _TIME)
OFFSET_TIME_RE = re.compile(f"T?{_TIME_S}(?:{_ZONE})")
LOCAL_DT_RE = re.compile(f"{_DATE}T{_TIME}")
OFFSET_DT_RE = re.compile(f"{_DATE}T{_TIME}(?:{_ZONE})")
YM_RE = re.compile(r"(-)?P(-)?(?:(\d{1,9})Y)?(-)?(?:(\d{1,9})M)?")
DT_RE = re.compile(
    r"(-)?P(?:(-?\d{1,12})D)?(?:T(?:(-?\d{1,14})H)?(?:(-?\d{1,16})M)?(?:(-?\d{1,18})(?:\.(\d{0,9}))?S)?)?"
)


class TemporalError(ValueError):
    """A text is not a valid temporal value; the message is FEEL-Scala's."""


def zone(name: str) -> dt.tzinfo:
    """A zone by IANA region id or offset text (``Europe/Berlin``, ``UTC``, ``+02:00``, ``Z``)."""
    if name == "Z":
        return UTC
    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})(?::(\d{2}))?", name)
    if match:
        return _offset_zone(match.group(0))
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){0,3}", name):
        raise TemporalError(f"Invalid zone id '{name}'")
    try:
        return ZoneInfo(name)
    except Exception:
        raise TemporalError(f"Unknown zone id '{name}'") from None


def _offset_zone(text: str) -> dt.timezone:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    parts = [int(p) for p in text[1:].split(":")]
    seconds = parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) > 2 else 0)
    if seconds > 18 * 3600:
        raise TemporalError(f"Invalid offset '{text}'")
    return dt.timezone(dt.timedelta(seconds=sign * seconds)) if seconds else UTC


def _micros(fraction: str | None) -> int:
    if not fraction:
        return 0
    return int((fraction + "000000")[:6])


def _date(y: str, m: str, d: str) -> dt.date:
    try:
        return dt.date(int(y), int(m), int(d))
    except ValueError:
        raise TemporalError("invalid date") from None


def _time(h: str, m: str, s: str | None, f: str | None) -> dt.time:
    try:
        return dt.time(int(h), int(m), int(s or 0), _micros(f))
    except ValueError:
        raise TemporalError("invalid time") from None


def parse_date(text: str) -> dt.date:
    match = DATE_RE.fullmatch(text)
    if not match:
        raise TemporalError(f"Failed to parse date from '{text}'")
    try:
        return _date(*match.groups())
    except TemporalError:
        raise TemporalError(f"Failed to parse date from '{text}'") from None


def _zoned(zone_groups: tuple[str | None, str | None, str | None]) -> dt.tzinfo:
    offset, bracket, at = zone_groups
    if at is not None:
        return zone(at)
    if bracket is not None:
        return zone(bracket)
    assert offset is not None
    return _offset_zone(offset)


def parse_time(text: str) -> dt.time | ZonedTime:
    match = OFFSET_TIME_RE.fullmatch(text)
    if match:
        g = match.groups()
        try:
            local = _time(g[0], g[1], g[2], g[3])
            tz = _zoned((g[4], g[5], g[6]))
        except TemporalError:
            raise TemporalError(f"Failed to parse time from '{text}'") from None
        return zoned_time(local, tz)
    match = LOCAL_TIME_RE.fullmatch(text)
    if match:
        try:
            return _time(*match.groups())
        except TemporalError:
            pass
    raise TemporalError(f"Failed to parse local-time from '{text}'")


def zoned_time(local: dt.time, tz: dt.tzinfo) -> ZonedTime:
    if isinstance(tz, ZoneInfo):
        offset = tz.utcoffset(_ZONE_REFERENCE) or dt.timedelta()
        dst = tz.dst(_ZONE_REFERENCE) or dt.timedelta()
        return ZonedTime(local, int((offset - dst).total_seconds()), tz.key)
    offset = tz.utcoffset(None) or dt.timedelta()
    return ZonedTime(local, int(offset.total_seconds()))


def parse_date_time(text: str) -> dt.datetime:
    if DATE_RE.fullmatch(text):
        try:
            return dt.datetime.combine(parse_date(text), dt.time())
        except TemporalError:
            raise TemporalError(f"Failed to parse date(-time) from '{text}'") from None
    match = OFFSET_DT_RE.fullmatch(text)
    if match:
        g = match.groups()
        try:
            value = dt.datetime.combine(_date(g[0], g[1], g[2]), _time(g[3], g[4], g[5], g[6]))
            tz = _zoned((g[7], g[8], g[9]))
        except TemporalError:
            raise TemporalError(f"Failed to parse date-time from '{text}'") from None
        if g[8] is not None and g[7] is not None:
            # `2021-01-01T10:00+01:00[Europe/Paris]`: the offset fixes the instant
            fixed = value.replace(tzinfo=_offset_zone(g[7]))
            return fixed.astimezone(tz)
        return value.replace(tzinfo=tz)
    match = LOCAL_DT_RE.fullmatch(text)
    if match:
        g = match.groups()
        try:
            return dt.datetime.combine(_date(g[0], g[1], g[2]), _time(g[3], g[4], g[5], g[6]))
        except TemporalError:
            raise TemporalError(f"Failed to parse local-date-time from '{text}'") from None
    raise TemporalError(f"Failed to parse date-time from '{text}'")


def parse_duration(text: str) -> dt.timedelta | YearMonths:
    match = YM_RE.fullmatch(text)
    if match and text not in ("P", "-P"):
        neg_all, neg_y, years, neg_m, months = match.groups()
        if years is None and months is None:
            raise TemporalError(f"Failed to parse year-month-duration from '{text}'")
        total = (-1 if neg_y else 1) * int(years or 0) * 12 + (-1 if neg_m else 1) * int(
            months or 0
        )
        if neg_all:
            total = -total
        return YearMonths(total)
    match = DT_RE.fullmatch(text)
    if match and match.group(0) not in ("P", "-P") and not text.endswith("T"):
        neg, days, hours, minutes, seconds, fraction = match.groups()
        if days is None and hours is None and minutes is None and seconds is None:
            raise TemporalError(f"Failed to parse day-time-duration from '{text}'")
        micros = _micros(fraction)
        if seconds is not None and seconds.startswith("-"):
            micros = -micros
        try:
            value = dt.timedelta(
                days=int(days or 0),
                hours=int(hours or 0),
                minutes=int(minutes or 0),
                seconds=int(seconds or 0),
                microseconds=micros,
            )
        except OverflowError:
            raise TemporalError(f"Failed to parse day-time-duration from '{text}'") from None
        return -value if neg else value
    raise TemporalError(f"Failed to parse duration from '{text}'")


def parse_temporal(text: str) -> Any:
    """The value of an ``@"..."`` literal: whichever temporal type the text has."""
    if DATE_RE.fullmatch(text):
        return parse_date(text)
    if OFFSET_TIME_RE.fullmatch(text):
        return parse_time(text)
    if OFFSET_DT_RE.fullmatch(text) or LOCAL_DT_RE.fullmatch(text):
        return parse_date_time(text)
    if text.startswith(("P", "-P")):
        return parse_duration(text)
    return parse_time(text)


def from_epoch(now: float) -> dt.datetime:
    """The engine's clock value (epoch seconds, UTC) as a FEEL date-time."""
    return _EPOCH + dt.timedelta(microseconds=round(now * 1_000_000))


# --- arithmetic ------------------------------------------------------------------------------


def add_months(value: Any, months: int) -> Any:
    """``value`` (date or date-time) plus ``months``, clamping the day like java.time."""
    total = value.year * 12 + (value.month - 1) + months
    year, month = divmod(total, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("year out of range")
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def _plus_duration(value: dt.datetime, d: dt.timedelta) -> dt.datetime:
    if value.tzinfo is None:
        return value + d
    # instant arithmetic: Python's aware + timedelta is wall-clock arithmetic
    tz = value.tzinfo
    return (value.astimezone(UTC) + d).astimezone(tz)


def _time_plus(t: dt.time, d: dt.timedelta) -> dt.time:
    day = dt.datetime.combine(dt.date(2000, 1, 1), t)
    seconds = (d.days * 86400 + d.seconds) % 86400
    return (day + dt.timedelta(seconds=seconds, microseconds=d.microseconds)).time()


def _instant(value: dt.datetime) -> dt.datetime:
    return value.astimezone(UTC)


def add(x: Any, y: Any) -> Any:
    """``x + y`` for temporal operands; NotImplemented when the types do not combine."""
    tx, ty = tag(x), tag(y)
    if ty in (T_DTDUR, T_YMDUR) and tx not in (T_DTDUR, T_YMDUR):
        return add(y, x) if tx in (T_DATE, T_LTIME, T_TIME, T_LDT, T_DT) else NotImplemented
    if tx == T_DTDUR:
        if ty == T_DTDUR:
            return x + y
        if ty == T_DATE:
            return (dt.datetime.combine(y, dt.time()) + x).date()
        if ty == T_LTIME:
            return _time_plus(y, x)
        if ty == T_TIME:
            return ZonedTime(_time_plus(y.time, x), y.offset, y.zone)
        if ty in (T_LDT, T_DT):
            return _plus_duration(y, x)
        return NotImplemented
    if tx == T_YMDUR:
        if ty == T_YMDUR:
            return YearMonths(x.months + y.months)
        if ty in (T_DATE, T_LDT, T_DT):
            return add_months(y, x.months)
        return NotImplemented
    return NotImplemented


def subtract(x: Any, y: Any) -> Any:
    tx, ty = tag(x), tag(y)
    if ty == T_DTDUR and tx in (T_DATE, T_LTIME, T_TIME, T_LDT, T_DT, T_DTDUR):
        return add(x, -y) if tx != T_DTDUR else x - y
    if ty == T_YMDUR and tx in (T_DATE, T_LDT, T_DT, T_YMDUR):
        return add_months(x, -y.months) if tx != T_YMDUR else YearMonths(x.months - y.months)
    if tx != ty:
        return NotImplemented
    if tx == T_DATE:
        return dt.timedelta(days=(x - y).days)
    if tx == T_LDT:
        return x - y
    if tx == T_DT:
        return _instant(x) - _instant(y)
    if tx == T_LTIME:
        return dt.datetime.combine(dt.date(2000, 1, 1), x) - dt.datetime.combine(
            dt.date(2000, 1, 1), y
        )
    if tx == T_TIME:
        # FEEL-Scala: the distance between the two times, never negative
        seconds = abs(x.utc_seconds() - y.utc_seconds())
        return dt.timedelta(microseconds=int(seconds * 1_000_000))
    return NotImplemented


def _micros_of(d: dt.timedelta) -> int:
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def _trunc(n: Decimal) -> int:
    return int(n.to_integral_value(rounding="ROUND_DOWN"))


def multiply(x: Any, y: Any) -> Any:
    tx, ty = tag(x), tag(y)
    if tx == T_NUM and ty in (T_DTDUR, T_YMDUR):
        x, y, tx, ty = y, x, ty, tx
    if ty != T_NUM:
        return NotImplemented
    factor = _trunc(y)  # FEEL-Scala multiplies by the number's int value
    if tx == T_DTDUR:
        return x * factor
    if tx == T_YMDUR:
        if abs(x.months * factor) > _MAX_MONTHS * 1000:
            raise OverflowError("duration out of range")
        return YearMonths(x.months * factor)
    return NotImplemented


def divide(x: Any, y: Any) -> Any:
    tx, ty = tag(x), tag(y)
    if tx == T_DTDUR and ty == T_DTDUR:
        millis = _micros_of(y) // 1000
        if millis == 0:
            return NotImplemented
        return CTX.divide(Decimal(_micros_of(x) // 1000), Decimal(millis))
    if tx == T_YMDUR and ty == T_YMDUR:
        if y.months == 0:
            return NotImplemented
        return CTX.divide(Decimal(x.months), Decimal(y.months))
    if tx == T_DTDUR and ty == T_NUM:
        if y == 0:
            return NotImplemented
        millis = _trunc(CTX.divide(Decimal(_micros_of(x) // 1000), y))
        return dt.timedelta(milliseconds=millis)
    if tx == T_YMDUR and ty == T_NUM:
        if y == 0:
            return NotImplemented
        return YearMonths(_trunc(CTX.divide(Decimal(x.months), y)))
    return NotImplemented


def years_and_months(start: Any, end: Any) -> YearMonths:
    """``years and months duration(from, to)``: whole months from one date to the other."""
    a = start.date() if type(start) is dt.datetime else start
    b = end.date() if type(end) is dt.datetime else end
    months = (b.year - a.year) * 12 + (b.month - a.month)
    if months > 0 and b.day < a.day:
        months -= 1
    elif months < 0 and b.day > a.day:
        months += 1
    return YearMonths(months)
