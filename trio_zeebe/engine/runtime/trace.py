"""Zeebe-like records of what the engine did, for tests and tools that want to watch it.

The engine does not write follow-up events to a log (every replica processes every command),
so this is the only place where its transitions become visible one by one: set a listener with
:meth:`Engine.set_trace <trio_zeebe.engine.engine.Engine.set_trace>` and it receives a
:class:`TraceRecord` per event, in processing order. Without a listener nothing is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

__all__ = ["TraceListener", "TraceRecord"]


class TraceRecord(NamedTuple):
    """``value_type`` / ``intent`` as Zeebe names them (``PROCESS_INSTANCE`` /
    ``ELEMENT_ACTIVATED``, ``JOB`` / ``CREATED``, ``INCIDENT`` / ``CREATED``, ``VARIABLE`` /
    ``UPDATED``, ...), ``key`` the record's key, ``value`` the fields that matter for it
    (``elementId``, ``bpmnElementType``, ``flowScopeKey``, ``processInstanceKey``, ...)."""

    value_type: str
    intent: str
    key: int
    value: Mapping[str, Any]


TraceListener = Callable[[TraceRecord], None]
