"""Zeebe's job lifecycle as a deterministic state machine (one per partition).

::

    CreateJob ──> ACTIVATABLE ──ActivateJobs──> ACTIVATED ──CompleteJob──> (gone)
                     ^   ^                      |  |  |
                     |   └── TimeTick (lease) ──┘  |  └──ThrowError──> ERROR_THROWN
                     |                             FailJob
                     |                               ├─ retries > 0, no back-off ─> ACTIVATABLE
                     ├── TimeTick (back-off over) ── ├─ retries > 0, back-off ────> FAILED
                     └── UpdateJobRetries (>0) ───── └─ retries == 0 ─────────────> FAILED
                                                                                   (incident)

CompleteJob, FailJob and ThrowError are accepted for ACTIVATABLE and ACTIVATED jobs (a worker
whose lease ran out may still finish, as in Zeebe); UpdateJobRetries for any job that did not
throw an error; UpdateJobTimeout for ACTIVATED jobs only. A command that is refused changes
nothing and answers a :class:`~.records.Rejection`.

Time never comes from a clock, nor from a command: each record is applied with the leader's
timestamp from the processor's envelope, the engine keeps the largest one seen (``clock``; so a
new leader with a clock slightly behind cannot move time backwards) and computes deadlines from
it. Timeouts and back-offs fire only when the leader appends a time record (applied by
:meth:`JobEngine.tick`); :meth:`JobEngine.next_deadline` says when that is due. All durations
are float seconds.

Whatever a record holds, :meth:`JobEngine.apply` answers: a command that does not decode or
whose fields have the wrong type or range is a :class:`~.records.Rejection`, so a committed
record never stops the partition.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, overload

from .. import codec
from .records import (
    ActivatedJobs,
    ActivateJobs,
    CompleteJob,
    CreateJob,
    ErrorCode,
    FailJob,
    Job,
    JobKey,
    JobResult,
    JobState,
    Rejection,
    ThrowError,
    TimeTick,
    TimeTickResult,
    UpdateJobRetries,
    UpdateJobTimeout,
)
from .state import KEY_BITS, MAX_RETRIES, JobRecord, JobStore
from .values import InvalidValue, canonical_headers, canonical_object

ACTIVATABLE = JobState.ACTIVATABLE
ACTIVATED = JobState.ACTIVATED
FAILED = JobState.FAILED
ERROR_THROWN = JobState.ERROR_THROWN
_HOLDABLE = (ACTIVATABLE, ACTIVATED)  # states a worker's answer (complete/fail/throw) accepts


class _Refused(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        self.rejection = Rejection(code.value, message)


def _invalid(message: str) -> _Refused:
    return _Refused(ErrorCode.INVALID_ARGUMENT, message)


class JobEngine:
    """The job state machine of one partition; implements :class:`.StateMachine`."""

    def __init__(self, partition_id: int = 1) -> None:
        self._store = JobStore(partition_id)
        self._handlers: dict[type[Any], Callable[[Any, float], JobResult]] = {
            CreateJob: self._create,
            ActivateJobs: self._activate,
            CompleteJob: self._complete,
            FailJob: self._fail,
            ThrowError: self._throw,
            UpdateJobRetries: self._update_retries,
            UpdateJobTimeout: self._update_timeout,
            TimeTick: self._tick,
        }

    # --- StateMachine, TimeDriven, AnswersUnlogged --------------------------------------------

    def apply(self, command: bytes, position: int, timestamp: float) -> bytes:
        refused = self._advance(position)
        if refused is not None:
            return refused
        try:
            decoded = codec.decode(command)
        except codec.DecodeError as exc:
            return codec.encode(Rejection(ErrorCode.INVALID_ARGUMENT.value, str(exc)))
        return encode_result(self.execute(decoded, timestamp))

    def tick(self, position: int, timestamp: float) -> bytes:
        """A leader time record: leases and back-offs that ended by ``timestamp`` fire."""
        refused = self._advance(position)
        if refused is not None:
            return refused
        return encode_result(self.execute(_TICK, timestamp))

    def _advance(self, position: int) -> bytes | None:
        store = self._store
        if type(position) is not int or position <= store.position:
            message = f"record at position {_show(position)} already applied (at {store.position})"
            return codec.encode(Rejection(ErrorCode.FAILED_PRECONDITION.value, message))
        store.position = position
        return None

    def answer_unlogged(self, command: bytes) -> bytes | None:
        """An activation that would find no job is answered without a record (most of a
        long-polling gateway's rounds ask partitions that have none)."""
        if not command.startswith(_ACTIVATE_PREFIX):
            return None
        try:
            decoded = codec.decode(command)
        except codec.DecodeError:
            return None  # logged, and rejected when applied
        if not isinstance(decoded, ActivateJobs):
            return None
        try:
            self._check_activation(decoded)
        except _Refused:
            return None  # logged, and rejected when applied
        if self._store.ready_count(decoded.type):
            return None
        return encode_result(ActivatedJobs(()))

    def snapshot(self) -> bytes:
        return self._store.snapshot()

    def restore(self, data: bytes) -> None:
        store = JobStore.from_snapshot(data)
        if store.partition_id != self._store.partition_id:
            raise ValueError(
                f"snapshot of partition {store.partition_id}, "
                f"this engine serves partition {self._store.partition_id}"
            )
        pending = self._store.newly_activatable
        self._store = store
        # Wake-up hints are not state; keep the untaken ones and add every activatable type.
        store.newly_activatable = pending | set(store.activatable_types())

    # --- typed use --------------------------------------------------------------------------

    @overload
    def execute(self, command: CreateJob, timestamp: float) -> JobKey | Rejection: ...
    @overload
    def execute(self, command: ActivateJobs, timestamp: float) -> ActivatedJobs | Rejection: ...
    @overload
    def execute(self, command: TimeTick, timestamp: float) -> TimeTickResult | Rejection: ...
    @overload
    def execute(
        self,
        command: CompleteJob | FailJob | ThrowError | UpdateJobRetries | UpdateJobTimeout,
        timestamp: float,
    ) -> Job | Rejection: ...
    @overload
    def execute(self, command: object, timestamp: float) -> JobResult: ...

    def execute(self, command: object, timestamp: float) -> JobResult:
        """Apply a command object directly (no position bookkeeping): same rules as apply."""
        handler = self._handlers.get(type(command))
        if handler is None:
            return Rejection(ErrorCode.INVALID_ARGUMENT.value, "not a job engine command")
        store = self._store
        # NaN and infinities never become the clock (comparisons with NaN are false).
        if type(timestamp) is float and store.clock < timestamp < math.inf:
            store.clock = timestamp
        try:
            return handler(command, store.clock)
        except _Refused as refused:
            return refused.rejection

    def job(self, key: int) -> Job | None:
        record = self._store.jobs.get(key)
        return None if record is None else _view(record)

    @property
    def partition_id(self) -> int:
        return self._store.partition_id

    @property
    def position(self) -> int:
        """Position of the last record applied (-1 before the first)."""
        return self._store.position

    @property
    def clock(self) -> float:
        """The latest leader timestamp seen (seconds)."""
        return self._store.clock

    @property
    def job_count(self) -> int:
        return len(self._store.jobs)

    def next_deadline(self) -> float | None:
        """When the leader must append a time record (a lease or back-off ends then); None:
        never."""
        return self._store.next_deadline()

    def activatable_count(self, type: str) -> int:
        return self._store.ready_count(type)

    def activatable_types(self) -> list[str]:
        """Job types with at least one ACTIVATABLE job, sorted."""
        return self._store.activatable_types()

    def take_newly_activatable(self) -> set[str]:
        """Types that gained an activatable job since the last call (wake long-polling
        ActivateJobs for these). A hint, not state: it is not in snapshots."""
        store = self._store
        types, store.newly_activatable = store.newly_activatable, set()
        return types

    # --- handlers: validate everything first, then change state --------------------------

    def _create(self, cmd: CreateJob, now: float) -> JobKey:
        _check_type(cmd.type)
        retries = _retries(cmd.retries, minimum=1)
        variables = _object(cmd.variables, "variables")
        try:
            headers = canonical_headers(cmd.custom_headers)
        except InvalidValue as exc:
            raise _invalid(str(exc)) from None
        key = self._store.next_key()
        if key is None:
            raise _Refused(ErrorCode.RESOURCE_EXHAUSTED, "this partition has used all its keys")
        self._store.add(JobRecord(key, cmd.type, retries, variables, headers))
        return JobKey(key)

    def _check_activation(self, cmd: ActivateJobs) -> float:
        """Raise the rejection of an invalid activation; the lease (timeout) of a valid one."""
        _check_type(cmd.type)
        if type(cmd.worker) is not str:
            raise _invalid("worker must be a string")
        if type(cmd.max_jobs) is not int or cmd.max_jobs < 1:
            raise _invalid(f"max_jobs must be at least 1, got {_show(cmd.max_jobs)}")
        timeout = _duration(cmd.timeout, "timeout", positive=True)
        names = cmd.fetch_variables
        if type(names) not in (tuple, list) or any(type(n) is not str for n in names):
            raise _invalid("fetch_variables must be a list of strings")
        return timeout

    def _activate(self, cmd: ActivateJobs, now: float) -> ActivatedJobs:
        timeout = self._check_activation(cmd)
        names = cmd.fetch_variables
        jobs = self._store.activate(cmd.type, cmd.max_jobs, cmd.worker, now + timeout)
        if not names:
            return ActivatedJobs(tuple([_view(j) for j in jobs]))
        wanted = sorted(set(names))
        return ActivatedJobs(
            tuple([_view(j, {n: j.variables[n] for n in wanted if n in j.variables}) for j in jobs])
        )

    def _complete(self, cmd: CompleteJob, now: float) -> Job:
        variables = _object(cmd.variables, "variables")
        job = self._held(cmd.key, "complete")
        self._store.remove(job)
        return _view(job, _merge(job.variables, variables), JobState.COMPLETED)

    def _fail(self, cmd: FailJob, now: float) -> Job:
        retries = _retries(cmd.retries, minimum=0)
        backoff = _duration(cmd.retry_backoff, "retry_backoff", positive=False)
        _check_str(cmd.error_message, "error_message")
        variables = _object(cmd.variables, "variables")
        job = self._held(cmd.key, "fail")
        job.retries = retries
        job.worker = ""
        job.error_message = cmd.error_message
        job.variables = _merge(job.variables, variables)
        if retries == 0:
            self._store.move(job, FAILED)  # an incident until UpdateJobRetries
        elif backoff > 0:
            self._store.move(job, FAILED, now + backoff)
        else:
            self._store.move(job, ACTIVATABLE)
        return _view(job)

    def _throw(self, cmd: ThrowError, now: float) -> Job:
        _check_str(cmd.error_code, "error_code")
        if not cmd.error_code:
            raise _invalid("error_code must not be empty")
        _check_str(cmd.error_message, "error_message")
        variables = _object(cmd.variables, "variables")
        job = self._held(cmd.key, "throw an error for")
        job.worker = ""
        job.error_code = cmd.error_code
        job.error_message = cmd.error_message
        job.variables = _merge(job.variables, variables)
        self._store.move(job, ERROR_THROWN)
        return _view(job)

    def _update_retries(self, cmd: UpdateJobRetries, now: float) -> Job:
        retries = _retries(cmd.retries, minimum=1)
        job = self._find(cmd.key)
        if job.state is ERROR_THROWN:
            raise _wrong_state(job, "update the retries of")
        job.retries = retries
        if job.state is FAILED and job.deadline is None:
            self._store.move(job, ACTIVATABLE)  # the incident is resolved
        return _view(job)

    def _update_timeout(self, cmd: UpdateJobTimeout, now: float) -> Job:
        timeout = _duration(cmd.timeout, "timeout", positive=True)
        job = self._find(cmd.key)
        if job.state is not ACTIVATED:
            raise _wrong_state(job, "update the timeout of")
        self._store.move(job, ACTIVATED, now + timeout)
        return _view(job)

    def _tick(self, cmd: TimeTick, now: float) -> TimeTickResult:
        store = self._store
        timed_out: list[int] = []
        backoff_ended: list[int] = []
        for job, was in store.expire(store.clock):
            (timed_out if was is ACTIVATED else backoff_ended).append(job.key)
        return TimeTickResult(tuple(timed_out), tuple(backoff_ended))

    # --- lookups ----------------------------------------------------------------------------

    def _find(self, key: object) -> JobRecord:
        job = self._store.jobs.get(key) if type(key) is int else None
        if job is None:
            raise _Refused(ErrorCode.NOT_FOUND, f"job {_show(key)} not found{self._where(key)}")
        return job

    def _held(self, key: int, action: str) -> JobRecord:
        job = self._find(key)
        if job.state not in _HOLDABLE:
            raise _wrong_state(job, action)
        return job

    def _where(self, key: object) -> str:
        if type(key) is not int or not 0 <= key < 1 << 64:
            return ""
        if key >> KEY_BITS != self._store.partition_id:
            return f" (its partition is {key >> KEY_BITS}, this is {self._store.partition_id})"
        return " (completed, or never created)"


_TICK = TimeTick()
_MAX_FLOAT_INT = 2**1023  # larger ints do not convert to a float


def _show(value: object) -> str:
    """``repr(value)`` for a message, bounded: no huge strings, no unprintable huge ints."""
    if type(value) is int and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value) if type(value) in (int, float, str, bool) or value is None else None
    if text is None:
        return f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


