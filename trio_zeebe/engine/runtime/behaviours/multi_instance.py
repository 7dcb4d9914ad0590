"""The multi-instance body: an instance of the activity per item of ``inputCollection``, all at
once (parallel) or one after the other (sequential); Zeebe's MultiInstanceBodyProcessor.

Each inner instance gets the local variables ``loopCounter`` (1-based) and ``inputElement``;
when it completes, ``outputElement`` is evaluated in its scope and stored at its index of the
body's local ``outputCollection``, which is propagated when the body completes. A
``completionCondition`` (seeing ``numberOfInstances``, ``numberOfActiveInstances``,
``numberOfCompletedInstances``, ``numberOfTerminatedInstances``) ends the body early,
terminating the instances still running. An empty collection completes the body at once.
"""

from __future__ import annotations

import re

from ...bpmn import Element, MultiInstance
from ..expressions import EXTRACT_VALUE_ERROR, Fail, evaluate_array, evaluate_boolean, evaluate_json
from ..machine import Machine
from ..values import ACTIVATED, TERMINATING, Instance
from .base import Behaviour

__all__ = ["MultiInstanceBody"]

_VARIABLE = re.compile(r"=\s*([A-Za-z_][A-Za-z0-9_]*)\s*")


def _loop(element: Element) -> MultiInstance:
    assert element.multi_instance is not None
    return element.multi_instance


class MultiInstanceBody(Behaviour):
    def _collection(self, m: Machine, element: Element, scope_key: int) -> list[object]:
        return evaluate_array(_loop(element).input_collection, m.variables.view(scope_key), m.now)

    def activate(self, m: Machine, instance: Instance, element: Element) -> None:
        loop = _loop(element)
        items = self._collection(m, element, instance.key)
        m.subscriptions.subscribe(m, instance, element)
        instance = m.activated(instance)
        if loop.output_collection:
            m.variables.set_one(instance.key, loop.output_collection, [None] * len(items))
        if not items:
            m.complete_element(instance)
        elif loop.is_sequential:
            m.queue_activate(instance, element.id)
        else:
            for _ in items:
                m.queue_activate(instance, element.id)

    def on_child_activating(self, m: Machine, scope: Instance, child: Instance) -> None:
        element = m.element(scope)
        loop = _loop(element)
        items = self._collection(m, element, child.key)
        index = child.loop_counter - 1
        if index >= len(items):
            raise Fail(
                EXTRACT_VALUE_ERROR,
                f"Expected to read item at index {index} of the multiInstanceBody input "
                f"collection but it contains only {len(items)} elements. The input collection "
                "might be modified while iterating over it.",
            )
        local: dict[str, object] = {}
        if loop.input_element:
            local[loop.input_element] = items[index]
        match = _VARIABLE.fullmatch(loop.output_element or "")
        if match is not None:
            name = match.group(1)
            if name != loop.input_element and name != "loopCounter":
                local[name] = None  # the output element's variable exists in the inner scope
        local["loopCounter"] = child.loop_counter
        m.variables.set_local(child.key, local)

    def before_path_completed(self, m: Machine, scope: Instance, child: Instance) -> bool:
        element = m.element(scope)
        loop = _loop(element)
        if loop.output_collection:
            value = None
            if loop.output_element:
                value = evaluate_json(loop.output_element, m.variables.view(child.key), m.now)
            current = m.variables.get_local(scope.key, loop.output_collection)
            index = child.loop_counter - 1
            if not isinstance(current, list) or index >= len(current):
                size = len(current) if isinstance(current, list) else 0
                raise Fail(
                    EXTRACT_VALUE_ERROR,
                    f"Unable to update an item in list '{loop.output_collection}'. Expected the "
                    f"list to have at least {index + 1} items, but it has {size} items.",
                )
            updated = list(current)
            updated[index] = value
            m.variables.set_one(scope.key, loop.output_collection, updated)
        satisfied = False
        if loop.completion_condition:
            counters = {
                "numberOfInstances": scope.created_children,
                "numberOfActiveInstances": scope.active_children - 1,
                "numberOfCompletedInstances": scope.completed_children + 1,
                "numberOfTerminatedInstances": scope.terminated_children,
            }
            view = m.variables.view(child.key, counters)
            satisfied = evaluate_boolean(loop.completion_condition, view, m.now)
        self._collection(m, element, scope.key)
        return satisfied

    def after_path_completed(
        self, m: Machine, scope: Instance, child: Instance, satisfied: bool
    ) -> None:
        element = m.element(scope)
        loop = _loop(element)
        scope = m.refresh(scope)
        if satisfied:
            if m.terminate_children(scope) or loop.is_sequential:
                m.complete_element(scope)
            return
        try:
            items = self._collection(m, element, scope.key)
        except Fail as failure:
            m.raise_incident(scope, failure)
            return
        if loop.is_sequential and scope.loop_counter < len(items):
            m.queue_activate(scope, element.id)
            return
        done = scope.completed_children + scope.terminated_children
        if m.can_complete(scope) and done >= len(items):
            m.complete_element(scope)

    def complete(self, m: Machine, instance: Instance, element: Element) -> None:
        loop = _loop(element)
        m.subscriptions.unsubscribe(m, instance)
        if loop.output_collection and instance.flow_scope_key >= 0:
            value = m.variables.get_local(instance.key, loop.output_collection)
            m.variables.merge(instance.flow_scope_key, {loop.output_collection: value})
        done = m.completed(instance, element)
        m.take_outgoing(done, element)

    def terminate(self, m: Machine, instance: Instance, element: Element) -> None:
        m.subscriptions.unsubscribe(m, instance)
        if m.terminate_children(instance):
            m.terminated(instance)

    def on_child_terminated(self, m: Machine, scope: Instance, child: Instance | None) -> None:
        scope = m.refresh(scope)
        if scope.state == TERMINATING:
            if scope.active_children == 0:
                m.terminated(scope)
        elif scope.state == ACTIVATED and m.can_complete(scope):
            # the completion condition held and the remaining instances are terminated now
            m.complete_element(scope)
