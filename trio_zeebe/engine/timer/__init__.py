"""Timer definitions for the engine: reading the texts and FEEL values of ``timeDate``,
``timeDuration`` and ``timeCycle`` (ISO 8601 dates, durations and repeating intervals, and cron
expressions) and computing due dates from them, deterministically in UTC.

:mod:`.schedule` turns a definition into a :class:`~.schedule.Schedule` (the first due date
and how the timer repeats); :mod:`.cron` is the cron dialect.
"""

from .cron import Cron, CronError, parse_cron
from .schedule import (
    INFINITE,
    MIN_REPEAT_MS,
    Interval,
    Schedule,
    TimerError,
    add_interval,
    cycle_schedule,
    date_schedule,
    duration_schedule,
    next_due,
    parse_date_time,
    parse_interval,
    parse_repeating,
)

__all__ = [
    "INFINITE",
    "MIN_REPEAT_MS",
    "Cron",
    "CronError",
    "Interval",
    "Schedule",
    "TimerError",
    "add_interval",
    "cycle_schedule",
    "date_schedule",
    "duration_schedule",
    "next_due",
    "parse_cron",
    "parse_date_time",
    "parse_interval",
    "parse_repeating",
]
