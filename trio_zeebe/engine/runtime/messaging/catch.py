"""Which catch events an element instance holds open while it is active.

An element instance is the *event scope* of: its own event when it waits itself (an
intermediate catch event, a receive task -- not an inner-instance-less multi-instance body),
the events after it when it is an event-based gateway, the boundary events of an activity (of
the multi-instance body, not of its inner instances), and the start events of the event
subprocesses of a scope (process, subprocess, event subprocess). A catch event right after an
event-based gateway waits through the gateway, never by itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...bpmn import BpmnElementType, Element, Process
from ..values import Instance

if TYPE_CHECKING:
    from ..machine import Machine

__all__ = ["after_event_gateway", "catch_events", "is_interrupting_catch"]

_T = BpmnElementType
_SCOPES = (_T.PROCESS.value, _T.SUB_PROCESS.value, _T.EVENT_SUB_PROCESS.value)
_WAITING = (_T.INTERMEDIATE_CATCH_EVENT, _T.RECEIVE_TASK)


def after_event_gateway(model: Process, element: Element) -> bool:
    """A catch event whose (only) incoming flow comes from an event-based gateway."""
    if element.element_type is not _T.INTERMEDIATE_CATCH_EVENT or not element.incoming:
        return False
    flow = model.sequence_flows.get(element.incoming[0])
    if flow is None:
        return False
    source = model.elements.get(flow.source_ref)
    return source is not None and source.element_type is _T.EVENT_BASED_GATEWAY


def catch_events(machine: Machine, instance: Instance, element: Element) -> list[Element]:
    """The catch events whose event scope ``instance`` (of ``element``) is, model order."""
    model = machine.model(instance)
    elements = model.elements
    found: list[Element] = []
    is_body = instance.element_type == _T.MULTI_INSTANCE_BODY.value
    own = element.element_type in _WAITING and not is_body
    if own and not after_event_gateway(model, element):
        found.append(element)
    if element.element_type is _T.EVENT_BASED_GATEWAY:
        for flow_id in element.outgoing:
            flow = model.sequence_flows[flow_id]
            found.append(elements[flow.target_ref])
    if is_body or (element.is_activity and not machine.is_inner_instance(instance)):
        found.extend(elements[event_id] for event_id in model.boundary_events.get(element.id, ()))
    if instance.element_type in _SCOPES:
        for sub_id in model.event_subprocesses.get(element.id, ()):
            found.extend(elements[start_id] for start_id in model.start_events.get(sub_id, ()))
    return found


def is_interrupting_catch(catch: Element) -> bool:
    """Whether triggering the catch event ends what waits (a non-interrupting boundary event
    or event subprocess may trigger again)."""
    if catch.element_type is _T.BOUNDARY_EVENT:
        return catch.cancel_activity
    if catch.element_type is _T.START_EVENT:
        return catch.is_interrupting
    return True
