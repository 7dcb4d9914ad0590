"""The executable BPMN model: immutable, fully precomputed processes for the engine.

A deployed BPMN resource becomes one :class:`Process` per executable ``bpmn:process``. The engine
never looks at XML again: everything it asks while executing an instance is a dictionary lookup
here: the element by id, the outgoing flows in XML order, the none start event of a scope, the
boundary events of an activity, the event subprocesses of a scope, the link catch event for a link
name, the catch event for an error code, the process' message/timer/signal start events.

Expressions stay the attribute strings the modeler wrote. Zeebe's rule decides what they are: a
text that is ``=`` followed by at least one character is a FEEL expression (the rest is the
source, see :func:`feel_source`), anything else is a static value. The model evaluates nothing.

Names follow Zeebe: :class:`BpmnElementType` and :class:`BpmnEventType` carry the names of
Zeebe's protocol enums, so they can go into records unchanged. A multi-instance activity is one
element with :attr:`Element.multi_instance` set; the engine wraps it in a ``MULTI_INSTANCE_BODY``
instance with the same element id, like Zeebe, and the boundary events of the activity belong to
that body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

import attrs

__all__ = [
    "ACTIVITY_TYPES",
    "FLOW_SCOPE_TYPES",
    "GATEWAY_TYPES",
    "JOB_USER_TASK_TYPE",
    "USER_TASK_FORM_KEY_HEADER",
    "BpmnElementType",
    "BpmnEventType",
    "CalledDecision",
    "CalledElement",
    "CompensationDefinition",
    "Element",
    "ErrorDefinition",
    "EscalationDefinition",
    "ExecutionListener",
    "JobDefinition",
    "MessageDefinition",
    "MultiInstance",
    "Process",
    "Script",
    "SequenceFlow",
    "SignalDefinition",
    "TimerDefinition",
    "TimerKind",
    "UserTaskDefinition",
    "VariableMapping",
    "feel_source",
    "frozen_map",
]

#: The job type of a job-based user task (Zeebe's ``Protocol.USER_TASK_JOB_TYPE``).
JOB_USER_TASK_TYPE = "io.camunda.zeebe:userTask"
#: The custom header that carries a job-based user task's form key.
USER_TASK_FORM_KEY_HEADER = "io.camunda.zeebe:formKey"

_EXPRESSION = re.compile(r"=(.+)", re.DOTALL)
K = TypeVar("K")
V = TypeVar("V")


def feel_source(value: str | None) -> str | None:
    """The FEEL source of an attribute value, or None if the value is static (or absent).

    Zeebe's rule exactly: ``=`` followed by at least one character. ``"="`` alone and values with
    leading blanks before the ``=`` are static values.
    """
    if value is None:
        return None
    match = _EXPRESSION.fullmatch(value)
    return match.group(1) if match else None


def frozen_map(items: Mapping[K, V] | None = None) -> Mapping[K, V]:
    """A read-only view of a copy of ``items``; the model never hands out mutable dicts."""
    return MappingProxyType(dict(items or {}))


def _str_map(items: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return frozen_map(items)


def _element_map(items: Mapping[str, Element]) -> Mapping[str, Element]:
    return frozen_map(items)


def _flow_map(items: Mapping[str, SequenceFlow]) -> Mapping[str, SequenceFlow]:
    return frozen_map(items)


def _scope_map(
    items: Mapping[str, tuple[str, ...]] | None = None,
) -> Mapping[str, tuple[str, ...]]:
    return frozen_map(items)


def _nested_map(
    items: Mapping[str, Mapping[str, str]] | None = None,
) -> Mapping[str, Mapping[str, str]]:
    return frozen_map({key: frozen_map(value) for key, value in (items or {}).items()})


class BpmnElementType(StrEnum):
    """Zeebe's ``BpmnElementType`` names (the values records carry)."""

    PROCESS = "PROCESS"
    SUB_PROCESS = "SUB_PROCESS"
    EVENT_SUB_PROCESS = "EVENT_SUB_PROCESS"
    START_EVENT = "START_EVENT"
    INTERMEDIATE_CATCH_EVENT = "INTERMEDIATE_CATCH_EVENT"
    INTERMEDIATE_THROW_EVENT = "INTERMEDIATE_THROW_EVENT"
    BOUNDARY_EVENT = "BOUNDARY_EVENT"
    END_EVENT = "END_EVENT"
    SERVICE_TASK = "SERVICE_TASK"
    RECEIVE_TASK = "RECEIVE_TASK"
    USER_TASK = "USER_TASK"
    MANUAL_TASK = "MANUAL_TASK"
    TASK = "TASK"
    EXCLUSIVE_GATEWAY = "EXCLUSIVE_GATEWAY"
    PARALLEL_GATEWAY = "PARALLEL_GATEWAY"
    EVENT_BASED_GATEWAY = "EVENT_BASED_GATEWAY"
    INCLUSIVE_GATEWAY = "INCLUSIVE_GATEWAY"
    SEQUENCE_FLOW = "SEQUENCE_FLOW"
    MULTI_INSTANCE_BODY = "MULTI_INSTANCE_BODY"
    CALL_ACTIVITY = "CALL_ACTIVITY"
    BUSINESS_RULE_TASK = "BUSINESS_RULE_TASK"
    SCRIPT_TASK = "SCRIPT_TASK"
    SEND_TASK = "SEND_TASK"


