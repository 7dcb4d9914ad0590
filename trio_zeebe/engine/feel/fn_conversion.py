"""Built-in conversion, temporal, boolean and range functions, and Zeebe's ``cycle()``
(Camunda docs: feel-built-in-functions-conversion, -temporal, -boolean, -range; Zeebe's
FeelFunctionProvider)."""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

from . import temporal
from .errors import AssertFailure
from .functions import Fail, Illegal, builtin, integer, num, text
from .runtime import Env, check_string
from .values import (
    CTX,
    T_DATE,
    T_DT,
    T_DTDUR,
    T_LDT,
    T_LTIME,
    T_TIME,
    T_YMDUR,
    Range,
    ZonedTime,
    compare,
    from_json,
    java_duration,
    java_period,
    tag,
    to_json,
    to_string,
)

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _parse(parser: Any, value: str) -> Any:
    try:
        return parser(value)
    except temporal.TemporalError as error:
        raise Fail(str(error)) from None
    except (ValueError, OverflowError):
        raise Fail(f"Failed to parse '{value}'") from None


# --- conversion ------------------------------------------------------------------------------


@builtin("date", "from")
def date(env: Env, args: list[Any]) -> Any:
    value = args[0]
    kind = tag(value)
    if kind == T_DATE:
        return value
    if kind in (T_LDT, T_DT):
        return value.date()
    return _parse(temporal.parse_date, text(value))


@builtin("date", "year", "month", "day")
def date3(env: Env, args: list[Any]) -> Any:
    y, m, d = integer(args[0]), integer(args[1]), integer(args[2])
    try:
        return dt.date(y, m, d)
    except (ValueError, OverflowError):
        raise Fail(f"Failed to parse date from: year={y}, month={m}, day={d}") from None


@builtin("date and time", "from")
def date_and_time(env: Env, args: list[Any]) -> Any:
    return _parse(temporal.parse_date_time, text(args[0]))


@builtin("date and time", "date", "time")
def date_and_time2(env: Env, args: list[Any]) -> Any:
    day, time = args
    kind, time_kind = tag(day), tag(time)
    if kind not in (T_DATE, T_LDT, T_DT):
        raise Illegal
    local_date = day if kind == T_DATE else day.date()
    if time_kind == T_LTIME:
        return dt.datetime.combine(local_date, time)
    if time_kind == T_TIME:
        tz = temporal.zone(time.zone) if time.zone else temporal.zone(_offset_text(time.offset))
        return dt.datetime.combine(local_date, time.time).replace(tzinfo=tz)
    if type(time) is str and kind in (T_LDT, T_DT):
        tz = _parse(temporal.zone, time)
        if kind == T_LDT:
            return day.replace(tzinfo=tz)
        return day.astimezone(tz)
    raise Illegal


def _offset_text(seconds: int) -> str:
    if seconds == 0:
        return "Z"
    sign = "+" if seconds > 0 else "-"
    seconds = abs(seconds)
    return f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@builtin("time", "from")
def time(env: Env, args: list[Any]) -> Any:
    value = args[0]
    kind = tag(value)
    if kind == T_LDT:
        return value.time()
    if kind == T_DT:
        return temporal.zoned_time(value.time(), value.tzinfo)
    if kind == T_DATE:
        return ZonedTime(dt.time(), 0)
    if kind in (T_LTIME, T_TIME):
        return value
    return _parse(temporal.parse_time, text(value))


def _local_time(h: Any, m: Any, s: Any) -> dt.time:
    second = num(s)
    whole = int(second)
    micros = int((second - whole) * 1_000_000)
    try:
        return dt.time(integer(h), integer(m), whole, micros)
    except (ValueError, OverflowError):
        raise Fail(f"Failed to parse local-time from: hour={h}, minute={m}, second={s}") from None


@builtin("time", "hour", "minute", "second")
def time3(env: Env, args: list[Any]) -> Any:
    return _local_time(*args)


@builtin("time", "hour", "minute", "second", "offset")
def time4(env: Env, args: list[Any]) -> Any:
    local = _local_time(*args[:3])
    offset = args[3]
    if offset is None:
        return local
    if tag(offset) != T_DTDUR:
        raise Illegal
    seconds = int(offset.total_seconds())
    if abs(seconds) > 18 * 3600:
        raise Fail(f"offset {java_duration(offset)} is out of range")
    return ZonedTime(local, seconds)


def _number(value: str) -> Decimal:
    if not re.fullmatch(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,6})?", value.strip()):
        raise Fail(f"Can't parse '{value}' as a number")
    try:
        return CTX.create_decimal(value.strip())
    except ArithmeticError:
        raise Fail(f"Can't parse '{value}' as a number") from None


@builtin("number", "from")
def number(env: Env, args: list[Any]) -> Any:
    return _number(text(args[0]))


@builtin("number", "from", "grouping separator")
def number2(env: Env, args: list[Any]) -> Any:
    value, grouping = text(args[0]), text(args[1])
    if grouping not in (" ", ",", "."):
        raise Fail("illegal argument for grouping. Must be one of ' ', ',' or '.'")
    return _number(value.replace(grouping, ""))


