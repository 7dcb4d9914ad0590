"""Syntax checks of static timer texts, so a deployment rejects a timer that can never fire.

Zeebe evaluates static ``timeDate`` / ``timeDuration`` / ``timeCycle`` values at deployment and
rejects the resource when they do not parse. These functions check the same forms with the
engine's own timer reader (:mod:`trio_zeebe.engine.timer`), so what deploys also schedules: an
ISO 8601 duration (``PT15S``, ``P1Y2M3W4DT5H6M7.5S``, signed parts allowed), an ISO 8601
date-time with ``Z``, an offset or an ``[IANA zone]`` (no zone means UTC), and a cycle that is a
repeating interval ``R[n]/[start/]duration`` or a 6-field cron expression (or a ``@daily``-style
macro). Each returns None when the text is fine, else the reason.
"""

from __future__ import annotations

from ..timer.cron import CronError, parse_cron
from ..timer.schedule import TimerError, parse_date_time, parse_interval, parse_repeating

__all__ = ["check_cycle", "check_date", "check_duration"]


def check_duration(text: str) -> str | None:
    try:
        parse_interval(text)
    except TimerError as error:
        return str(error)
    return None


def check_date(text: str) -> str | None:
    try:
        parse_date_time(text)
    except TimerError as error:
        return str(error)
    return None


def check_cycle(text: str) -> str | None:
    try:
        if text.startswith("R"):
            parse_repeating(text)
        else:
            parse_cron(text)
    except (TimerError, CronError) as error:
        return str(error)
    return None
