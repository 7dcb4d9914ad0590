"""The job engine's state: jobs by key, activation queues, timers, key sequence, snapshots.

Pure data structures, no policy: :mod:`.jobs` decides which transition a command makes and this
module keeps the indexes consistent with it. Everything is ordered by job key or by
(deadline, key) -- never by hash order or history -- so a state rebuilt from a snapshot answers
exactly like the state that produced the snapshot.

Indexes use lazy deletion (a job leaving a queue leaves a stale heap entry that is skipped when
it surfaces); each heap is rebuilt when stale entries outnumber live ones, so memory stays
proportional to the live jobs.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

from .. import codec
from ..keys import KEY_BITS, MAX_COUNTER, MAX_PARTITION, PARTITION_BITS
from .records import JobState

MAX_SEQUENCE = MAX_COUNTER
MAX_RETRIES = 2**31 - 1  # Zeebe's retries are an int32
__all__ = [
    "KEY_BITS",
    "MAX_PARTITION",
    "MAX_RETRIES",
    "MAX_SEQUENCE",
    "PARTITION_BITS",
    "JobRecord",
    "JobStore",
]

_SNAPSHOT_MAGIC = "tz.jobs"
_SNAPSHOT_VERSION = 1

ACTIVATABLE = JobState.ACTIVATABLE
ACTIVATED = JobState.ACTIVATED
FAILED = JobState.FAILED
ERROR_THROWN = JobState.ERROR_THROWN
_STATES = {s.value: s for s in (ACTIVATABLE, ACTIVATED, FAILED, ERROR_THROWN)}


class SnapshotError(ValueError):
    """Snapshot bytes that are not a valid job engine snapshot (the state is left unchanged)."""


class JobRecord:
    """One live job (mutable; only :class:`JobStore` changes ``state`` and ``deadline``)."""

    __slots__ = (
        "custom_headers",
        "deadline",
        "error_code",
        "error_message",
        "key",
        "retries",
        "state",
        "type",
        "variables",
        "worker",
    )

    def __init__(
        self,
        key: int,
        type: str,
        retries: int,
        variables: dict[str, Any],
        custom_headers: dict[str, str],
    ) -> None:
        self.key = key
        self.type = type
        self.state = ACTIVATABLE
        self.retries = retries
        self.worker = ""
        self.deadline: float | None = None
        # Stored dicts are canonical and replaced, never mutated: results may share them.
        self.variables = variables
        self.custom_headers = custom_headers
        self.error_code = ""
        self.error_message = ""


class JobStore:
    def __init__(self, partition_id: int) -> None:
        if not 0 <= partition_id <= MAX_PARTITION:
            raise ValueError(f"partition_id must be in 0..{MAX_PARTITION}, got {partition_id}")
        self.partition_id = partition_id
        self.sequence = 0  # last sequence handed out; persisted so keys are never reused
        self.clock = 0.0  # latest leader timestamp seen; time never runs backwards in here
        self.position = -1  # last applied record position
        self.jobs: dict[int, JobRecord] = {}
        self._ready: dict[str, list[int]] = {}  # type -> heap of keys (maybe stale)
        self._ready_live: dict[str, int] = {}  # type -> number of ACTIVATABLE jobs
        self._timers: list[tuple[float, int]] = []  # heap of (deadline, key) (maybe stale)
        self._timers_live = 0  # jobs with a deadline
        # Types that gained an activatable job since the last take (not state: a wake-up hint).
        self.newly_activatable: set[str] = set()

    # --- keys -------------------------------------------------------------------------------

    def next_key(self) -> int | None:
        if self.sequence >= MAX_SEQUENCE:
            return None
        self.sequence += 1
        return (self.partition_id << KEY_BITS) | self.sequence

    # --- transitions ------------------------------------------------------------------------

    def add(self, job: JobRecord) -> None:
        """Insert a new job (state ACTIVATABLE)."""
        self.jobs[job.key] = job
        self._enter_ready(job)

    def remove(self, job: JobRecord) -> None:
        self._leave(job)
        del self.jobs[job.key]

    def move(self, job: JobRecord, state: JobState, deadline: float | None = None) -> None:
        """Put ``job`` into ``state`` with ``deadline`` (ACTIVATED, or FAILED with a back-off)."""
        self._leave(job)
        self._place(job, state, deadline)

    def _place(self, job: JobRecord, state: JobState, deadline: float | None) -> None:
        job.state = state
        if state is ACTIVATABLE:
            self._enter_ready(job)
        elif deadline is not None:
            job.deadline = deadline
            self._timers_live += 1
            heapq.heappush(self._timers, (deadline, job.key))

    def _enter_ready(self, job: JobRecord) -> None:
        heap = self._ready.get(job.type)
        if heap is None:
            self._ready[job.type] = [job.key]
            self._ready_live[job.type] = 1
        else:
            heapq.heappush(heap, job.key)
            self._ready_live[job.type] += 1
        self.newly_activatable.add(job.type)

    def _leave(self, job: JobRecord) -> None:
        if job.state is ACTIVATABLE:
            live = self._ready_live[job.type] - 1
            if live == 0:
                del self._ready[job.type], self._ready_live[job.type]
            else:
                self._ready_live[job.type] = live
                heap = self._ready[job.type]
                if len(heap) > 2 * live + 64:
                    self._ready[job.type] = self._live_ready(job.type, heap)
        if job.deadline is not None:
            job.deadline = None
            self._timers_live -= 1
            if self._timers_live == 0:
                self._timers.clear()
            elif len(self._timers) > 2 * self._timers_live + 64:
                jobs = self.jobs
                live_timers = {
                    (d, k) for d, k in self._timers if (j := jobs.get(k)) and j.deadline == d
                }
                self._timers = sorted(live_timers)  # a sorted list is a heap

    def _live_ready(self, type: str, heap: list[int]) -> list[int]:
        jobs = self.jobs
        return sorted({k for k in heap if (j := jobs.get(k)) and j.state is ACTIVATABLE})

    # --- queries ----------------------------------------------------------------------------

    def activate(self, type: str, limit: int, worker: str, deadline: float) -> list[JobRecord]:
        """Move up to ``limit`` ACTIVATABLE jobs of ``type``, lowest key first, to ACTIVATED."""
        heap = self._ready.get(type)
        found: list[JobRecord] = []
        if heap is None:
            return found
        jobs = self.jobs
        timers = self._timers
        while heap and len(found) < limit:
            job = jobs.get(heapq.heappop(heap))
            # A duplicate entry finds its job ACTIVATED already, so it is never taken twice.
            if job is not None and job.state is ACTIVATABLE:
                job.state = ACTIVATED
                job.worker = worker
                job.deadline = deadline
                heapq.heappush(timers, (deadline, job.key))
                found.append(job)
        self._timers_live += len(found)
        live = self._ready_live[type] - len(found)
        if live == 0:
            del self._ready[type], self._ready_live[type]
        else:
            self._ready_live[type] = live
        return found

    def ready_count(self, type: str) -> int:
        return self._ready_live.get(type, 0)

    def expire(self, now: float) -> list[tuple[JobRecord, JobState]]:
        """Make every job whose deadline is <= ``now`` ACTIVATABLE (an ACTIVATED job loses its
        worker), in (deadline, key) order; returns each job with the state it left."""
        timers = self._timers
        jobs = self.jobs
        due: list[tuple[JobRecord, JobState]] = []
        while timers and timers[0][0] <= now:
            deadline, key = heapq.heappop(timers)
            job = jobs.get(key)
            if job is not None and job.deadline == deadline:
                due.append((job, job.state))
                job.deadline = None
                self._timers_live -= 1
                job.state = ACTIVATABLE
                job.worker = ""
                self._enter_ready(job)
        return due

    def next_deadline(self) -> float | None:
        timers = self._timers
        jobs = self.jobs
        while timers:
            deadline, key = timers[0]
            job = jobs.get(key)
            if job is not None and job.deadline == deadline:
                return deadline
            heapq.heappop(timers)
        return None

    def activatable_types(self) -> list[str]:
        return sorted(self._ready_live)

    # --- snapshots --------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        rows = [
            [
                j.key,
                j.type,
                j.state.value,
                j.retries,
                j.worker,
                j.deadline,
                j.variables,
                j.custom_headers,
                j.error_code,
                j.error_message,
            ]
            for j in sorted(self.jobs.values(), key=_by_key)
        ]
        header = [_SNAPSHOT_MAGIC, _SNAPSHOT_VERSION, self.partition_id, self.sequence]
        return codec.packb([*header, self.clock, self.position, rows])

    @classmethod
    def from_snapshot(cls, data: bytes) -> JobStore:
        try:
            return cls._from_snapshot(data)
        except SnapshotError:
            raise
        except Exception as exc:  # any shape error in foreign bytes means "not a snapshot"
            raise SnapshotError(f"bad job engine snapshot: {type(exc).__name__}: {exc}") from None

    @classmethod
    def _from_snapshot(cls, data: bytes) -> JobStore:
        obj = codec.unpackb(data)
        if not isinstance(obj, list) or len(obj) != 7 or obj[0] != _SNAPSHOT_MAGIC:
            raise SnapshotError("not a job engine snapshot")
        _, version, partition_id, sequence, clock, position, rows = obj
        if version != _SNAPSHOT_VERSION:
            raise SnapshotError(f"unsupported job engine snapshot version {version!r}")
        _expect(type(partition_id) is int, "partition id")
        _expect(type(sequence) is int and 0 <= sequence <= MAX_SEQUENCE, "sequence")
        _expect(type(clock) is float and math.isfinite(clock), "clock")
        _expect(type(position) is int and -1 <= position < 1 << 64, "position")
        _expect(type(rows) is list, "job list")
        store = cls(partition_id)
        store.sequence, store.clock, store.position = sequence, clock, position
        previous = -1
        for row in rows:
            _expect(type(row) is list and len(row) == 10, "job row")
            key, type_, state, retries, worker, deadline, variables, headers, code, msg = row
            _expect(type(key) is int and key > previous, "job keys out of order")
            _expect(key >> KEY_BITS == partition_id, f"key {key} from another partition")
            _expect(0 < key & MAX_SEQUENCE <= sequence, f"key {key} beyond the sequence")
            _expect(type(type_) is str and state in _STATES, f"job {key}: type/state")
            _expect(type(retries) is int and 0 <= retries <= MAX_RETRIES, f"job {key}: retries")
            _expect(type(worker) is str, f"job {key}: worker")
            # Cheap checks only (the file is checksummed): what later commands rely on.
            _expect(type(variables) is dict and _str_keys(variables), f"job {key}: variables")
            _expect(type(headers) is dict and _str_map(headers), f"job {key}: custom headers")
            _expect(type(code) is str and type(msg) is str, f"job {key}: error")
            job_state = _STATES[state]
            timed = job_state is ACTIVATED or (job_state is FAILED and retries > 0)
            if timed:
                _expect(type(deadline) is float and math.isfinite(deadline), f"job {key}: deadline")
            else:
                _expect(deadline is None, f"job {key}: deadline")
            previous = key
            job = JobRecord(key, type_, retries, variables, headers)
            job.worker, job.error_code, job.error_message = worker, code, msg
            store.jobs[key] = job
            store._place(job, job_state, deadline)
        store.newly_activatable.clear()
        return store


def _by_key(job: JobRecord) -> int:
    return job.key


def _str_keys(value: dict[Any, Any]) -> bool:
    return all(type(k) is str for k in value)


def _str_map(value: dict[Any, Any]) -> bool:
    return all(type(k) is str and type(v) is str for k, v in value.items())


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise SnapshotError(f"bad job engine snapshot: {what}")
