"""Validated :class:`~.parser.Definitions` -> immutable :class:`~.model.Process` objects.

Runs only on documents the validator accepted, so references resolve and required parts exist;
it still never trusts the XML beyond that (a missing optional part simply stays None). Every
lookup the engine needs while executing is computed here once.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import attrs

from ..safexml import text_content
from .model import (
    JOB_USER_TASK_TYPE,
    USER_TASK_FORM_KEY_HEADER,
    BpmnElementType,
    BpmnEventType,
    CalledDecision,
    CalledElement,
    CompensationDefinition,
    Element,
    ErrorDefinition,
    EscalationDefinition,
    ExecutionListener,
    JobDefinition,
    MessageDefinition,
    MultiInstance,
    Process,
    Script,
    SequenceFlow,
    SignalDefinition,
    TimerDefinition,
    TimerKind,
    UserTaskDefinition,
    VariableMapping,
)
from .parser import (
    Definitions,
    bpmn_children,
    bpmn_name,
    event_definitions,
    event_kind,
    zeebe_children,
    zeebe_extension,
    zeebe_extensions,
)

__all__ = ["transform"]

_T = BpmnElementType
_ELEMENT_TYPES = {
    "startEvent": _T.START_EVENT,
    "endEvent": _T.END_EVENT,
    "intermediateCatchEvent": _T.INTERMEDIATE_CATCH_EVENT,
    "intermediateThrowEvent": _T.INTERMEDIATE_THROW_EVENT,
    "boundaryEvent": _T.BOUNDARY_EVENT,
    "task": _T.TASK,
    "serviceTask": _T.SERVICE_TASK,
    "sendTask": _T.SEND_TASK,
    "receiveTask": _T.RECEIVE_TASK,
    "userTask": _T.USER_TASK,
    "manualTask": _T.MANUAL_TASK,
    "businessRuleTask": _T.BUSINESS_RULE_TASK,
    "scriptTask": _T.SCRIPT_TASK,
    "subProcess": _T.SUB_PROCESS,
    "callActivity": _T.CALL_ACTIVITY,
    "exclusiveGateway": _T.EXCLUSIVE_GATEWAY,
    "parallelGateway": _T.PARALLEL_GATEWAY,
    "inclusiveGateway": _T.INCLUSIVE_GATEWAY,
    "eventBasedGateway": _T.EVENT_BASED_GATEWAY,
}
_EVENTS = frozenset(
    {_T.START_EVENT, _T.END_EVENT, _T.INTERMEDIATE_CATCH_EVENT, _T.INTERMEDIATE_THROW_EVENT}
    | {_T.BOUNDARY_EVENT}
)
_JOB_TYPES = frozenset(
    {_T.SERVICE_TASK, _T.SEND_TASK, _T.SCRIPT_TASK, _T.BUSINESS_RULE_TASK}
    | {_T.INTERMEDIATE_THROW_EVENT, _T.END_EVENT}
)
_TIMER_KINDS = (
    ("timeDate", TimerKind.DATE),
    ("timeDuration", TimerKind.DURATION),
    ("timeCycle", TimerKind.CYCLE),
)


def transform(definitions: Definitions) -> tuple[Process, ...]:
    """The executable processes of a validated document, XML order."""
    return tuple(
        _ProcessBuilder(definitions, process).build()
        for process in definitions.executable_processes()
    )


@attrs.define
class _EventParts:
    """What an element's event definitions contribute (collected, then frozen into Element)."""

    message: MessageDefinition | None = None
    timer: TimerDefinition | None = None
    error: ErrorDefinition | None = None
    signal: SignalDefinition | None = None
    escalation: EscalationDefinition | None = None
    link_name: str | None = None
    compensation: CompensationDefinition | None = None


def _flag(element: ET.Element, attribute: str, default: bool) -> bool:
    value = (element.get(attribute) or "").strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    return default


