"""Helpers for the timer tests: the process test driver with clock helpers."""

from __future__ import annotations

from typing import Any

from ..process.driver import START, Driver

__all__ = ["START", "TimerDriver"]


class TimerDriver(Driver):
    """The process driver plus what timer tests look at: time records that advance the
    leader's clock, and the timers (CREATED / TRIGGERED / CANCELED trace records)."""

    def advance(self, seconds: float) -> None:
        """The leader's clock moves on by ``seconds`` and it appends one time record (the
        processor does so whenever the engine's deadline has passed), then the continuations
        that record leaves."""
        self.tick(seconds)
        self.drain()

    def until_idle(self, limit: int = 1000) -> None:
        """Time records, as the leader appends them, while the engine's deadline is now (or a
        millisecond on: overdue work)."""
        for _ in range(limit):
            deadline = self.engine.next_deadline()
            if deadline is None or deadline > self.now + 0.001:
                return
            self.now = max(self.now, deadline)
            self.tick()
        raise AssertionError("the engine is still due")

    def timers(self, intent: str | None = None, target: str | None = None) -> list[Any]:
        return [
            r
            for r in self.of("TIMER", intent)
            if target is None or r.value["targetElementId"] == target
        ]

    def fired(self, target: str) -> int:
        return len(self.timers("TRIGGERED", target))

    def pending(self) -> list[Any]:
        """The timers waiting in the engine's state."""
        return list(self.engine.timers().values())

    def deadline_in(self) -> float | None:
        """Seconds from now to the engine's next deadline."""
        deadline = self.engine.next_deadline()
        return None if deadline is None else round(deadline - self.now, 3)
