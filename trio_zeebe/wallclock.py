"""TEST HOOK: a wall clock with an offset that a test changes while the broker process runs.

The chaos suite skews one broker's clock forward and backward under load. A real process cannot
be handed a Python callable, so the offset lives in a file: when the environment variable
:data:`ENV_VAR` names one, ``python -m trio_zeebe node`` gives its broker an
:class:`OffsetClock` (``Broker(clock=...)``) that adds the offset in that file (a float number
of seconds, ``0`` or absent: no offset) to ``time.time()``, re-read every
:data:`REFRESH_INTERVAL` seconds. Nothing else in the broker knows about this.

It skews what a skewed machine clock skews: the timestamps the leader stamps into records (job
deadlines and back-offs come from them) and the broker's membership incarnation at start.
Raft and SWIM timing use trio's monotonic clock and are unaffected, as on a real machine.

Not for production: without the variable the broker uses ``time.time`` unchanged.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from pathlib import Path

import trio

ENV_VAR = "TRIO_ZEEBE_TEST_CLOCK_OFFSET_FILE"
REFRESH_INTERVAL = 0.1


def read_offset(path: str | os.PathLike[str]) -> float:
    """The offset in ``path``; 0.0 when the file is absent, empty or not a finite number."""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
        value = float(text) if text else 0.0
    except (OSError, ValueError, UnicodeDecodeError):
        return 0.0
    return value if math.isfinite(value) else 0.0


def write_offset(path: str | os.PathLike[str], seconds: float) -> None:
    """Set the offset a running broker picks up within ``REFRESH_INTERVAL`` (atomic replace)."""
    target = Path(path)
    temp = target.with_name(target.name + ".tmp")
    temp.write_text(f"{seconds!r}\n", encoding="ascii")
    os.replace(temp, target)


class OffsetClock:
    """``time.time()`` plus the offset last read from ``path``; run :meth:`run` to follow it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.offset = read_offset(self.path)  # read at once: the incarnation uses it

    def __call__(self) -> float:
        return time.time() + self.offset

    async def refresh(self) -> None:
        self.offset = await trio.to_thread.run_sync(read_offset, self.path)

    async def run(self) -> None:
        """Re-read the offset every ``REFRESH_INTERVAL`` seconds until cancelled."""
        while True:
            await trio.sleep(REFRESH_INTERVAL)
            await self.refresh()


def from_environment(environ: Mapping[str, str] | None = None) -> OffsetClock | None:
    """The hook's clock when :data:`ENV_VAR` is set, else None (the broker uses time.time)."""
    path = (os.environ if environ is None else environ).get(ENV_VAR)
    return OffsetClock(path) if path else None
