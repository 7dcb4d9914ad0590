"""Zeebe's deployment validation of a parsed BPMN document: every error, each on its element.

:func:`validate` applies Zeebe's design-time rules (``BM/validation/zeebe/*Validator.java``: what
elements and event definitions are supported where, gateways, start events per scope, boundary
events, timers, messages, errors, escalations, signals, links) and its deploy-time checks
(``ZeebeRuntimeValidators``, static timers must parse). The rules of the Zeebe extension
elements and of expressions live in :mod:`.extension_rules`; this module walks the document and
owns the error list. All errors of the resource are collected; :func:`format_errors` renders
them exactly like Zeebe's ``ValidationErrorFormatter``::

    - Element: task > extensionElements > taskDefinition
        - ERROR: Attribute 'type' must be present and not empty

An element is named by the chain from the closest ancestor with an id (a BPMN element other than
``definitions`` / ``extensionElements`` that carries an ``id``) down to it, other elements by
their local name. Only executable processes are validated (Zeebe ignores the others); the
document must contain at least one.

Expression syntax is checked through a hook: ``check_expression(source)`` gets the FEEL source
(the text after ``=``) and returns the reason it does not parse, or None. The error then reads
``failed to parse expression '<source>': <reason>``. The default accepts everything; the engine
passes its FEEL compiler.

The messages are Zeebe's wording. A few rules Zeebe leaves to its XML schema (unique ids, NCName
ids, a sequence flow inside one flow scope) or does not state (timer start events take a date or
a cycle, the kinds of start and throw events) are reported here the same way, in that style.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import attrs

from ..safexml import text_content
from . import timer_syntax
from .extension_rules import (
    EXACTLY_ONE_EXTENSION,
    MISSING_ATTRIBUTE,
    SINGLE_EXTENSIONS,
    CheckExpression,
    ExtensionRules,
    accept_every_expression,
)
from .loops import straight_through_loop
from .model import BpmnEventType, feel_source
from .parser import (
    Definitions,
    bpmn_children,
    bpmn_name,
    event_definitions,
    event_kind,
    zeebe_extensions,
    zeebe_name,
)

__all__ = [
    "CheckExpression",
    "ValidationError",
    "accept_every_expression",
    "format_errors",
    "validate",
]


@attrs.frozen
class ValidationError:
    """One error: ``element`` is the id chain, ``position`` the element's document position
    (errors of one element share it and are listed together)."""

    element: str
    message: str
    position: int = 0


def format_errors(errors: Sequence[ValidationError]) -> str:
    """Zeebe's text: one ``- Element:`` line per element, then its ``    - ERROR:`` lines."""
    lines: list[str] = []
    previous: tuple[int, str] | None = None
    for error in errors:
        key = (error.position, error.element)
        if key != previous:
            lines.append(f"- Element: {error.element}\n")
            previous = key
        lines.append(f"    - ERROR: {error.message}\n")
    return "".join(lines)


def validate(
    definitions: Definitions, check_expression: CheckExpression = accept_every_expression
) -> list[ValidationError]:
    """All validation errors of the document, grouped by element in document order."""
    return _Validator(definitions, check_expression).run()