class _ProcessBuilder:
    def __init__(self, definitions: Definitions, process: ET.Element) -> None:
        self.doc = definitions
        self.process = process
        self.process_id = process.get("id", "")
        self.elements: dict[str, Element] = {}
        self.flows: dict[str, SequenceFlow] = {}
        self.children: dict[str, tuple[str, ...]] = {}
        self.none_starts: dict[str, str] = {}
        self.starts: dict[str, tuple[str, ...]] = {}
        self.boundaries: dict[str, list[str]] = {}
        self.event_subprocesses: dict[str, tuple[str, ...]] = {}
        self.links: dict[str, dict[str, str]] = {}
        self.error_catch: dict[str, dict[str, str]] = {}
        self.escalation_catch: dict[str, dict[str, str]] = {}

    def build(self) -> Process:
        process = self.process
        self.elements[self.process_id] = Element(
            id=self.process_id,
            element_type=_T.PROCESS,
            flow_scope_id=None,
            name=process.get("name"),
            execution_listeners=self.execution_listeners(process),
            properties=self.properties(process),
        )
        self.scope(process, self.process_id)
        version_tag = zeebe_extension(process, "versionTag")
        top_starts = self.starts.get(self.process_id, ())
        return Process(
            id=self.process_id,
            name=process.get("name"),
            version_tag=version_tag.get("value") if version_tag is not None else None,
            elements=self.elements,
            sequence_flows=self.flows,
            children=self.children,
            none_start_events=self.none_starts,
            start_events=self.starts,
            boundary_events={key: tuple(value) for key, value in self.boundaries.items()},
            event_subprocesses=self.event_subprocesses,
            link_catch_events=self.links,
            error_catch_events=self.error_catch,
            escalation_catch_events=self.escalation_catch,
            message_start_events=self.starts_of(top_starts, BpmnEventType.MESSAGE),
            timer_start_events=self.starts_of(top_starts, BpmnEventType.TIMER),
            signal_start_events=self.starts_of(top_starts, BpmnEventType.SIGNAL),
            user_task_forms={
                form.get("id", ""): text_content(form)
                for form in zeebe_extensions(process, "userTaskForm")
            },
        )

    def starts_of(self, ids: tuple[str, ...], kind: BpmnEventType) -> tuple[str, ...]:
        return tuple(i for i in ids if self.elements[i].event_type is kind)

    # --- scopes and flows -------------------------------------------------------------------

    def scope(self, scope: ET.Element, scope_id: str) -> None:
        children: list[str] = []
        starts: list[str] = []
        event_subprocesses: list[str] = []
        for child in scope:
            local = bpmn_name(child)
            if local == "sequenceFlow":
                self.sequence_flow(child, scope_id)
            elif local in _ELEMENT_TYPES:
                element = self.flow_node(child, local, scope_id)
                self.elements[element.id] = element
                children.append(element.id)
                if element.element_type is _T.START_EVENT:
                    starts.append(element.id)
                    if element.event_type is BpmnEventType.NONE:
                        self.none_starts.setdefault(scope_id, element.id)
                elif element.element_type is _T.EVENT_SUB_PROCESS:
                    event_subprocesses.append(element.id)
                elif element.element_type is _T.BOUNDARY_EVENT and element.attached_to_ref:
                    self.boundaries.setdefault(element.attached_to_ref, []).append(element.id)
                    self.catch_lookup(element.attached_to_ref, element)
                elif (
                    element.element_type is _T.INTERMEDIATE_CATCH_EVENT
                    and element.link_name is not None
                ):
                    self.links.setdefault(scope_id, {})[element.link_name] = element.id
                if local == "subProcess":
                    self.scope(child, element.id)
        self.children[scope_id] = tuple(children)
        self.starts[scope_id] = tuple(starts)
        self.event_subprocesses[scope_id] = tuple(event_subprocesses)
        for sub_id in event_subprocesses:
            for start_id in self.starts.get(sub_id, ()):
                self.catch_lookup(scope_id, self.elements[start_id])

    def catch_lookup(self, owner: str, event: Element) -> None:
        if event.error is not None:
            self.error_catch.setdefault(owner, {})[event.error.error_code or ""] = event.id
        if event.escalation is not None:
            code = event.escalation.escalation_code or ""
            self.escalation_catch.setdefault(owner, {})[code] = event.id

    def sequence_flow(self, flow: ET.Element, scope_id: str) -> None:
        source = self.doc.graph.source.get(flow)
        target = self.doc.graph.target.get(flow)
        condition = next(bpmn_children(flow, "conditionExpression"), None)
        default = self.doc.ref(source, "default") is flow if source is not None else False
        flow_id = flow.get("id", "")
        self.flows[flow_id] = SequenceFlow(
            id=flow_id,
            source_ref=source.get("id", "") if source is not None else "",
            target_ref=target.get("id", "") if target is not None else "",
            flow_scope_id=scope_id,
            name=flow.get("name"),
            condition=text_content(condition) if condition is not None else None,
            is_default=default,
        )

    # --- flow nodes -------------------------------------------------------------------------

    def flow_node(self, node: ET.Element, local: str, scope_id: str) -> Element:
        graph = self.doc.graph
        element_type = _ELEMENT_TYPES[local]
        triggered = local == "subProcess" and _flag(node, "triggeredByEvent", False)
        if triggered:
            element_type = _T.EVENT_SUB_PROCESS
        definitions = event_definitions(node)
        event_type = BpmnEventType.UNSPECIFIED
        if element_type in _EVENTS:
            kinds = [event_kind(d) for d in definitions]
            event_type = next((k for k in kinds if k is not None), BpmnEventType.NONE)
        parts = _EventParts()
        for definition in definitions:
            self.event_definition(definition, parts)
        if local == "receiveTask":
            parts.message = self.message(node)
        default = self.doc.ref(node, "default")
        attached = self.doc.ref(node, "attachedToRef")
        return Element(
            id=node.get("id", ""),
            element_type=element_type,
            flow_scope_id=scope_id,
            name=node.get("name"),
            event_type=event_type,
            incoming=tuple(f.get("id", "") for f in graph.incoming_of(node)),
            outgoing=tuple(f.get("id", "") for f in graph.outgoing_of(node)),
            inputs=self.mappings(node, "input"),
            outputs=self.mappings(node, "output"),
            properties=self.properties(node),
            execution_listeners=self.execution_listeners(node),
            job=self.job(node, element_type, event_type),
            user_task=self.user_task(node) if element_type is _T.USER_TASK else None,
            called_element=self.called_element(node),
            called_decision=self.called_decision(node),
            script=self.script(node),
            multi_instance=self.multi_instance(node),
            is_for_compensation=_flag(node, "isForCompensation", False),
            attached_to_ref=attached.get("id") if attached is not None else None,
            cancel_activity=_flag(node, "cancelActivity", True),
            is_interrupting=_flag(node, "isInterrupting", True),
            compensation_handler_ref=self.compensation_handler(node)
            if element_type is _T.BOUNDARY_EVENT
            else None,
            default_flow=default.get("id") if default is not None else None,
            triggered_by_event=triggered,
            message=parts.message,
            timer=parts.timer,
            error=parts.error,
            signal=parts.signal,
            escalation=parts.escalation,
            link_name=parts.link_name,
            compensation=parts.compensation,
        )

    def event_definition(self, definition: ET.Element, parts: _EventParts) -> None:
        kind = event_kind(definition)
        if kind is BpmnEventType.MESSAGE:
            parts.message = self.message(definition)
        elif kind is BpmnEventType.TIMER:
            for name, timer_kind in _TIMER_KINDS:
                timer = next(bpmn_children(definition, name), None)
                if timer is not None:
                    parts.timer = TimerDefinition(timer_kind, text_content(timer))
                    break
        elif kind is BpmnEventType.ERROR:
            error = self.root_ref(definition, "errorRef", "error")
            parts.error = ErrorDefinition(
                error_id=error.get("id") if error is not None else None,
                error_code=(error.get("errorCode") or None) if error is not None else None,
                name=error.get("name") if error is not None else None,
            )
        elif kind is BpmnEventType.SIGNAL:
            signal = self.root_ref(definition, "signalRef", "signal")
            parts.signal = SignalDefinition(
                signal_id=signal.get("id") if signal is not None else None,
                name=signal.get("name") if signal is not None else None,
            )
        elif kind is BpmnEventType.ESCALATION:
            escalation = self.root_ref(definition, "escalationRef", "escalation")
            code = escalation.get("escalationCode") if escalation is not None else None
            parts.escalation = EscalationDefinition(
                escalation_id=escalation.get("id") if escalation is not None else None,
                escalation_code=code or None,
                name=escalation.get("name") if escalation is not None else None,
            )
        elif kind is BpmnEventType.LINK:
            parts.link_name = definition.get("name")
        elif kind is BpmnEventType.COMPENSATION:
            activity = self.doc.ref(definition, "activityRef")
            parts.compensation = CompensationDefinition(
                activity_ref=activity.get("id") if activity is not None else None,
                wait_for_completion=_flag(definition, "waitForCompletion", True),
            )

    def root_ref(self, element: ET.Element, attribute: str, kind: str) -> ET.Element | None:
        target = self.doc.ref(element, attribute)
        return target if target is not None and bpmn_name(target) == kind else None

    def message(self, element: ET.Element) -> MessageDefinition | None:
        message = self.root_ref(element, "messageRef", "message")
        if message is None:
            return None
        subscription = zeebe_extension(message, "subscription")
        return MessageDefinition(
            message_id=message.get("id"),
            name=message.get("name"),
            correlation_key=subscription.get("correlationKey")
            if subscription is not None
            else None,
        )

    def compensation_handler(self, node: ET.Element) -> str | None:
        for association in self.doc.graph.associations.get(node, []):
            target = self.doc.ref(association, "targetRef")
            if target is not None:
                return target.get("id")
        return None

    # --- extension elements -----------------------------------------------------------------

    def mappings(self, node: ET.Element, kind: str) -> tuple[VariableMapping, ...]:
        return tuple(
            VariableMapping(item.get("source", ""), item.get("target", ""))
            for mapping in zeebe_extensions(node, "ioMapping")
            for item in zeebe_children(mapping, kind)
        )

    def properties(self, node: ET.Element) -> dict[str, str]:
        return {
            item.get("name", ""): item.get("value", "")
            for properties in zeebe_extensions(node, "properties")
            for item in zeebe_children(properties, "property")
        }

    def execution_listeners(self, node: ET.Element) -> tuple[ExecutionListener, ...]:
        return tuple(
            ExecutionListener(
                event_type=item.get("eventType", ""),
                type=item.get("type", ""),
                retries=item.get("retries") or "3",
            )
            for listeners in zeebe_extensions(node, "executionListeners")
            for item in zeebe_children(listeners, "executionListener")
        )

    def headers(self, node: ET.Element) -> dict[str, str]:
        return {
            header.get("key", ""): header.get("value", "")
            for headers in zeebe_extensions(node, "taskHeaders")
            for header in zeebe_children(headers, "header")
        }

    def job(
        self, node: ET.Element, element_type: BpmnElementType, event_type: BpmnEventType
    ) -> JobDefinition | None:
        if element_type is _T.USER_TASK:
            if zeebe_extension(node, "userTask") is not None:
                return None
            # a job-based user task: Zeebe's fixed job type, one retry, the form key header
            headers = self.headers(node)
            form = zeebe_extension(node, "formDefinition")
            form_key = self.form_key(form) if form is not None else None
            if form_key:
                headers[USER_TASK_FORM_KEY_HEADER] = form_key
            return JobDefinition(type=JOB_USER_TASK_TYPE, retries="1", headers=headers)
        if element_type not in _JOB_TYPES:
            return None
        if element_type in _EVENTS and event_type is not BpmnEventType.MESSAGE:
            return None  # of the events only message throw events are job-based
        definition = zeebe_extension(node, "taskDefinition")
        if definition is None:
            return None
        return JobDefinition(
            type=definition.get("type", ""),
            retries=definition.get("retries") or "3",
            headers=self.headers(node),
        )

    def form_key(self, form: ET.Element) -> str | None:
        return form.get("formKey") or None

    def user_task(self, node: ET.Element) -> UserTaskDefinition:
        assignment = zeebe_extension(node, "assignmentDefinition")
        form = zeebe_extension(node, "formDefinition")
        schedule = zeebe_extension(node, "taskSchedule")
        priority = zeebe_extension(node, "priorityDefinition")

        def get(element: ET.Element | None, attribute: str) -> str | None:
            return (element.get(attribute) or None) if element is not None else None

        return UserTaskDefinition(
            is_native=zeebe_extension(node, "userTask") is not None,
            assignee=get(assignment, "assignee"),
            candidate_groups=get(assignment, "candidateGroups"),
            candidate_users=get(assignment, "candidateUsers"),
            form_key=get(form, "formKey"),
            form_id=get(form, "formId"),
            external_reference=get(form, "externalReference"),
            due_date=get(schedule, "dueDate"),
            follow_up_date=get(schedule, "followUpDate"),
            priority=get(priority, "priority"),
        )

    def called_element(self, node: ET.Element) -> CalledElement | None:
        called = zeebe_extension(node, "calledElement")
        if called is None or bpmn_name(node) != "callActivity":
            return None
        return CalledElement(
            process_id=called.get("processId", ""),
            propagate_all_child_variables=_flag(called, "propagateAllChildVariables", True),
            propagate_all_parent_variables=_flag(called, "propagateAllParentVariables", True),
        )

    def called_decision(self, node: ET.Element) -> CalledDecision | None:
        decision = zeebe_extension(node, "calledDecision")
        if decision is None or bpmn_name(node) != "businessRuleTask":
            return None
        return CalledDecision(decision.get("decisionId", ""), decision.get("resultVariable", ""))

    def script(self, node: ET.Element) -> Script | None:
        script = zeebe_extension(node, "script")
        if script is None or bpmn_name(node) != "scriptTask":
            return None
        return Script(script.get("expression", ""), script.get("resultVariable", ""))

    def multi_instance(self, node: ET.Element) -> MultiInstance | None:
        characteristics = next(bpmn_children(node, "multiInstanceLoopCharacteristics"), None)
        if characteristics is None:
            return None
        loop = zeebe_extension(characteristics, "loopCharacteristics")
        condition = next(bpmn_children(characteristics, "completionCondition"), None)

        def get(attribute: str) -> str | None:
            return (loop.get(attribute) or None) if loop is not None else None

        return MultiInstance(
            input_collection=get("inputCollection") or "",
            is_sequential=_flag(characteristics, "isSequential", False),
            input_element=get("inputElement"),
            output_collection=get("outputCollection"),
            output_element=get("outputElement"),
            completion_condition=text_content(condition) if condition is not None else None,
        )
