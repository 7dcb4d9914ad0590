"""What a partition runs, per deployed process and element: the live page's process view.

:class:`OverviewSource` is a point-in-time copy of the three families the view needs (process
definitions, element instances, incidents), taken in one synchronous step: the families hold
immutable values, so copying their value lists is enough for a consistent picture, and it is
a C-level list copy even for a million instances. :class:`OverviewBuilder` then counts in
chunks (``add_instances`` / ``add_incidents`` on slices), so a driver can yield to its event
loop between chunks; :func:`merge` adds up the partitions' overviews.

An element's ``active`` count is its element instances that are not finished (activating,
activated, completing or terminating: finished instances leave the state); ``incidents`` are
the open incidents raised on it. ``instances`` counts the process instances themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import attrs

from .bpmn import BpmnElementType
from .runtime.values import Definition, Incident, Instance

__all__ = [
    "ElementCounts",
    "OverviewBuilder",
    "OverviewSource",
    "PartitionOverview",
    "ProcessOverview",
    "ProcessView",
    "merge",
]

PROCESS_ELEMENT = BpmnElementType.PROCESS.value


@attrs.frozen
class ElementCounts:
    active: int = 0
    incidents: int = 0


@attrs.frozen
class ProcessOverview:
    """One deployed process definition and what runs on it."""

    key: int
    bpmn_process_id: str
    version: int
    resource_name: str
    instances: int  # running process instances
    incidents: int  # open incidents on any of its elements
    elements: Mapping[str, ElementCounts]  # element id -> counts (elements with something)

    def to_json(self) -> dict[str, object]:
        return {
            "key": str(self.key),  # 64-bit: a string, as Zeebe's JSON writes keys
            "bpmn_process_id": self.bpmn_process_id,
            "version": self.version,
            "resource_name": self.resource_name,
            "instances": self.instances,
            "incidents": self.incidents,
            "elements": {
                element: {"active": c.active, "incidents": c.incidents}
                for element, c in sorted(self.elements.items())
            },
        }


@attrs.frozen
class PartitionOverview:
    partition_id: int
    position: int  # the last record applied when the copy was taken
    processes: tuple[ProcessOverview, ...]


@attrs.frozen
class OverviewSource:
    partition_id: int
    position: int
    definitions: Sequence[Definition]
    instances: Sequence[Instance]
    incidents: Sequence[Incident]


@runtime_checkable
class ProcessView(Protocol):
    """A state machine that can show its processes (the engine)."""

    def overview_source(self) -> OverviewSource:
        """A consistent copy of the definitions, element instances and incidents."""
        ...

    def resource(self, definition_key: int) -> bytes | None:
        """The deployed resource (BPMN XML) a process definition came from."""
        ...

    def incident_count(self) -> int:
        """How many incidents are open (not resolved)."""
        ...


class OverviewBuilder:
    def __init__(self, source: OverviewSource) -> None:
        self.source = source
        self._instances: dict[int, int] = {}
        self._elements: dict[tuple[int, str], list[int]] = {}  # -> [active, incidents]
        self._incidents: dict[int, int] = {}

    def add_instances(self, instances: Iterable[Instance]) -> None:
        roots, elements = self._instances, self._elements
        for instance in instances:
            key = instance.definition_key
            if instance.element_type == PROCESS_ELEMENT:
                roots[key] = roots.get(key, 0) + 1
                continue
            counts = elements.get((key, instance.element_id))
            if counts is None:
                elements[(key, instance.element_id)] = [1, 0]
            else:
                counts[0] += 1

    def add_incidents(self, incidents: Iterable[Incident]) -> None:
        elements, totals = self._elements, self._incidents
        for incident in incidents:
            key = incident.definition_key
            totals[key] = totals.get(key, 0) + 1
            counts = elements.get((key, incident.element_id))
            if counts is None:
                elements[(key, incident.element_id)] = [0, 1]
            else:
                counts[1] += 1

    def build(self) -> PartitionOverview:
        per_definition: dict[int, dict[str, ElementCounts]] = {}
        for (key, element), (active, incidents) in self._elements.items():
            per_definition.setdefault(key, {})[element] = ElementCounts(active, incidents)
        processes = tuple(
            ProcessOverview(
                key=d.key,
                bpmn_process_id=d.bpmn_process_id,
                version=d.version,
                resource_name=d.resource_name,
                instances=self._instances.get(d.key, 0),
                incidents=self._incidents.get(d.key, 0),
                elements=per_definition.get(d.key, {}),
            )
            for d in sorted(self.source.definitions, key=lambda d: (d.bpmn_process_id, d.version))
        )
        return PartitionOverview(self.source.partition_id, self.source.position, processes)


def summarize(source: OverviewSource) -> PartitionOverview:
    """The whole count in one go (tests, small states)."""
    builder = OverviewBuilder(source)
    builder.add_instances(source.instances)
    builder.add_incidents(source.incidents)
    return builder.build()


def merge(overviews: Iterable[PartitionOverview]) -> tuple[ProcessOverview, ...]:
    """The partitions' counts added up per definition. A deployment reaches every partition
    with the same definition key, so each definition is listed once."""
    merged: dict[int, ProcessOverview] = {}
    for overview in overviews:
        for p in overview.processes:
            seen = merged.get(p.key)
            if seen is None:
                merged[p.key] = p
                continue
            elements = dict(seen.elements)
            for element, counts in p.elements.items():
                old = elements.get(element, ElementCounts())
                elements[element] = ElementCounts(
                    old.active + counts.active, old.incidents + counts.incidents
                )
            merged[p.key] = attrs.evolve(
                seen,
                instances=seen.instances + p.instances,
                incidents=seen.incidents + p.incidents,
                elements=elements,
            )
    return tuple(sorted(merged.values(), key=lambda p: (p.bpmn_process_id, -p.version)))
