"""Timer events (reference §6): timers of intermediate catch events, boundary events, event
subprocess start events, event-based gateways and timer start events, and their firing by the
leader's clock.

* :class:`Timers` is the machine's :class:`~.events.EventSubscriptions` for timers: when an
  element instance activates, each timer catch event it opens is evaluated in its scope
  (after input mappings; a failing expression is an EXTRACT_VALUE_ERROR incident and nothing
  is created) and a timer is created with its due date; when the instance completes or is
  terminated, its timers are cancelled.
* Time enters only through leader-stamped records: :meth:`Timers.next_due` is the earliest due
  date (the engine's ``next_deadline``); :meth:`Timers.tick` fires, at the record's timestamp,
  every timer due by then, earliest first, at most ``limit`` per record (the rest waits for the
  next time record). A firing triggers the catch event -- interrupting or not, through
  :func:`~.events.trigger` -- or is dropped if the event can no longer be triggered; a cycle
  with repetitions left is created again for its next due date (from the previous due date:
  no drift).
* Timer start events live on partition 1 only: deploying a new version (see
  :meth:`Timers.prepare`) cancels the previous versions' start timers and creates the new
  version's, evaluated at deployment without variables; a fired one creates a process instance
  that begins at that start event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..bpmn import BpmnElementType, Element, Process, TimerDefinition, TimerKind
from ..rejection import RejectionType
from ..timer import (
    INFINITE,
    Schedule,
    TimerError,
    cycle_schedule,
    date_schedule,
    duration_schedule,
    next_due,
)
from .events import can_trigger, is_interrupting, trigger
from .expressions import EXTRACT_VALUE_ERROR, Fail, evaluate, source_of
from .machine import Machine
from .refusal import Refused
from .timer_state import Timer
from .values import Definition, Instance

__all__ = ["TIMERS_PER_TICK", "Timers", "schedule_timer"]

TIMERS_PER_TICK = 1_000  # timers fired per time record; the rest in the next one
_T = BpmnElementType
_SCOPES = (_T.PROCESS.value, _T.SUB_PROCESS.value, _T.EVENT_SUB_PROCESS.value)
_BODY = _T.MULTI_INSTANCE_BODY.value
_NO_VARIABLES: Mapping[str, Any] = {}
_START_EVENT_FAILED = (
    "Expected to create timer for start event, but encountered the following error: {}"
)


def schedule_timer(timer: TimerDefinition, variables: Mapping[str, Any], now: int) -> Schedule:
    """Evaluate a timer definition in a scope at ``now`` (engine ms); raises Fail with Zeebe's
    EXTRACT_VALUE_ERROR texts."""
    text = timer.expression
    source = source_of(text)
    if timer.kind is TimerKind.DURATION:
        value = evaluate(text, variables, now, ("DURATION", "PERIOD", "STRING"))
        try:
            return duration_schedule(value, now)
        except TimerError:
            raise Fail(
                EXTRACT_VALUE_ERROR, f"Invalid duration format '{value}' for expression '{source}'."
            ) from None
    if timer.kind is TimerKind.DATE:
        value = evaluate(text, variables, now, ("DATE_TIME", "STRING"))
        try:
            return date_schedule(value)
        except TimerError:
            raise Fail(
                EXTRACT_VALUE_ERROR,
                f"Invalid date-time format '{value}' for expression '{source}'.",
            ) from None
    value = evaluate(text, variables, now, ("STRING",))
    try:
        return cycle_schedule(str(value), now)
    except TimerError as error:
        raise Fail(EXTRACT_VALUE_ERROR, str(error)) from None


class Timers:
    """The timers of one partition, over the machine's state."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.state = machine.state

    # --- EventSubscriptions -----------------------------------------------------------------

    def subscribe(self, machine: Machine, instance: Instance, element: Element) -> None:
        catches = self._catch_events(instance, element)
        if not catches:
            return
        view = machine.variables.view(instance.key)
        now = machine.now
        # every schedule first: a failure creates none (the activation is retried whole)
        schedules = [(c, schedule_timer(c.timer, view, now)) for c in catches if c.timer]
        self.unsubscribe(machine, instance)
        for catch, schedule in schedules:
            self._create(
                instance.key,
                instance.process_instance_key,
                instance.definition_key,
                catch.id,
                schedule,
            )

    def unsubscribe(self, machine: Machine, instance: Instance) -> None:
        keys = self.state.timer_index.of_element.get(instance.key)
        if keys:
            for key in list(keys):
                self._cancel(key)

    def _catch_events(self, instance: Instance, element: Element) -> list[Element]:
        """The timer catch events this element instance opens."""
        model = self.machine.model(instance)
        elements = model.elements
        found: list[Element] = []
        kind = element.element_type
        if kind is _T.INTERMEDIATE_CATCH_EVENT:
            if element.timer is not None:
                found.append(element)
            return found
        if kind is _T.EVENT_BASED_GATEWAY:
            for flow_id in element.outgoing:
                target = elements[model.sequence_flows[flow_id].target_ref]
                if target.timer is not None:
                    found.append(target)
            return found
        if instance.element_type == _BODY or (
            element.is_activity and not self.machine.is_inner_instance(instance)
        ):
            for event_id in model.boundary_events.get(element.id, ()):
                if elements[event_id].timer is not None:
                    found.append(elements[event_id])
        if instance.element_type in _SCOPES:
            for sub_id in model.event_subprocesses.get(element.id, ()):
                for start_id in model.start_events.get(sub_id, ()):
                    if elements[start_id].timer is not None:
                        found.append(elements[start_id])
        return found

    # --- the timers family ------------------------------------------------------------------

    def _create(
        self,
        element_instance_key: int,
        process_instance_key: int,
        definition_key: int,
        target: str,
        schedule: Schedule,
    ) -> Timer:
        state = self.state
        timer = Timer(
            state.next_key(),
            element_instance_key,
            process_instance_key,
            definition_key,
            target,
            schedule.due_date,
            schedule.repetitions,
            schedule.cycle,
        )
        state.put_timer(timer)
        self._trace(timer, "CREATED")
        return timer

    def _cancel(self, key: int) -> None:
        timer = self.state.drop_timer(key)
        if timer is not None:
            self._trace(timer, "CANCELED")

    def _trace(self, timer: Timer, intent: str) -> None:
        state = self.state
        if state.trace is not None:
            state.emit(
                "TIMER",
                intent,
                timer.key,
                {
                    "elementInstanceKey": timer.element_instance_key,
                    "processInstanceKey": timer.process_instance_key,
                    "processDefinitionKey": timer.definition_key,
                    "targetElementId": timer.target_element_id,
                    "dueDate": timer.due_date,
                    "repetitions": timer.repetitions,
                },
            )

    # --- time -------------------------------------------------------------------------------

    def next_due(self) -> int | None:
        """The earliest due date of any timer (engine ms), or None."""
        return self.state.timer_index.next_due()

    def tick(self, limit: int = TIMERS_PER_TICK) -> None:
        """Fire the timers due by the state's clock, earliest first, at most ``limit``."""
        for fired, timer in enumerate(self.state.timer_index.due(self.state.clock), 1):
            self._fire(timer)
            if fired >= limit:
                return

    def _fire(self, timer: Timer) -> None:
        state = self.state
        state.drop_timer(timer.key)
        if timer.element_instance_key < 0:
            self._start(timer)
            return
        instance = state.instances.get(timer.element_instance_key)
        if instance is None:
            return  # Zeebe rejects the TRIGGER: the element instance is gone
        catch = self.machine.model(instance).elements.get(timer.target_element_id)
        if catch is None or not can_trigger(instance, catch):
            return
        self._trace(timer, "TRIGGERED")
        repeats = catch.element_type in (_T.BOUNDARY_EVENT, _T.START_EVENT) and not (
            is_interrupting(catch)
        )
        trigger(self.machine, instance, catch, {})
        if repeats:
            self._repeat(timer)

    def _repeat(self, timer: Timer) -> None:
        """A cycle with repetitions left: the same timer again, for its next due date."""
        if not timer.cycle or not (timer.repetitions == INFINITE or timer.repetitions > 1):
            return
        due = next_due(timer.cycle, timer.due_date, self.state.clock)
        if due is None:
            return
        repetitions = INFINITE if timer.repetitions == INFINITE else timer.repetitions - 1
        self._create(
            timer.element_instance_key,
            timer.process_instance_key,
            timer.definition_key,
            timer.target_element_id,
            Schedule(due, repetitions, timer.cycle),
        )

    # --- timer start events -----------------------------------------------------------------

    def _start(self, timer: Timer) -> None:
        state = self.state
        definition = state.definitions.get(timer.definition_key)
        model = state.models.get(timer.definition_key)
        if definition is None or model is None or timer.target_element_id not in model.elements:
            return
        self._trace(timer, "TRIGGERED")
        key = state.next_key()
        self.machine.queue_process(
            definition.key,
            definition.bpmn_process_id,
            key,
            None,
            start_event=timer.target_element_id,
        )
        state.emit(
            "PROCESS_INSTANCE_CREATION",
            "CREATED",
            key,
            {"processDefinitionKey": definition.key, "bpmnProcessId": definition.bpmn_process_id},
        )
        self._repeat(timer)

    def prepare(self, processes: Sequence[Process]) -> Callable[[Sequence[Definition]], None]:
        """Deployment of new process versions (on partition 1): evaluate their timer start
        events now (a failure refuses the deployment before anything changed, with Zeebe's
        PROCESSING_ERROR text) and return what to do once they are stored -- cancel the
        previous versions' start timers, create the new ones."""
        now = self.state.clock
        planned: list[list[tuple[str, Schedule]]] = []
        for process in processes:
            timers: list[tuple[str, Schedule]] = []
            for start_id in process.timer_start_events:
                start = process.elements[start_id]
                if start.timer is None:
                    continue
                try:
                    timers.append((start_id, schedule_timer(start.timer, _NO_VARIABLES, now)))
                except Fail as failure:
                    raise Refused(
                        RejectionType.PROCESSING_ERROR, _START_EVENT_FAILED.format(failure.message)
                    ) from None
            planned.append(timers)

        def deployed(definitions: Sequence[Definition]) -> None:
            for definition, timers in zip(definitions, planned, strict=True):
                self._replace_start_timers(definition)
                for start_id, schedule in timers:
                    self._create(-1, -1, definition.key, start_id, schedule)

        return deployed

    def _replace_start_timers(self, definition: Definition) -> None:
        state = self.state
        for key, other in state.definitions.items():
            if key == definition.key or other.bpmn_process_id != definition.bpmn_process_id:
                continue
            timers = state.timer_index.of_definition.get(key)
            if timers:
                for timer_key in list(timers):
                    self._cancel(timer_key)
