"""Zeebe's process engine as the deterministic state machine of one partition.

:class:`Engine` takes the gateway API's commands (framed as :mod:`.commands` describes:
one type byte + the client's request bytes), deploys BPMN and DMN, runs process instances
with their jobs, timers and decisions the way Zeebe does, evaluates decisions, and answers
with the gRPC response bytes or a Zeebe-style :class:`~.rejection.Rejection`. It implements
the :class:`~.statemachine.StateMachine` contract and its optional capabilities:

* time (``next_deadline`` / ``tick``): job leases and back-offs, timers (fired by the
  leader-stamped time records, at most a bounded number per record), message TTLs, and
  continuations -- an apply processes at most ``max_steps`` follow-up steps (a loop without wait
  states cannot hang the partition); what is left stays queued in the state and the deadline is
  "now", so the leader appends a time record that goes on with it;
* ``answer_unlogged``: an activation that would find no job is answered without a record;
* :class:`~.statemachine.InterPartition`: deployment distribution (processes and decision
  requirements graphs) from partition 1 to the others, the message subscription protocol between
  an instance's partition and a message's, signal broadcasts (``outbox`` / ``take_messages`` /
  ``receive``);
* :class:`~.statemachine.DeferredAnswers`: CreateProcessInstanceWithResult answers when the
  instance completes (``take_answers``);
* ``take_newly_activatable``: job types that got work, to wake long-polling activations.

Every replica applies every committed record; nothing here reads a clock, draws randomness or
iterates anything hash-ordered, and ``apply`` never raises: bad input is a rejection.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

from google.protobuf.message import Message

from .. import codec
from ..proto import gateway_pb2 as gw
from .bpmn import Process
from .commands import DEFERRED, SPECS, CommandType, ok, rejected
from .overview import OverviewSource
from .rejection import Rejection
from .runtime.behaviours import behaviours
from .runtime.decision_state import DecisionDefinition, DecisionRequirements
from .runtime.decisions import Decisions
from .runtime.deployment import Acknowledge, Deployments, DistributeDeployment, parse_resource
from .runtime.events import AllSubscriptions
from .runtime.instances import Instances
from .runtime.jobs import Jobs
from .runtime.machine import MAX_STEPS, Machine
from .runtime.messaging.service import Messaging
from .runtime.refusal import Refused
from .runtime.snapshot import View, chunks, restore, restore_pieces, serialize, take_view
from .runtime.state import EngineState, KeysExhausted
from .runtime.timer_state import Timer
from .runtime.timers import Timers
from .runtime.trace import TraceListener
from .runtime.values import Definition, Incident, Instance, Job
from .statemachine import PendingSend

__all__ = ["Engine"]

_C = CommandType
_OK_EMPTY = b"\x00"
_UNSUPPORTED = (
    _C.MODIFY_PROCESS_INSTANCE,
    _C.MIGRATE_PROCESS_INSTANCE,
    _C.DELETE_RESOURCE,
)


def _reject(kind: str, intent: str, value_type: str, reason: str) -> bytes:
    return rejected(Rejection(kind, intent, value_type, reason))


class Engine:
    """The process engine of partition ``partition_id`` of ``partition_count``."""

    def __init__(
        self, partition_id: int = 1, partition_count: int = 1, *, max_steps: int = MAX_STEPS
    ) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {max_steps}")
        self.max_steps = max_steps
        self._strict = False
        self._wire(EngineState(partition_id, partition_count))

    def _wire(self, state: EngineState) -> None:
        self._state = state
        machine = Machine(state, behaviours())
        machine.strict = self._strict
        jobs = Jobs(machine)
        machine.jobs = jobs
        # --- timers, decisions, messages and signals ---
        timers = Timers(machine)
        decisions = Decisions(machine)
        machine.decisions = decisions
        self._timers = timers
        messaging = Messaging(machine)
        self._messaging = messaging
        # every kind of event subscription, in a fixed order
        machine.subscriptions = AllSubscriptions((timers, *messaging.kinds))
        self._machine = machine
        self._jobs = jobs
        self._deployments = Deployments(state)
        self._deployments.hooks.append(timers)  # timer start events (partition 1)
        self._instances = Instances(machine, jobs)
        instances = self._instances
        self._handlers: dict[CommandType, Callable[[Any, int], Message | None]] = {
            _C.ACTIVATE_JOBS: lambda r, p: jobs.activate(r),
            _C.COMPLETE_JOB: lambda r, p: jobs.complete(r),
            _C.FAIL_JOB: lambda r, p: jobs.fail(r),
            _C.THROW_ERROR: lambda r, p: jobs.throw_error(r),
            _C.UPDATE_JOB_RETRIES: lambda r, p: jobs.update_retries(r),
            _C.UPDATE_JOB_TIMEOUT: lambda r, p: jobs.update_timeout(r),
            _C.CREATE_JOB: lambda r, p: jobs.create_standalone(r),
            _C.DEPLOY_RESOURCE: lambda r, p: self._deployments.deploy_resource(r),
            _C.DEPLOY_PROCESS: lambda r, p: self._deployments.deploy_process(r),
            _C.CREATE_PROCESS_INSTANCE: lambda r, p: instances.create(r),
            _C.CREATE_PROCESS_INSTANCE_WITH_RESULT: instances.create_with_result,
            _C.CANCEL_PROCESS_INSTANCE: lambda r, p: instances.cancel(r),
            _C.SET_VARIABLES: lambda r, p: instances.set_variables(r),
            _C.RESOLVE_INCIDENT: lambda r, p: instances.resolve_incident(r),
            # --- messages, signals and decisions ---
            _C.PUBLISH_MESSAGE: lambda r, p: messaging.publish(r),
            _C.BROADCAST_SIGNAL: lambda r, p: messaging.broadcast(r),
            _C.EVALUATE_DECISION: lambda r, p: decisions.evaluate(r),
        }

    # --- StateMachine -----------------------------------------------------------------------

    def apply(self, command: bytes, position: int, timestamp: float) -> bytes:
        refused = self._advance(position, timestamp)
        if refused is not None:
            return refused
        try:
            answer = self._command(command, position)
        finally:
            self._machine.run(self.max_steps)
        return answer

    def _advance(self, position: int, timestamp: float) -> bytes | None:
        state = self._state
        if type(position) is not int or position <= state.position:
            reason = f"Expected a record after position {state.position}, but got {position!r}"
            return _reject("PROCESSING_ERROR", "UNKNOWN", "UNKNOWN", reason)
        state.position = position
        if type(timestamp) in (int, float):
            state.advance_clock(float(timestamp))
        return None

    def _command(self, payload: bytes, position: int) -> bytes:
        if type(payload) is not bytes or not payload:
            return _reject(
                "INVALID_ARGUMENT", "UNKNOWN", "UNKNOWN", "Expected a command, but got none"
            )
        try:
            kind = CommandType(payload[0])
        except ValueError:
            reason = f"Expected a command type, but got unknown type {payload[0]}"
            return _reject("INVALID_ARGUMENT", "UNKNOWN", "UNKNOWN", reason)
        spec = SPECS[kind]
        request = spec.request()
        try:
            request.ParseFromString(payload[1:])
        except Exception as error:
            reason = (
                f"Expected a valid {spec.request.DESCRIPTOR.name}, but it failed to parse: {error}"
            )
            return _reject("INVALID_ARGUMENT", spec.intent, spec.value_type, reason)
        handler = self._handlers.get(kind)
        if handler is None:
            reason = f"Expected to process command '{spec.intent}', but it is not supported yet"
            return _reject("PROCESSING_ERROR", spec.intent, spec.value_type, reason)
        try:
            response = handler(request, position)
        except Refused as refusal:
            return _reject(
                refusal.rejection_type.name, spec.intent, spec.value_type, refusal.reason
            )
        except KeysExhausted as error:
            return _reject("PROCESSING_ERROR", spec.intent, spec.value_type, str(error))
        except Exception as error:
            if self._strict:
                raise
            reason = f"Expected to process the command, but failed: {type(error).__name__}"
            return _reject("PROCESSING_ERROR", spec.intent, spec.value_type, reason)
        if response is None:
            return DEFERRED
        return ok(response)

    def snapshot(self) -> bytes:
        return serialize(take_view(self._state))

    def snapshot_view(self) -> View:
        """A consistent view of the state, taken in constant time (the families are frozen:
        changes go to copy-on-write overlays); serialize it with :meth:`snapshot_chunks` while
        processing goes on."""
        return take_view(self._state)

    def snapshot_chunks(self, view: View) -> Generator[bytes, None, None]:
        """The snapshot bytes of ``view`` a bounded number of rows at a time (lazily); the
        families stay frozen (copy-on-write) until the generator is finished or closed."""
        return chunks(view)

    def restore(self, data: bytes) -> None:
        self._install(restore(data, parse_resource))

    def restore_pieces(self, data: bytes) -> Generator[None, None, None]:
        """:meth:`restore` a piece of bounded work at a time (each ``next``); the state is
        replaced by the last piece only, so until then the engine is unchanged, and closing
        the generator early leaves it so."""
        self._install((yield from restore_pieces(data, parse_resource)))

    def _install(self, state: EngineState) -> None:
        current = self._state
        if (state.partition_id, state.partition_count) != (
            current.partition_id,
            current.partition_count,
        ):
            raise ValueError(
                f"snapshot of partition {state.partition_id} of {state.partition_count}, this "
                f"engine serves partition {current.partition_id} of {current.partition_count}"
            )
        hints = current.job_index.newly_activatable
        trace = current.trace
        self._wire(state)
        state.trace = trace
        # wake-up hints are not state: keep the untaken ones and add every activatable type
        state.job_index.newly_activatable |= hints

    # --- TimeDriven -------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        state = self._state
        if state.steps:
            return state.clock / 1000  # a continuation is due now
        at = state.job_index.next_time()
        expiry = self._messaging.next_deadline()  # messages and signals
        if expiry is not None and (at is None or expiry < at):
            at = expiry
        due = self._timers.next_due()
        if due is not None:
            # An overdue timer (due already, or left by a bounded tick) is due a millisecond
            # after the last record, so the deadline always moves past a tick that left some.
            due = max(due, state.clock + 1)
            at = due if at is None else min(at, due)
        return None if at is None else at / 1000

    def tick(self, position: int, timestamp: float) -> bytes:
        state = self._state
        continuing, clock = bool(state.steps), state.clock
        refused = self._advance(position, timestamp)
        if refused is not None:
            return refused
        if continuing and state.clock == clock:
            # A continuation always moves the deadline it answers (by a millisecond if the
            # leader's clock did not), so the leader never takes it for a machine stuck.
            state.clock += 1
        try:
            self._jobs.tick()
            self._messaging.tick()
            self._timers.tick()
        except Exception:
            if self._strict:
                raise
        finally:
            self._machine.run(self.max_steps)
        return _OK_EMPTY

    # --- AnswersUnlogged --------------------------------------------------------------------

    def answer_unlogged(self, command: bytes) -> bytes | None:
        """An activation that would find no job is answered without a record."""
        if type(command) is not bytes or not command or command[0] != _C.ACTIVATE_JOBS:
            return None
        request = gw.ActivateJobsRequest()
        try:
            request.ParseFromString(command[1:])
            Jobs.check_activation(request)
        except Exception:
            return None
        if self._state.job_index.ready_count(request.type):
            return None
        return ok(gw.ActivateJobsResponse())

    # --- InterPartition ---------------------------------------------------------------------

    def outbox(self) -> Sequence[PendingSend]:
        return list(self._state.outbox.values())

    def take_messages(self) -> list[tuple[int, bytes]]:
        state = self._state
        messages, state.messages = state.messages, []
        return messages

    def receive(self, payload: bytes, position: int, timestamp: float) -> bytes:
        refused = self._advance(position, timestamp)
        if refused is not None:
            return refused
        try:
            command = codec.decode(payload)
            if isinstance(command, DistributeDeployment):
                self._deployments.receive_distribution(command)
            elif isinstance(command, Acknowledge):
                acknowledged = self._state.outbox.get(command.send_id)
                self._deployments.receive_acknowledgement(command)
                if acknowledged is not None:  # messages and signals
                    self._messaging.acknowledged(acknowledged.payload)
            elif not self._messaging.receive(command):
                raise codec.DecodeError("not an inter-partition command")
        except codec.DecodeError as error:
            return _reject("INVALID_ARGUMENT", "UNKNOWN", "UNKNOWN", str(error))
        except Refused as refusal:
            return _reject(refusal.rejection_type.name, "DISTRIBUTE", "DEPLOYMENT", refusal.reason)
        except Exception as error:
            if self._strict:
                raise
            return _reject("PROCESSING_ERROR", "UNKNOWN", "UNKNOWN", type(error).__name__)
        finally:
            self._machine.run(self.max_steps)
        return _OK_EMPTY

    # --- DeferredAnswers --------------------------------------------------------------------

    def take_answers(self) -> list[tuple[int, bytes]]:
        state = self._state
        answers, state.answers = state.answers, []
        return answers

    # --- long polling -----------------------------------------------------------------------

    def take_newly_activatable(self) -> set[str]:
        """Job types that gained an activatable job since the last call (wake long-polling
        ActivateJobs for these). A hint, not state."""
        index = self._state.job_index
        types, index.newly_activatable = index.newly_activatable, set()
        return types

    def activatable_count(self, job_type: str) -> int:
        return self._state.job_index.ready_count(job_type)

    def activatable_types(self) -> list[str]:
        """Every job type that has an activatable job, sorted (as the job engine offers it to
        the long-polling hooks)."""
        return self._state.job_index.activatable_types()

    # --- observing (tests, tools) -----------------------------------------------------------

    def set_trace(self, listener: TraceListener | None) -> None:
        """Receive a :class:`~.runtime.trace.TraceRecord` per event (None: stop)."""
        self._state.trace = listener

    @property
    def strict(self) -> bool:
        return self._strict

    @strict.setter
    def strict(self, value: bool) -> None:
        """Tests: let an internal error raise instead of becoming a rejection."""
        self._strict = value
        self._machine.strict = value

    @property
    def partition_id(self) -> int:
        return self._state.partition_id

    @property
    def position(self) -> int:
        return self._state.position

    @property
    def clock(self) -> float:
        """The latest leader timestamp seen (seconds)."""
        return self._state.clock / 1000

    @property
    def pending_steps(self) -> int:
        return len(self._state.steps)

    def definitions(self) -> Mapping[int, Definition]:
        return dict(self._state.definitions)

    def model(self, definition_key: int) -> Process | None:
        return self._state.models.get(definition_key)

    def instances(self) -> Mapping[int, Instance]:
        return dict(self._state.instances)

    def variables(self, scope_key: int) -> Mapping[str, Any]:
        return dict(self._state.variables.get(scope_key, {}))

    def jobs(self) -> Mapping[int, Job]:
        return dict(self._state.jobs)

    def incidents(self) -> Mapping[int, Incident]:
        return dict(self._state.incidents)

    def incident_count(self) -> int:
        """How many incidents are open (not resolved)."""
        return len(self._state.incidents)

    def timers(self) -> Mapping[int, Timer]:
        """The timers waiting for their due dates, by key."""
        return dict(self._state.timers)

    def decisions(self) -> Mapping[int, DecisionDefinition]:
        """The deployed decisions, by key."""
        return dict(self._state.decisions)

    def overview_source(self) -> OverviewSource:
        """A consistent copy for the live page's process view (see :mod:`.overview`)."""
        state = self._state
        return OverviewSource(
            state.partition_id,
            state.position,
            list(state.definitions.values()),
            list(state.instances.values()),
            list(state.incidents.values()),
        )

    def resource(self, definition_key: int) -> bytes | None:
        definition = self._state.definitions.get(definition_key)
        return definition.resource if definition is not None else None

    def decision_requirements(self) -> Mapping[int, DecisionRequirements]:
        """The deployed decision requirements graphs, by key."""
        return dict(self._state.decision_requirements)
