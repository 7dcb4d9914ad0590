"""Deploy-time checks across a whole DMN document: unique ids, required decisions that exist, and
a requirement graph without cycles; and across the DMN resources of one deployment: unique
decision requirements ids and decision ids. Per-element checks (FEEL syntax, entry counts, hit
policy rules) happen while :mod:`.parser` builds each element; all report texts that name the
element.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from .model import DecisionRequirementsGraph

__all__ = ["deployment_conflicts", "duplicate_ids", "requirement_cycles", "unknown_requirements"]


def local_name(tag: object) -> str:
    text = str(tag)
    return text.split("}", 1)[1] if text.startswith("{") and "}" in text else text


def duplicate_ids(root: ET.Element) -> list[str]:
    """One error per id that more than one element of the document carries (XML ids, diagram
    elements included, must be unique; Zeebe's model reader refuses such a document)."""
    seen: dict[str, list[str]] = {}
    for element in root.iter():
        element_id = element.get("id")
        if element_id:
            seen.setdefault(element_id, []).append(local_name(element.tag))
    return [
        f"the id '{element_id}' is used by {len(kinds)} elements ({', '.join(kinds)}); "
        "ids must be unique"
        for element_id, kinds in seen.items()
        if len(kinds) > 1
    ]


def unknown_requirements(requirements: Mapping[str, Sequence[str]]) -> list[str]:
    """Errors for required decisions that name no decision of the graph."""
    return [
        f"decision '{decision_id}': the required decision '{required}' is not a decision of this "
        "decision requirements graph"
        for decision_id, required_ids in requirements.items()
        for required in required_ids
        if required not in requirements
    ]


def requirement_cycles(requirements: Mapping[str, Sequence[str]]) -> list[str]:
    """One error per cycle among the required decisions, naming its decisions in order.

    Iterative depth-first search, so a long requirement chain cannot exhaust the stack.
    """
    done: set[str] = set()
    errors: list[str] = []
    for start in requirements:
        if start in done:
            continue
        path: list[str] = [start]
        on_path = {start}
        stack = [iter(requirements[start])]
        while stack:
            required = next(stack[-1], None)
            if required is None:
                stack.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
                continue
            if required not in requirements or required in done:
                continue
            if required in on_path:
                cycle = [*path[path.index(required) :], required]
                errors.append(
                    "Invalid DMN model: Cyclic dependencies between decisions detected: "
                    + " -> ".join(f"'{d}'" for d in cycle)
                )
                continue
            path.append(required)
            on_path.add(required)
            stack.append(iter(requirements[required]))
    return errors


def deployment_conflicts(graphs: Sequence[DecisionRequirementsGraph]) -> list[str]:
    """Zeebe's rejections for the DMN resources of one deployment (in deployment order) that
    reuse the decision requirements id or a decision id of an earlier resource: one message per
    such resource, the first conflict only, without a resource prefix (as
    ``DmnResourceTransformer`` words them). A rejected resource takes no ids."""
    accepted: list[DecisionRequirementsGraph] = []
    errors: list[str] = []
    for graph in graphs:
        earlier = next((g for g in accepted if g.id == graph.id), None)
        if earlier is not None:
            errors.append(
                "Expected the decision requirements ids to be unique within a deployment but "
                f"found a duplicated id '{graph.id}' in the resources '{earlier.resource_name}' "
                f"and '{graph.resource_name}'."
            )
            continue
        ids = set(graph.decision_ids)
        clash = next(
            ((g, d.id) for g in accepted for d in g.decisions if d.id in ids),
            None,
        )
        if clash is not None:
            errors.append(
                "Expected the decision ids to be unique within a deployment but found a "
                f"duplicated id '{clash[1]}' in the resources '{clash[0].resource_name}' and "
                f"'{graph.resource_name}'."
            )
            continue
        accepted.append(graph)
    return errors
