"""Ordered indexes over the jobs family: activatable jobs per type (lowest key first, as Zeebe's
activation iterates them) and the times at which jobs need the leader's clock (lease deadlines
of ACTIVATED jobs, back-off ends of FAILED ones).

Derived state: rebuilt from the jobs on restore, never snapshotted. Heaps with lazy deletion:
an entry is live only while the job it names still is in the state the entry was made for, and
a heap is rebuilt when stale entries outnumber live ones.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from itertools import compress, repeat
from operator import eq, gt, itemgetter

from .values import ACTIVATABLE, FAILED, JOB_ACTIVATED, Job

__all__ = ["JobIndex"]

_KEY, _TYPE, _STATE, _DEADLINE, _RECUR_AT = (
    itemgetter(Job._fields.index(field))
    for field in ("key", "type", "state", "deadline", "recur_at")
)


def _timer(job: Job) -> int:
    if job.state == JOB_ACTIVATED:
        return job.deadline
    if job.state == FAILED:
        return job.recur_at  # -1: no retries left (an incident), no timer
    return -1


class JobIndex:
    def __init__(self, jobs: Mapping[int, Job]) -> None:
        self._jobs = jobs
        self._ready: dict[str, list[int]] = {}
        self._ready_live: dict[str, int] = {}
        self._timers: list[tuple[int, int]] = []
        self._timers_live = 0
        # Types that gained an activatable job since the last take: a wake-up hint, not state.
        self.newly_activatable: set[str] = set()
        self.load(list(jobs.values()))
        self.loaded()

    def load(
        self,
        jobs: list[Job],
        keys: list[int] | None = None,
        types: list[str] | None = None,
        states: list[str] | None = None,
        deadlines: list[int] | None = None,
        recur_ats: list[int] | None = None,
    ) -> None:
        """Index ``jobs`` in bulk: jobs of the family that are not indexed yet, such as a block
        of those a restore adds. The queues are heaps again only after :meth:`loaded`. A
        caller that has the jobs' fields as columns already (a restore) passes them too.

        Whole-column passes (map, compress, count) rather than a Python step per job: a
        million jobs take tens of milliseconds instead of a second."""
        if keys is None or types is None or states is None:
            keys, types, states = (
                list(map(_KEY, jobs)),
                list(map(_TYPE, jobs)),
                list(map(_STATE, jobs)),
            )
        ready = self._ready
        count = states.count(ACTIVATABLE)
        if count:
            if count != len(states):
                chosen = list(map(eq, states, repeat(ACTIVATABLE)))
                keys = list(compress(keys, chosen))
                types = list(compress(types, chosen))
            if types.count(types[0]) == len(types):
                ready.setdefault(types[0], []).extend(keys)
            elif len(kinds := list(dict.fromkeys(types))) <= 16:  # in the order of first jobs
                for kind in kinds:
                    ready.setdefault(kind, []).extend(compress(keys, map(eq, types, repeat(kind))))
            else:
                for kind, key in zip(types, keys, strict=True):
                    ready.setdefault(kind, []).append(key)
        if count == len(states):
            return
        for state, when, column in (
            (JOB_ACTIVATED, _DEADLINE, deadlines),
            (FAILED, _RECUR_AT, recur_ats),
        ):
            if not states.count(state):
                continue
            chosen = list(map(eq, states, repeat(state)))
            timed = list(compress(jobs, chosen))
            ats = list(map(when, timed)) if column is None else list(compress(column, chosen))
            # -1: no timer (a FAILED job without retries left has an incident instead)
            pairs = zip(ats, map(_KEY, timed), strict=True)
            self._timers += compress(pairs, map(gt, ats, repeat(-1)))

    def loaded(self) -> None:
        """Make the queues heaps again after :meth:`load` (a sorted list is a heap; sorting
        the already sorted costs a pass)."""
        for keys in self._ready.values():
            keys.sort()
        self._timers.sort()
        self._ready_live = {job_type: len(keys) for job_type, keys in self._ready.items()}
        self._timers_live = len(self._timers)
        self.newly_activatable |= self._ready.keys()

    def changed(self, old: Job | None, new: Job | None) -> None:
        """Keep the indexes right after a job changed from ``old`` to ``new`` (None: absent)."""
        if old is not None:
            if old.state == ACTIVATABLE and (new is None or new.state != ACTIVATABLE):
                self._leave_ready(old.type)
            if _timer(old) >= 0 and (new is None or _timer(new) != _timer(old)):
                self._timers_live -= 1
                if self._timers_live == 0:
                    self._timers.clear()
        if new is not None:
            if new.state == ACTIVATABLE and (old is None or old.state != ACTIVATABLE):
                heap = self._ready.get(new.type)
                if heap is None:
                    self._ready[new.type] = [new.key]
                    self._ready_live[new.type] = 1
                else:
                    heapq.heappush(heap, new.key)
                    self._ready_live[new.type] += 1
                self.newly_activatable.add(new.type)
            at = _timer(new)
            if at >= 0 and (old is None or _timer(old) != at):
                self._timers_live += 1
                heapq.heappush(self._timers, (at, new.key))
                if len(self._timers) > 2 * self._timers_live + 64:
                    self._compact_timers()

    def _leave_ready(self, job_type: str) -> None:
        live = self._ready_live[job_type] - 1
        if live == 0:
            del self._ready[job_type], self._ready_live[job_type]
            return
        self._ready_live[job_type] = live
        heap = self._ready[job_type]
        if len(heap) > 2 * live + 64:
            jobs = self._jobs
            self._ready[job_type] = sorted(
                {k for k in heap if (j := jobs.get(k)) is not None and j.state == ACTIVATABLE}
            )

    def _compact_timers(self) -> None:
        jobs = self._jobs
        self._timers = sorted(
            {(t, k) for t, k in self._timers if (j := jobs.get(k)) is not None and _timer(j) == t}
        )

    def ready_count(self, job_type: str) -> int:
        return self._ready_live.get(job_type, 0)

    def activatable_types(self) -> list[str]:
        return sorted(self._ready_live)

    def pop_activatable(self, job_type: str) -> Job | None:
        """The ACTIVATABLE job of the type with the lowest key, taken off the queue: the caller
        changes it (through the state, which calls :meth:`changed`) or gives it back."""
        heap = self._ready.get(job_type)
        jobs = self._jobs
        while heap:
            job = jobs.get(heapq.heappop(heap))
            if job is not None and job.state == ACTIVATABLE:
                return job
        return None

    def give_back(self, job: Job) -> None:
        """Undo :meth:`pop_activatable` for a job the caller did not take."""
        heap = self._ready.get(job.type)
        if heap is not None:
            heapq.heappush(heap, job.key)

    def due(self, now: int) -> list[Job]:
        """Jobs whose deadline or back-off ended by ``now``, in (time, key) order; the caller
        changes each (which accounts for the entries popped here)."""
        timers = self._timers
        jobs = self._jobs
        found: list[Job] = []
        keys: set[int] = set()
        while timers and timers[0][0] <= now:
            at, key = heapq.heappop(timers)
            job = jobs.get(key)
            if job is not None and _timer(job) == at and key not in keys:
                keys.add(key)
                found.append(job)
        return found

    def next_time(self) -> int | None:
        timers = self._timers
        jobs = self._jobs
        while timers:
            at, key = timers[0]
            job = jobs.get(key)
            if job is not None and _timer(job) == at:
                return at
            heapq.heappop(timers)
        return None
