"""Start events that events start instances at: the message and signal start events of the
latest version of each process on this partition, and starting an instance at one.

A deployment (or its distribution to this partition) is what opens these subscriptions: they
are read from the latest definitions, so a new version closes the previous version's (and a
version without such a start event has none), as in Zeebe. The table is cached until the
partition learns another definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...bpmn import Element
from ..expressions import Fail, evaluate_string
from ..state import EngineState
from .state import StartEvent

if TYPE_CHECKING:
    from ..machine import Machine

__all__ = ["MESSAGE", "SIGNAL", "event_name", "latest_start_events", "start_instance"]

MESSAGE = "message"
SIGNAL = "signal"


def event_name(element: Element, kind: str) -> str | None:
    """The message or signal name of a start event (None if it has none). An expression
    sees no variables and a fixed clock: the name is the same whenever it is read (the table
    below is rebuilt lazily, so a replica may read it at another moment than its leader)."""
    definition = element.message if kind == MESSAGE else element.signal
    name = definition.name if definition is not None else None
    if not name:
        return None
    try:
        return evaluate_string(name, {}, 0)
    except Fail:
        return None


def latest_start_events(state: EngineState, kind: str, name: str) -> list[StartEvent]:
    """(bpmnProcessId, definition key, start event id) of the ``kind`` start events named
    ``name`` of the latest versions, in the order the processes were first deployed here."""
    messaging = state.messaging
    cached = messaging.start_cache.get(kind)
    if cached is None or cached[0] != len(state.definitions):
        table: dict[str, list[StartEvent]] = {}
        for process_id, definition_key in state.latest.items():
            model = state.models[definition_key]
            starts = model.message_start_events if kind == MESSAGE else model.signal_start_events
            for start_id in starts:
                found = event_name(model.elements[start_id], kind)
                if found is not None:
                    table.setdefault(found, []).append((process_id, definition_key, start_id))
        cached = (len(state.definitions), table)
        messaging.start_cache[kind] = cached
    return cached[1].get(name, [])


def start_instance(machine: Machine, start: StartEvent, variables: Mapping[str, Any]) -> int:
    """Create an instance of ``start``'s process at its start event with the event's
    variables; returns the new process instance key."""
    state = machine.state
    process_id, definition_key, start_id = start
    key = state.next_key()
    machine.queue_process(
        definition_key, process_id, key, None, start_event=start_id, payload=variables
    )
    state.emit(
        "PROCESS_INSTANCE_CREATION",
        "CREATED",
        key,
        {
            "processDefinitionKey": definition_key,
            "bpmnProcessId": process_id,
            "startEventId": start_id,
        },
    )
    return key
