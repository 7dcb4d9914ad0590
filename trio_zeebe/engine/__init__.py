"""Deterministic state machines fed by a partition's committed log: the job engine and the
pluggable :class:`StateMachine` interface (with a small key-value example)."""

from .jobs import JobEngine
from .kv import KVStore
from .records import (
    ActivatedJobs,
    ActivateJobs,
    CompleteJob,
    CreateJob,
    ErrorCode,
    FailJob,
    Job,
    JobCommand,
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
from .state import KEY_BITS, SnapshotError
from .statemachine import AnswersUnlogged, StateMachine, TimeDriven

__all__ = [
    "KEY_BITS",
    "ActivateJobs",
    "ActivatedJobs",
    "AnswersUnlogged",
    "CompleteJob",
    "CreateJob",
    "ErrorCode",
    "FailJob",
    "Job",
    "JobCommand",
    "JobEngine",
    "JobKey",
    "JobResult",
    "JobState",
    "KVStore",
    "Rejection",
    "SnapshotError",
    "StateMachine",
    "ThrowError",
    "TimeDriven",
    "TimeTick",
    "TimeTickResult",
    "UpdateJobRetries",
    "UpdateJobTimeout",
]
