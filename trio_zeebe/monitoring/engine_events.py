"""Zeebe's process, job and incident metrics, counted from what the engine does.

Zeebe counts these where records are processed, on the partition's leader; here every replica
applies every record, so the partition's processor hands its engine an
:class:`EngineEventCounts` (a :data:`~trio_zeebe.engine.runtime.trace.TraceListener`) only
while it is the serving leader: a follower applying the same records counts nothing, a new
leader counts from the moment it serves (its catch-up on the old leader's records is not
counted again). Records committed under the old leader that it never applied before it went
are counted by nobody; Zeebe loses those the same way.

The listener only adds to plain dicts (one call per engine event, a few dict operations);
:class:`EngineEventMetrics` turns the dicts into counter families at scrape time, so nothing
of prometheus-client runs while the engine applies records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..engine.runtime.trace import TraceRecord

__all__ = ["EngineEventCounts", "EngineEventMetrics"]

#: PROCESS_INSTANCE intents Zeebe counts, by its ``action`` label value.
ELEMENT_ACTIONS: Mapping[str, str] = {
    "ELEMENT_ACTIVATED": "activated",
    "ELEMENT_COMPLETED": "completed",
    "ELEMENT_TERMINATED": "terminated",
}
#: JOB intents Zeebe counts (not RETRIES_UPDATED, TIMEOUT_UPDATED, RECURRED_AFTER_BACKOFF).
JOB_ACTIONS: Mapping[str, str] = {
    "CREATED": "created",
    "ACTIVATED": "activated",
    "COMPLETED": "completed",
    "TIMED_OUT": "timed out",
    "FAILED": "failed",
    "ERROR_THROWN": "error thrown",
    "CANCELED": "canceled",
}
INCIDENT_ACTIONS: Mapping[str, str] = {"CREATED": "created", "RESOLVED": "resolved"}
ROOT_PROCESS_INSTANCE = "ROOT_PROCESS_INSTANCE"  # Zeebe's type label of executed instances
ORGANIZATION_ID = "null"  # Zeebe's label value outside its SaaS
CREATION_MODE = "creation_at_default_start_event"  # start instructions are refused here


class EngineEventCounts:
    """One partition's counts since the broker started (every leadership of it added up)."""

    __slots__ = ("created_instances", "deployed", "elements", "incidents", "jobs", "roots")

    def __init__(self) -> None:
        self.elements: dict[tuple[str, str], int] = {}  # (action, BPMN element type) -> n
        self.roots: dict[str, int] = {}  # action -> root process instances
        self.jobs: dict[tuple[str, str], int] = {}  # (action, job type) -> n
        self.incidents: dict[str, int] = {}  # action -> n
        self.created_instances = 0
        self.deployed = 0  # process definitions deployed (new versions) on this partition

    def __call__(self, record: TraceRecord) -> None:
        value_type = record.value_type
        if value_type == "PROCESS_INSTANCE":
            action = ELEMENT_ACTIONS.get(record.intent)
            if action is None:
                return
            value = record.value
            element_type = value["bpmnElementType"]
            key = (action, element_type)
            elements = self.elements
            elements[key] = elements.get(key, 0) + 1
            if element_type == "PROCESS" and value["parentProcessInstanceKey"] == -1:
                roots = self.roots
                roots[action] = roots.get(action, 0) + 1
        elif value_type == "JOB":
            action = JOB_ACTIONS.get(record.intent)
            if action is not None:
                key = (action, record.value["type"])
                jobs = self.jobs
                jobs[key] = jobs.get(key, 0) + 1
        elif value_type == "INCIDENT":
            action = INCIDENT_ACTIONS.get(record.intent)
            if action is not None:
                self.incidents[action] = self.incidents.get(action, 0) + 1
        elif value_type == "PROCESS_INSTANCE_CREATION":
            if record.intent == "CREATED":
                self.created_instances += 1
        elif value_type == "PROCESS" and record.intent == "CREATED":
            self.deployed += 1


class EngineEventMetrics(Collector):
    """The counter families of every partition's :class:`EngineEventCounts`, at scrape time.

    ``pending_incidents`` answers, at scrape time, the open incidents of each partition this
    broker serves as leader (Zeebe's gauge is the leader's).
    """

    def __init__(self, pending_incidents: Callable[[], Mapping[int, int]] | None = None) -> None:
        self.partitions: dict[int, EngineEventCounts] = {}
        self.pending_incidents = pending_incidents

    def partition(self, partition_id: int) -> EngineEventCounts:
        counts = self.partitions.get(partition_id)
        if counts is None:
            counts = self.partitions[partition_id] = EngineEventCounts()
        return counts

    def describe(self) -> list[Metric]:
        return []  # the label sets grow with what runs: no registration-time check

    def collect(self) -> Iterator[Metric]:
        elements = CounterMetricFamily(
            "zeebe_element_instance_events",
            "Process element instance events, by action and BPMN element type",
            labels=["action", "type", "partition"],
        )
        executed = CounterMetricFamily(
            "zeebe_executed_instances",
            "Root process instances activated, completed or terminated",
            labels=["organizationId", "type", "action", "partition"],
        )
        created = CounterMetricFamily(
            "zeebe_process_instance_creations",
            "Root process instances created by a command",
            labels=["partition", "creation_mode"],
        )
        jobs = CounterMetricFamily(
            "zeebe_job_events",
            "Job events, by action (created, activated, completed, timed out, failed, error "
            "thrown, canceled) and job type",
            labels=["action", "partition", "type"],
        )
        incidents = CounterMetricFamily(
            "zeebe_incident_events",
            "Incident events, by action (created, resolved)",
            labels=["action", "partition"],
        )
        deployed = CounterMetricFamily(
            "trio_zeebe_process_definitions_deployed",
            "Process definitions (new versions) deployed on the partition",
            labels=["partition"],
        )
        for pid, counts in sorted(self.partitions.items()):
            p = str(pid)
            for (action, element_type), n in sorted(counts.elements.items()):
                elements.add_metric([action, element_type, p], n)
            for action, n in sorted(counts.roots.items()):
                executed.add_metric([ORGANIZATION_ID, ROOT_PROCESS_INSTANCE, action, p], n)
            if counts.created_instances:
                created.add_metric([p, CREATION_MODE], counts.created_instances)
            for (action, job_type), n in sorted(counts.jobs.items()):
                jobs.add_metric([action, p, job_type], n)
            for action, n in sorted(counts.incidents.items()):
                incidents.add_metric([action, p], n)
            if counts.deployed:
                deployed.add_metric([p], counts.deployed)
        yield from (elements, executed, created, jobs, incidents, deployed)
        pending = GaugeMetricFamily(
            "zeebe_pending_incidents_total",
            "Open incidents of the partitions this broker leads",
            labels=["partition"],
        )
        if self.pending_incidents is not None:
            for pid, n in sorted(self.pending_incidents().items()):
                pending.add_metric([str(pid)], n)
        yield pending
