"""Catch events: finding the catch event for a thrown error or escalation, and triggering a
catch event (boundary event, event subprocess start event, intermediate catch event) with its
variables.

Errors and escalations are thrown inside the engine. Timers (and messages and signals) plug in
through :class:`~.ports.EventSubscriptions` (opened when an element that can catch them activates,
closed when it leaves; :class:`AllSubscriptions` combines the kinds) and call :func:`trigger`
when their event happens -- the interrupting / non-interrupting logic here is shared, and an
event-based gateway completes towards the event that happened first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..bpmn import BpmnElementType, Element
from .expressions import Fail
from .ports import EventSubscriptions
from .values import ACTIVATED, ACTIVATING, Instance

if TYPE_CHECKING:
    from .machine import Machine

__all__ = [
    "UNHANDLED_ERROR_EVENT",
    "AllSubscriptions",
    "NoSubscriptions",
    "can_trigger",
    "find_error_catch",
    "find_escalation_catch",
    "trigger",
]

UNHANDLED_ERROR_EVENT = "UNHANDLED_ERROR_EVENT"
_T = BpmnElementType
_ACTIVE = (ACTIVATING, ACTIVATED)
_SCOPES = (_T.PROCESS.value, _T.SUB_PROCESS.value, _T.EVENT_SUB_PROCESS.value)
_CATCHING = frozenset({_T.INTERMEDIATE_CATCH_EVENT, _T.RECEIVE_TASK, _T.EVENT_BASED_GATEWAY})


class NoSubscriptions:
    """No message, timer or signal events yet: such catch events simply wait."""

    def subscribe(self, machine: Machine, instance: Instance, element: Element) -> None:
        pass

    def unsubscribe(self, machine: Machine, instance: Instance) -> None:
        pass


class AllSubscriptions:
    """The subscriptions of every kind of event (timers, messages, signals), opened and closed
    together in a fixed order. Each kind's ``subscribe`` must be idempotent: an activation that
    failed (an incident) runs again whole once the incident is resolved."""

    def __init__(self, kinds: Sequence[EventSubscriptions[Machine]]) -> None:
        self.kinds = tuple(kinds)

    def subscribe(self, machine: Machine, instance: Instance, element: Element) -> None:
        if not may_catch(machine, instance, element):
            return  # most elements: no kind has anything to open (each would look it up again)
        for kind in self.kinds:
            kind.subscribe(machine, instance, element)

    def unsubscribe(self, machine: Machine, instance: Instance) -> None:
        for kind in self.kinds:
            kind.unsubscribe(machine, instance)


def may_catch(machine: Machine, instance: Instance, element: Element) -> bool:
    """Whether an activation of ``element`` can open any event subscription: it waits for an
    event itself (a catch event, a receive task), is an event-based gateway, has boundary
    events, or is a scope with event subprocesses. Every kind of subscription looks for its
    events only there."""
    if element.element_type in _CATCHING:
        return True
    model = machine.model(instance)
    return bool(model.boundary_events.get(element.id) or model.event_subprocesses.get(element.id))


def can_trigger(scope: Instance, catch: Element) -> bool:
    """Whether the event scope still accepts the event (an interrupting event that was
    triggered already closes it)."""
    return scope.state in _ACTIVE and scope.trigger is None and not scope.interrupted_by


def trigger(
    machine: Machine, scope: Instance, catch: Element, variables: Mapping[str, Any]
) -> None:
    """Trigger ``catch`` in its event scope ``scope``: the attached activity for a boundary
    event, the scope containing the event subprocess for a start event."""
    payload = dict(variables) if variables else None
    if catch.element_type is _T.BOUNDARY_EVENT:
        if catch.cancel_activity:
            scope = machine.state.instances[scope.key]._replace(trigger=(catch.id, payload or {}))
            machine.state.put_instance(scope)
            machine.terminate_element(scope)
        else:
            flow_scope = machine.get(scope.flow_scope_key)
            if flow_scope is not None:
                machine.queue_activate(flow_scope, catch.id, payload=payload)
        return
    if catch.element_type is _T.START_EVENT and catch.flow_scope_id is not None:
        event_subprocess = catch.flow_scope_id
        if catch.is_interrupting:
            # the scope is taken over: what still waits in it (tokens in flight, at joins) goes
            scope = machine.state.instances[scope.key]._replace(
                interrupted_by=event_subprocess,
                trigger=(event_subprocess, payload or {}),
                active_flows=(),
            )
            machine.state.put_instance(scope)
            machine.drop_joins(scope)
            if machine.terminate_children(scope):
                activate_pending_event_subprocess(machine, scope)
        else:
            machine.queue_activate(scope, event_subprocess, payload=payload)
        return
    if scope.element_type == _T.EVENT_BASED_GATEWAY.value:
        # the gateway completes and takes the flow to the event that happened (see
        # behaviours.gateways.EventBasedGateway), which then passes through with the variables
        chosen = machine.state.instances[scope.key]._replace(trigger=(catch.id, payload or {}))
        machine.state.put_instance(chosen)
        machine.complete_element(chosen)
        return
    # an intermediate catch event or a receive task waiting for its own event
    waiting = machine.state.instances[scope.key]._replace(payload=payload)
    machine.state.put_instance(waiting)
    machine.complete_element(waiting)


def activate_pending_event_subprocess(machine: Machine, scope: Instance) -> bool:
    """Once an interrupted scope has no children left, activate the event subprocess that
    interrupted it; False if there is none waiting."""
    scope = machine.refresh(scope)
    if scope.trigger is None:
        return False
    event_subprocess, payload = scope.trigger
    machine.state.put_instance(scope._replace(trigger=None))
    machine.queue_activate(scope, event_subprocess, payload=payload or None)
    return True


def _catch_events(
    machine: Machine, instance: Instance, code_of: Callable[[Element], str | None]
) -> list[tuple[str, Element]]:
    """(code, catch event) of the catch events in this instance's scope for which ``code_of``
    gives a code (its boundary events, the start events of its event subprocesses); an exact
    code beats the catch-all (""), which sorts last."""
    model = machine.model(instance)
    elements = model.elements
    found: list[tuple[str, Element]] = []
    candidates: list[Element] = []
    is_body = instance.element_type == _T.MULTI_INSTANCE_BODY.value
    element = elements[instance.element_id]
    if is_body or (element.is_activity and not machine.is_inner_instance(instance)):
        candidates.extend(
            elements[event_id] for event_id in model.boundary_events.get(element.id, ())
        )
    if instance.element_type in _SCOPES:
        for sub_id in model.event_subprocesses.get(element.id, ()):
            candidates.extend(elements[id_] for id_ in model.start_events.get(sub_id, ()))
    for candidate in candidates:
        code = code_of(candidate)
        if code is not None:
            found.append((code, candidate))
    found.sort(key=lambda item: item[0], reverse=True)
    return found


def _error_code(event: Element) -> str | None:
    return None if event.error is None else event.error.error_code or ""


def _escalation_code(event: Element) -> str | None:
    return None if event.escalation is None else event.escalation.escalation_code or ""


def find_error_catch(
    machine: Machine, instance: Instance | None, code: str, message: str = ""
) -> tuple[Instance, Element]:
    """Zeebe's CatchEventAnalyzer: walk from ``instance`` up its flow scopes, then into the
    calling process, for an error catch event matching ``code``; raise Fail
    (UNHANDLED_ERROR_EVENT) with Zeebe's message when there is none."""
    available: list[str] = []
    current = instance
    while current is not None and current.state in _ACTIVE:
        scope: Instance | None = current
        while scope is not None and scope.state in _ACTIVE and not scope.interrupted_by:
            for event_code, event in _catch_events(machine, scope, _error_code):
                available.append(event_code)
                if event_code == "" or event_code == code:
                    return scope, event
            scope = machine.get(scope.flow_scope_key) if scope.flow_scope_key >= 0 else None
        current = (
            machine.get(current.parent_element_key) if current.parent_element_key >= 0 else None
        )
    with_message = f" with message '{message}'" if message else ""
    if available:
        listed = f" Available error events are [{', '.join(available)}]"
    else:
        listed = " No error events are available in the scope."
    raise Fail(
        UNHANDLED_ERROR_EVENT,
        f"Expected to throw an error event with the code '{code}'{with_message}, "
        f"but it was not caught.{listed}",
    )


