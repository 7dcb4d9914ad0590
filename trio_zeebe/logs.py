"""Logging for every entry point, and progress lines for long start-up work.

:func:`setup_logging` installs one handler on the root logger, writing either text lines::

    2025-03-01T14:02:03.123+01:00 INFO  node-0 trio_zeebe.raft: partition 2: elected in term 4

(local time with its UTC offset) or one JSON object per line (``--log-format json``)::

    {"time": "2025-03-01T13:02:03.123Z", "level": "INFO", "logger": "trio_zeebe.raft",
     "node": 0, "partition": 2, "message": "partition 2: elected in term 4"}

(time in UTC; ``partition`` only on records that concern one; ``exception`` holds the
formatted traceback when there is one).

Which partition a record concerns is never parsed from its message. It comes from, first, the
record's own ``partition`` attribute (``log.info(..., extra={"partition": pid})`` or a
:class:`PartitionLogger`), else from the task: :func:`log_context` sets context variables that
trio copies into every task started below it, so one call where a partition's task tree starts
tags everything its Raft driver and processor log. The node id works the same way (a simulation
runs many nodes in one process); a broker process sets it once in :func:`setup_logging`.

:class:`ProgressReporter` turns long, otherwise silent start-up work (replaying the log,
restoring or receiving a snapshot) into periodic lines: done of total, rate, time left, and a
final line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
ENV_LOG_LEVEL = "TRIO_ZEEBE_LOG_LEVEL"
ENV_LOG_FORMAT = "TRIO_ZEEBE_LOG_FORMAT"

_node: ContextVar[int | None] = ContextVar("trio_zeebe_log_node", default=None)
_partition: ContextVar[int | None] = ContextVar("trio_zeebe_log_partition", default=None)
_installed: logging.Handler | None = None


def check_level(text: str) -> str:
    """The canonical level name for ``text``; ValueError naming the choices otherwise."""
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"{text!r} is not a log level (use one of {', '.join(LOG_LEVELS)})")
    return level


def check_format(text: str) -> str:
    """The canonical format name for ``text``; ValueError naming the choices otherwise."""
    fmt = text.strip().lower()
    if fmt not in LOG_FORMATS:
        raise ValueError(f"{text!r} is not a log format (use {' or '.join(LOG_FORMATS)})")
    return fmt


# --- context ---------------------------------------------------------------------------------


@contextlib.contextmanager
def log_context(*, node: int | None = None, partition: int | None = None) -> Iterator[None]:
    """Tag what this task, and every task it starts inside the block, logs with ``node`` and/or
    ``partition`` (None leaves that tag as it is)."""
    tokens = []
    if node is not None:
        tokens.append((_node, _node.set(node)))
    if partition is not None:
        tokens.append((_partition, _partition.set(partition)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class PartitionLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger whose records concern ``partition`` (for code outside the partition's tasks,
    e.g. a gateway routing to it). Other ``extra`` keys of a call are kept."""

    def __init__(self, logger: logging.Logger, partition: int) -> None:
        super().__init__(logger, {"partition": partition})

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


class ContextFilter(logging.Filter):
    """Gives every record ``node`` and ``partition`` attributes (None when unknown): its own if
    the call set them, else the context's, else (node) the process default."""

    def __init__(self, node: int | None = None) -> None:
        super().__init__()
        self.node = node

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "node", None) is None:
            context_node = _node.get()
            record.node = self.node if context_node is None else context_node
        if getattr(record, "partition", None) is None:
            record.partition = _partition.get()
        return True


# --- formats ---------------------------------------------------------------------------------


def utc_time(created: float) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``: ``2025-03-01T13:02:03.123Z``."""
    stamp = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def local_time(created: float) -> str:
    """ISO 8601 in local time with milliseconds and the UTC offset: ``...03.123+01:00``."""
    return datetime.fromtimestamp(created).astimezone().isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": utc_time(record.created),
            "level": record.levelname,
            "logger": record.name,
        }
        node = getattr(record, "node", None)
        if node is not None:
            data["node"] = node
        partition = getattr(record, "partition", None)
        if partition is not None:
            data["partition"] = partition
        data["message"] = record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            data["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            data["exception"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``TIME LEVEL node-N LOGGER: [partition P: ]MESSAGE`` with the traceback below it."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return local_time(record.created)

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        partition = getattr(record, "partition", None)
        # Most messages already start with their partition; others get it in front.
        if partition is not None and not message.startswith(f"partition {partition}"):
            message = f"partition {partition}: {message}"
        node = getattr(record, "node", None)
        where = f"node-{node} " if node is not None else ""
        line = f"{self.formatTime(record)} {record.levelname:<5} {where}{record.name}: {message}"
        if record.exc_info and record.exc_info[0] is not None:
            line += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


FORMATTERS: Mapping[str, type[logging.Formatter]] = {"text": TextFormatter, "json": JsonFormatter}


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record comes (it may be swapped later)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def setup_logging(
    level: str = "INFO",
    fmt: str = "text",
    *,
    node: int | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every record at ``level`` or above to ``stream`` (default: stderr) as ``fmt``.

    Replaces the handler an earlier call installed (and leaves other handlers alone), so it can
    be called again, e.g. once the config names the node. ``node`` tags every record of this
    process that no :func:`log_context` tags otherwise. Returns the installed handler.
    """
    global _installed
    level, fmt = check_level(level), check_format(fmt)
    handler: logging.Handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(FORMATTERS[fmt]())
    handler.addFilter(ContextFilter(node))
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
    root.addHandler(handler)
    root.setLevel(level)
    _installed = handler
    return handler