class BpmnEventType(StrEnum):
    """Zeebe's ``BpmnEventType``: UNSPECIFIED for non-events, NONE for plain events."""

    UNSPECIFIED = "UNSPECIFIED"
    NONE = "NONE"
    MESSAGE = "MESSAGE"
    TIMER = "TIMER"
    ERROR = "ERROR"
    TERMINATE = "TERMINATE"
    SIGNAL = "SIGNAL"
    ESCALATION = "ESCALATION"
    LINK = "LINK"
    COMPENSATION = "COMPENSATION"


_T = BpmnElementType
#: Activities: elements that can have boundary events, io mappings and multi-instance.
ACTIVITY_TYPES = frozenset(
    {
        _T.SUB_PROCESS,
        _T.SERVICE_TASK,
        _T.RECEIVE_TASK,
        _T.USER_TASK,
        _T.MANUAL_TASK,
        _T.TASK,
        _T.CALL_ACTIVITY,
        _T.BUSINESS_RULE_TASK,
        _T.SCRIPT_TASK,
        _T.SEND_TASK,
    }
)
#: Elements that contain other elements (their ids key the per-scope lookups of a Process).
FLOW_SCOPE_TYPES = frozenset({_T.PROCESS, _T.SUB_PROCESS, _T.EVENT_SUB_PROCESS})
GATEWAY_TYPES = frozenset(
    {_T.EXCLUSIVE_GATEWAY, _T.PARALLEL_GATEWAY, _T.EVENT_BASED_GATEWAY, _T.INCLUSIVE_GATEWAY}
)


class TimerKind(StrEnum):
    """Which of ``bpmn:timeDate`` / ``timeDuration`` / ``timeCycle`` a timer has."""

    DATE = "DATE"
    DURATION = "DURATION"
    CYCLE = "CYCLE"


# --- extension elements ---------------------------------------------------------------------


@attrs.frozen
class VariableMapping:
    """One ``zeebe:input`` / ``zeebe:output``: ``source`` (expression or static) -> ``target``
    (a variable name or a nested path ``a.b``)."""

    source: str
    target: str


@attrs.frozen
class JobDefinition:
    """What a job-worker element creates: ``zeebe:taskDefinition`` plus ``zeebe:taskHeaders``.

    ``type`` and ``retries`` are static values or expressions (``retries`` defaults to ``"3"``).
    ``headers`` keep XML order. Job-based user tasks get Zeebe's fixed job type
    :data:`JOB_USER_TASK_TYPE`, retries ``"1"`` and the form key header.
    """

    type: str
    retries: str = "3"
    headers: Mapping[str, str] = attrs.field(factory=_str_map, converter=_str_map)


@attrs.frozen
class ExecutionListener:
    """A ``zeebe:executionListener`` (parsed, not executed yet): ``event_type`` start/end."""

    event_type: str
    type: str
    retries: str = "3"


@attrs.frozen
class CalledElement:
    """``zeebe:calledElement`` of a call activity; ``process_id`` static or expression."""

    process_id: str
    propagate_all_child_variables: bool = True
    propagate_all_parent_variables: bool = True


@attrs.frozen
class CalledDecision:
    """``zeebe:calledDecision`` of a business rule task (evaluated by the engine's DMN)."""

    decision_id: str
    result_variable: str


