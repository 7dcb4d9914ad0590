"""One broker's Prometheus metrics, in a registry of its own.

Several brokers run in one process in simulations and tests, so nothing here touches
prometheus-client's global registry: every :class:`BrokerMetrics` owns a
:class:`~prometheus_client.CollectorRegistry` with

* the standard process and Python collectors (``process_*``, ``python_info``, ``python_gc_*``);
* histograms and counters that the components observe while they work, through the plain
  callbacks of :class:`PartitionMetrics` (a component never imports prometheus-client);
* a collector that, at scrape time, turns the broker's typed status (:mod:`.sample`) into gauges
  and counters, so a scrape always shows the state as it is.

Names are Zeebe's wherever Zeebe has the same metric (``zeebe_*``, ``atomix_*``) and
``trio_zeebe_*`` otherwise; docs/monitoring.md has the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import trio
from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from ..engine.runtime.trace import TraceListener
from ..gateway.grpc_call import ServerCall
from ..gateway.grpc_services import RpcMethod, Send, ServiceRegistry
from ..grpc.status import GrpcError
from .engine_events import EngineEventMetrics
from .sample import BrokerSample

R = TypeVar("R")

# Seconds, from a fast fsync to a slow snapshot; Zeebe's histograms cover the same range.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
PARTITION_GROUP = "raft-partition"  # Zeebe's partitionGroupName label value
ROLE_VALUE = {"inactive": 0, "follower": 1, "candidate": 2, "leader": 3}  # atomix_role
HEALTH_VALUE = {"healthy": 1, "unhealthy": 0, "dead": -1}  # zeebe_health
TRANSPORT_GAUGES = frozenset({"connections", "pending_requests", "queued_frames"})

Observe = Callable[[float], None]


class PartitionMetrics:
    """What one partition's components observe: plain callbacks taking seconds."""

    __slots__ = (
        "commit_latency",
        "engine_events",
        "fsync_latency",
        "processing_latency",
        "snapshot_duration",
    )

    def __init__(
        self,
        *,
        commit_latency: Observe,
        fsync_latency: Observe,
        processing_latency: Observe,
        snapshot_duration: Observe,
        engine_events: TraceListener | None = None,
    ) -> None:
        #: Raft: a proposal until its entry commits (``zeebe_log_appender_commit_latency``).
        self.commit_latency = commit_latency
        #: Log: one group-commit fsync (``atomix_journal_flush_time``).
        self.fsync_latency = fsync_latency
        #: Processor: an entry committed until it is applied (``zeebe_stream_processor_latency``).
        self.processing_latency = processing_latency
        #: Processor: taking and persisting one snapshot (``zeebe_snapshot_duration``).
        self.snapshot_duration = snapshot_duration
        #: Processor, on the serving leader only: the engine's events, counted into Zeebe's
        #: process, job and incident metrics (:mod:`.engine_events`).
        self.engine_events = engine_events


def _ignore(_: float) -> None:
    pass


NO_PARTITION_METRICS = PartitionMetrics(
    commit_latency=_ignore,
    fsync_latency=_ignore,
    processing_latency=_ignore,
    snapshot_duration=_ignore,
)
"""For components run without a broker (unit tests, tools)."""