_K = BpmnEventType
# fmt: off
_SUPPORTED_ELEMENTS = frozenset({
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
    "boundaryEvent", "task", "serviceTask", "sendTask", "receiveTask", "userTask",
    "manualTask", "businessRuleTask", "scriptTask", "subProcess", "callActivity",
    "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway"
})
_ACTIVITIES = frozenset({
    "task", "serviceTask", "sendTask", "receiveTask", "userTask", "manualTask",
    "businessRuleTask", "scriptTask", "subProcess", "callActivity"
})
# Children of a flow scope that are not flow elements (or not executable) and mean nothing here.
_IGNORED_IN_SCOPE = frozenset({
    "extensionElements", "documentation", "laneSet", "ioSpecification", "ioBinding",
    "property", "dataObject", "dataObjectReference", "dataStoreReference", "textAnnotation",
    "association", "group", "auditing", "monitoring", "category", "resourceRole", "performer",
    "humanPerformer", "potentialOwner", "correlationSubscription", "supports", "incoming",
    "outgoing", "multiInstanceLoopCharacteristics", "standardLoopCharacteristics",
    "dataInputAssociation", "dataOutputAssociation", "dataInput", "dataOutput"
})
# fmt: on
_THROW_EVENTS = frozenset({"intermediateThrowEvent", "endEvent"})
_CATCH_EVENTS = frozenset({"startEvent", "intermediateCatchEvent", "boundaryEvent"})
_NON_INTERRUPTING_KINDS = frozenset({_K.MESSAGE, _K.TIMER, _K.SIGNAL, _K.ESCALATION})
_BOUNDARY_KINDS = frozenset({_K.TIMER, _K.MESSAGE, _K.ERROR, _K.SIGNAL, _K.ESCALATION})
_END_KINDS = frozenset(
    {_K.ERROR, _K.MESSAGE, _K.TERMINATE, _K.SIGNAL, _K.ESCALATION, _K.COMPENSATION}
)
_INTERMEDIATE_CATCH_KINDS = frozenset({_K.MESSAGE, _K.TIMER, _K.SIGNAL, _K.LINK})
_INTERMEDIATE_THROW_KINDS = frozenset(
    {_K.MESSAGE, _K.SIGNAL, _K.ESCALATION, _K.LINK, _K.COMPENSATION}
)
_EVENT_SUBPROCESS_START_KINDS = frozenset(
    {_K.TIMER, _K.MESSAGE, _K.ERROR, _K.SIGNAL, _K.ESCALATION}
)
_PROCESS_START_KINDS = frozenset({_K.MESSAGE, _K.TIMER, _K.SIGNAL})
_EVENT_GATEWAY_TARGET_KINDS = frozenset({_K.TIMER, _K.MESSAGE, _K.SIGNAL})

_NCNAME = re.compile(r"[^\W\d][\w.\-\u00b7\u0300-\u036f\u203f\u2040]*")
_UNSUPPORTED_ELEMENT = (
    "Elements of type '{}' are currently not supported. Please refer to the documentation for a "
    "list of supported elements: https://docs.camunda.io/docs/components/modeler/bpmn/"
    "bpmn-coverage/"
)
_EITHER_EXTENSION = "Must have either one 'zeebe:{}' or one 'zeebe:{}' extension element"
_EVENT_GATEWAY_TARGETS = (
    "Event-based gateway must not have an outgoing sequence flow to other elements than "
    "message/timer/signal intermediate catch events."
)
_EVENT_GATEWAY_INCOMING = (
    "Target elements of an event gateway must not have any additional incoming sequence flows "
    "other than that from the event gateway."
)
_EVENT_SUBPROCESS_START = (
    "Start events in event subprocesses must be one of: message, timer, error, signal or escalation"
)
_PROCESS_START_TYPES = (
    "Start event must be one of the following types: none, timer, message, signal"
)
_TIMER_START = "Timer start event must have either a time date or a time cycle."
_ERROR_CATCH_ALL_TWICE = (
    "The same scope can not contain more than one error catch event without error code. An "
    "error catch event without error code catches all errors."
)
_ESCALATION_CATCH_ALL_TWICE = (
    "The same scope can not contain more than one escalation catch event without escalation "
    "code. An escalation catch event without escalation code catches all escalations."
)


