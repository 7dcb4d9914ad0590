"""Containers: the process, embedded subprocesses, event subprocesses and call activities.

A scope activates its none start event, completes once no child runs and no sequence flow
waits inside it, and terminates its children before itself. An interrupting event subprocess
or a terminate end event takes a scope over (``interrupted_by``): its other children are
terminated, then the event subprocess is activated (or, for a terminate end event, the scope
completes). A call activity starts a child process instance of the latest version of the
called process and completes when that child completes.
"""

from __future__ import annotations

from typing import Any

from ...bpmn import BpmnElementType, Element
from ..events import activate_pending_event_subprocess
from ..expressions import Fail, evaluate_string
from ..machine import Machine
from ..mappings import apply_inputs, apply_outputs
from ..values import ACTIVATED, TERMINATING, Instance
from .base import Behaviour

__all__ = ["CALLED_ELEMENT_ERROR", "CallActivity", "EventSubProcess", "ProcessScope", "SubProcess"]

CALLED_ELEMENT_ERROR = "CALLED_ELEMENT_ERROR"
_T = BpmnElementType


class _Scope(Behaviour):
    """What the process, subprocesses and event subprocesses share as containers."""

    def terminate(self, m: Machine, instance: Instance, element: Element) -> None:
        m.subscriptions.unsubscribe(m, instance)
        if m.terminate_children(instance):
            m.terminated(instance)

    def after_path_completed(
        self, m: Machine, scope: Instance, child: Instance, satisfied: bool
    ) -> None:
        if m.can_complete(scope):
            m.complete_element(scope)

    def on_child_terminated(self, m: Machine, scope: Instance, child: Instance | None) -> None:
        scope = m.refresh(scope)
        if scope.active_children > 0:
            return
        if scope.interrupted_by:
            interrupting = m.model(scope).elements.get(scope.interrupted_by)
            if interrupting is not None and interrupting.element_type is _T.END_EVENT:
                if scope.state == ACTIVATED:
                    m.complete_element(scope)  # a terminate end event ended the scope
                    return
            elif scope.state == ACTIVATED and activate_pending_event_subprocess(m, scope):
                return
        if scope.state == TERMINATING:
            m.terminated(scope)


class ProcessScope(_Scope):
    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        m.subscriptions.subscribe(m, instance, element)
        instance = m.activated(instance)
        if instance.trigger is not None:
            # started by an event (a timer start event): begin at that start event
            start_id, payload = instance.trigger
            m.state.put_instance(instance._replace(trigger=None))
            m.queue_activate(instance, start_id, payload=payload or None)
            return
        start = m.model(instance).none_start_event
        if start is not None:
            m.queue_activate(instance, start)

    def complete(self, m: Machine, instance: Instance, element: Element) -> None:
        m.subscriptions.unsubscribe(m, instance)
        m.send_result(instance)
        caller = m.container(instance)
        if caller is not None:
            called = m.element(caller).called_element
            if m.element(caller).outputs or (
                called is None or called.propagate_all_child_variables
            ):
                variables = dict(m.variables.local(instance.key))
                m.state.put_instance(m.refresh(caller)._replace(payload=variables or None))
        done = m.completed(instance, element)
        if caller is not None:
            caller = m.get(caller.key)
            if caller is not None:
                m.behaviour_of(caller).after_path_completed(m, caller, done, False)


class SubProcess(_Scope):
    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        apply_inputs(element, instance, m.variables, m.now)
        m.subscriptions.subscribe(m, instance, element)
        instance = m.activated(instance)
        start = m.model(instance).none_start_events.get(element.id)
        if start is not None:
            m.queue_activate(instance, start)

    def complete(self, m: Machine, instance: Instance, element: Element) -> None:
        apply_outputs(element, instance, m.variables, m.now, m.take_payload(instance))
        m.subscriptions.unsubscribe(m, instance)
        done = m.completed(instance, element)
        m.take_outgoing(done, element)


class EventSubProcess(_Scope):
    """Activated (by its triggered start event) with the event's variables, which it hands to
    its start event."""

    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        instance = m.activated(instance)
        starts = m.model(instance).start_events.get(element.id, ())
        if starts:
            m.queue_activate(instance, starts[0], payload=instance.payload)

    def complete(self, m: Machine, instance: Instance, element: Element) -> None:
        apply_outputs(element, instance, m.variables, m.now, None)
        m.completed(instance, element)


class CallActivity(Behaviour):
    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        called = element.called_element
        assert called is not None
        apply_inputs(element, instance, m.variables, m.now)
        process_id = evaluate_string(called.process_id, m.variables.view(instance.key), m.now)
        state = m.state
        definition_key = state.latest.get(process_id)
        if definition_key is None:
            raise Fail(
                CALLED_ELEMENT_ERROR,
                f"Expected process with BPMN process id '{process_id}' to be deployed, "
                "but not found.",
            )
        model = state.models[definition_key]
        if model.none_start_event is None:
            raise Fail(
                CALLED_ELEMENT_ERROR,
                f"Expected process with BPMN process id '{process_id}' to have a none start "
                "event, but not found.",
            )
        m.subscriptions.subscribe(m, instance, element)
        instance = m.activated(instance)
        child_key = state.next_key()
        variables: dict[str, Any]
        if called.propagate_all_parent_variables:
            variables = m.variables.document(instance.key)
        else:
            variables = dict(m.variables.local(instance.key))
        m.variables.set_local(child_key, variables)
        state.put_instance(m.refresh(instance)._replace(child_key=child_key))
        m.queue_process(definition_key, model.id, child_key, instance)

    def complete(self, m: Machine, instance: Instance, element: Element) -> None:
        apply_outputs(element, instance, m.variables, m.now, m.take_payload(instance))
        m.subscriptions.unsubscribe(m, instance)
        done = m.completed(instance, element)
        m.take_outgoing(done, element)

    def terminate(self, m: Machine, instance: Instance, element: Element) -> None:
        m.subscriptions.unsubscribe(m, instance)
        child = m.get(instance.child_key) if instance.child_key >= 0 else None
        if child is not None and child.state != TERMINATING:
            m.terminate_element(child)
        elif child is None:
            m.terminated(instance)

    def after_path_completed(
        self, m: Machine, scope: Instance, child: Instance, satisfied: bool
    ) -> None:
        scope = m.refresh(scope)
        if scope.state == ACTIVATED:
            m.complete_element(scope)
        elif scope.state == TERMINATING:
            m.terminated(scope)

    def on_child_terminated(self, m: Machine, scope: Instance, child: Instance | None) -> None:
        scope = m.refresh(scope)
        if scope.state == TERMINATING:
            m.terminated(scope)
