"""Safe reading of BPMN XML: bytes -> :class:`Definitions`, the parsed document with lookups.

The XML comes from clients, so it is parsed defensively: ``defusedxml`` refuses any DOCTYPE,
which rules out external entities (XXE), entity expansion (billion laughs) and external DTDs;
the input size, the nesting depth and the number of elements are bounded before anything is
built. Any problem raises :class:`BpmnDeploymentError` with Zeebe's ``'<resource>': <message>``
text; nothing else escapes for any input at all.

:class:`Definitions` keeps the ElementTree elements (the validator reports errors on them and
names them by their id chain) and precomputes what both the validator and the transformation
need: parents, document order, ids, and the sequence-flow graph. Only the BPMN model namespace
and the Zeebe namespace mean anything; diagram interchange, ``camunda:`` / modeler attributes,
documentation and foreign extension elements are carried along and ignored.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import attrs

from ..safexml import MAX_SIZE, ResourceError, read_xml
from .model import BpmnEventType

__all__ = [
    "BPMN_NS",
    "ZEEBE_NS",
    "BpmnDeploymentError",
    "Definitions",
    "FlowGraph",
    "bpmn_name",
    "event_definitions",
    "event_kind",
    "parse_definitions",
    "zeebe_children",
    "zeebe_extensions",
]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"

_BPMN = "{" + BPMN_NS + "}"
_ZEEBE = "{" + ZEEBE_NS + "}"
_EXTENSION_ELEMENTS = _BPMN + "extensionElements"

#: Flow nodes the graph knows (supported or not): sequence flows may point at any of them.
FLOW_NODE_NAMES = frozenset(
    {
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "implicitThrowEvent",
        "task",
        "serviceTask",
        "sendTask",
        "receiveTask",
        "userTask",
        "manualTask",
        "businessRuleTask",
        "scriptTask",
        "subProcess",
        "transaction",
        "adHocSubProcess",
        "callActivity",
        "exclusiveGateway",
        "parallelGateway",
        "inclusiveGateway",
        "eventBasedGateway",
        "complexGateway",
        "callChoreography",
        "choreographyTask",
        "subChoreography",
    }
)
#: Flow elements that contain flow elements.
SCOPE_NAMES = frozenset({"process", "subProcess", "transaction", "adHocSubProcess"})


class BpmnDeploymentError(ResourceError):
    """A BPMN resource that cannot be deployed.

    ``message`` is Zeebe's text for the failure (the parser's message, or the formatted list of
    validation errors); ``str(error)`` is ``'<resource name>': <message>``, the line Zeebe puts
    into a deployment rejection.
    """


def bpmn_name(element: ET.Element) -> str | None:
    """The local name of a BPMN model element, None for any other namespace."""
    tag = element.tag
    if isinstance(tag, str) and tag.startswith(_BPMN):
        return tag[len(_BPMN) :]
    return None


def zeebe_name(element: ET.Element) -> str | None:
    """The local name of a Zeebe extension element, None for any other namespace."""
    tag = element.tag
    if isinstance(tag, str) and tag.startswith(_ZEEBE):
        return tag[len(_ZEEBE) :]
    return None


def bpmn_children(element: ET.Element, name: str | None = None) -> Iterator[ET.Element]:
    """The BPMN children of ``element`` (of one local name if given), document order."""
    if name is not None:
        tag = _BPMN + name
        for child in element:
            if child.tag == tag:
                yield child
        return
    for child in element:
        if bpmn_name(child) is not None:
            yield child


def zeebe_extensions(element: ET.Element, name: str) -> list[ET.Element]:
    """The ``zeebe:<name>`` elements in ``element``'s ``bpmn:extensionElements``."""
    tag = _ZEEBE + name
    return [
        child
        for extensions in element
        if extensions.tag == _EXTENSION_ELEMENTS
        for child in extensions
        if child.tag == tag
    ]


def zeebe_extension(element: ET.Element, name: str) -> ET.Element | None:
    """The first ``zeebe:<name>`` extension element, or None."""
    found = zeebe_extensions(element, name)
    return found[0] if found else None


def zeebe_children(element: ET.Element, name: str) -> list[ET.Element]:
    """The ``zeebe:<name>`` children of a Zeebe element (headers, inputs, properties, ...)."""
    tag = _ZEEBE + name
    return [child for child in element if child.tag == tag]


def event_definitions(element: ET.Element) -> list[ET.Element]:
    """The ``bpmn:*EventDefinition`` children of an event, document order."""
    return [
        child
        for child in element
        if (local := bpmn_name(child)) is not None and local.endswith("EventDefinition")
    ]


_EVENT_KINDS = {
    "messageEventDefinition": BpmnEventType.MESSAGE,
    "timerEventDefinition": BpmnEventType.TIMER,
    "errorEventDefinition": BpmnEventType.ERROR,
    "terminateEventDefinition": BpmnEventType.TERMINATE,
    "signalEventDefinition": BpmnEventType.SIGNAL,
    "escalationEventDefinition": BpmnEventType.ESCALATION,
    "linkEventDefinition": BpmnEventType.LINK,
    "compensateEventDefinition": BpmnEventType.COMPENSATION,
}


def event_kind(definition: ET.Element) -> BpmnEventType | None:
    """The event type of a supported event definition element, None for unsupported ones."""
    local = bpmn_name(definition)
    return _EVENT_KINDS.get(local) if local is not None else None


