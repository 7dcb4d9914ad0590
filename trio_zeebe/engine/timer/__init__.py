"""Timer definitions for the engine: reading the texts and FEEL values of ``timeDate``,
``timeDuration`` and ``timeCycle`` (ISO 8601 dates, durations and repeating intervals, and cron
expressions) and computing due dates from them, deterministically in UTC.

:mod:`.schedule` turns a definition into a :class:`~.schedule.Schedule` (the first due date
and how the timer repeats); :mod:`.cron` is the cron dialect.
"""

from . import schedule
from .cron import Cron, CronError, parse_cron
from .schedule import *  # noqa: F403 -- listed once in schedule.__all__

__all__ = ["Cron", "CronError", "parse_cron"]
__all__ += schedule.__all__