# An encoded ActivateJobs starts with a 2-array header and its tag (codec.to_wire).
_ACTIVATE_PREFIX = b"\x92" + codec.packb(codec.tag_of(ActivateJobs))
_JOB_TAG = codec.tag_of(Job)
_JOBS_TAG = codec.tag_of(ActivatedJobs)


def encode_result(result: JobResult) -> bytes:
    """``codec.encode(result)``, byte for byte, without cattrs walking the variables: the
    engine's values are canonical JSON already, so they go to msgpack as they are."""
    if type(result) is Job:
        return codec.packb([_JOB_TAG, _job_body(result)])
    if type(result) is ActivatedJobs:
        return codec.packb([_JOBS_TAG, {"jobs": [_job_body(j) for j in result.jobs]}])
    return codec.encode(result)


def _job_body(job: Job) -> dict[str, Any]:
    return {
        "key": job.key,
        "type": job.type,
        "state": job.state,
        "retries": job.retries,
        "worker": job.worker,
        "deadline": job.deadline,
        "variables": job.variables,
        "custom_headers": job.custom_headers,
        "error_code": job.error_code,
        "error_message": job.error_message,
    }


def _view(
    job: JobRecord, variables: dict[str, Any] | None = None, state: JobState | None = None
) -> Job:
    return Job(
        job.key,
        job.type,
        (state or job.state).value,
        job.retries,
        job.worker,
        job.deadline,
        job.variables if variables is None else variables,
        job.custom_headers,
        job.error_code,
        job.error_message,
    )


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    if not new:
        return old
    merged = old | new
    return {k: merged[k] for k in sorted(merged)}


