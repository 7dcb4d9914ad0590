"""The timers family's value and its derived indexes.

A :class:`Timer` is Zeebe's TimerRecord: it belongs to the element instance whose activation
created it (the intermediate catch event, the activity of a boundary event, the scope of an
event subprocess, the event-based gateway; -1 for a timer start event, which belongs to its
process definition) and names the catch event it triggers. :class:`TimerIndex` is derived state,
rebuilt from the family on restore: the due dates in order (a heap with lazy deletion, as the
job index keeps its deadlines) and the timers of each element instance and of each definition.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from typing import NamedTuple

__all__ = ["Timer", "TimerIndex"]


class Timer(NamedTuple):
    """A timer waiting for its due date (engine milliseconds).

    ``repetitions`` counts the firings left including the next one (-1: for ever); ``cycle``
    is the cycle text that gives the due date after the next one ("" when it fires once).
    """

    key: int
    element_instance_key: int
    process_instance_key: int
    definition_key: int
    target_element_id: str
    due_date: int
    repetitions: int
    cycle: str


class TimerIndex:
    def __init__(self, timers: Mapping[int, Timer]) -> None:
        self._timers = timers
        self._due: list[tuple[int, int]] = []
        self.of_element: dict[int, dict[int, None]] = {}
        self.of_definition: dict[int, dict[int, None]] = {}
        for timer in timers.values():
            self.added(timer)

    def _owner(self, timer: Timer) -> tuple[dict[int, dict[int, None]], int]:
        if timer.element_instance_key >= 0:
            return self.of_element, timer.element_instance_key
        return self.of_definition, timer.definition_key

    def added(self, timer: Timer) -> None:
        heapq.heappush(self._due, (timer.due_date, timer.key))
        owners, owner = self._owner(timer)
        owners.setdefault(owner, {})[timer.key] = None
        if len(self._due) > 2 * len(self._timers) + 64:
            self._due = sorted((t.due_date, t.key) for t in self._timers.values())

    def removed(self, timer: Timer) -> None:
        owners, owner = self._owner(timer)
        mine = owners.get(owner)
        if mine is not None:
            mine.pop(timer.key, None)
            if not mine:
                del owners[owner]
        if not self._timers:
            self._due.clear()

    def _live(self, entry: tuple[int, int]) -> bool:
        timer = self._timers.get(entry[1])
        return timer is not None and timer.due_date == entry[0]

    def next_due(self) -> int | None:
        """The earliest due date of any timer (engine ms), or None."""
        due = self._due
        while due and not self._live(due[0]):
            heapq.heappop(due)
        return due[0][0] if due else None

    def due(self, now: int) -> Iterator[Timer]:
        """The timers due at ``now``, earliest first (then by key). Taking one out of the
        family while iterating is fine (and expected: a yielded timer must leave it)."""
        while self._due:
            entry = self._due[0]
            if not self._live(entry):
                heapq.heappop(self._due)
                continue
            if entry[0] > now:
                return
            heapq.heappop(self._due)
            yield self._timers[entry[1]]
