"""Deterministic state machines fed by a partition's committed log: the process engine
(:class:`trio_zeebe.engine.engine.Engine`, imported from there: it loads FEEL and the protocol
modules), the pluggable :class:`StateMachine` interface with its optional capabilities, and a
small key-value example (:class:`KVStore`)."""

from .kv import KVStore
from .statemachine import (
    AnswersUnlogged,
    DeferredAnswers,
    InterPartition,
    PendingSend,
    StateMachine,
    TimeDriven,
)

__all__ = [
    "AnswersUnlogged",
    "DeferredAnswers",
    "InterPartition",
    "KVStore",
    "PendingSend",
    "StateMachine",
    "TimeDriven",
]