def _wrong_state(job: JobRecord, action: str) -> _Refused:
    detail = " (an incident: update its retries)" if job.state is FAILED and not job.retries else ""
    return _Refused(
        ErrorCode.FAILED_PRECONDITION,
        f"cannot {action} job {job.key}: it is {job.state.value}{detail}",
    )


def _check_type(job_type: object) -> None:
    if type(job_type) is not str or not job_type:
        raise _invalid("job type must be a non-empty string")


def _check_str(value: object, what: str) -> None:
    if type(value) is not str:
        raise _invalid(f"{what} must be a string")


def _object(value: object, what: str) -> dict[str, Any]:
    try:
        return canonical_object(value, what)
    except InvalidValue as exc:
        raise _invalid(str(exc)) from None


def _retries(value: object, minimum: int) -> int:
    if type(value) is not int or not minimum <= value <= MAX_RETRIES:
        kind = "non-negative" if minimum == 0 else "positive"
        raise _invalid(f"retries must be a {kind} integer up to {MAX_RETRIES}, got {_show(value)}")
    return value


def _duration(value: object, what: str, positive: bool) -> float:
    seconds = math.nan
    if type(value) is float:
        seconds = value
    elif type(value) is int and abs(value) <= _MAX_FLOAT_INT:
        seconds = float(value)
    if not math.isfinite(seconds):
        raise _invalid(f"{what} must be a finite number of seconds, got {_show(value)}")
    if seconds < 0 or (positive and seconds == 0):
        bound = "greater than 0" if positive else "at least 0"
        raise _invalid(f"{what} must be {bound} seconds, got {seconds!r}")
    return seconds