@attrs.frozen
class Script:
    """``zeebe:script`` of a script task: a FEEL ``expression`` whose result goes into
    ``result_variable``."""

    expression: str
    result_variable: str


@attrs.frozen
class MultiInstance:
    """``bpmn:multiInstanceLoopCharacteristics`` with its ``zeebe:loopCharacteristics``."""

    input_collection: str
    is_sequential: bool = False
    input_element: str | None = None
    output_collection: str | None = None
    output_element: str | None = None
    completion_condition: str | None = None


@attrs.frozen
class UserTaskDefinition:
    """A user task's Zeebe settings. ``is_native`` when ``zeebe:userTask`` is present (a Zeebe
    user task); otherwise the task is job-based and :attr:`Element.job` is set as well.

    ``form_key`` of an embedded ``zeebe:userTaskForm`` is ``camunda-forms:bpmn:<form id>``; the
    form itself is in :attr:`Process.user_task_forms`.
    """

    is_native: bool = False
    assignee: str | None = None
    candidate_groups: str | None = None
    candidate_users: str | None = None
    form_key: str | None = None
    form_id: str | None = None
    external_reference: str | None = None
    due_date: str | None = None
    follow_up_date: str | None = None
    priority: str | None = None


# --- event definitions ----------------------------------------------------------------------


@attrs.frozen
class MessageDefinition:
    """A message reference, resolved: ``name`` (static or expression) and the
    ``zeebe:subscription`` ``correlation_key`` (None on message start events and throw events
    without one)."""

    message_id: str | None
    name: str | None
    correlation_key: str | None = None


@attrs.frozen
class TimerDefinition:
    """A timer: its kind and the text of ``timeDate`` / ``timeDuration`` / ``timeCycle``."""

    kind: TimerKind
    expression: str


@attrs.frozen
class ErrorDefinition:
    """An error reference. ``error_code`` None means no ``bpmn:error`` (or one without a code):
    on a catch event that catches every error."""

    error_id: str | None
    error_code: str | None
    name: str | None = None


@attrs.frozen
class SignalDefinition:
    """A signal reference; ``name`` static or expression."""

    signal_id: str | None
    name: str | None


@attrs.frozen
class EscalationDefinition:
    """An escalation reference. ``escalation_code`` None on a catch event catches all."""

    escalation_id: str | None
    escalation_code: str | None
    name: str | None = None


@attrs.frozen
class CompensationDefinition:
    """``bpmn:compensateEventDefinition``: ``activity_ref`` None compensates the whole scope."""

    activity_ref: str | None = None
    wait_for_completion: bool = True


# --- elements -------------------------------------------------------------------------------


@attrs.frozen
class SequenceFlow:
    """A sequence flow. ``condition`` is the ``conditionExpression`` text (an expression); it is
    only meaningful leaving exclusive and inclusive gateways. ``is_default`` when the source
    gateway names this flow as its ``default``."""

    id: str
    source_ref: str
    target_ref: str
    flow_scope_id: str
    name: str | None = None
    condition: str | None = None
    is_default: bool = False


@attrs.frozen
class Element:
    """One flow node (or the process itself) with every Zeebe setting resolved.

    Only the fields that make sense for :attr:`element_type` are set; the rest keep their
    defaults. ``flow_scope_id`` is the id of the containing process or subprocess (None for the
    process). ``outgoing`` lists the outgoing sequence flow ids in XML order, which is the order an
    exclusive gateway evaluates conditions in. ``attached_to_ref`` / ``cancel_activity`` belong
    to boundary events, ``is_interrupting`` to start events of event subprocesses,
    ``default_flow`` to exclusive and inclusive gateways.
    """

    id: str
    element_type: BpmnElementType
    flow_scope_id: str | None
    name: str | None = None
    event_type: BpmnEventType = BpmnEventType.UNSPECIFIED
    incoming: tuple[str, ...] = ()
    outgoing: tuple[str, ...] = ()
    inputs: tuple[VariableMapping, ...] = ()
    outputs: tuple[VariableMapping, ...] = ()
    properties: Mapping[str, str] = attrs.field(factory=_str_map, converter=_str_map)
    execution_listeners: tuple[ExecutionListener, ...] = ()
    # activities
    job: JobDefinition | None = None
    user_task: UserTaskDefinition | None = None
    called_element: CalledElement | None = None
    called_decision: CalledDecision | None = None
    script: Script | None = None
    multi_instance: MultiInstance | None = None
    is_for_compensation: bool = False
    # events (and the receive task's message)
    message: MessageDefinition | None = None
    timer: TimerDefinition | None = None
    error: ErrorDefinition | None = None
    signal: SignalDefinition | None = None
    escalation: EscalationDefinition | None = None
    link_name: str | None = None
    compensation: CompensationDefinition | None = None
    attached_to_ref: str | None = None
    cancel_activity: bool = True
    is_interrupting: bool = True
    # a compensation boundary event's handler (the activity its association points to)
    compensation_handler_ref: str | None = None
    # gateways
    default_flow: str | None = None
    # subprocesses
    triggered_by_event: bool = False

    @property
    def is_activity(self) -> bool:
        return self.element_type in ACTIVITY_TYPES


