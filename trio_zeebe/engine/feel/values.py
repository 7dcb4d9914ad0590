"""FEEL values in Python, their Zeebe type names, their text forms and their JSON mapping.

FEEL type -> Python representation (always checked with ``type(x) is``, never ``isinstance``:
``bool`` is an ``int`` and ``datetime`` is a ``date``):

- null: ``None``; boolean: ``bool``; string: ``str``
- number: ``decimal.Decimal``, 34 significant digits (IEEE 754 decimal128, like FEEL-Scala)
- date: ``datetime.date``; local time: naive ``datetime.time``; time with offset or zone:
  :class:`ZonedTime`; local date-time: naive ``datetime.datetime``; date-time: aware
  ``datetime.datetime`` (``timezone`` offset or ``ZoneInfo`` region)
- days-time duration: ``datetime.timedelta``; years-months duration: :class:`YearMonths`
- list: ``list`` (never mutated once built); context: ``dict`` (str keys, insertion order)
- range: :class:`Range`; function: :class:`Function`
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs

# DECIMAL128 like java.math.MathContext.DECIMAL128; overflow and invalid operations trap so
# that they become null (with a warning), never infinities or NaN.
CTX = decimal.Context(
    prec=34,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=6144,
    Emin=-6143,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
ZERO = Decimal(0)
ONE = Decimal(1)

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


@attrs.frozen
class YearMonths:
    """A years-months duration (``java.time.Period`` normalized to years and months)."""

    months: int

    @property
    def years_part(self) -> int:
        return _java_div(self.months, 12)

    @property
    def months_part(self) -> int:
        return self.months - 12 * _java_div(self.months, 12)


@attrs.frozen
class ZonedTime:
    """A time of day with an offset (``zone`` None) or a region zone (its standard offset)."""

    time: dt.time  # naive
    offset: int  # seconds east of UTC
    zone: str | None = None

    def utc_seconds(self) -> Decimal:
        t = self.time
        seconds = t.hour * 3600 + t.minute * 60 + t.second - self.offset
        return Decimal(seconds) + Decimal(t.microsecond) / 1_000_000


@attrs.frozen
class Range:
    """A FEEL range ``[a..b]`` / ``(a..b)``; endpoints are FEEL values of one comparable type."""

    start: Any
    start_closed: bool
    end: Any
    end_closed: bool

    def contains(self, value: Any) -> bool | None:
        low = compare(self.start, value)
        high = compare(value, self.end)
        if low is None or high is None:
            return None
        return (low < 0 or (low == 0 and self.start_closed)) and (
            high < 0 or (high == 0 and self.end_closed)
        )


@attrs.frozen(eq=False)
class Function:
    """A callable FEEL value: a user-defined ``function(a, b) ...`` or a built-in.

    ``invoke(env, args)`` gets the arguments in parameter order (missing named ones are None).
    """

    params: tuple[str, ...]
    invoke: Callable[[Any, list[Any]], Any]
    varargs: bool = False
    name: str = "anonymous"


# --- type tags ---------------------------------------------------------------------------

T_NULL, T_BOOL, T_NUM, T_STR, T_DATE, T_LTIME, T_TIME, T_LDT, T_DT = range(9)
T_DTDUR, T_YMDUR, T_LIST, T_CTX, T_RANGE, T_FUNC, T_OTHER = range(9, 16)

_TAGS: dict[type, int] = {
    type(None): T_NULL,
    bool: T_BOOL,
    Decimal: T_NUM,
    str: T_STR,
    dt.date: T_DATE,
    dt.time: T_LTIME,
    ZonedTime: T_TIME,
    dt.timedelta: T_DTDUR,
    YearMonths: T_YMDUR,
    list: T_LIST,
    dict: T_CTX,
    Range: T_RANGE,
    Function: T_FUNC,
}


def tag(value: Any) -> int:
    kind = type(value)
    if kind is dt.datetime:
        return T_LDT if value.tzinfo is None else T_DT
    return _TAGS.get(kind, T_OTHER)


_COMPARABLE = frozenset({T_NUM, T_STR, T_DATE, T_LTIME, T_TIME, T_LDT, T_DT, T_DTDUR, T_YMDUR})

_RESULT_TYPES = {
    T_NULL: "NULL",
    T_BOOL: "BOOLEAN",
    T_NUM: "NUMBER",
    T_STR: "STRING",
    T_DATE: "DATE",
    T_LTIME: "TIME",
    T_TIME: "TIME",
    T_LDT: "DATE_TIME",
    T_DT: "DATE_TIME",
    T_DTDUR: "DURATION",
    T_YMDUR: "PERIOD",
    T_LIST: "ARRAY",
    T_CTX: "OBJECT",
}

_FEEL_TYPES = {
    T_NULL: "null",
    T_BOOL: "boolean",
    T_NUM: "number",
    T_STR: "string",
    T_DATE: "date",
    T_LTIME: "time",
    T_TIME: "time",
    T_LDT: "date and time",
    T_DT: "date and time",
    T_DTDUR: "days and time duration",
    T_YMDUR: "years and months duration",
    T_LIST: "list",
    T_CTX: "context",
    T_RANGE: "range",
    T_FUNC: "function",
}


def type_name(value: Any) -> str:
    """Zeebe's result type of a FEEL value (``NULL``, ``BOOLEAN``, ``NUMBER``, ``STRING``,
    ``DURATION``, ``PERIOD``, ``DATE``, ``TIME``, ``DATE_TIME``, ``ARRAY``, ``OBJECT``;
    ``UNKNOWN`` for functions and ranges)."""
    return _RESULT_TYPES.get(tag(value), "UNKNOWN")


def feel_type(value: Any) -> str:
    """The FEEL type name (``instance of``): ``number``, ``date and time``, ..."""
    return _FEEL_TYPES.get(tag(value), "Any")


# --- equality and order --------------------------------------------------------------------


def equals(x: Any, y: Any) -> bool | None:
    """FEEL ``=``: True/False, or None when the values are not comparable (different types)."""
    if x is None or y is None:
        return x is None and y is None
    tx, ty = tag(x), tag(y)
    if tx != ty:
        return None
    if tx == T_LIST:
        return len(x) == len(y) and all(equals(a, b) is True for a, b in zip(x, y, strict=True))
    if tx == T_CTX:
        return x.keys() == y.keys() and all(equals(x[k], y[k]) is True for k in x)
    if tx in (T_RANGE, T_FUNC, T_OTHER):
        return None if tx != T_RANGE else x == y
    if tx == T_TIME:
        return bool(x.utc_seconds() == y.utc_seconds())
    return bool(x == y)


def compare(x: Any, y: Any) -> int | None:
    """-1/0/1 for two comparable values of the same type, else None."""
    tx = tag(x)
    if tx != tag(y) or tx not in _COMPARABLE:
        return None
    if tx == T_TIME:
        x, y = x.utc_seconds(), y.utc_seconds()
    elif tx == T_YMDUR:
        x, y = x.months, y.months
    return -1 if x < y else (1 if x > y else 0)


def _java_div(a: int, b: int) -> int:
    """Integer division truncating toward zero (Java's ``/``)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _java_rem(a: int, b: int) -> int:
    return a - b * _java_div(a, b)


# --- text forms ------------------------------------------------------------------------------


def _fraction(microsecond: int) -> str:
    if not microsecond:
        return ""
    return "." + f"{microsecond:06d}".rstrip("0")


def format_offset(seconds: int) -> str:
    if seconds == 0:
        return "Z"
    sign = "+" if seconds > 0 else "-"
    seconds = abs(seconds)
    text = f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}"
    if seconds % 60:
        text += f":{seconds % 60:02d}"
    return text


