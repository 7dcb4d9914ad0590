"""``zeebe:ioMapping``: input mappings on activation, output mappings (and the default
propagation of an event's variables) on completion -- Zeebe's BpmnVariableMappingBehavior.

Mappings are evaluated one by one in model order; a later mapping sees the results of the
earlier ones before the scope's variables. A nested target (``a.b.c``) updates a copy of the
visible object ``a`` (or builds one), so sibling properties survive. Any failure is an
IO_MAPPING_ERROR incident and nothing is applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..bpmn import BpmnElementType, Element, VariableMapping
from .expressions import IO_MAPPING_ERROR, evaluate_json
from .values import Instance
from .variables import ScopeView, Variables

__all__ = ["apply_inputs", "apply_outputs", "evaluate_mappings"]

_T = BpmnElementType


def _put(result: dict[str, Any], view: ScopeView, target: str, value: Any) -> None:
    path = target.split(".")
    if len(path) == 1:
        result[target] = value
        return
    root = path[0]
    existing = result[root] if root in result else view.get(root)
    node: dict[str, Any] = dict(existing) if isinstance(existing, dict) else {}
    result[root] = node
    for part in path[1:-1]:
        child = node.get(part)
        child = dict(child) if isinstance(child, dict) else {}
        node[part] = child
        node = child
    node[path[-1]] = value


def evaluate_mappings(
    mappings: tuple[VariableMapping, ...], variables: Variables, scope_key: int, now_ms: int
) -> dict[str, Any]:
    """The document the mappings produce, evaluated in ``scope_key``; raises Fail."""
    result: dict[str, Any] = {}
    view = variables.view(scope_key, result)
    for mapping in mappings:
        source = mapping.source
        if len(source) > 1 and source[0] == "=":
            value = evaluate_json(source, view, now_ms, error_type=IO_MAPPING_ERROR)
        else:
            value = source  # a static source is a string, as Zeebe quotes it
        _put(result, view, mapping.target, value)
    return result


def apply_inputs(element: Element, instance: Instance, variables: Variables, now_ms: int) -> None:
    """Input mappings become local variables of the element instance."""
    if element.inputs:
        document = evaluate_mappings(element.inputs, variables, instance.key, now_ms)
        variables.set_local(instance.key, document)


def _output_scope(instance: Instance) -> int:
    # an inner multi-instance activity writes its own scope (its output element reads it)
    inner = instance.loop_counter > 0 and instance.element_type != _T.MULTI_INSTANCE_BODY.value
    return instance.key if inner else instance.flow_scope_key


def apply_outputs(
    element: Element,
    instance: Instance,
    variables: Variables,
    now_ms: int,
    payload: Mapping[str, Any] | None,
    *,
    propagate_locals: bool = False,
) -> None:
    """On completing: with output mappings, the event's variables (``payload``) become locals
    and the mappings' result is merged from the flow scope; without, the payload is merged from
    the element. ``propagate_locals``: an event whose variables were set locally (a start event,
    a non-error boundary event) merges its locals instead when there is no payload."""
    if element.outputs:
        if payload:
            variables.set_local(instance.key, payload)
        document = evaluate_mappings(element.outputs, variables, instance.key, now_ms)
        variables.merge(_output_scope(instance), document)
    elif payload:
        variables.merge(instance.key, payload)
    elif propagate_locals and instance.flow_scope_key >= 0:
        local = variables.local(instance.key)
        if local:
            variables.merge(_output_scope(instance), dict(local))


def propagates_locals(element: Element) -> bool:
    """Zeebe propagates the locals of start events and non-error boundary events."""
    if element.element_type is _T.START_EVENT:
        return True
    return element.element_type is _T.BOUNDARY_EVENT and element.error is None
