"""Syntax checks of static timer texts, so a deployment rejects a timer that can never fire.

Zeebe evaluates static ``timeDate`` / ``timeDuration`` / ``timeCycle`` values at deployment and
rejects the resource when they do not parse. These functions check the same forms (see the
reference, section "Timers"): an ISO 8601 duration (``PT15S``, ``P1Y2M3W4DT5H6M7.5S``, signed
parts allowed), an ISO 8601 date-time with ``Z``, an offset or an ``[IANA zone]`` (no zone means
UTC), and a cycle that is a repeating interval ``R[n]/[start/]duration`` or a 6-field cron
expression (or a ``@daily``-style macro). Each returns None when the text is fine, else the reason.

Only syntax: no time zone database is consulted, so every replica decides the same.
"""

from __future__ import annotations

import re
from datetime import datetime

__all__ = ["check_cycle", "check_date", "check_duration"]

_DURATION = re.compile(
    r"[-+]?P(?!$)"
    r"(?:[-+]?\d+Y)?(?:[-+]?\d+M)?(?:[-+]?\d+W)?(?:[-+]?\d+D)?"
    r"(?:T(?=[-+\d])(?:[-+]?\d+H)?(?:[-+]?\d+M)?(?:[-+]?\d+(?:[.,]\d{1,9})?S)?)?",
    re.IGNORECASE | re.ASCII,
)
_ZONE = re.compile(r"\[[A-Za-z][A-Za-z0-9_+\-/]*\]")
_CRON_FIELD = re.compile(r"[0-9A-Za-z*?/,\-#]+")
_CRON_MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)


def check_duration(text: str) -> str | None:
    if _DURATION.fullmatch(text) is None:
        return f"Text '{text}' cannot be parsed to a Duration"
    return None


def check_date(text: str) -> str | None:
    value = text
    zone = re.search(r"\[[^\]]*\]$", value)
    if zone is not None:
        if _ZONE.fullmatch(zone.group(0)) is None:
            return f"Text '{text}' has an invalid time zone"
        value = value[: zone.start()]
    # a date-time needs a time part; datetime.fromisoformat alone would accept a bare date
    if "T" not in value.upper():
        return f"Text '{text}' could not be parsed as a date-time"
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return f"Text '{text}' could not be parsed as a date-time"
    return None


def check_cycle(text: str) -> str | None:
    if text.startswith("R"):
        return _check_repeating_interval(text)
    if text.strip().lower() in _CRON_MACROS:
        return None
    fields = text.split()
    if len(fields) != 6 or not all(_CRON_FIELD.fullmatch(field) for field in fields):
        return f'Cron expression must consist of 6 fields (found {len(fields)} in "{text}")'
    return None


def _check_repeating_interval(text: str) -> str | None:
    parts = text.split("/")
    repetitions = parts[0][1:]
    if re.fullmatch("[0-9]*", repetitions) is None:
        return f"Text '{text}' cannot be parsed to a repeating interval"
    if len(parts) == 2:
        return check_duration(parts[1])
    if len(parts) == 3:
        return check_date(parts[1]) or check_duration(parts[2])
    return f"Text '{text}' cannot be parsed to a repeating interval"
