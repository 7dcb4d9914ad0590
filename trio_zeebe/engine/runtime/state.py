"""The engine's state: column families of immutable values, the key generator, the clock, and
the derived indexes rebuilt from the families (never snapshotted).

Families are :class:`~.family.Family` dicts (frozen in constant time for a snapshot) whose
insertion order is part of the state (snapshots keep it, restore rebuilds it), and every change
goes through the ``put_*`` / ``drop_*`` methods here, so the derived indexes (children per
scope, incidents per element and job, the job queues, the deployed models by key and version)
never drift from the families. Nothing here decides anything: the processors and behaviours
do.

The ``put_*`` methods take the row out of the cyclic garbage collector's walks (``untrack.py``):
a tracked row would count as a long-lived object and cost each full pass a microsecond, and
these are the families most rows go to; the snapshot writer and the restore untrack the rest.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from ...keys import KEY_BITS, MAX_COUNTER, MAX_PARTITION
from ..bpmn import Process
from ..dmn import DecisionRequirementsGraph
from ..statemachine import PendingSend
from .decision_state import DecisionDefinition, DecisionIndex, DecisionRequirements
from .family import Family
from .jobindex import JobIndex
from .messaging.state import MessagingState
from .timer_state import Timer, TimerIndex
from .trace import TraceListener, TraceRecord
from .untrack import untrack
from .values import Deferred, Definition, Incident, Instance, Job, Step

__all__ = ["EngineState", "KeysExhausted"]

JoinKey = tuple[int, str]  # (flow scope instance key, gateway element id)


class KeysExhausted(Exception):
    """The partition's key counter reached its end (2**51 keys)."""