@builtin("number", "from", "grouping separator", "decimal separator")
def number3(env: Env, args: list[Any]) -> Any:
    value = text(args[0])
    grouping, decimal_sep = args[1], args[2]
    if grouping is not None and text(grouping) not in (" ", ",", "."):
        raise Fail("illegal arguments for grouping or decimal. Must be one of ' ', ',' or '.'")
    if decimal_sep is not None and text(decimal_sep) not in (",", "."):
        raise Fail("illegal arguments for grouping or decimal. Must be one of ' ', ',' or '.'")
    if grouping is not None and grouping == decimal_sep:
        raise Fail("illegal arguments: grouping and decimal separator are the same")
    if grouping is not None:
        value = value.replace(grouping, "")
    if decimal_sep is not None:
        value = value.replace(decimal_sep, ".")
    return _number(value)


@builtin("string", "from")
def string(env: Env, args: list[Any]) -> Any:
    value = args[0]
    if value is None or type(value) is str:
        return value
    return check_string(to_string(value))


@builtin("duration", "from")
def duration(env: Env, args: list[Any]) -> Any:
    return _parse(temporal.parse_duration, text(args[0]))


@builtin("years and months duration", "from", "to")
def years_and_months_duration(env: Env, args: list[Any]) -> Any:
    start, end = args
    if tag(start) not in (T_DATE, T_LDT, T_DT) or tag(end) not in (T_DATE, T_LDT, T_DT):
        raise Illegal
    return temporal.years_and_months(start, end)


@builtin("from json", "json")
def from_json_(env: Env, args: list[Any]) -> Any:
    if args[0] is None:
        return None
    source = text(args[0])
    try:
        return from_json(json.loads(source, parse_float=Decimal, parse_int=Decimal))
    except (ValueError, RecursionError):
        raise Fail(f"Failed to parse JSON from '{source[:100]}'") from None


@builtin("to json", "value")
def to_json_(env: Env, args: list[Any]) -> Any:
    try:
        encoded = json.dumps(_json_value(args[0]), ensure_ascii=False, separators=(",", ":"))
    except (ValueError, RecursionError):
        raise Fail("Failed to convert value to JSON") from None
    return check_string(encoded)


def _json_value(value: Any) -> Any:
    kind = tag(value)
    if kind == T_TIME:
        return to_string(ZonedTime(value.time, value.offset))
    if kind in (T_DATE, T_LTIME, T_LDT, T_DT, T_DTDUR, T_YMDUR):
        return to_json(value)
    if type(value) is list:
        return [_json_value(v) for v in value]
    if type(value) is dict:
        return {k: _json_value(v) for k, v in value.items()}
    if type(value) is Range:
        return to_string(value)
    return to_json(value) if not callable(getattr(value, "invoke", None)) else to_string(value)


# --- temporal ----------------------------------------------------------------------------------


@builtin("now")
def now(env: Env, args: list[Any]) -> Any:
    return temporal.from_epoch(env.now)


@builtin("today")
def today(env: Env, args: list[Any]) -> Any:
    return temporal.from_epoch(env.now).date()


def _date_of(value: Any) -> dt.date:
    kind = tag(value)
    if kind == T_DATE:
        return value  # type: ignore[no-any-return]
    if kind in (T_LDT, T_DT):
        return value.date()  # type: ignore[no-any-return]
    raise Illegal


@builtin("day of year", "date")
def day_of_year(env: Env, args: list[Any]) -> Any:
    return Decimal(_date_of(args[0]).timetuple().tm_yday)


@builtin("day of week", "date")
def day_of_week(env: Env, args: list[Any]) -> Any:
    return _WEEKDAYS[_date_of(args[0]).weekday()]


@builtin("month of year", "date")
def month_of_year(env: Env, args: list[Any]) -> Any:
    return _MONTHS[_date_of(args[0]).month - 1]


@builtin("week of year", "date")
def week_of_year(env: Env, args: list[Any]) -> Any:
    return Decimal(_date_of(args[0]).isocalendar()[1])


@builtin("last day of month", "date")
def last_day_of_month(env: Env, args: list[Any]) -> Any:
    d = _date_of(args[0])
    return Decimal(calendar.monthrange(d.year, d.month)[1])


# --- boolean -------------------------------------------------------------------------------------


@builtin("not", "negand")
def not_(env: Env, args: list[Any]) -> Any:
    value = args[0]
    return (not value) if type(value) is bool else None


@builtin("is defined", "value")
def is_defined(env: Env, args: list[Any]) -> Any:
    return args[0] is not None


@builtin("get or else", "value", "default")
def get_or_else(env: Env, args: list[Any]) -> Any:
    return args[1] if args[0] is None else args[0]


@builtin("assert", "value", "condition")
def assert_(env: Env, args: list[Any]) -> Any:
    if args[1] is True:
        return args[0]
    raise AssertFailure("The condition is not fulfilled")


