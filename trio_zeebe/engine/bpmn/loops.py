"""Zeebe's straight-through processing loop check: no cycle the engine would run forever.

A cycle made only of elements that complete without waiting (undefined and manual tasks,
gateways, start and end events, embedded subprocesses, call activities, intermediate throw
events, FEEL script tasks and DMN business rule tasks) would keep a partition busy forever, so
Zeebe rejects a process that can reach one from such a task
(``StraightThroughProcessingLoopValidator``).
The walk follows sequence flows; a subprocess continues at its none start event, an element
without outgoing flows at its subprocess' outgoing flows, a call activity with a static process
id at the none start event of that process when the same resource defines it.

Unlike Zeebe's recursive search this one is iterative with memoised dead ends, so a huge or
hostile graph costs linear time and no stack.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from .model import feel_source
from .parser import Definitions, bpmn_children, bpmn_name, event_definitions, zeebe_extension

__all__ = ["straight_through_loop"]

_PASS_THROUGH = frozenset(
    {"manualTask", "task", "exclusiveGateway", "inclusiveGateway", "parallelGateway"}
    | {"startEvent", "endEvent", "subProcess", "callActivity", "intermediateThrowEvent"}
    | {"scriptTask", "businessRuleTask"}
)
# a loop is only searched from these (a loop of gateways alone is not rejected)
_LOOP_STARTS = frozenset(
    {"manualTask", "task", "callActivity", "intermediateThrowEvent", "scriptTask"}
    | {"businessRuleTask"}
)


def straight_through_loop(definitions: Definitions, process: ET.Element) -> list[str] | None:
    """The element ids of the first straight-through loop found in ``process`` (first id
    repeated at the end), or None."""
    walker = _Walker(definitions)
    starts = sorted(
        (element for element in process.iter() if walker.is_loop_start(element)),
        key=lambda element: element.get("id", ""),
    )
    for start in starts:
        loop = walker.search(start)
        if loop is not None:
            return [element.get("id", "") for element in loop]
    return None


class _Walker:
    def __init__(self, definitions: Definitions) -> None:
        self.doc = definitions
        self.dead_ends: set[ET.Element] = set()
        self.processes = {
            process.get("id", ""): process for process in definitions.executable_processes()
        }

    def is_loop_start(self, element: ET.Element) -> bool:
        return bpmn_name(element) in _LOOP_STARTS and self.is_pass_through(element)

    def is_pass_through(self, element: ET.Element) -> bool:
        local = bpmn_name(element)
        if local not in _PASS_THROUGH:
            return False
        if local == "subProcess":
            return element.get("triggeredByEvent", "").strip() != "true"
        if local == "scriptTask":
            return zeebe_extension(element, "taskDefinition") is None
        if local == "businessRuleTask":
            return zeebe_extension(element, "taskDefinition") is None
        return True

    def search(self, start: ET.Element) -> list[ET.Element] | None:
        path: list[ET.Element] = [start]
        on_path = {start}
        pending: list[Iterator[ET.Element]] = [self.next_elements(start)]
        while pending:
            following = next(pending[-1], None)
            if following is None:
                pending.pop()
                done = path.pop()
                on_path.discard(done)
                self.dead_ends.add(done)
                continue
            if following in on_path:
                return [*path[path.index(following) :], following]
            if following in self.dead_ends or not self.is_pass_through(following):
                continue
            path.append(following)
            on_path.add(following)
            pending.append(self.next_elements(following))
        return None

    def next_elements(self, element: ET.Element) -> Iterator[ET.Element]:
        local = bpmn_name(element)
        if local == "subProcess":
            start = self.none_start(element)
            if start is not None:
                yield start
            return
        if local == "callActivity":
            called = zeebe_extension(element, "calledElement")
            process_id = called.get("processId") if called is not None else None
            if process_id and feel_source(process_id) is None:
                process = self.processes.get(process_id)
                start = self.none_start(process) if process is not None else None
                if start is not None:
                    yield start
            return
        outgoing = self.doc.graph.outgoing_of(element)
        if not outgoing:
            # an implicit end: the enclosing subprocess completes and leaves on its flows
            scope = self.doc.scope_of(element)
            if scope is not None and bpmn_name(scope) == "subProcess":
                outgoing = self.doc.graph.outgoing_of(scope)
        for flow in outgoing:
            target = self.doc.graph.target.get(flow)
            if target is not None:
                yield target

    def none_start(self, scope: ET.Element) -> ET.Element | None:
        for start in bpmn_children(scope, "startEvent"):
            if not event_definitions(start):
                return start
        return None