@attrs.frozen
class Process:
    """One executable process, ready to run.

    Per-scope lookups are keyed by the id of the flow scope: the process id for the top level,
    a (event) subprocess id inside it.

    * ``children[scope]``: the flow nodes directly in the scope, XML order.
    * ``none_start_events[scope]``: the none start event of the process / an embedded subprocess.
    * ``start_events[scope]``: every start event of the scope (an event subprocess has one).
    * ``boundary_events[activity]``: the boundary events attached to the activity, XML order.
    * ``event_subprocesses[scope]``: the event subprocesses directly in the scope.
    * ``link_catch_events[scope][link name]``: the link catch event a link throw jumps to.
    * ``error_catch_events[element]`` / ``escalation_catch_events[element]``: for an activity or
      flow scope, error code -> the catch event (a boundary event of the activity, or the start
      event of an event subprocess directly inside the scope); the key ``""`` is the catch-all.
      The engine walks from the throwing element up its flow scopes; within one element an exact
      code beats the catch-all.
    * ``message_start_events`` / ``timer_start_events`` / ``signal_start_events``: the process'
      top-level start events of that kind, XML order.
    """

    id: str
    name: str | None
    elements: Mapping[str, Element] = attrs.field(converter=_element_map)
    sequence_flows: Mapping[str, SequenceFlow] = attrs.field(converter=_flow_map)
    version_tag: str | None = None
    children: Mapping[str, tuple[str, ...]] = attrs.field(factory=_scope_map, converter=_scope_map)
    none_start_events: Mapping[str, str] = attrs.field(factory=_str_map, converter=_str_map)
    start_events: Mapping[str, tuple[str, ...]] = attrs.field(
        factory=_scope_map, converter=_scope_map
    )
    boundary_events: Mapping[str, tuple[str, ...]] = attrs.field(
        factory=_scope_map, converter=_scope_map
    )
    event_subprocesses: Mapping[str, tuple[str, ...]] = attrs.field(
        factory=_scope_map, converter=_scope_map
    )
    link_catch_events: Mapping[str, Mapping[str, str]] = attrs.field(
        factory=_nested_map, converter=_nested_map
    )
    error_catch_events: Mapping[str, Mapping[str, str]] = attrs.field(
        factory=_nested_map, converter=_nested_map
    )
    escalation_catch_events: Mapping[str, Mapping[str, str]] = attrs.field(
        factory=_nested_map, converter=_nested_map
    )
    message_start_events: tuple[str, ...] = ()
    timer_start_events: tuple[str, ...] = ()
    signal_start_events: tuple[str, ...] = ()
    user_task_forms: Mapping[str, str] = attrs.field(factory=_str_map, converter=_str_map)

    @property
    def none_start_event(self) -> str | None:
        """The process' none start event (what CreateProcessInstance starts at), if any."""
        return self.none_start_events.get(self.id)

    @property
    def root(self) -> Element:
        """The PROCESS element itself (flow scope of the top-level elements)."""
        return self.elements[self.id]

    def element(self, element_id: str) -> Element:
        """The element with that id (KeyError if the process has none)."""
        return self.elements[element_id]

    def outgoing_flows(self, element_id: str) -> tuple[SequenceFlow, ...]:
        """The element's outgoing sequence flows in XML order."""
        flows = self.sequence_flows
        return tuple(flows[flow_id] for flow_id in self.elements[element_id].outgoing)
