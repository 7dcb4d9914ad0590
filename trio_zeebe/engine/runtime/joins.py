"""Joining gateways: when a parallel or inclusive gateway with waiting tokens may activate.

Every sequence flow taken towards a parallel or inclusive gateway counts in the state's
``joins`` family (per flow scope instance and gateway, per incoming flow). A parallel gateway
activates once each incoming flow was taken at least once; an inclusive gateway also when the
flows not taken can no longer be reached from anything still running in the scope -- an
active element or a taken flow not yet followed (Zeebe's ProcessInstanceStateTransitionGuard
and BpmnInclusiveGatewayBehavior). Activating consumes one token per incoming flow.
"""

from __future__ import annotations

from ..bpmn import BpmnElementType, Element, Process
from .state import EngineState
from .values import Instance

__all__ = ["join_gateways", "join_ready"]

_T = BpmnElementType
_JOINS = (_T.PARALLEL_GATEWAY, _T.INCLUSIVE_GATEWAY)


def join_gateways(state: EngineState, scope: Instance) -> tuple[str, ...]:
    """The joining gateways directly inside a scope instance's element."""
    model = state.models.get(scope.definition_key)
    if model is None:
        return ()
    return tuple(
        child
        for child in model.children.get(scope.element_id, ())
        if model.elements[child].element_type in _JOINS
    )


def join_ready(
    state: EngineState, scope: Instance, element: Element, model: Process
) -> tuple[str, ...] | None:
    """The incoming flows whose tokens an activation of the gateway consumes (and consumes
    them), or None if it may not activate (yet)."""
    taken = dict(state.joins.get((scope.key, element.id), ()))
    distinct = [f for f in element.incoming if taken.get(f, 0) > 0]
    if len(distinct) < len(element.incoming):
        if element.element_type is _T.PARALLEL_GATEWAY or not distinct:
            return None
        if _has_active_path(state, scope, element, model, set(distinct)):
            return None
    left = tuple((f, c - 1) for f, c in taken.items() if c > 1)
    if left:
        state.joins[(scope.key, element.id)] = left
    else:
        state.joins.pop((scope.key, element.id), None)
    return tuple(distinct)


def _has_active_path(
    state: EngineState, scope: Instance, gateway: Element, model: Process, taken: set[str]
) -> bool:
    starts = [child.element_id for child in state.children_of(scope.key)]
    flows = model.sequence_flows
    starts += [flows[f].target_ref for f in scope.active_flows if f in flows]
    return any(
        start != gateway.id and _reaches(model, start, gateway.id, taken) for start in starts
    )


def _reaches(model: Process, start: str, target: str, taken: set[str]) -> bool:
    """Whether ``target`` is reachable from ``start`` (following outgoing flows that were not
    taken into the gateway already, boundary events, and link events)."""
    elements = model.elements
    flows = model.sequence_flows
    seen: set[str] = set()
    todo = [start]
    while todo:
        current = todo.pop()
        if current == target:
            return True
        if current in seen:
            continue
        seen.add(current)
        element = elements.get(current)
        if element is None:
            continue
        if element.link_name is not None and element.element_type is _T.INTERMEDIATE_THROW_EVENT:
            links = model.link_catch_events.get(element.flow_scope_id or "", {})
            catch = links.get(element.link_name)
            if catch is not None:
                todo.append(catch)
            continue
        for flow_id in element.outgoing:
            if flow_id not in taken and flow_id in flows:
                todo.append(flows[flow_id].target_ref)
        todo.extend(model.boundary_events.get(current, ()))
    return False