@attrs.define
class FlowGraph:
    """The sequence-flow graph of all processes, resolved by element identity.

    ``source`` / ``target`` map a sequence flow to the flow node its ``sourceRef`` /
    ``targetRef`` names (missing when the reference is absent or names no flow node);
    ``outgoing`` / ``incoming`` list a node's flows in document order; ``boundaries`` the
    boundary events attached to an element, ``associations`` the associations leaving one.
    """

    source: dict[ET.Element, ET.Element] = attrs.Factory(dict)
    target: dict[ET.Element, ET.Element] = attrs.Factory(dict)
    outgoing: dict[ET.Element, list[ET.Element]] = attrs.Factory(dict)
    incoming: dict[ET.Element, list[ET.Element]] = attrs.Factory(dict)
    boundaries: dict[ET.Element, list[ET.Element]] = attrs.Factory(dict)
    associations: dict[ET.Element, list[ET.Element]] = attrs.Factory(dict)

    def outgoing_of(self, node: ET.Element) -> list[ET.Element]:
        return self.outgoing.get(node, [])

    def incoming_of(self, node: ET.Element) -> list[ET.Element]:
        return self.incoming.get(node, [])


class Definitions:
    """A parsed ``bpmn:definitions`` document (not validated yet).

    Lookups: :meth:`parent`, :meth:`index` (document order), :meth:`by_id` (first element with
    an id, BPMN namespace only), :meth:`ref` (resolve a reference attribute), ``duplicates``
    (elements whose id an earlier element already has), ``processes`` and ``graph``.
    """

    def __init__(self, resource_name: str, root: ET.Element) -> None:
        self.resource_name = resource_name
        self.root = root
        self._parents: dict[ET.Element, ET.Element] = {}
        self._order: dict[ET.Element, int] = {}
        self._ids: dict[str, ET.Element] = {}
        self.duplicates: list[ET.Element] = []
        for index, element in enumerate(root.iter()):
            self._order[element] = index
            for child in element:
                self._parents[child] = element
            element_id = element.get("id")
            if element_id and bpmn_name(element) is not None:
                if element_id in self._ids:
                    self.duplicates.append(element)
                else:
                    self._ids[element_id] = element
        self.processes: list[ET.Element] = list(bpmn_children(root, "process"))
        self.graph = self._build_graph()

    def parent(self, element: ET.Element) -> ET.Element | None:
        return self._parents.get(element)

    def index(self, element: ET.Element) -> int:
        return self._order.get(element, -1)

    def by_id(self, element_id: str | None) -> ET.Element | None:
        if not element_id:
            return None
        return self._ids.get(element_id)

    def ref(self, element: ET.Element, attribute: str) -> ET.Element | None:
        """The element a reference attribute names. BPMN references are QNames, so a
        ``prefix:id`` reference resolves to ``id`` when nothing carries the whole text."""
        value = element.get(attribute)
        if not value:
            return None
        value = value.strip()
        found = self._ids.get(value)
        if found is None and ":" in value:
            found = self._ids.get(value.split(":", 1)[1])
        return found

    def executable_processes(self) -> list[ET.Element]:
        return [p for p in self.processes if p.get("isExecutable", "").strip() == "true"]

    def scope_of(self, element: ET.Element) -> ET.Element | None:
        """The flow scope (process or subprocess) that directly contains ``element``."""
        parent = self.parent(element)
        while parent is not None and bpmn_name(parent) not in SCOPE_NAMES:
            parent = self.parent(parent)
        return parent

    def _build_graph(self) -> FlowGraph:
        graph = FlowGraph()
        nodes: dict[str, ET.Element] = {}
        flows: list[ET.Element] = []
        boundaries: list[ET.Element] = []
        associations: list[ET.Element] = []
        for process in self.processes:
            for element in process.iter():
                local = bpmn_name(element)
                if local == "sequenceFlow":
                    flows.append(element)
                elif local == "association":
                    associations.append(element)
                elif local in FLOW_NODE_NAMES:
                    element_id = element.get("id")
                    if element_id and element_id not in nodes:
                        nodes[element_id] = element
                    if local == "boundaryEvent":
                        boundaries.append(element)
        for flow in flows:
            source = nodes.get((flow.get("sourceRef") or "").strip())
            target = nodes.get((flow.get("targetRef") or "").strip())
            if source is not None:
                graph.source[flow] = source
                graph.outgoing.setdefault(source, []).append(flow)
            if target is not None:
                graph.target[flow] = target
                graph.incoming.setdefault(target, []).append(flow)
        for boundary in boundaries:
            attached = self.ref(boundary, "attachedToRef")
            if attached is not None:
                graph.boundaries.setdefault(attached, []).append(boundary)
        for association in associations:
            source = self.ref(association, "sourceRef")
            if source is not None:
                graph.associations.setdefault(source, []).append(association)
        return graph


def parse_definitions(resource_name: str, data: bytes, *, max_size: int = MAX_SIZE) -> Definitions:
    """Parse BPMN XML safely; :class:`BpmnDeploymentError` for anything that is not a
    well-formed, DTD-free BPMN 2.0 ``definitions`` document within the limits."""
    root = read_xml(resource_name, data, kind="BPMN", error=BpmnDeploymentError, max_size=max_size)
    if root.tag != _BPMN + "definitions":
        raise BpmnDeploymentError(
            resource_name,
            f"Expected the root element 'definitions' of namespace '{BPMN_NS}', but found "
            f"'{_display_tag(root.tag)}'",
        )
    return Definitions(resource_name, root)


def _display_tag(tag: object) -> str:
    text = str(tag)
    if text.startswith("{") and "}" in text:
        namespace, local = text[1:].split("}", 1)
        return f"{local}' of namespace '{namespace}"
    return text