class BrokerMetrics:
    """The registry of one broker and the metrics its components observe.

    ``sample`` is called at every scrape for the broker's current status; it may be set after
    construction (the broker builds its components after its metrics).
    """

    def __init__(
        self,
        *,
        node_id: int,
        cluster_name: str,
        version: str,
        sample: Callable[[], BrokerSample] | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        Info("trio_zeebe_build", "Version of the broker", registry=self.registry).info(
            {"version": version, "node_id": str(node_id), "cluster": cluster_name}
        )
        r = self.registry
        self._commit = Histogram(
            "zeebe_log_appender_commit_latency_seconds",
            "Time from a record's proposal to the commit of its log entry (quorum fsynced)",
            ["partition"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._fsync = Histogram(
            "atomix_journal_flush_time_seconds",
            "Time of one fsync of the partition's log (one group commit)",
            ["partition"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._processing = Histogram(
            "zeebe_stream_processor_latency_seconds",
            "Time from a log entry's commit until the stream processor has applied it",
            ["partition"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._snapshot = Histogram(
            "zeebe_snapshot_duration_seconds",
            "Time to take and persist one snapshot",
            ["partition"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._request_latency = Histogram(
            "zeebe_gateway_request_latency_seconds",
            "Time the gateway took to answer a request, by request type",
            ["requestType"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._requests = Counter(
            "zeebe_gateway_total_requests",
            "Requests the gateway answered, by request type",
            ["requestType"],
            registry=r,
        )
        self._failed = Counter(
            "zeebe_gateway_failed_requests",
            "Requests the gateway answered with an error, by request type and error",
            ["requestType", "error"],
            registry=r,
        )
        self.engine_events = EngineEventMetrics()
        r.register(self.engine_events)
        self.state = StateCollector(sample)
        r.register(self.state)

    def partition(self, partition_id: int) -> PartitionMetrics:
        label = str(partition_id)
        return PartitionMetrics(
            commit_latency=self._commit.labels(label).observe,
            fsync_latency=self._fsync.labels(label).observe,
            processing_latency=self._processing.labels(label).observe,
            snapshot_duration=self._snapshot.labels(label).observe,
            engine_events=self.engine_events.partition(partition_id),
        )

    def request(self, request_type: str, seconds: float, error: str | None = None) -> None:
        """One answered gateway request (``error``: the error code it was answered with)."""
        self._request_latency.labels(request_type).observe(seconds)
        self._requests.labels(request_type).inc()
        if error is not None:
            self._failed.labels(request_type, error).inc()

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The registry as the scraper asked for it (Prometheus text or OpenMetrics)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


def instrument_registry(registry: ServiceRegistry, metrics: BrokerMetrics) -> None:
    """Time every RPC of ``registry``'s services into ``metrics`` (by method name); a call
    that ends with a gRPC status other than OK counts as failed with that code's name."""
    for service in registry.services.values():
        for path, method in list(service.methods.items()):
            service.methods[path] = _timed(path.rpartition("/")[2], method, metrics)


def _timed(rpc: str, method: RpcMethod, metrics: BrokerMetrics) -> RpcMethod:
    if method.unary is not None:
        unary = method.unary

        async def timed_unary(request: bytes, call: ServerCall) -> bytes:
            start = trio.current_time()
            try:
                response = await unary(request, call)
            except GrpcError as exc:
                metrics.request(rpc, trio.current_time() - start, exc.code.name)
                raise
            except Exception as exc:
                metrics.request(rpc, trio.current_time() - start, type(exc).__name__)
                raise
            metrics.request(rpc, trio.current_time() - start)
            return response

        return RpcMethod(method.path, method.kind, unary=timed_unary)
    stream = method.stream
    assert stream is not None

    async def timed_stream(request: bytes, call: ServerCall, send: Send[bytes]) -> None:
        start = trio.current_time()
        try:
            await stream(request, call, send)
        except GrpcError as exc:
            metrics.request(rpc, trio.current_time() - start, exc.code.name)
            raise
        metrics.request(rpc, trio.current_time() - start)

    return RpcMethod(method.path, method.kind, stream=timed_stream)


class StateCollector(Collector):
    """Gauges and counters read from the broker's typed status at scrape time."""

    def __init__(self, sample: Callable[[], BrokerSample] | None) -> None:
        self.sample = sample

    def describe(self) -> list[Metric]:
        return []  # names vary with the transport's counters: no registration-time check

    def collect(self) -> Iterator[Metric]:
        if self.sample is None:
            return
        yield from state_metrics(self.sample())


def state_metrics(s: BrokerSample) -> Iterator[Metric]:
    """The metric families that describe ``s``."""
    for flag_name, doc, flag in (
        ("trio_zeebe_broker_started", "1 once the broker has started", s.started),
        ("trio_zeebe_broker_ready", "1 once every local partition had a role", s.ready),
        ("trio_zeebe_broker_healthy", "1 while ready and every partition healthy", s.healthy),
    ):
        family = GaugeMetricFamily(flag_name, doc)
        family.add_metric([], int(flag))
        yield family
    members = GaugeMetricFamily(
        "trio_zeebe_members", "Cluster members this broker knows, by SWIM state", labels=["state"]
    )
    for state, count in sorted(s.members.items()):
        members.add_metric([state], count)
    yield members
    for name, value in sorted(s.transport.items()):
        if name in TRANSPORT_GAUGES:
            g = GaugeMetricFamily(f"trio_zeebe_transport_{name}", f"Peer transport: {name}")
            g.add_metric([], value)
            yield g
        else:
            c = CounterMetricFamily(f"trio_zeebe_transport_{name}", f"Peer transport: {name}")
            c.add_metric([], value)
            yield c

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ("partition",)) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, labels=list(labels))

    def counter(
        name: str, doc: str, labels: tuple[str, ...] = ("partition",)
    ) -> CounterMetricFamily:
        return CounterMetricFamily(name, doc, labels=list(labels))

    health = gauge(
        "zeebe_health", "Health of the partition (1 = healthy, 0 = unhealthy, -1 = dead)"
    )
    role = gauge(
        "atomix_role",
        "Raft role of this replica (0 = inactive, 1 = follower, 2 = candidate, 3 = leader)",
        ("partitionGroupName", "partition"),
    )
    commit = gauge("atomix_partition_raft_commit_index", "Raft commit index of the partition")
    append = gauge("atomix_partition_raft_append_index", "Last index in this replica's log")
    term = gauge("trio_zeebe_raft_term", "Raft term this replica is in")
    durable = gauge("trio_zeebe_raft_durable_index", "Last log index fsynced on this node")
    snapshot = gauge("trio_zeebe_raft_snapshot_index", "Index of the latest snapshot")
    applied = gauge("trio_zeebe_processor_applied_index", "Last log index the processor applied")
    records = counter(
        "zeebe_stream_processor_records",
        "Records handled by the stream processor, by action",
        ("action", "partition"),
    )
    fsyncs = counter("trio_zeebe_raft_fsyncs", "Fsyncs of the partition's log (group commits)")
    dropped = counter(
        "trio_zeebe_raft_dropped_inbound", "Raft messages dropped because the inbox was full"
    )
    restarts = counter("trio_zeebe_partition_restarts", "Times the partition was restarted")
    for p in s.partitions:
        pid = str(p.partition_id)
        health.add_metric([pid], HEALTH_VALUE.get(p.health, 0))
        role.add_metric([PARTITION_GROUP, pid], ROLE_VALUE.get(p.role, 0))
        commit.add_metric([pid], p.commit_index)
        append.add_metric([pid], p.last_index)
        term.add_metric([pid], p.term)
        durable.add_metric([pid], p.durable_index)
        snapshot.add_metric([pid], p.snapshot_index)
        applied.add_metric([pid], p.applied_index)
        records.add_metric(["processed", pid], p.applied_records)
        records.add_metric(["skipped", pid], p.skipped_records)
        fsyncs.add_metric([pid], p.fsyncs)
        dropped.add_metric([pid], p.dropped_inbound)
        restarts.add_metric([pid], p.restarts)
    yield from (health, role, commit, append, term, durable, snapshot, applied)
    yield from (records, fsyncs, dropped, restarts)