def find_escalation_catch(
    machine: Machine, thrower: Instance, code: str
) -> tuple[Instance, Element] | None:
    """The catch event for an escalation thrown by ``thrower`` (an event): from its flow scope
    upwards, then into the calling process; None if nothing catches it (not an incident)."""
    current = machine.get(thrower.flow_scope_key) if thrower.flow_scope_key >= 0 else None
    while current is not None:
        scope: Instance | None = current
        while scope is not None and scope.state in _ACTIVE and not scope.interrupted_by:
            for event_code, event in _catch_events(machine, scope, _escalation_code):
                if event_code == "" or event_code == code:
                    return scope, event
            scope = machine.get(scope.flow_scope_key) if scope.flow_scope_key >= 0 else None
        root = machine.get(current.process_instance_key)
        caller = root.parent_element_key if root is not None else -1
        current = machine.get(caller) if caller >= 0 else None
        if current is not None and current.state not in _ACTIVE:
            return None
    return None


def is_interrupting(catch: Element) -> bool:
    if catch.element_type is _T.BOUNDARY_EVENT:
        return catch.cancel_activity
    return catch.is_interrupting


def describe(instance: Instance | None) -> str:
    """An element instance as rejection texts show it."""
    if instance is None:
        return "null"
    return (
        f"ElementInstance{{key={instance.key}, state={instance.state}, "
        f"elementId={instance.element_id}, elementType={instance.element_type}}}"
    )