class _Validator:
    def __init__(self, definitions: Definitions, check_expression: CheckExpression) -> None:
        self.doc = definitions
        self.check_expression = check_expression
        self.errors: dict[ET.Element, list[str]] = {}
        self.graph = definitions.graph
        self.rules = ExtensionRules(self.error, check_expression)
        self.kinds: dict[str, Callable[[ET.Element], None]] = {
            "serviceTask": self.job_task,
            "sendTask": self.job_task,
            "scriptTask": lambda node: self.either_extension(node, "script"),
            "businessRuleTask": lambda node: self.either_extension(node, "calledDecision"),
            "callActivity": self.call_activity,
            "receiveTask": self.receive_task,
            "subProcess": self.sub_process,
            "exclusiveGateway": self.default_flow,
            "inclusiveGateway": self.default_flow,
            "eventBasedGateway": self.event_based_gateway,
            "startEvent": self.start_event,
            "intermediateCatchEvent": self.intermediate_catch_event,
            "intermediateThrowEvent": self.intermediate_throw_event,
            "endEvent": self.end_event,
            "boundaryEvent": self.boundary_event,
        }

    # --- plumbing ---------------------------------------------------------------------------

    def run(self) -> list[ValidationError]:
        processes = self.doc.executable_processes()
        if not processes:
            self.error(self.doc.root, "Must contain at least one executable process")
        self.message_refs: dict[ET.Element, list[ET.Element]] = {}
        self.signal_refs: dict[ET.Element, list[ET.Element]] = {}
        self.escalation_throws: set[ET.Element] = set()
        for process in processes:
            self.collect_references(process)
        self.ids(processes)
        for element in bpmn_children(self.doc.root):
            local = bpmn_name(element)
            if local == "message":
                self.message(element)
            elif local == "signal":
                self.signal(element)
            elif local == "escalation":
                self.escalation(element)
            elif local == "error":
                self.error_element(element)
        for process in processes:
            self.process(process)
        if not self.errors:
            # like Zeebe, only a process that is otherwise valid is searched for endless loops
            for process in processes:
                loop = straight_through_loop(self.doc, process)
                if loop is not None:
                    self.error(
                        process,
                        "Processes are not allowed to contain a straight-through processing "
                        f"loop: {' > '.join(loop)}",
                    )
        ordered = sorted(self.errors.items(), key=lambda item: self.doc.index(item[0]))
        return [
            ValidationError(self.chain(element), message, self.doc.index(element))
            for element, messages in ordered
            for message in messages
        ]

    def error(self, element: ET.Element, message: str) -> None:
        self.errors.setdefault(element, []).append(message)

    def chain(self, element: ET.Element) -> str:
        parts: list[str] = []
        current: ET.Element | None = element
        while current is not None:
            local = bpmn_name(current)
            if local not in (None, "definitions", "extensionElements") and current.get("id"):
                parts.append(current.get("id", ""))
                break
            parts.append(local or zeebe_name(current) or str(current.tag).rpartition("}")[2])
            current = self.doc.parent(current)
        return " > ".join(reversed(parts))

    def ref(self, element: ET.Element, attribute: str, kind: str) -> ET.Element | None:
        """The root element of the given kind (message, error, ...) a reference names."""
        target = self.doc.ref(element, attribute)
        return target if target is not None and bpmn_name(target) == kind else None

    # --- document level ---------------------------------------------------------------------

    def collect_references(self, process: ET.Element) -> None:
        for event in process.iter():
            local = bpmn_name(event)
            if local is None:
                continue
            if local in ("receiveTask", "sendTask"):
                message = self.ref(event, "messageRef", "message")
                if message is not None:
                    self.message_refs.setdefault(message, []).append(event)
            for definition in event_definitions(event):
                kind = event_kind(definition)
                if kind is _K.MESSAGE:
                    message = self.ref(definition, "messageRef", "message")
                    if message is not None:
                        self.message_refs.setdefault(message, []).append(event)
                elif kind is _K.SIGNAL:
                    signal = self.ref(definition, "signalRef", "signal")
                    if signal is not None:
                        self.signal_refs.setdefault(signal, []).append(event)
                elif kind is _K.ESCALATION and local in _THROW_EVENTS:
                    escalation = self.ref(definition, "escalationRef", "escalation")
                    if escalation is not None:
                        self.escalation_throws.add(escalation)

    def ids(self, processes: Sequence[ET.Element]) -> None:
        duplicates = set(self.doc.duplicates)
        checked = [*bpmn_children(self.doc.root)]
        for process in processes:
            checked.extend(process.iter())
        for element in checked:
            local = bpmn_name(element)
            element_id = element.get("id")
            if local is None or element_id is None:
                continue
            if element in duplicates:
                self.error(element, f"There are multiple occurrences of ID value '{element_id}'.")
            if _NCNAME.fullmatch(element_id) is None:
                self.error(element, f"'{element_id}' is not a valid value for 'NCName'.")

    def message(self, message: ET.Element) -> None:
        self.rules.expression(message, message.get("name"))
        referrers = self.message_refs.get(message, [])
        catching = [e for e in referrers if self.is_message_catch(e)]
        throwing = [e for e in referrers if bpmn_name(e) in ("intermediateThrowEvent", "endEvent")]
        throwing += [e for e in referrers if bpmn_name(e) == "sendTask"]
        process_starts = [
            e
            for e in referrers
            if bpmn_name(e) == "startEvent" and bpmn_name(self.doc.parent(e) or e) == "process"
        ]
        if catching:
            self.message_name(message)
            if len(zeebe_extensions(message, "subscription")) != 1:
                self.error(message, "Must have exactly one zeebe:subscription extension element")
        elif throwing:
            self.message_name(message)
        elif len(process_starts) > 1:
            self.error(message, "A message cannot be referred by more than one start event")
        elif process_starts:
            self.message_name(message)
        for subscription in zeebe_extensions(message, "subscription"):
            self.rules.require(subscription, "correlationKey")
            self.rules.expression(
                subscription, subscription.get("correlationKey"), mandatory=True, non_static=True
            )

    def is_message_catch(self, element: ET.Element) -> bool:
        local = bpmn_name(element)
        if local in ("intermediateCatchEvent", "boundaryEvent", "receiveTask"):
            return True
        if local == "startEvent":
            parent = self.doc.parent(element)
            return parent is not None and parent.get("triggeredByEvent", "").strip() == "true"
        return False

    def message_name(self, message: ET.Element) -> None:
        if not message.get("name"):
            self.error(message, "Name must be present and not empty")

    def signal(self, signal: ET.Element) -> None:
        self.rules.expression(signal, signal.get("name"))
        if self.signal_refs.get(signal) and not signal.get("name"):
            self.error(signal, "Name must be present and not empty")

    def escalation(self, escalation: ET.Element) -> None:
        code = escalation.get("escalationCode")
        if escalation in self.escalation_throws:
            if not code:
                self.error(escalation, "EscalationCode must be present and not empty")
            elif feel_source(code) is not None:
                self.rules.expression(escalation, code)

    def error_element(self, error: ET.Element) -> None:
        code = error.get("errorCode")
        if code and feel_source(code) is not None:
            self.rules.expression(error, code)

    # --- scopes -----------------------------------------------------------------------------

    def process(self, process: ET.Element) -> None:
        if not process.get("id"):
            self.error(process, MISSING_ATTRIBUTE.format("id"))
        self.rules.single_extensions(process, ("versionTag",))
        starts = list(bpmn_children(process, "startEvent"))
        if not starts:
            self.error(process, "Must have at least one start event")
        elif sum(1 for s in starts if not event_definitions(s)) > 1:
            self.error(process, "Multiple none start events are not allowed")
        self.no_duplicate_event_subprocesses(process)
        start_definitions = [d for s in starts for d in event_definitions(s)]
        self.no_duplicate_definitions(
            process, [d for d in start_definitions if event_kind(d) is _K.SIGNAL]
        )
        seen_messages: set[ET.Element] = set()
        message_starts: list[ET.Element] = []
        for definition in start_definitions:
            message = self.ref(definition, "messageRef", "message")
            if event_kind(definition) is _K.MESSAGE and message not in seen_messages:
                if message is not None:
                    seen_messages.add(message)
                message_starts.append(definition)
        self.no_duplicate_definitions(process, message_starts)
        self.links(process)
        self.scope(process)

    def scope(self, scope: ET.Element) -> None:
        for child in scope:
            local = bpmn_name(child)
            if local is None or local in _IGNORED_IN_SCOPE:
                continue
            if local == "sequenceFlow":
                self.sequence_flow(child, scope)
            elif local in _SUPPORTED_ELEMENTS:
                self.flow_node(child, local, scope)
            else:
                self.error(child, _UNSUPPORTED_ELEMENT.format(local[:1].upper() + local[1:]))

    def sub_process(self, element: ET.Element) -> None:
        starts = list(bpmn_children(element, "startEvent"))
        if len(starts) != 1:
            self.error(element, "Must have exactly one start event")
        if starts:
            start = starts[0]
            definitions = event_definitions(start)
            if element.get("triggeredByEvent", "").strip() == "true":
                kinds = [event_kind(d) for d in definitions]
                if not definitions:
                    self.error(element, _EVENT_SUBPROCESS_START)
                for kind in kinds:
                    if kind not in _EVENT_SUBPROCESS_START_KINDS:
                        self.error(element, _EVENT_SUBPROCESS_START)
                self.interrupting_rules(
                    element, definitions, start.get("isInterrupting", "true").strip() != "false"
                )
            elif definitions:
                self.error(element, "Start events in subprocesses must be of type none")
        self.no_duplicate_event_subprocesses(element)
        self.links(element)
        self.scope(element)

    def interrupting_rules(
        self, element: ET.Element, definitions: Iterable[ET.Element], interrupting: bool
    ) -> None:
        for definition in definitions:
            kind = event_kind(definition)
            if not interrupting and kind not in _NON_INTERRUPTING_KINDS:
                self.error(element, "Non-Interrupting event of this type is not allowed")
            if interrupting and kind is _K.TIMER and _has_child(definition, "timeCycle"):
                self.error(element, "Interrupting timer event with time cycle is not allowed.")

    def no_duplicate_event_subprocesses(self, scope: ET.Element) -> None:
        definitions = [
            definition
            for sub in bpmn_children(scope, "subProcess")
            if sub.get("triggeredByEvent", "").strip() == "true"
            for start in bpmn_children(sub, "startEvent")
            for definition in event_definitions(start)
        ]
        self.no_duplicate_definitions(scope, definitions)
        self.no_duplicate_handlers(scope, definitions)

    def no_duplicate_definitions(
        self, element: ET.Element, definitions: Sequence[ET.Element]
    ) -> None:
        names: dict[str, Counter[str]] = {"message": Counter(), "signal": Counter()}
        for definition in definitions:
            kind = event_kind(definition)
            if kind is _K.MESSAGE:
                message = self.ref(definition, "messageRef", "message")
                if message is not None and message.get("name"):
                    names["message"][message.get("name", "")] += 1
            elif kind is _K.SIGNAL:
                signal = self.ref(definition, "signalRef", "signal")
                if signal is not None and signal.get("name"):
                    names["signal"][signal.get("name", "")] += 1
        for kind_name, counter in names.items():
            for name, count in counter.items():
                if count > 1:
                    self.error(
                        element,
                        f"Multiple {kind_name} event definitions with the same name '{name}' "
                        "are not allowed.",
                    )

    def no_duplicate_handlers(self, element: ET.Element, definitions: Sequence[ET.Element]) -> None:
        for kind, kind_name, catch_all in (
            (_K.ESCALATION, "escalation", _ESCALATION_CATCH_ALL_TWICE),
            (_K.ERROR, "error", _ERROR_CATCH_ALL_TWICE),
        ):
            reference, code_attribute = kind_name + "Ref", kind_name + "Code"
            handlers = [
                self.ref(definition, reference, kind_name)
                for definition in definitions
                if event_kind(definition) is kind
            ]
            if not handlers:
                continue
            if sum(1 for handler in handlers if handler is None) > 1:
                self.error(element, catch_all)
            codes = Counter(h.get(code_attribute) for h in handlers if h is not None)
            for code, count in codes.items():
                if count <= 1:
                    continue
                if code is None:
                    self.error(element, catch_all)
                else:
                    self.error(
                        element,
                        f"Multiple {kind_name} catch events with the same {kind_name} code "
                        f"'{code}' are not supported on the same scope.",
                    )

    def links(self, scope: ET.Element) -> None:
        catch_names: Counter[str] = Counter()
        for event in bpmn_children(scope, "intermediateCatchEvent"):
            for definition in bpmn_children(event, "linkEventDefinition"):
                if definition.get("name"):
                    catch_names[definition.get("name", "")] += 1
        for name, count in catch_names.items():
            if count > 1:
                self.error(
                    scope,
                    "Multiple intermediate catch link event definitions with the same name "
                    f"'{name}' are not allowed.",
                )
        throw_names: list[str] = []
        for event in bpmn_children(scope, "intermediateThrowEvent"):
            for definition in bpmn_children(event, "linkEventDefinition"):
                link = definition.get("name")
                if link and link not in catch_names and link not in throw_names:
                    throw_names.append(link)
        for name in throw_names:
            self.error(
                scope,
                f"Can't find an catch link event for the throw link event with the name '{name}'.",
            )

    # --- flow nodes -------------------------------------------------------------------------

    def flow_node(self, node: ET.Element, local: str, scope: ET.Element) -> None:
        if not node.get("id"):
            self.error(node, MISSING_ATTRIBUTE.format("id"))
        if local not in ("exclusiveGateway", "inclusiveGateway") and any(
            _has_child(flow, "conditionExpression") for flow in self.graph.outgoing_of(node)
        ):
            self.error(
                node,
                "Conditional sequence flows are only supported at exclusive or inclusive gateway",
            )
        self.rules.single_extensions(node, ("ioMapping", "executionListeners"))
        self.rules.single_extensions(node, SINGLE_EXTENSIONS.get(local, ()))
        self.rules.flow_node(node)
        if local in _ACTIVITIES:
            self.activity(node, local)
        handler = self.kinds.get(local)
        if handler is not None:
            handler(node)
        self.event_definitions(node, local)

    def activity(self, activity: ET.Element, local: str) -> None:
        boundaries = self.graph.boundaries.get(activity, [])
        definitions = [d for event in boundaries for d in event_definitions(event)]
        self.no_duplicate_definitions(activity, definitions)
        self.no_duplicate_handlers(activity, definitions)
        for child in activity:
            child_name = bpmn_name(child)
            if child_name == "multiInstanceLoopCharacteristics":
                self.rules.multi_instance(child)
            elif child_name == "standardLoopCharacteristics":
                self.error(child, _UNSUPPORTED_ELEMENT.format("StandardLoopCharacteristics"))

    # --- element kinds ----------------------------------------------------------------------

    def job_task(self, node: ET.Element) -> None:
        if len(zeebe_extensions(node, "taskDefinition")) != 1:
            self.error(node, EXACTLY_ONE_EXTENSION.format("taskDefinition"))

    def either_extension(self, node: ET.Element, name: str) -> None:
        own = len(zeebe_extensions(node, name))
        jobs = len(zeebe_extensions(node, "taskDefinition"))
        if not ((own == 1 and jobs == 0) or (own == 0 and jobs == 1)):
            self.error(node, _EITHER_EXTENSION.format(name, "taskDefinition"))

    def call_activity(self, node: ET.Element) -> None:
        if len(zeebe_extensions(node, "calledElement")) != 1:
            self.error(node, EXACTLY_ONE_EXTENSION.format("calledElement"))

    def receive_task(self, node: ET.Element) -> None:
        message = self.ref(node, "messageRef", "message")
        if message is None:
            self.error(node, "Must reference a message")
            return
        name = message.get("name")
        for event in self.graph.boundaries.get(node, []):
            for definition in bpmn_children(event, "messageEventDefinition"):
                other = self.ref(definition, "messageRef", "message")
                if name and other is not None and other.get("name") == name:
                    self.error(node, "Cannot reference the same message name as a boundary event")
                    return

    def default_flow(self, node: ET.Element) -> None:
        if node.get("default"):
            default = self.doc.ref(node, "default")
            if default is None or self.graph.source.get(default) is not node:
                self.error(node, "Default flow must start at gateway")

    def event_based_gateway(self, node: ET.Element) -> None:
        outgoing = self.graph.outgoing_of(node)
        if len(outgoing) < 2:
            self.error(node, "Event-based gateway must have at least 2 outgoing sequence flows.")
        targets = [self.graph.target.get(flow) for flow in outgoing]
        definitions: list[ET.Element] = []
        valid = True
        for target in targets:
            own = event_definitions(target) if target is not None else []
            if (
                target is None
                or bpmn_name(target) != "intermediateCatchEvent"
                or len(own) != 1
                or event_kind(own[0]) not in _EVENT_GATEWAY_TARGET_KINDS
            ):
                valid = False
            definitions.extend(own if target is not None else [])
        if not valid:
            self.error(node, _EVENT_GATEWAY_TARGETS)
        self.no_duplicate_definitions(node, definitions)
        for target in targets:
            if target is None:
                continue
            if any(self.graph.source.get(f) is not node for f in self.graph.incoming_of(target)):
                self.error(node, _EVENT_GATEWAY_INCOMING)
                break

    def start_event(self, node: ET.Element) -> None:
        definitions = event_definitions(node)
        if len(definitions) > 1:
            self.error(node, "Start event can't have more than one type")
        parent = self.doc.parent(node)
        if parent is not None and bpmn_name(parent) == "process":
            for definition in definitions:
                kind = event_kind(definition)
                if kind is not None and kind not in _PROCESS_START_KINDS:
                    self.error(node, _PROCESS_START_TYPES)
                if kind is _K.TIMER and _has_child(definition, "timeDuration"):
                    self.error(node, _TIMER_START)
        self.static_timers(node)

    def intermediate_catch_event(self, node: ET.Element) -> None:
        definitions = event_definitions(node)
        if len(definitions) != 1:
            self.error(node, "Must have exactly one event definition")
        else:
            kind = event_kind(definitions[0])
            if kind not in _INTERMEDIATE_CATCH_KINDS:
                self.error(node, "Event definition must be one of: message, timer, signal, or link")
            elif kind is _K.TIMER and not any(
                _has_child(definitions[0], name) for name in ("timeDuration", "timeDate")
            ):
                self.error(
                    node,
                    "Intermediate timer catch event must have either a time duration or a time "
                    "date.",
                )
        self.static_timers(node)

    def intermediate_throw_event(self, node: ET.Element) -> None:
        definitions = event_definitions(node)
        if len(definitions) > 1:
            self.error(node, "Must have at most one event definition")
        for definition in definitions:
            kind = event_kind(definition)
            if kind is not None and kind not in _INTERMEDIATE_THROW_KINDS:
                self.error(
                    node,
                    "Intermediate throw events must be one of: none, message, signal, "
                    "escalation, link or compensation",
                )
        self.message_throw(node, definitions)

    def end_event(self, node: ET.Element) -> None:
        if self.graph.outgoing_of(node):
            self.error(node, "End events must not have outgoing sequence flows to other elements.")
        definitions = event_definitions(node)
        if len(definitions) > 1:
            self.error(node, "Must have at most one event definition")
        for definition in definitions:
            kind = event_kind(definition)
            if kind is not None and kind not in _END_KINDS:
                self.error(
                    node,
                    "End events must be one of: none, error, message, terminate, signal, "
                    "escalation or compensation",
                )
        self.message_throw(node, definitions)

    def message_throw(self, node: ET.Element, definitions: Sequence[ET.Element]) -> None:
        # message throw events are job-based in Zeebe: a worker publishes the message
        has_message = any(event_kind(d) is _K.MESSAGE for d in definitions)
        if has_message and len(zeebe_extensions(node, "taskDefinition")) != 1:
            self.error(node, EXACTLY_ONE_EXTENSION.format("taskDefinition"))
        for definition in definitions:
            if event_kind(definition) is _K.COMPENSATION:
                wait = definition.get("waitForCompletion")
                if wait is not None and wait.strip() != "true":
                    what = "end" if bpmn_name(node) == "endEvent" else "intermediate throwing"
                    self.error(
                        node,
                        f"A compensation {what} event waitForCompletion attribute must be true "
                        "or not present",
                    )

    def boundary_event(self, node: ET.Element) -> None:
        attached = self.doc.ref(node, "attachedToRef")
        if (
            attached is None
            or bpmn_name(attached) not in _ACTIVITIES
            or self.doc.scope_of(attached) is not self.doc.scope_of(node)
        ):
            self.error(node, "Must be attached to an activity")
            attached = None
        if self.graph.incoming_of(node):
            self.error(node, "Cannot have incoming sequence flows")
        definitions = event_definitions(node)
        compensation = any(event_kind(d) is _K.COMPENSATION for d in definitions)
        if not self.graph.outgoing_of(node) and not (
            compensation and self.association_of(node) is not None
        ):
            self.error(node, "Must have at least one outgoing sequence flow or association")
        if len(definitions) != 1:
            self.error(node, "Must have exactly one event definition")
        for definition in definitions:
            kind = event_kind(definition)
            if kind not in _BOUNDARY_KINDS and kind is not _K.COMPENSATION:
                self.error(
                    node,
                    "Boundary events must be one of: timer, message, error, signal, escalation",
                )
            if (
                kind is _K.ESCALATION
                and attached is not None
                and bpmn_name(attached) not in ("subProcess", "callActivity")
            ):
                self.error(
                    node,
                    "An escalation boundary event should only be attached to a subprocess, "
                    "or a call activity.",
                )
        interrupting = node.get("cancelActivity", "true").strip() != "false"
        self.interrupting_rules(
            node, [d for d in definitions if event_kind(d) is not _K.COMPENSATION], interrupting
        )
        self.static_timers(node)

    def association_of(self, node: ET.Element) -> ET.Element | None:
        associations = self.graph.associations.get(node)
        return associations[0] if associations else None

    def static_timers(self, event: ET.Element) -> None:
        """Zeebe evaluates static timer texts at deployment; reject those that cannot fire."""
        for definition in bpmn_children(event, "timerEventDefinition"):
            for name, kind, check in (
                ("timeDuration", "duration", timer_syntax.check_duration),
                ("timeCycle", "cycle", timer_syntax.check_cycle),
                ("timeDate", "date", timer_syntax.check_date),
            ):
                timer = next(bpmn_children(definition, name), None)
                if timer is None:
                    continue
                text = text_content(timer)
                if feel_source(text) is None:
                    reason = check(text)
                    if reason is not None:
                        self.error(event, f"Invalid timer {kind} expression ({reason})")
                break

    # --- event definitions ------------------------------------------------------------------

    def event_definitions(self, node: ET.Element, local: str) -> None:
        for definition in event_definitions(node):
            kind = event_kind(definition)
            if kind is None:
                self.error(definition, "Event definition of this type is not supported")
            elif kind is _K.MESSAGE:
                if (
                    local not in _THROW_EVENTS
                    and self.ref(definition, "messageRef", "message") is None
                ):
                    self.error(definition, "Must reference a message")
            elif kind is _K.ERROR:
                self.error_definition(definition, local)
            elif kind is _K.ESCALATION:
                escalation = self.ref(definition, "escalationRef", "escalation")
                if local in _THROW_EVENTS and escalation is None:
                    self.error(definition, "Must reference an escalation")
                code = escalation.get("escalationCode") if escalation is not None else None
                if local in _CATCH_EVENTS and (code or "").startswith("="):
                    self.error(
                        definition,
                        "The escalationCode of the escalation catch event is not allowed to "
                        "be an expression",
                    )
            elif kind is _K.SIGNAL:
                if self.ref(definition, "signalRef", "signal") is None:
                    self.error(definition, "Must reference a signal")
            elif kind is _K.LINK:
                if not definition.get("name"):
                    self.error(definition, "Link name must be present and not empty.")
            elif kind is _K.TIMER:
                self.timer_definition(definition)

    def error_definition(self, definition: ET.Element, local: str) -> None:
        error = self.ref(definition, "errorRef", "error")
        if local == "endEvent":
            if error is None:
                self.error(definition, "Must reference an error")
            elif not error.get("errorCode"):
                self.error(definition, "ErrorCode must be present and not empty")
        elif error is not None and (error.get("errorCode") or "").startswith("="):
            self.error(
                definition,
                "The errorCode of the error catch event is not allowed to be an expression",
            )

    def timer_definition(self, definition: ET.Element) -> None:
        timers = [
            timer
            for name in ("timeDate", "timeDuration", "timeCycle")
            for timer in bpmn_children(definition, name)
        ]
        if len(timers) != 1:
            self.error(
                definition, "Must be exactly one type of timer: timeDuration, timeDate or timeCycle"
            )
        for timer in timers:
            self.rules.expression(definition, text_content(timer))

    # --- sequence flows ---------------------------------------------------------------------

    def sequence_flow(self, flow: ET.Element, scope: ET.Element) -> None:
        if not flow.get("id"):
            self.error(flow, MISSING_ATTRIBUTE.format("id"))
        for attribute, resolved, spacing in (
            ("sourceRef", self.graph.source.get(flow), " "),
            ("targetRef", self.graph.target.get(flow), "  "),  # Zeebe's text has two spaces
        ):
            reference = (flow.get(attribute) or "").strip()
            if not reference:
                self.error(flow, f"SequenceFlow is missing required attribute {attribute}")
            elif resolved is None:
                self.error(
                    flow,
                    f"SequenceFlow has {attribute} '{reference}'{spacing}which cannot be resolved",
                )
            elif self.doc.scope_of(resolved) is not scope:
                self.error(
                    flow,
                    f"SequenceFlow has {attribute} '{reference}' which is not in the flow scope "
                    "of the sequence flow",
                )
        source = self.graph.source.get(flow)
        condition = next(bpmn_children(flow, "conditionExpression"), None)
        if source is not None and bpmn_name(source) in ("exclusiveGateway", "inclusiveGateway"):
            outgoing = self.graph.outgoing_of(source)
            if (
                len(outgoing) > 1
                and condition is None
                and self.doc.ref(source, "default") is not flow
            ):
                if bpmn_name(source) == "exclusiveGateway":
                    self.error(flow, "Must have a condition or be default flow")
                else:
                    self.error(flow, "Must have a condition")
        if condition is not None:
            self.rules.expression(
                condition, text_content(condition), mandatory=True, non_static=True
            )


def _has_child(element: ET.Element, name: str) -> bool:
    # (an ElementTree element without children is falsy, so never test one for truth)
    return next(bpmn_children(element, name), None) is not None
