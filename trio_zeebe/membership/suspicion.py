"""Lifeguard's dynamic suspicion timeout.

Rule used here (documented in :class:`~trio_zeebe.membership.config.SwimConfig`):

* ``max`` = ``failure_timeout`` (Zeebe's SUSPECT -> DEAD time; never exceeded),
* ``min`` = ``min(failure_timeout, suspicion_mult * max(1, log10(n)) * probe_interval)``,
* ``k``   = confirmations expected = ``min(suspicion_mult - 2, n - 2)`` (only other members can
  confirm); with ``k <= 0`` the timeout stays at ``max``, as in Zeebe,
* after ``c`` independent confirmations the timeout is
  ``max - (max - min) * log(c + 1) / log(k + 1)``, clamped to ``min``.

So a lone accuser waits the full failure timeout, while a member suspected by many others is
declared dead sooner -- and a falsely suspected member gets the longest window to refute.
"""

from __future__ import annotations

import math


def suspicion_bounds(
    n: int, failure_timeout: float, suspicion_mult: int, probe_interval: float
) -> tuple[float, float, int]:
    """(min timeout, max timeout, expected confirmations) for a cluster of ``n`` live members."""
    low = min(failure_timeout, suspicion_mult * max(1.0, math.log10(max(n, 1))) * probe_interval)
    k = min(suspicion_mult - 2, n - 2)
    return low, failure_timeout, max(k, 0)


class Suspicion:
    """The timer for one suspected member (at one incarnation)."""

    __slots__ = ("_deadline", "accusers", "k", "max_timeout", "min_timeout", "start")

    def __init__(
        self, start: float, accuser: int, min_timeout: float, max_timeout: float, k: int
    ) -> None:
        self.start = start
        self.accusers = {accuser}
        self.min_timeout = min_timeout
        self.max_timeout = max_timeout
        self.k = k
        self._deadline = start + max_timeout

    @property
    def deadline(self) -> float:
        return self._deadline

    @property
    def confirmations(self) -> int:
        return len(self.accusers) - 1

    def timeout(self) -> float:
        if self.k <= 0:
            return self.max_timeout
        frac = math.log(self.confirmations + 1) / math.log(self.k + 1)
        span = self.max_timeout - self.min_timeout
        return max(self.min_timeout, self.max_timeout - frac * span)

    def confirm(self, accuser: int) -> bool:
        """Count an accuser; True when it is a new, independent confirmation."""
        if accuser < 0 or accuser in self.accusers:
            return False
        self.accusers.add(accuser)
        self._deadline = self.start + self.timeout()
        return True