@builtin("assert", "value", "condition", "cause")
def assert3(env: Env, args: list[Any]) -> Any:
    if args[1] is True:
        return args[0]
    cause = args[2]
    raise AssertFailure(cause if type(cause) is str else "The condition is not fulfilled")


# --- Zeebe: timer cycles -------------------------------------------------------------------------


def _interval(value: Any) -> str:
    kind = tag(value)
    if kind == T_DTDUR:
        return java_duration(value).upper()
    if kind == T_YMDUR:
        return java_period(value).upper()
    raise Fail(
        "cycle function expected a repetitions (number) and an interval (duration) parameter, "
        f"but found '{to_string(value, True)}'"
    )


@builtin("cycle", "repetitions", "interval")
def cycle(env: Env, args: list[Any]) -> Any:
    repetitions, interval = args
    if repetitions is None:
        return f"R/{_interval(interval)}"
    return f"R{integer(repetitions)}/{_interval(interval)}"


@builtin("cycle", "interval")
def cycle_infinite(env: Env, args: list[Any]) -> Any:
    return f"R/{_interval(args[0])}"


# --- ranges (DMN 1.3 §10.3.4.9) ------------------------------------------------------------------


def _bounds(value: Any) -> tuple[Any, bool, Any, bool]:
    """A point or a range as (start, start included, end, end included)."""
    if type(value) is Range:
        return value.start, value.start_closed, value.end, value.end_closed
    if value is None:
        raise Illegal
    return value, True, value, True


def _cmp(x: Any, y: Any) -> int:
    c = compare(x, y)
    if c is None:
        raise Illegal
    return c


def _range_function(name: str, first: str, second: str, rule: Any) -> None:
    @builtin(name, first, second)
    def fn(env: Env, args: list[Any]) -> Any:
        a, b = _bounds(args[0]), _bounds(args[1])
        return bool(rule(a, b))


def _before(a: Any, b: Any) -> bool:
    c = _cmp(a[2], b[0])
    return c < 0 or (c == 0 and not (a[3] and b[1]))


def _meets(a: Any, b: Any) -> bool:
    return a[3] and b[1] and _cmp(a[2], b[0]) == 0


def _overlaps(a: Any, b: Any) -> bool:
    return not _before(a, b) and not _before(b, a)


def _overlaps_before(a: Any, b: Any) -> bool:
    s = _cmp(a[0], b[0])
    starts_first = s < 0 or (s == 0 and a[1] and not b[1])
    e1 = _cmp(a[2], b[0])
    reaches = e1 > 0 or (e1 == 0 and a[3] and b[1])
    e2 = _cmp(a[2], b[2])
    ends_inside = e2 < 0 or (e2 == 0 and (not a[3] or b[3]))
    return starts_first and reaches and ends_inside


def _finishes(a: Any, b: Any) -> bool:
    e = _cmp(a[2], b[2])
    s = _cmp(a[0], b[0])
    starts_inside = s > 0 or (s == 0 and (not a[1] or b[1]))
    return e == 0 and a[3] == b[3] and starts_inside


def _starts(a: Any, b: Any) -> bool:
    s = _cmp(a[0], b[0])
    e = _cmp(a[2], b[2])
    ends_inside = e < 0 or (e == 0 and (not a[3] or b[3]))
    return s == 0 and a[1] == b[1] and ends_inside


def _includes(a: Any, b: Any) -> bool:
    s = _cmp(a[0], b[0])
    e = _cmp(a[2], b[2])
    start_ok = s < 0 or (s == 0 and (a[1] or not b[1]))
    end_ok = e > 0 or (e == 0 and (a[3] or not b[3]))
    return start_ok and end_ok


def _coincides(a: Any, b: Any) -> bool:
    return _cmp(a[0], b[0]) == 0 and _cmp(a[2], b[2]) == 0 and a[1] == b[1] and a[3] == b[3]


for _first, _second in (
    ("point1", "point2"),
    ("point", "range"),
    ("range", "point"),
    ("range1", "range2"),
):
    _range_function("before", _first, _second, _before)
    _range_function("after", _first, _second, lambda a, b: _before(b, a))
    _range_function("includes", _first, _second, _includes)
    _range_function("during", _first, _second, lambda a, b: _includes(b, a))
    _range_function("starts", _first, _second, _starts)
    _range_function("started by", _first, _second, lambda a, b: _starts(b, a))
    _range_function("finishes", _first, _second, _finishes)
    _range_function("finished by", _first, _second, lambda a, b: _finishes(b, a))
    _range_function("coincides", _first, _second, _coincides)
_range_function("meets", "range1", "range2", _meets)
_range_function("met by", "range1", "range2", lambda a, b: _meets(b, a))
_range_function("overlaps", "range1", "range2", _overlaps)
_range_function("overlaps before", "range1", "range2", _overlaps_before)
_range_function("overlaps after", "range1", "range2", lambda a, b: _overlaps_before(b, a))