def _offset_seconds(value: dt.datetime) -> int:
    offset = value.utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def zone_id(value: dt.datetime) -> str | None:
    """The region id of a date-time's zone, or None for a plain offset."""
    tz = value.tzinfo
    return tz.key if isinstance(tz, ZoneInfo) else None


def _feel_time(t: dt.time) -> str:
    return f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}{_fraction(t.microsecond)}"


def _feel_date(d: dt.date) -> str:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


def _dt_parts(d: dt.timedelta) -> tuple[int, int, int, int]:
    """days, hours, minutes, seconds as java.time.Duration's toDays, toHours % 24, ..."""
    micros = (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds
    seconds = _java_div(micros, 1_000_000) if micros >= 0 else -((-micros) // 1_000_000)
    return (
        _java_div(seconds, 86400),
        _java_rem(_java_div(seconds, 3600), 24),
        _java_rem(_java_div(seconds, 60), 60),
        _java_rem(seconds, 60),
    )


def format_dt_duration(d: dt.timedelta) -> str:
    """FEEL-Scala's text of a days-time duration (``P1DT2H``, ``-PT5M``, ``P0D``)."""
    days, hours, minutes, seconds = _dt_parts(d)
    if days == hours == minutes == seconds == 0:
        return "P0D"
    sign = ""
    if days <= 0 and hours <= 0 and minutes <= 0 and seconds <= 0:
        sign, days, hours, minutes, seconds = "-", -days, -hours, -minutes, -seconds
    text = "P" + (f"{days}D" if days else "")
    if hours or minutes or seconds:
        text += "T" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
        text += f"{seconds}S" if seconds else ""
    return sign + text


def format_ym_duration(d: YearMonths) -> str:
    years, months = d.years_part, d.months_part
    if years == 0 and months == 0:
        return "P0Y"
    if years <= 0 and months <= 0:
        return "-" + format_ym_duration(YearMonths(-d.months))
    return "P" + (f"{years}Y" if years else "") + (f"{months}M" if months else "")


def format_number(n: Decimal) -> str:
    """Java's ``BigDecimal.toString`` (the same scientific-notation rule as Python's)."""
    return str(n)


def to_string(value: Any, quote: bool = False) -> str:
    """FEEL's text of a value (``string(x)``; with ``quote`` strings in quotes, as in messages)."""
    kind = tag(value)
    if kind == T_NULL:
        return "null"
    if kind == T_BOOL:
        return "true" if value else "false"
    if kind == T_NUM:
        return format_number(value)
    if kind == T_STR:
        return f'"{value}"' if quote else str(value)
    if kind == T_DATE:
        return _feel_date(value)
    if kind == T_LTIME:
        return _feel_time(value)
    if kind == T_TIME:
        suffix = f"@{value.zone}" if value.zone else format_offset(value.offset)
        return _feel_time(value.time) + suffix
    if kind in (T_LDT, T_DT):
        text = _feel_date(value) + "T" + _feel_time(value.time())
        if kind == T_DT:
            zone = zone_id(value)
            text += f"@{zone}" if zone else format_offset(_offset_seconds(value))
        return text
    if kind == T_DTDUR:
        return format_dt_duration(value)
    if kind == T_YMDUR:
        return format_ym_duration(value)
    if kind == T_LIST:
        return "[" + ", ".join(to_string(v, True) for v in value) + "]"
    if kind == T_CTX:
        return "{" + ", ".join(f"{k}:{to_string(v, True)}" for k, v in value.items()) + "}"
    if kind == T_RANGE:
        start = "[" if value.start_closed else "("
        end = "]" if value.end_closed else ")"
        return f"{start}{to_string(value.start, True)}..{to_string(value.end, True)}{end}"
    if kind == T_FUNC:
        return f"function({', '.join(value.params)})"
    return repr(value)


# --- Zeebe's JSON mapping ------------------------------------------------------------------


def _java_time(t: dt.time) -> str:
    # java.time.LocalTime.toString: seconds only when not zero, fraction in groups of three
    text = f"{t.hour:02d}:{t.minute:02d}"
    if t.second or t.microsecond:
        text += f":{t.second:02d}"
        if t.microsecond:
            text += (
                f".{t.microsecond // 1000:03d}"
                if t.microsecond % 1000 == 0
                else (f".{t.microsecond:06d}")
            )
    return text


def java_duration(d: dt.timedelta) -> str:
    """``java.time.Duration.toString`` (``PT48H``, ``PT-1M-30S``, ``PT0.5S``, ``PT0S``)."""
    micros = (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds
    if micros == 0:
        return "PT0S"
    seconds, fraction = divmod(micros, 1_000_000)  # floor, fraction >= 0 (like Java's nanos)
    hours = _java_div(seconds, 3600)
    minutes = _java_div(_java_rem(seconds, 3600), 60)
    secs = _java_rem(seconds, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if secs == 0 and fraction == 0:
        return text
    if secs < 0 and fraction > 0:
        text += "-0" if secs == -1 else str(secs + 1)
        fraction = 1_000_000 - fraction
    else:
        text += str(secs)
    if fraction:
        text += "." + f"{fraction:06d}".rstrip("0")
    return text + "S"


def java_period(d: YearMonths) -> str:
    if d.months == 0:
        return "P0D"
    years, months = d.years_part, d.months_part
    return "P" + (f"{years}Y" if years else "") + (f"{months}M" if months else "")


def to_json(value: Any) -> Any:
    """A FEEL value as Zeebe writes it to the variable document: numbers as int when integral
    (and in the 64-bit range) else float, temporals as their ``java.time`` ``toString`` texts,
    contexts as dicts, lists as lists; functions and ranges become None."""
    kind = tag(value)
    if kind in (T_NULL, T_BOOL, T_STR):
        return value
    if kind == T_NUM:
        if value == value.to_integral_value():
            as_int = int(value)
            if _INT64_MIN <= as_int <= _INT64_MAX:
                return as_int
        as_float = float(value)
        return as_float if math.isfinite(as_float) else None
    if kind == T_LIST:
        return [to_json(v) for v in value]
    if kind == T_CTX:
        return {k: to_json(v) for k, v in value.items()}
    if kind == T_DATE:
        return _feel_date(value)
    if kind == T_LTIME:
        return _java_time(value)
    if kind == T_TIME:
        return to_string(value)
    if kind == T_LDT:
        return _feel_date(value) + "T" + _java_time(value.time())
    if kind == T_DT:
        text = _feel_date(value) + "T" + _java_time(value.time())
        text += format_offset(_offset_seconds(value))
        zone = zone_id(value)
        return text + (f"[{zone}]" if zone else "")
    if kind == T_DTDUR:
        return java_duration(value)
    if kind == T_YMDUR:
        return java_period(value)
    return None


def from_json(value: Any) -> Any:
    """Variables as they come from a JSON document -> FEEL values (int/float -> Decimal,
    non-finite floats -> None, tuples -> lists). FEEL values pass through unchanged."""
    kind = type(value)
    if kind is str or kind is bool or value is None or kind is Decimal:
        return value
    if kind is int:
        return Decimal(value)
    if kind is float:
        return Decimal(repr(value)) if math.isfinite(value) else None
    if kind is dict or isinstance(value, Mapping):
        return {str(k): from_json(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [from_json(v) for v in value]
    return value


def needs_conversion(value: Any) -> bool:
    """Whether :func:`from_json` would change ``value`` (cheap check for scalars)."""
    kind = type(value)
    return not (kind is str or kind is bool or value is None or kind is Decimal)