# --- progress --------------------------------------------------------------------------------

PROGRESS_INTERVAL = 5.0
"""Seconds between two progress lines of one piece of work."""
PROGRESS_EVERY: int | None = None
"""Units of work between two progress lines regardless of time (None: by time only)."""


class ProgressReporter:
    """Periodic progress lines for one long piece of work, and a final line.

    ``what`` names the work (``"replaying the log"``), ``total`` how much there is (None if
    unknown), ``unit`` what is counted (``"records"``, ``"chunks"``; ``"bytes"`` prints sizes).
    :meth:`begin` says what is to be done; call :meth:`update` (absolute) or :meth:`advance`
    (relative) as work is done: a line is logged when ``interval`` seconds (default
    :data:`PROGRESS_INTERVAL`) or ``every`` units (default :data:`PROGRESS_EVERY`, None: by
    time only) passed since the last one; :meth:`finish` logs the final line. Cheap enough to
    call per log entry: between lines it compares numbers and reads the clock.
    ``clock`` is injectable (tests; a simulation's trio clock).
    """

    def __init__(
        self,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        what: str,
        total: int | None = None,
        *,
        unit: str = "records",
        partition: int | None = None,
        interval: float | None = None,
        every: int | None = None,
        level: int = logging.INFO,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.what = what
        self.total = total
        self.unit = unit
        self.partition = partition
        self.interval = PROGRESS_INTERVAL if interval is None else interval
        self.every = PROGRESS_EVERY if every is None else every
        self.level = level
        self.clock = clock
        self.done = 0
        self.started = clock()
        self._last_at = self.started
        self._last_done = 0
        self._finished = False

    def begin(self, note: str = "") -> None:
        """A first line: what is to be done (``<what>: <total>[ <note>]``)."""
        amount = self._amount(self.total) if self.total is not None else "started"
        self._log(f"{self.what}: {amount}{f' {note}' if note else ''}")

    def advance(self, amount: int = 1) -> None:
        self.update(self.done + amount)

    def update(self, done: int) -> None:
        self.done = done
        if self.every is not None and done - self._last_done >= self.every:
            self._report(self.clock())
            return
        now = self.clock()
        if now - self._last_at >= self.interval:
            self._report(now)

    def finish(self, note: str = "", *, done: int | None = None) -> None:
        """The final line: how much (``done``, default as updated) in how long (once; later
        calls do nothing)."""
        if self._finished:
            return
        self._finished = True
        if done is not None:
            self.done = done
        elapsed = max(self.clock() - self.started, 0.0)
        line = f"{self.what}: done, {self._amount(self.done)} in {_duration(elapsed)}"
        if elapsed > 0 and self.done:
            line += f" ({self._rate(self.done / elapsed)})"
        self._log(line + (f"; {note}" if note else ""))

    def _report(self, now: float) -> None:
        self._last_at, self._last_done = now, self.done
        parts = [f"{self.what}: {self._amount(self.done)}"]
        if self.total:
            parts[0] = f"{self.what}: {self._amount(self.done, of=self.total)}"
            parts[0] += f" ({100 * min(self.done / self.total, 1.0):.0f}%)"
        elapsed = now - self.started
        if elapsed > 0 and self.done:
            rate = self.done / elapsed
            parts.append(self._rate(rate))
            if self.total and self.total > self.done:
                parts.append(f"about {_duration((self.total - self.done) / rate)} left")
        self._log(", ".join(parts))

    def _amount(self, done: int, *, of: int | None = None) -> str:
        if self.unit == "bytes":
            text = _size(done)
            return text if of is None else f"{text} of {_size(of)}"
        text = f"{done:,}" if of is None else f"{done:,} of {of:,}"
        return f"{text} {self.unit}"

    def _rate(self, per_second: float) -> str:
        if self.unit == "bytes":
            return f"{_size(int(per_second))}/s"
        if per_second >= 100:
            return f"{per_second:,.0f} {self.unit}/s"
        return f"{per_second:.2g} {self.unit}/s"

    def _log(self, message: str) -> None:
        extra = {"partition": self.partition} if self.partition is not None else None
        self.logger.log(self.level, message, extra=extra)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
