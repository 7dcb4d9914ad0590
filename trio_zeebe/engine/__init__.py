"""Deterministic state machines fed by a partition's committed log: the process engine
(:class:`trio_zeebe.engine.engine.Engine`, imported from there: it loads FEEL and the protocol
modules), the job engine, and the pluggable :class:`StateMachine` interface with its optional
capabilities (and a small key-value example)."""

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
from .statemachine import (
    AnswersUnlogged,
    DeferredAnswers,
    InterPartition,
    PendingSend,
    StateMachine,
    TimeDriven,
)

__all__ = [
    "KEY_BITS",
    "ActivateJobs",
    "ActivatedJobs",
    "AnswersUnlogged",
    "CompleteJob",
    "CreateJob",
    "DeferredAnswers",
    "ErrorCode",
    "FailJob",
    "InterPartition",
    "Job",
    "JobCommand",
    "JobEngine",
    "JobKey",
    "JobResult",
    "JobState",
    "KVStore",
    "PendingSend",
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