class EngineState:
    def __init__(self, partition_id: int, partition_count: int) -> None:
        if not 1 <= partition_id <= MAX_PARTITION:
            raise ValueError(f"partition_id must be in 1..{MAX_PARTITION}, got {partition_id}")
        if not partition_id <= partition_count <= MAX_PARTITION:
            raise ValueError(
                f"partition_count must be in {partition_id}..{MAX_PARTITION}, got {partition_count}"
            )
        self.partition_id = partition_id
        self.partition_count = partition_count
        self.counter = 0  # the last key counter handed out
        self.clock = 0  # the latest leader timestamp seen, engine milliseconds
        self.position = -1  # the last record applied
        # --- families (snapshotted) ---
        self.definitions: Family[int, Definition] = Family()
        self.instances: Family[int, Instance] = Family()
        self.variables: Family[int, Mapping[str, Any]] = Family()  # scope key -> name -> JSON value
        self.joins: Family[JoinKey, tuple[tuple[str, int], ...]] = Family()  # taken flows per join
        self.jobs: Family[int, Job] = Family()
        self.incidents: Family[int, Incident] = Family()
        self.deferred: Family[int, Deferred] = Family()  # process instance key -> waiting request
        self.outbox: Family[int, PendingSend] = Family()
        self.steps: deque[Step] = deque()
        # messages and signals: their own families and indexes (snapshotted with these)
        self.messaging = MessagingState()
        # timers and decisions (runtime/timers.py, runtime/decisions.py)
        self.timers: Family[int, Timer] = Family()
        self.decision_requirements: Family[int, DecisionRequirements] = Family()
        self.decisions: Family[int, DecisionDefinition] = Family()
        # --- derived (rebuilt on restore) ---
        self.models: dict[int, Process] = {}
        self.latest: dict[str, int] = {}  # bpmnProcessId -> key of the highest version
        self.by_version: dict[tuple[str, int], int] = {}
        self.children: dict[int, dict[int, None]] = {}  # flow scope key -> child keys
        self.element_incidents: dict[int, dict[int, None]] = {}
        self.job_incidents: dict[int, int] = {}
        self.job_index = JobIndex(self.jobs)
        self.timer_index = TimerIndex(self.timers)
        self.decision_index = DecisionIndex()
        # --- side effects of the last applies (not state) ---
        self.answers: list[tuple[int, bytes]] = []
        self.messages: list[tuple[int, bytes]] = []
        self.trace: TraceListener | None = None

    # --- keys and time ----------------------------------------------------------------------

    def next_key(self) -> int:
        if self.counter >= MAX_COUNTER:
            raise KeysExhausted(f"partition {self.partition_id} has used all its keys")
        self.counter += 1
        return (self.partition_id << KEY_BITS) | self.counter

    def advance_clock(self, timestamp: float) -> None:
        """Time only moves forward, whatever a new leader's clock says (milliseconds)."""
        if timestamp == timestamp and abs(timestamp) < 1e15:  # finite (NaN != NaN)
            now = round(timestamp * 1000)
            if now > self.clock:
                self.clock = now

    # --- tracing ----------------------------------------------------------------------------

    def emit(self, value_type: str, intent: str, key: int, value: Mapping[str, Any]) -> None:
        if self.trace is not None:
            self.trace(TraceRecord(value_type, intent, key, value))

    # --- definitions ------------------------------------------------------------------------

    def add_definition(self, definition: Definition, model: Process) -> None:
        self.definitions[definition.key] = definition
        self._index_definition(definition, model)

    def _index_definition(self, definition: Definition, model: Process) -> None:
        self.models[definition.key] = model
        self.by_version[(definition.bpmn_process_id, definition.version)] = definition.key
        latest = self.latest.get(definition.bpmn_process_id)
        if latest is None or self.definitions[latest].version < definition.version:
            self.latest[definition.bpmn_process_id] = definition.key

    # --- element instances ------------------------------------------------------------------

    def put_instance(self, instance: Instance) -> None:
        untrack(instance)
        key = instance.key
        if key not in self.instances and instance.flow_scope_key >= 0:
            self.children.setdefault(instance.flow_scope_key, {})[key] = None
        self.instances[key] = instance

    def drop_instance(self, key: int) -> Instance | None:
        instance = self.instances.pop(key, None)
        if instance is None:
            return None
        siblings = self.children.get(instance.flow_scope_key)
        if siblings is not None:
            siblings.pop(key, None)
            if not siblings:
                del self.children[instance.flow_scope_key]
        self.children.pop(key, None)
        self.variables.pop(key, None)
        return instance

    def children_of(self, key: int) -> list[Instance]:
        instances = self.instances
        return [instances[k] for k in self.children.get(key, ())]

    # --- jobs -------------------------------------------------------------------------------

    def put_job(self, job: Job) -> None:
        untrack(job)
        old = self.jobs.get(job.key)
        self.jobs[job.key] = job
        self.job_index.changed(old, job)

    def drop_job(self, key: int) -> Job | None:
        job = self.jobs.pop(key, None)
        if job is not None:
            self.job_index.changed(job, None)
        return job

    # --- incidents --------------------------------------------------------------------------

    def put_incident(self, incident: Incident) -> None:
        untrack(incident)
        self.incidents[incident.key] = incident
        self._index_incident(incident)

    def _index_incident(self, incident: Incident) -> None:
        if incident.job_key >= 0:
            self.job_incidents[incident.job_key] = incident.key
        elif incident.element_instance_key >= 0:
            self.element_incidents.setdefault(incident.element_instance_key, {})[incident.key] = (
                None
            )

    def drop_incident(self, key: int) -> Incident | None:
        incident = self.incidents.pop(key, None)
        if incident is None:
            return None
        if incident.job_key >= 0:
            if self.job_incidents.get(incident.job_key) == key:
                del self.job_incidents[incident.job_key]
        else:
            mine = self.element_incidents.get(incident.element_instance_key)
            if mine is not None:
                mine.pop(key, None)
                if not mine:
                    del self.element_incidents[incident.element_instance_key]
        return incident

    # --- timers -----------------------------------------------------------------------------

    def put_timer(self, timer: Timer) -> None:
        untrack(timer)
        self.timers[timer.key] = timer
        self.timer_index.added(timer)

    def drop_timer(self, key: int) -> Timer | None:
        timer = self.timers.pop(key, None)
        if timer is not None:
            self.timer_index.removed(timer)
        return timer

    # --- decisions --------------------------------------------------------------------------

    def add_decision_requirements(
        self, drg: DecisionRequirements, graph: DecisionRequirementsGraph
    ) -> None:
        self.decision_requirements[drg.key] = drg
        self.decision_index.add_drg(drg, graph, self.decision_requirements)

    def add_decision(self, decision: DecisionDefinition) -> None:
        self.decisions[decision.key] = decision
        self.decision_index.add_decision(decision, self.decisions)

    # --- rebuilding derived state -----------------------------------------------------------

    def index_instances(self, block: list[Instance]) -> None:
        """Restoring: index element instances just added to the family (a block at a time)."""
        children = self.children
        for instance in block:
            if instance.flow_scope_key >= 0:
                children.setdefault(instance.flow_scope_key, {})[instance.key] = None

    def rebuild_indexes(
        self,
        models: Mapping[int, Process],
        graphs: Mapping[int, DecisionRequirementsGraph] | None = None,
    ) -> None:
        """Recompute the derived indexes from the families after a restore; ``graphs`` are
        the parsed DRGs by key. The restore indexed the element instances and the jobs while
        it added them, a block at a time (:meth:`index_instances`, ``job_index.load``)."""
        for definition in self.definitions.values():
            self._index_definition(definition, models[definition.key])
        for incident in self.incidents.values():
            self._index_incident(incident)
        self.job_index.loaded()
        self.messaging.rebuild_indexes()
        self.timer_index = TimerIndex(self.timers)
        self.decision_index = DecisionIndex()
        for drg in self.decision_requirements.values():
            self.decision_index.add_drg(drg, (graphs or {})[drg.key], self.decision_requirements)
        for decision in self.decisions.values():
            self.decision_index.add_decision(decision, self.decisions)
