"""The step machine: Zeebe's process instance lifecycle on an in-memory queue of follow-up
commands.

Zeebe writes ACTIVATE_ELEMENT / COMPLETE_ELEMENT / TERMINATE_ELEMENT commands to its log and
processes them one after the other; here they are :class:`~.values.Step` values on the state's
queue, processed in order (first in, first out, like the log) by :meth:`Machine.run`, a bounded
number per call. An element instance moves ACTIVATING -> ACTIVATED -> COMPLETING -> COMPLETED,
or -> TERMINATING -> TERMINATED; each element type's :mod:`behaviour <.behaviours>` decides
what happens in each phase. Containers (process, subprocesses, multi-instance bodies, call
activities) are told when a child activates, when an execution path inside them ends and when a
child is terminated, and decide whether they complete.

The transitions here do the bookkeeping Zeebe's event appliers do: the counters of the flow
scope, the sequence flows waiting in a scope, the taken flows of joins, removing finished
instances (with their variables) -- and they trace every record when a listener is set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..bpmn import BpmnElementType, Element, Process
from .expressions import Fail
from .joins import join_gateways, join_ready
from .ports import DecisionCalls, ElementBehaviour, EventSubscriptions, JobCreation, SignalThrows
from .state import EngineState, KeysExhausted
from .values import (
    ACTIVATED,
    ACTIVATING,
    COMPLETED,
    COMPLETING,
    TERMINATED,
    TERMINATING,
    Incident,
    Instance,
    Step,
    StepKind,
)
from .variables import Variables

__all__ = ["MAX_STEPS", "Machine"]

MAX_STEPS = 10_000  # steps per apply; the rest waits for a continuation record
_T = BpmnElementType
_JOINS = (_T.PARALLEL_GATEWAY, _T.INCLUSIVE_GATEWAY)
_BODY = _T.MULTI_INSTANCE_BODY.value
_ACTIVE = (ACTIVATING, ACTIVATED)
_TERMINABLE = (ACTIVATING, ACTIVATED, COMPLETING)


def _ignore(instance: Instance) -> None:
    pass


def _ignore_step(step: Step) -> None:
    pass


class Machine:
    """Processes steps against an :class:`EngineState`; behaviours call back into it."""

    def __init__(
        self, state: EngineState, behaviours: Mapping[str, ElementBehaviour[Machine]]
    ) -> None:
        self.state = state
        self.variables = Variables(state)
        self._behaviours = behaviours
        self._inclusive: dict[int, dict[str, tuple[str, ...]]] = {}
        self.strict = False  # tests: let a bug in a step surface instead of dropping the step
        # collaborators the engine wires in (they need the machine themselves)
        self.jobs: JobCreation
        self.subscriptions: EventSubscriptions[Machine]
        self.decisions: DecisionCalls
        self.on_process_completed: Callable[[Instance], None] = _ignore
        # --- messages and signals ---
        self.signals: SignalThrows[Machine]  # signal throw events broadcast through it
        self.on_inter_partition: Callable[[Step], None] = _ignore_step
        self.on_process_left: Callable[[Instance], None] = _ignore  # completed or terminated

    @property
    def now(self) -> int:
        return self.state.clock

    # --- running ----------------------------------------------------------------------------

    def run(self, budget: int = MAX_STEPS) -> None:
        steps = self.state.steps
        while steps and budget > 0:
            budget -= 1
            step = steps.popleft()
            try:
                self._process(step)
            except KeysExhausted:
                steps.appendleft(step)  # nothing more can happen on this partition
                return
            except Exception:
                if self.strict:
                    raise
                # A bug must not stop the partition: every replica drops the same step.

    def _process(self, step: Step) -> None:
        kind = step.kind
        if kind == StepKind.ACTIVATE:
            self._activate(step)
        elif kind == StepKind.COMPLETE:
            self._complete(step.key)
        elif kind == StepKind.TERMINATE:
            self._terminate(step.key)
        elif kind == StepKind.CALLED_TERMINATED:
            caller = self.state.instances.get(step.key)
            if caller is not None:
                self.behaviour_of(caller).on_child_terminated(self, caller, None)
        elif kind == StepKind.INTER_PARTITION:
            self.on_inter_partition(step)

    # --- lookups ----------------------------------------------------------------------------

    def model(self, instance: Instance) -> Process:
        return self.state.models[instance.definition_key]

    def element(self, instance: Instance) -> Element:
        return self.state.models[instance.definition_key].elements[instance.element_id]

    def behaviour_of(self, instance: Instance) -> ElementBehaviour[Machine]:
        return self._behaviours[instance.element_type]

    def get(self, key: int) -> Instance | None:
        return self.state.instances.get(key)

    def refresh(self, instance: Instance) -> Instance:
        return self.state.instances[instance.key]

    def container(self, instance: Instance) -> Instance | None:
        """The instance that contains this one: its flow scope, or for a called process
        instance the call activity instance."""
        if instance.flow_scope_key >= 0:
            return self.state.instances.get(instance.flow_scope_key)
        if instance.parent_element_key >= 0:
            return self.state.instances.get(instance.parent_element_key)
        return None

    def is_inner_instance(self, instance: Instance) -> bool:
        """An instance of a multi-instance activity inside its body."""
        return instance.loop_counter > 0 and instance.element_type != _BODY

    def send_result(self, instance: Instance) -> None:
        """A process instance completes: answer a CreateProcessInstanceWithResult waiting
        for it (before its variables go)."""
        self.on_process_completed(instance)

    # --- queueing follow-ups ----------------------------------------------------------------

    def queue_activate(
        self,
        scope: Instance,
        element_id: str,
        *,
        via_flow: str = "",
        payload: Mapping[str, Any] | None = None,
    ) -> int:
        """ACTIVATE_ELEMENT of ``element_id`` inside ``scope``; returns the new key."""
        key = self.state.next_key()
        self.state.steps.append(
            Step(
                StepKind.ACTIVATE,
                key,
                element_id,
                scope.key,
                scope.process_instance_key,
                scope.definition_key,
                scope.parent_instance_key,
                scope.parent_element_key,
                via_flow,
                payload,
            )
        )
        return key

    def queue_process(
        self,
        definition_key: int,
        process_id: str,
        key: int,
        caller: Instance | None,
        *,
        start_event: str = "",
        payload: Mapping[str, Any] | None = None,
    ) -> None:
        """ACTIVATE_ELEMENT of a process instance (``caller``: the call activity instance).
        ``start_event``: the start event it begins at (an event start, e.g. a timer), with the
        event's variables as ``payload``; "" for the none start event."""
        self.state.steps.append(
            Step(
                StepKind.ACTIVATE,
                key,
                process_id,
                -1,
                key,
                definition_key,
                caller.process_instance_key if caller is not None else -1,
                caller.key if caller is not None else -1,
                start_event,
                payload,
            )
        )

    def complete_element(self, instance: Instance) -> None:
        self.state.steps.append(Step(StepKind.COMPLETE, instance.key))

    def terminate_element(self, instance: Instance) -> None:
        self.state.steps.append(Step(StepKind.TERMINATE, instance.key))

    def reactivate(self, instance: Instance) -> None:
        """Re-run the failed activation of an instance (its incident was resolved)."""
        self.state.steps.append(Step(StepKind.ACTIVATE, instance.key))

    # --- tracing ----------------------------------------------------------------------------

    def trace(self, instance: Instance, intent: str, key: int | None = None) -> None:
        state = self.state
        if state.trace is None:
            return
        definition = state.definitions.get(instance.definition_key)
        element = None
        model = state.models.get(instance.definition_key)
        if model is not None:
            element = model.elements.get(instance.element_id)
        state.emit(
            "PROCESS_INSTANCE",
            intent,
            instance.key if key is None else key,
            {
                "elementId": instance.element_id,
                "bpmnElementType": instance.element_type,
                "bpmnEventType": element.event_type.value if element is not None else "",
                "flowScopeKey": instance.flow_scope_key,
                "processInstanceKey": instance.process_instance_key,
                "processDefinitionKey": instance.definition_key,
                "bpmnProcessId": definition.bpmn_process_id if definition is not None else "",
                "version": definition.version if definition is not None else -1,
                "parentProcessInstanceKey": instance.parent_instance_key,
                "parentElementInstanceKey": instance.parent_element_key,
            },
        )

    # --- ACTIVATE_ELEMENT -------------------------------------------------------------------

    def _activate(self, step: Step) -> None:
        state = self.state
        existing = state.instances.get(step.key)
        if existing is not None:
            if existing.state == ACTIVATING:
                self._run_activation(existing)  # an incident on activation was resolved
            return
        model = state.models.get(step.definition_key)
        element = model.elements.get(step.element_id) if model is not None else None
        if element is None:
            return
        if element.element_type is _T.PROCESS:
            if step.parent_element_key >= 0:
                caller = state.instances.get(step.parent_element_key)
                if caller is None or caller.state != ACTIVATED or caller.interrupted_by:
                    state.variables.pop(step.key, None)  # copied for a child never created
                    return
            instance = Instance(
                step.key,
                element.id,
                _T.PROCESS.value,
                -1,
                step.key,
                step.definition_key,
                step.parent_instance_key,
                step.parent_element_key,
                ACTIVATING,
                # an event start: the start event to activate (see ProcessScope.activate)
                trigger=(step.via_flow, dict(step.payload or {})) if step.via_flow else None,
            )
            state.put_instance(instance)
            self.trace(instance, ACTIVATING)
            self._run_activation(instance)
            return
        scope = state.instances.get(step.flow_scope_key)
        if scope is None:
            return
        if scope.state != ACTIVATED or (
            scope.interrupted_by and scope.interrupted_by != element.id
        ):
            self._release_token(scope, step.via_flow)
            return
        consumed: tuple[str, ...] = ()
        if element.element_type in _JOINS:
            ready = join_ready(self.state, scope, element, model)  # type: ignore[arg-type]
            if ready is None:
                return  # the token waits (it stays in the scope's active flows)
            consumed = ready
        element_type = element.element_type.value
        loop_counter = 0
        if element.multi_instance is not None:
            if scope.element_type == _T.MULTI_INSTANCE_BODY and scope.element_id == element.id:
                loop_counter = scope.loop_counter + 1
            else:
                element_type = _T.MULTI_INSTANCE_BODY.value
        flows = list(scope.active_flows)
        if consumed:
            for flow_id in consumed:
                flows.remove(flow_id)
        elif step.via_flow and step.via_flow in flows:
            flows.remove(step.via_flow)
        scope = scope._replace(
            active_children=scope.active_children + 1,
            created_children=scope.created_children + 1,
            active_flows=tuple(flows),
            loop_counter=loop_counter or scope.loop_counter,
        )
        state.put_instance(scope)
        instance = Instance(
            step.key,
            element.id,
            element_type,
            scope.key,
            scope.process_instance_key,
            scope.definition_key,
            scope.parent_instance_key,
            scope.parent_element_key,
            ACTIVATING,
            loop_counter=loop_counter,
            payload=step.payload,
        )
        state.put_instance(instance)
        self.trace(instance, ACTIVATING)
        self._run_activation(instance)

    def _release_token(self, scope: Instance, via_flow: str) -> None:
        if via_flow and via_flow in scope.active_flows:
            flows = list(scope.active_flows)
            flows.remove(via_flow)
            self.state.put_instance(scope._replace(active_flows=tuple(flows)))

    def _run_activation(self, instance: Instance) -> None:
        element = self.element(instance)
        try:
            container = self.container(instance)
            if container is not None:
                self.behaviour_of(container).on_child_activating(self, container, instance)
            self.behaviour_of(instance).activate(self, instance, element)
        except Fail as failure:
            self.raise_incident(self.refresh(instance), failure)

    # --- COMPLETE_ELEMENT -------------------------------------------------------------------

    def _complete(self, key: int) -> None:
        instance = self.state.instances.get(key)
        if instance is None or instance.state not in (ACTIVATED, COMPLETING):
            return
        container = self.container(instance)
        if instance.flow_scope_key >= 0:
            if container is None or container.state != ACTIVATED:
                return
            if container.interrupted_by and container.interrupted_by != instance.element_id:
                return
        elif container is not None and container.state != ACTIVATED:
            return
        if instance.state == ACTIVATED:
            instance = self.transition(instance, COMPLETING)
        try:
            self.behaviour_of(instance).complete(self, instance, self.element(instance))
        except Fail as failure:
            self.raise_incident(self.refresh(instance), failure)

    # --- TERMINATE_ELEMENT ------------------------------------------------------------------

    def _terminate(self, key: int) -> None:
        instance = self.state.instances.get(key)
        if instance is None or instance.state not in _TERMINABLE:
            return
        instance = self.transition(instance, TERMINATING)
        self.behaviour_of(instance).terminate(self, instance, self.element(instance))

    # --- transitions ------------------------------------------------------------------------

    def transition(self, instance: Instance, new_state: str) -> Instance:
        instance = instance._replace(state=new_state)
        self.state.put_instance(instance)
        self.trace(instance, new_state)
        return instance

    def take_payload(self, instance: Instance) -> Mapping[str, Any] | None:
        """The event variables the instance completes with, consumed (a retry after an
        incident finds them applied already, as in Zeebe)."""
        instance = self.refresh(instance)
        if instance.payload is None:
            return None
        self.state.put_instance(instance._replace(payload=None))
        return instance.payload

    def activated(self, instance: Instance) -> Instance:
        return self.transition(self.refresh(instance), ACTIVATED)

    def end_of_path(self, instance: Instance, element: Element) -> bool:
        if instance.element_type == _T.PROCESS:
            return False
        if self.is_inner_instance(instance):
            return True  # the body takes the activity's outgoing flows
        if element.element_type is _T.INTERMEDIATE_THROW_EVENT and element.link_name is not None:
            return False
        return not element.outgoing

    def completed(self, instance: Instance, element: Element) -> Instance:
        """ELEMENT_COMPLETED: the instance leaves the state; at the end of an execution path
        the container may complete. Raises Fail (the instance stays COMPLETING) when the
        container cannot accept the path's end (a multi-instance output or condition)."""
        instance = self.refresh(instance)
        end = self.end_of_path(instance, element)
        container = self.container(instance)
        satisfied = False
        if end and container is not None:
            satisfied = self.behaviour_of(container).before_path_completed(
                self, container, instance
            )
        self._leave(instance, COMPLETED)
        if end and container is not None:
            container = self.refresh(container)
            self.behaviour_of(container).after_path_completed(self, container, instance, satisfied)
        return instance._replace(state=COMPLETED)

    def terminated(self, instance: Instance) -> None:
        """ELEMENT_TERMINATED: the instance leaves the state; a pending interrupting event
        takes its place, or its container hears about it."""
        instance = self.refresh(instance)
        self._leave(instance, TERMINATED)
        state = self.state
        if instance.flow_scope_key < 0:
            state.deferred.pop(instance.key, None)  # a terminated instance sends no result
            if instance.parent_element_key >= 0:
                state.steps.append(Step(StepKind.CALLED_TERMINATED, instance.parent_element_key))
            return
        scope = state.instances.get(instance.flow_scope_key)
        if scope is None:
            return
        if instance.trigger is not None and scope.state in _ACTIVE and not scope.interrupted_by:
            catch_id, payload = instance.trigger
            self.queue_activate(scope, catch_id, payload=payload)
            return
        self.behaviour_of(scope).on_child_terminated(self, scope, instance)

    def _leave(self, instance: Instance, final: str) -> None:
        state = self.state
        self.trace(instance, final)
        state.drop_instance(instance.key)
        for incident_key in list(state.element_incidents.get(instance.key, ())):
            self.resolve_incident(incident_key)
        if instance.flow_scope_key < 0:
            self.on_process_left(instance)
        if instance.flow_scope_key >= 0:
            scope = state.instances.get(instance.flow_scope_key)
            if scope is not None:
                if final == COMPLETED:
                    scope = scope._replace(
                        active_children=scope.active_children - 1,
                        completed_children=scope.completed_children + 1,
                    )
                else:
                    scope = scope._replace(
                        active_children=scope.active_children - 1,
                        terminated_children=scope.terminated_children + 1,
                    )
                state.put_instance(scope)
                self._recheck_inclusive_joins(scope)
        self.drop_joins(instance)

    def drop_joins(self, instance: Instance) -> None:
        """Forget the tokens waiting at the joins of a scope."""
        joins = self.state.joins
        if joins:
            for gateway in join_gateways(self.state, instance):
                joins.pop((instance.key, gateway), None)

    def _recheck_inclusive_joins(self, scope: Instance) -> None:
        """A path ended or moved on: an inclusive join waiting in the scope may fire now."""
        joins = self.state.joins
        if not joins or scope.state != ACTIVATED:
            return
        model = self.state.models[scope.definition_key]
        for gateway in join_gateways(self.state, scope):
            if (scope.key, gateway) in joins and (
                model.elements[gateway].element_type is _T.INCLUSIVE_GATEWAY
            ):
                self.queue_activate(scope, gateway)

    # --- sequence flows ---------------------------------------------------------------------

    def take_flow(
        self, instance: Instance, flow_id: str, payload: Mapping[str, Any] | None = None
    ) -> None:
        """SEQUENCE_FLOW_TAKEN from a completed instance, then ACTIVATE_ELEMENT of the target
        (with ``payload`` as its event variables, e.g. after an event-based gateway)."""
        state = self.state
        model = state.models[instance.definition_key]
        flow = model.sequence_flows[flow_id]
        key = state.next_key()
        if state.trace is not None:
            state.emit(
                "PROCESS_INSTANCE",
                "SEQUENCE_FLOW_TAKEN",
                key,
                {
                    "elementId": flow_id,
                    "bpmnElementType": _T.SEQUENCE_FLOW.value,
                    "flowScopeKey": instance.flow_scope_key,
                    "processInstanceKey": instance.process_instance_key,
                    "processDefinitionKey": instance.definition_key,
                },
            )
        scope = state.instances.get(instance.flow_scope_key)
        if scope is None:
            return
        target = model.elements[flow.target_ref]
        if target.element_type in _JOINS:
            join = (scope.key, target.id)
            taken = dict(state.joins.get(join, ()))
            taken[flow_id] = taken.get(flow_id, 0) + 1
            state.joins[join] = tuple(taken.items())
        state.put_instance(scope._replace(active_flows=(*scope.active_flows, flow_id)))
        self.queue_activate(scope, target.id, via_flow=flow_id, payload=payload)

    def take_outgoing(self, instance: Instance, element: Element) -> None:
        if self.is_inner_instance(instance):
            return
        for flow_id in element.outgoing:
            self.take_flow(instance, flow_id)

    # --- scopes -----------------------------------------------------------------------------

    def can_complete(self, scope: Instance) -> bool:
        scope = self.refresh(scope)
        return scope.active_children == 0 and not scope.active_flows

    def terminate_children(self, scope: Instance) -> bool:
        """TERMINATE_ELEMENT for every child still running; True if there is none."""
        children = [c for c in self.state.children_of(scope.key) if c.state in _TERMINABLE]
        for child in children:
            self.terminate_element(child)
        return not self.state.children.get(scope.key)

    # --- incidents --------------------------------------------------------------------------

    def raise_incident(self, instance: Instance, failure: Fail, job_key: int = -1) -> int:
        state = self.state
        definition = state.definitions[instance.definition_key]
        incident = Incident(
            state.next_key(),
            failure.error_type,
            failure.message,
            definition.bpmn_process_id,
            instance.definition_key,
            instance.process_instance_key,
            instance.element_id,
            instance.key,
            job_key,
            instance.key,
        )
        state.put_incident(incident)
        self.trace_incident(incident, "CREATED")
        return incident.key

    def trace_incident(self, incident: Incident, intent: str) -> None:
        if self.state.trace is not None:
            self.state.emit("INCIDENT", intent, incident.key, incident._asdict())

    def resolve_incident(self, key: int) -> Incident | None:
        incident = self.state.drop_incident(key)
        if incident is not None:
            self.trace_incident(incident, "RESOLVED")
        return incident
