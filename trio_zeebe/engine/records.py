"""Job engine commands and results: the records a partition's log carries and the answers.

Every class here but :class:`TimeTick` is a frozen attrs wire message (tag prefix ``"e."``), so
the processor can put a command into the log as ``codec.encode(command)`` (inside its envelope)
and ship a result to the waiting client as the bytes :meth:`JobEngine.apply
<trio_zeebe.engine.jobs.JobEngine.apply>` returns. Time is not a command: the processor's time
records carry only the leader's timestamp.

Units: every timestamp, deadline, timeout and back-off is a float number of **seconds**
(timestamps are the leader's Unix time). A gateway speaking milliseconds converts at its edge.

Variables and custom headers are JSON objects. The engine stores them normalised (nested keys
sorted, tuples as lists), so results and snapshots are byte-for-byte identical on every replica.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import attrs

from ..codec import wire
from ..errors import ErrorCode

__all__ = [
    "ActivateJobs",
    "ActivatedJobs",
    "CompleteJob",
    "CreateJob",
    "ErrorCode",
    "FailJob",
    "Job",
    "JobCommand",
    "JobKey",
    "JobResult",
    "JobState",
    "Rejection",
    "ThrowError",
    "TimeTick",
    "TimeTickResult",
    "UpdateJobRetries",
    "UpdateJobTimeout",
]


class JobState(StrEnum):
    ACTIVATABLE = "ACTIVATABLE"
    ACTIVATED = "ACTIVATED"  # owned by a worker until its deadline
    # FAILED with retries > 0 waits for its back-off (``deadline``); with retries == 0 it is an
    # incident and waits for UpdateJobRetries.
    FAILED = "FAILED"
    ERROR_THROWN = "ERROR_THROWN"  # the worker reported a business error; never activated again
    COMPLETED = "COMPLETED"  # only in the answer to CompleteJob: completed jobs leave the state


# --- commands -------------------------------------------------------------------------------


@wire("e.create")
@attrs.frozen
class CreateJob:
    type: str
    retries: int = 3
    variables: dict[str, Any] = attrs.field(factory=dict)
    custom_headers: dict[str, str] = attrs.field(factory=dict)


@wire("e.activate")
@attrs.frozen
class ActivateJobs:
    """Activate up to ``max_jobs`` jobs of ``type``, oldest (lowest key) first.

    Each activated job belongs to ``worker`` until ``timestamp + timeout`` (seconds).
    ``fetch_variables`` names the variables to return; empty means all of them.
    """

    type: str
    worker: str
    max_jobs: int
    timeout: float
    fetch_variables: tuple[str, ...] = ()


@wire("e.complete")
@attrs.frozen
class CompleteJob:
    key: int
    variables: dict[str, Any] = attrs.field(factory=dict)


@wire("e.fail")
@attrs.frozen
class FailJob:
    """``retries`` is the job's new retry count (workers usually send retries - 1).

    0 leaves the job FAILED with an incident; otherwise it is activatable again after
    ``retry_backoff`` seconds (at once if 0). ``variables`` are merged into the job's.
    """

    key: int
    retries: int
    error_message: str = ""
    retry_backoff: float = 0.0
    variables: dict[str, Any] = attrs.field(factory=dict)


@wire("e.throw")
@attrs.frozen
class ThrowError:
    key: int
    error_code: str
    error_message: str = ""
    variables: dict[str, Any] = attrs.field(factory=dict)


@wire("e.retries")
@attrs.frozen
class UpdateJobRetries:
    key: int
    retries: int


@wire("e.timeout")
@attrs.frozen
class UpdateJobTimeout:
    """Only for an ACTIVATED job: its new deadline is ``timestamp + timeout`` (seconds)."""

    key: int
    timeout: float


@attrs.frozen
class TimeTick:
    """The typed form of the leader's time record (``JobEngine.execute(TimeTick(), now)``).

    Not a wire message: no client can send one. The leader's processor appends a time record
    when ``next_deadline()`` has passed, and every replica calls :meth:`JobEngine.tick
    <trio_zeebe.engine.jobs.JobEngine.tick>` with the record's timestamp, the leader's clock.
    Every ACTIVATED job whose deadline is <= that time times out and every back-off that ended
    by then is over: those jobs become ACTIVATABLE, in (deadline, key) order.
    """


JobCommand = (
    CreateJob
    | ActivateJobs
    | CompleteJob
    | FailJob
    | ThrowError
    | UpdateJobRetries
    | UpdateJobTimeout
    | TimeTick
)


# --- results --------------------------------------------------------------------------------


@wire("e.key")
@attrs.frozen
class JobKey:
    """Answer to CreateJob. ``key >> 51`` is the partition id."""

    key: int


@wire("e.job")
@attrs.frozen(eq=True, hash=False)
class Job:
    """A job as the engine sees it after the command (treat the dicts as read-only).

    ``deadline``: ACTIVATED: the worker's lease ends; FAILED with retries left: the back-off
    ends; otherwise None. ``worker`` is "" unless ACTIVATED.
    """

    key: int
    type: str
    state: str
    retries: int
    worker: str
    deadline: float | None
    variables: dict[str, Any]
    custom_headers: dict[str, str]
    error_code: str = ""
    error_message: str = ""


@wire("e.jobs")
@attrs.frozen
class ActivatedJobs:
    jobs: tuple[Job, ...]


@wire("e.ticked")
@attrs.frozen
class TimeTickResult:
    timed_out: tuple[int, ...]  # activated jobs whose lease ran out
    backoff_ended: tuple[int, ...]


@wire("e.reject")
@attrs.frozen
class Rejection:
    """The command was refused and changed nothing. ``code`` is an :class:`ErrorCode` value:
    NOT_FOUND (no such job), FAILED_PRECONDITION (job in the wrong state) or INVALID_ARGUMENT."""

    code: str
    message: str


JobResult = JobKey | Job | ActivatedJobs | TimeTickResult | Rejection
