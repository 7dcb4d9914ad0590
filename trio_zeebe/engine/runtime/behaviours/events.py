"""Events: start events, end events (none, terminate, error, job-based message), intermediate
throw events (none, link, job-based message) and catch events (link; message/timer/signal wait
for their subscriptions; after an event-based gateway they pass through), boundary events
(activated once triggered).

An escalation (end or intermediate throw event) triggers the nearest matching escalation catch
event (boundary event or event subprocess, up the scopes and into the calling process); the
thrower continues unless that catch event interrupts it, and an escalation nobody catches is no
incident. A signal throw event (intermediate or end) broadcasts its signal with its local
variables (its input mappings) and goes on. Compensation throw events do not compensate yet:
they pass through like none events.
"""

from __future__ import annotations

from ...bpmn import BpmnElementType, BpmnEventType, Element, Process
from ..events import (
    can_trigger,
    find_error_catch,
    find_escalation_catch,
    is_interrupting,
    trigger,
)
from ..expressions import evaluate_string
from ..machine import Machine
from ..mappings import apply_inputs, apply_outputs
from ..values import Instance
from .base import Behaviour, PassThrough, WaitState
from .tasks import JobTask

__all__ = ["CatchEvent", "EndEvent", "ThrowEvent"]

_E = BpmnEventType
_T = BpmnElementType


def escalate(m: Machine, instance: Instance, element: Element) -> None:
    """Throw the element's escalation; complete unless an interrupting catch event takes over."""
    assert element.escalation is not None
    apply_inputs(element, instance, m.variables, m.now)
    code = element.escalation.escalation_code or ""
    if len(code) > 1 and code[0] == "=":
        code = evaluate_string(code, m.variables.view(instance.key), m.now)
    found = find_escalation_catch(m, instance, code)
    instance = m.activated(instance)
    m.state.emit(
        "ESCALATION",
        "ESCALATED" if found is not None else "NOT_ESCALATED",
        instance.key,
        {"escalationCode": code, "throwElementId": element.id},
    )
    if found is not None:
        scope, catch = found
        if can_trigger(m.refresh(scope), catch):
            trigger(m, scope, catch, {})
            if is_interrupting(catch):
                return  # the thrower is terminated with the interrupted scope
    m.complete_element(instance)


class _Throw:
    """How an end event or an intermediate throw event is activated: a job-based one creates
    its job; an escalation escalates, a signal is broadcast; any other passes through."""

    def __init__(self) -> None:
        self._job = JobTask()
        self._pass = PassThrough()

    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        if element.job is not None:
            self._job.activate(m, instance, element)
        elif element.event_type is _E.ESCALATION and element.escalation is not None:
            escalate(m, instance, element)
        elif element.event_type is _E.SIGNAL and element.signal is not None:
            m.signals.throw(m, instance, element)
        else:
            self._pass.activate(m, instance, element)


class EndEvent(Behaviour):
    def __init__(self) -> None:
        self._throw = _Throw()

    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        if element.job is None and element.event_type is _E.ERROR and element.error is not None:
            self._throw_error(m, instance, element)
        else:
            self._throw.activate(m, instance, element)

    def _throw_error(self, m: Machine, instance: Instance, element: Element) -> None:
        assert element.error is not None
        code = element.error.error_code or ""
        if len(code) > 1 and code[0] == "=":
            code = evaluate_string(code, m.variables.view(instance.key), m.now)
        # the error must be caught in an outer scope, which terminates this end event
        scope, catch = find_error_catch(m, instance, code)
        m.activated(instance)
        if can_trigger(m.refresh(scope), catch):
            trigger(m, scope, catch, {})

    def complete(self, m: Machine, instance: Instance, element: Element) -> None:
        if element.event_type is not _E.TERMINATE:
            super().complete(m, instance, element)
            return
        apply_outputs(element, instance, m.variables, m.now, m.take_payload(instance))
        scope = m.get(instance.flow_scope_key)
        if scope is not None:
            # the flow scope is taken over: nothing else may activate in it, nothing waits
            m.state.put_instance(scope._replace(interrupted_by=element.id, active_flows=()))
            m.drop_joins(scope)
        m.completed(instance, element)
        scope = m.get(instance.flow_scope_key)
        if scope is not None:
            m.terminate_children(scope)


class ThrowEvent(Behaviour):
    """Intermediate throw events."""

    def __init__(self) -> None:
        self._throw = _Throw()

    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        self._throw.activate(m, instance, element)

    def complete(self, m: Machine, instance: Instance, element: Element) -> None:
        if element.link_name is None:
            super().complete(m, instance, element)
            return
        apply_outputs(element, instance, m.variables, m.now, m.take_payload(instance))
        done = m.completed(instance, element)
        scope = m.get(done.flow_scope_key)
        model = m.model(done)
        catch = model.link_catch_events.get(element.flow_scope_id or "", {}).get(element.link_name)
        if scope is not None and catch is not None:
            m.queue_activate(scope, catch)


class CatchEvent(Behaviour):
    """Intermediate catch events: a link catch passes through, and so does one after an
    event-based gateway (activated only once its event happened, with the event's variables);
    the others wait for their event."""

    def __init__(self) -> None:
        self._wait = WaitState()
        self._pass = PassThrough()

    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        if element.event_type is _E.LINK or _after_event_gateway(m.model(instance), element):
            self._pass.activate(m, instance, element)
        else:
            self._wait.activate(m, instance, element)


def _after_event_gateway(model: Process, element: Element) -> bool:
    flows = model.sequence_flows
    return any(
        f in flows and model.elements[flows[f].source_ref].element_type is _T.EVENT_BASED_GATEWAY
        for f in element.incoming
    )


class BoundaryEvent(Behaviour):
    """Activated in the attached activity's flow scope once its event triggered; carries the
    event's variables as its payload."""

    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        apply_inputs(element, instance, m.variables, m.now)
        m.complete_element(m.activated(instance))


StartEvent = PassThrough
