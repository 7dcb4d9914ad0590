"""A fluent builder that writes BPMN XML with Zeebe extensions, for tests.

Engine tests need processes in a few lines, like Zeebe's ``Bpmn.createExecutableProcess``::

    xml = (
        ProcessBuilder("order")
        .start_event("start")
        .service_task("pay", job_type="payment", retries=5, headers={"a": "1"})
        .exclusive_gateway("ok")
        .condition("=paid").end_event("done")
        .move_to("ok").default_flow().service_task("retry", job_type="retry").connect_to("pay")
        .done()
    )

Each element method adds the element to the current scope and, unless it is the first element
or a boundary event, a sequence flow from the current element to it; the new element becomes
current. ``condition(...)`` / ``default_flow()`` apply to the next flow, ``move_to(id)`` makes
another element current, ``connect_to(id)`` adds a flow to an existing element. Ids are
optional (generated ``<kind>_<n>``). ``sub_process`` / ``event_sub_process`` take a function that
builds the inner scope. Messages, errors, signals and escalations are declared once per name.
``done()`` returns the document as UTF-8 bytes; ``to_xml()`` as text.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Self
from xml.sax.saxutils import escape, quoteattr

import attrs

__all__ = ["MultiInstanceSpec", "ProcessBuilder", "ScopeBuilder"]

_HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'id="Definitions_{id}" targetNamespace="http://bpmn.io/schema/bpmn">\n'
)


@attrs.frozen
class MultiInstanceSpec:
    """Multi-instance settings of an activity (``zeebe:loopCharacteristics``)."""

    input_collection: str
    input_element: str | None = None
    output_collection: str | None = None
    output_element: str | None = None
    sequential: bool = False
    completion_condition: str | None = None


@attrs.define
class _Node:
    id: str
    tag: str
    attributes: dict[str, str]
    body: list[str] = attrs.Factory(list)  # event definitions, loop characteristics, ...
    extensions: list[str] = attrs.Factory(list)
    scope: ScopeBuilder | None = None  # a subprocess' inner scope


@attrs.define
class _Flow:
    id: str
    source: str
    target: str
    condition: str | None = None


def _attributes(values: Mapping[str, str | None]) -> str:
    return "".join(
        f" {key}={quoteattr(value)}" for key, value in values.items() if value is not None
    )


def _element(tag: str, values: Mapping[str, str | None], inner: str = "") -> str:
    if inner:
        return f"<{tag}{_attributes(values)}>{inner}</{tag}>"
    return f"<{tag}{_attributes(values)} />"


class _Registry:
    """Root elements (messages, errors, ...) and id generation, shared by all scopes."""

    def __init__(self) -> None:
        self.counter = itertools.count(1)
        self.roots: dict[tuple[str, str], str] = {}  # (kind, key) -> id
        self.root_xml: list[str] = []

    def new_id(self, kind: str) -> str:
        return f"{kind}_{next(self.counter)}"

    def message(self, name: str, correlation_key: str | None) -> str:
        key = ("message", f"{name}\0{correlation_key}")
        if key not in self.roots:
            message_id = self.new_id("Message")
            self.roots[key] = message_id
            inner = ""
            if correlation_key is not None:
                subscription = _element("zeebe:subscription", {"correlationKey": correlation_key})
                inner = f"<bpmn:extensionElements>{subscription}</bpmn:extensionElements>"
            self.root_xml.append(_element("bpmn:message", {"id": message_id, "name": name}, inner))
        return self.roots[key]

    def root(self, kind: str, key: str | None, attributes: Mapping[str, str | None]) -> str:
        lookup = (kind, key or "\0none")
        if lookup not in self.roots:
            root_id = self.new_id(kind.capitalize())
            self.roots[lookup] = root_id
            self.root_xml.append(_element(f"bpmn:{kind}", {"id": root_id, **attributes}))
        return self.roots[lookup]


class ScopeBuilder:
    """Builds the elements of one flow scope (the process, or a subprocess)."""

    def __init__(self, registry: _Registry) -> None:
        self._registry = registry
        self._nodes: list[_Node] = []
        self._flows: list[_Flow] = []
        self._current: str | None = None
        self._next_condition: str | None = None
        self._next_default = False
        self._defaults: dict[str, str] = {}

    # --- flow control -----------------------------------------------------------------------

    def condition(self, expression: str) -> Self:
        """The next sequence flow gets this ``conditionExpression``."""
        self._next_condition = expression
        return self

    def default_flow(self) -> Self:
        """The next sequence flow becomes the default flow of the current gateway."""
        self._next_default = True
        return self

    def move_to(self, element_id: str) -> Self:
        """Continue from an existing element (the next element connects from it)."""
        self._node(element_id)
        self._current = element_id
        return self

    def connect_to(self, element_id: str) -> Self:
        """Add a sequence flow from the current element to an existing one."""
        self._node(element_id)
        self._connect(element_id)
        self._current = element_id
        return self

    # --- events -----------------------------------------------------------------------------

    def start_event(
        self,
        element_id: str | None = None,
        *,
        name: str | None = None,
        message: str | None = None,
        correlation_key: str | None = None,
        timer_cycle: str | None = None,
        timer_date: str | None = None,
        timer_duration: str | None = None,
        signal: str | None = None,
        error_code: str | None = None,
        escalation_code: str | None = None,
        interrupting: bool = True,
        outputs: Mapping[str, str] | None = None,
    ) -> Self:
        node = self._add(
            "startEvent",
            element_id,
            name,
            {"isInterrupting": None if interrupting else "false"},
            connect=False,
        )
        node.body += self._definitions(
            message=message,
            correlation_key=correlation_key,
            timer=_timer(timer_date, timer_duration, timer_cycle),
            signal=signal,
            error_code=error_code,
            escalation_code=escalation_code,
        )
        self._mappings(node, None, outputs)
        return self

    def end_event(
        self,
        element_id: str | None = None,
        *,
        name: str | None = None,
        error_code: str | None = None,
        terminate: bool = False,
        signal: str | None = None,
        escalation_code: str | None = None,
        message_job_type: str | None = None,
        outputs: Mapping[str, str] | None = None,
    ) -> Self:
        node = self._add("endEvent", element_id, name)
        node.body += self._definitions(
            error_code=error_code,
            error_catch_all=False,
            signal=signal,
            escalation_code=escalation_code,
        )
        if terminate:
            node.body.append("<bpmn:terminateEventDefinition />")
        if message_job_type is not None:
            node.body.append("<bpmn:messageEventDefinition />")
            node.extensions.append(_element("zeebe:taskDefinition", {"type": message_job_type}))
        self._mappings(node, None, outputs)
        return self

    def intermediate_catch_event(
        self,
        element_id: str | None = None,
        *,
        name: str | None = None,
        message: str | None = None,
        correlation_key: str | None = None,
        timer_duration: str | None = None,
        timer_date: str | None = None,
        signal: str | None = None,
        link: str | None = None,
        outputs: Mapping[str, str] | None = None,
    ) -> Self:
        node = self._add("intermediateCatchEvent", element_id, name, connect=link is None)
        node.body += self._definitions(
            message=message,
            correlation_key=correlation_key,
            timer=_timer(timer_date, timer_duration, None),
            signal=signal,
            link=link,
        )
        self._mappings(node, None, outputs)
        return self

    def intermediate_throw_event(
        self,
        element_id: str | None = None,
        *,
        name: str | None = None,
        link: str | None = None,
        signal: str | None = None,
        escalation_code: str | None = None,
        inputs: Mapping[str, str] | None = None,
    ) -> Self:
        node = self._add("intermediateThrowEvent", element_id, name)
        node.body += self._definitions(signal=signal, escalation_code=escalation_code, link=link)
        self._mappings(node, inputs, None)
        return self

    def boundary_event(
        self,
        element_id: str | None = None,
        *,
        attached_to: str | None = None,
        name: str | None = None,
        timer_duration: str | None = None,
        timer_date: str | None = None,
        timer_cycle: str | None = None,
        message: str | None = None,
        correlation_key: str | None = None,
        error_code: str | None = None,
        error_catch_all: bool = False,
        signal: str | None = None,
        escalation_code: str | None = None,
        interrupting: bool = True,
        outputs: Mapping[str, str] | None = None,
    ) -> Self:
        """A boundary event on ``attached_to`` (default: the current element); it becomes
        current, so the next element continues from it."""
        activity = attached_to or self._current
        if activity is None:
            raise ValueError("boundary_event needs an activity to attach to")
        node = self._add(
            "boundaryEvent",
            element_id,
            name,
            {"cancelActivity": None if interrupting else "false", "attachedToRef": activity},
            connect=False,
        )
        node.body += self._definitions(
            message=message,
            correlation_key=correlation_key,
            timer=_timer(timer_date, timer_duration, timer_cycle),
            error_code=error_code,
            error_catch_all=error_catch_all,
            signal=signal,
            escalation_code=escalation_code,
        )
        self._mappings(node, None, outputs)
        return self

    # --- tasks ------------------------------------------------------------------------------

    def service_task(
        self,
        element_id: str | None = None,
        *,
        job_type: str,
        name: str | None = None,
        retries: int | str | None = None,
        headers: Mapping[str, str] | None = None,
        inputs: Mapping[str, str] | None = None,
        outputs: Mapping[str, str] | None = None,
        multi_instance: MultiInstanceSpec | None = None,
    ) -> Self:
        node = self._add("serviceTask", element_id, name)
        self._job(node, job_type, retries, headers)
        self._activity(node, inputs, outputs, multi_instance)
        return self

    def send_task(
        self, element_id: str | None = None, *, job_type: str, name: str | None = None
    ) -> Self:
        self._job(self._add("sendTask", element_id, name), job_type, None, None)
        return self

    def user_task(
        self,
        element_id: str | None = None,
        *,
        name: str | None = None,
        native: bool = False,
        assignee: str | None = None,
        candidate_groups: str | None = None,
        form_key: str | None = None,
        form_id: str | None = None,
        inputs: Mapping[str, str] | None = None,
        outputs: Mapping[str, str] | None = None,
        multi_instance: MultiInstanceSpec | None = None,
    ) -> Self:
        node = self._add("userTask", element_id, name)
        if native:
            node.extensions.append("<zeebe:userTask />")
        if assignee is not None or candidate_groups is not None:
            node.extensions.append(
                _element(
                    "zeebe:assignmentDefinition",
                    {"assignee": assignee, "candidateGroups": candidate_groups},
                )
            )
        if form_key is not None or form_id is not None:
            node.extensions.append(
                _element("zeebe:formDefinition", {"formKey": form_key, "formId": form_id})
            )
        self._activity(node, inputs, outputs, multi_instance)
        return self

    def script_task(
        self,
        element_id: str | None = None,
        *,
        expression: str,
        result_variable: str,
        name: str | None = None,
        inputs: Mapping[str, str] | None = None,
        outputs: Mapping[str, str] | None = None,
    ) -> Self:
        node = self._add("scriptTask", element_id, name)
        node.extensions.append(
            _element("zeebe:script", {"expression": expression, "resultVariable": result_variable})
        )
        self._activity(node, inputs, outputs, None)
        return self

    def business_rule_task(
        self,
        element_id: str | None = None,
        *,
        decision_id: str,
        result_variable: str,
        name: str | None = None,
        inputs: Mapping[str, str] | None = None,
        outputs: Mapping[str, str] | None = None,
    ) -> Self:
        node = self._add("businessRuleTask", element_id, name)
        node.extensions.append(
            _element(
                "zeebe:calledDecision",
                {"decisionId": decision_id, "resultVariable": result_variable},
            )
        )
        self._activity(node, inputs, outputs, None)
        return self

    def receive_task(
        self,
        element_id: str | None = None,
        *,
        message: str,
        correlation_key: str,
        name: str | None = None,
        inputs: Mapping[str, str] | None = None,
        outputs: Mapping[str, str] | None = None,
        multi_instance: MultiInstanceSpec | None = None,
    ) -> Self:
        message_id = self._registry.message(message, correlation_key)
        node = self._add("receiveTask", element_id, name, {"messageRef": message_id})
        self._activity(node, inputs, outputs, multi_instance)
        return self

    def manual_task(self, element_id: str | None = None, *, name: str | None = None) -> Self:
        self._add("manualTask", element_id, name)
        return self

    def task(self, element_id: str | None = None, *, name: str | None = None) -> Self:
        self._add("task", element_id, name)
        return self

    def call_activity(
        self,
        element_id: str | None = None,
        *,
        process_id: str,
        name: str | None = None,
        propagate_all_child_variables: bool = True,
        inputs: Mapping[str, str] | None = None,
        outputs: Mapping[str, str] | None = None,
        multi_instance: MultiInstanceSpec | None = None,
    ) -> Self:
        node = self._add("callActivity", element_id, name)
        node.extensions.append(
            _element(
                "zeebe:calledElement",
                {
                    "processId": process_id,
                    "propagateAllChildVariables": "true"
                    if propagate_all_child_variables
                    else "false",
                },
            )
        )
        self._activity(node, inputs, outputs, multi_instance)
        return self

    def sub_process(
        self,
        element_id: str | None = None,
        build: Callable[[ScopeBuilder], object] | None = None,
        *,
        name: str | None = None,
        inputs: Mapping[str, str] | None = None,
        outputs: Mapping[str, str] | None = None,
        multi_instance: MultiInstanceSpec | None = None,
    ) -> Self:
        """An embedded subprocess; ``build(inner)`` adds its elements (start event first)."""
        node = self._add("subProcess", element_id, name)
        node.scope = ScopeBuilder(self._registry)
        if build is not None:
            build(node.scope)
        self._activity(node, inputs, outputs, multi_instance)
        return self

    def event_sub_process(
        self,
        element_id: str | None = None,
        build: Callable[[ScopeBuilder], object] | None = None,
        *,
        name: str | None = None,
    ) -> Self:
        """An event subprocess (not connected; the current element stays current)."""
        current = self._current
        node = self._add("subProcess", element_id, name, {"triggeredByEvent": "true"}, False)
        node.scope = ScopeBuilder(self._registry)
        if build is not None:
            build(node.scope)
        self._current = current
        return self

    # --- gateways ---------------------------------------------------------------------------

    def exclusive_gateway(self, element_id: str | None = None, *, name: str | None = None) -> Self:
        self._add("exclusiveGateway", element_id, name)
        return self

    def parallel_gateway(self, element_id: str | None = None, *, name: str | None = None) -> Self:
        self._add("parallelGateway", element_id, name)
        return self

    def inclusive_gateway(self, element_id: str | None = None, *, name: str | None = None) -> Self:
        self._add("inclusiveGateway", element_id, name)
        return self

    def event_based_gateway(
        self, element_id: str | None = None, *, name: str | None = None
    ) -> Self:
        self._add("eventBasedGateway", element_id, name)
        return self

    # --- internals --------------------------------------------------------------------------

    def _node(self, element_id: str) -> _Node:
        for node in self._nodes:
            if node.id == element_id:
                return node
        raise KeyError(f"no element '{element_id}' in this scope")

    def _add(
        self,
        tag: str,
        element_id: str | None,
        name: str | None,
        attributes: Mapping[str, str | None] | None = None,
        connect: bool = True,
    ) -> _Node:
        node_id = element_id or self._registry.new_id(tag[:1].upper() + tag[1:])
        values = {"id": node_id, "name": name, **(attributes or {})}
        node = _Node(node_id, tag, {k: v for k, v in values.items() if v is not None})
        self._nodes.append(node)
        if connect and self._current is not None:
            self._connect(node_id)
        self._current = node_id
        return node

    def _connect(self, target: str) -> None:
        if self._current is None:
            raise ValueError("no current element to connect from")
        flow = _Flow(self._registry.new_id("Flow"), self._current, target, self._next_condition)
        self._flows.append(flow)
        if self._next_default:
            self._defaults[self._current] = flow.id
        self._next_condition = None
        self._next_default = False

    def _definitions(
        self,
        *,
        message: str | None = None,
        correlation_key: str | None = None,
        timer: str | None = None,
        signal: str | None = None,
        error_code: str | None = None,
        error_catch_all: bool = False,
        escalation_code: str | None = None,
        link: str | None = None,
    ) -> list[str]:
        body: list[str] = []
        if message is not None:
            message_id = self._registry.message(message, correlation_key)
            body.append(_element("bpmn:messageEventDefinition", {"messageRef": message_id}))
        if timer is not None:
            body.append(f"<bpmn:timerEventDefinition>{timer}</bpmn:timerEventDefinition>")
        if signal is not None:
            signal_id = self._registry.root("signal", signal, {"name": signal})
            body.append(_element("bpmn:signalEventDefinition", {"signalRef": signal_id}))
        if error_code is not None:
            error_id = self._registry.root("error", error_code, {"errorCode": error_code})
            body.append(_element("bpmn:errorEventDefinition", {"errorRef": error_id}))
        elif error_catch_all:
            body.append("<bpmn:errorEventDefinition />")
        if escalation_code is not None:
            escalation_id = self._registry.root(
                "escalation", escalation_code, {"escalationCode": escalation_code}
            )
            body.append(
                _element("bpmn:escalationEventDefinition", {"escalationRef": escalation_id})
            )
        if link is not None:
            body.append(_element("bpmn:linkEventDefinition", {"name": link}))
        return body

    def _job(
        self,
        node: _Node,
        job_type: str,
        retries: int | str | None,
        headers: Mapping[str, str] | None,
    ) -> None:
        node.extensions.append(
            _element(
                "zeebe:taskDefinition",
                {"type": job_type, "retries": None if retries is None else str(retries)},
            )
        )
        if headers:
            items = "".join(
                _element("zeebe:header", {"key": key, "value": value})
                for key, value in headers.items()
            )
            node.extensions.append(f"<zeebe:taskHeaders>{items}</zeebe:taskHeaders>")

    def _activity(
        self,
        node: _Node,
        inputs: Mapping[str, str] | None,
        outputs: Mapping[str, str] | None,
        multi_instance: MultiInstanceSpec | None,
    ) -> None:
        self._mappings(node, inputs, outputs)
        if multi_instance is not None:
            spec = multi_instance
            loop = _element(
                "zeebe:loopCharacteristics",
                {
                    "inputCollection": spec.input_collection,
                    "inputElement": spec.input_element,
                    "outputCollection": spec.output_collection,
                    "outputElement": spec.output_element,
                },
            )
            inner = f"<bpmn:extensionElements>{loop}</bpmn:extensionElements>"
            if spec.completion_condition is not None:
                condition = escape(spec.completion_condition)
                inner += f"<bpmn:completionCondition>{condition}</bpmn:completionCondition>"
            node.body.append(
                _element(
                    "bpmn:multiInstanceLoopCharacteristics",
                    {"isSequential": "true" if spec.sequential else None},
                    inner,
                )
            )

    def _mappings(
        self,
        node: _Node,
        inputs: Mapping[str, str] | None,
        outputs: Mapping[str, str] | None,
    ) -> None:
        """Mappings are given target -> source (``{"total": "=a + b"}``)."""
        items = [
            _element(f"zeebe:{kind}", {"source": source, "target": target})
            for kind, mapping in (("input", inputs), ("output", outputs))
            for target, source in (mapping or {}).items()
        ]
        if items:
            node.extensions.append(f"<zeebe:ioMapping>{''.join(items)}</zeebe:ioMapping>")

    def _render(self) -> Iterable[str]:
        incoming: dict[str, list[str]] = {}
        outgoing: dict[str, list[str]] = {}
        for flow in self._flows:
            outgoing.setdefault(flow.source, []).append(flow.id)
            incoming.setdefault(flow.target, []).append(flow.id)
        for node in self._nodes:
            attributes = dict(node.attributes)
            if node.id in self._defaults:
                attributes["default"] = self._defaults[node.id]
            inner = ""
            if node.extensions:
                inner += f"<bpmn:extensionElements>{''.join(node.extensions)}"
                inner += "</bpmn:extensionElements>"
            inner += "".join(
                f"<bpmn:incoming>{i}</bpmn:incoming>" for i in incoming.get(node.id, [])
            )
            inner += "".join(
                f"<bpmn:outgoing>{o}</bpmn:outgoing>" for o in outgoing.get(node.id, [])
            )
            inner += "".join(node.body)
            if node.scope is not None:
                inner += "".join(node.scope._render())
            yield "  " + _element(f"bpmn:{node.tag}", attributes, inner) + "\n"
        for flow in self._flows:
            condition = ""
            if flow.condition is not None:
                condition = (
                    '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">'
                    f"{escape(flow.condition)}</bpmn:conditionExpression>"
                )
            values = {"id": flow.id, "sourceRef": flow.source, "targetRef": flow.target}
            yield "  " + _element("bpmn:sequenceFlow", values, condition) + "\n"


class ProcessBuilder(ScopeBuilder):
    """Builds one executable process (the top-level scope) and renders the document."""

    def __init__(self, process_id: str = "process", *, name: str | None = None) -> None:
        super().__init__(_Registry())
        self.process_id = process_id
        self.name = name

    def to_xml(self) -> str:
        values = {"id": self.process_id, "name": self.name, "isExecutable": "true"}
        body = "".join(self._render())
        process = f"<bpmn:process{_attributes(values)}>\n{body}</bpmn:process>\n"
        roots = "".join(f"{root}\n" for root in self._registry.root_xml)
        return _HEADER.format(id=self.process_id) + process + roots + "</bpmn:definitions>\n"

    def done(self) -> bytes:
        return self.to_xml().encode()


def _timer(date: str | None, duration: str | None, cycle: str | None) -> str | None:
    for tag, value in (("timeDate", date), ("timeDuration", duration), ("timeCycle", cycle)):
        if value is not None:
            return f'<bpmn:{tag} xsi:type="bpmn:tFormalExpression">{escape(value)}</bpmn:{tag}>'
    return None
