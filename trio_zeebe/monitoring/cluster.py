"""The live cluster view behind the monitoring page: ``/api/cluster`` and its event stream.

Any broker can draw the whole cluster. Gossip already tells it every broker's state and every
replica's role, term and health (the topology); for the numbers only a replica knows (commit and
applied index, and how fast they move) it asks each live peer's monitoring over the internal
network (:class:`ReplicasRequest`, answered by that peer's :func:`answer_replicas`). A peer that
does not answer in time is drawn from gossip alone, marked ``"reachable": false``.

Rates come from :class:`RateSampler`, which samples the local partitions every second and keeps
a few seconds of history, so a rate is ready at the first request and does not depend on how
often anyone looks.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import attrs
import trio

from ..codec import DecodeError, wire
from ..partitions.topology import BrokerView as BrokerInfo
from ..partitions.topology import ClusterView as Topology
from ..transport.api import Network, Peer, TransportError
from .sample import BrokerSample, PartitionSample

log = logging.getLogger("trio_zeebe.monitoring")

PEER_TIMEOUT = 0.5
CACHE_SECONDS = 0.5
SAMPLE_INTERVAL = 1.0
RATE_WINDOW = 5.0


@wire("mo.replicas?")
@attrs.frozen
class ReplicasRequest:
    pass


@attrs.frozen
class ReplicaReport:
    partition_id: int
    role: str
    term: int
    health: str
    commit_index: int
    applied_index: int
    applied_records: int
    commit_rate: float | None
    processing_rate: float | None


@wire("mo.replicas")
@attrs.frozen
class ReplicasResponse:
    """One broker's own account of itself and its replicas."""

    node_id: int
    version: str
    ready: bool
    healthy: bool
    replicas: tuple[ReplicaReport, ...]


class RateSampler:
    """Entries committed and records processed per second, per local partition."""

    def __init__(
        self,
        sample: Callable[[], BrokerSample],
        *,
        interval: float = SAMPLE_INTERVAL,
        window: float = RATE_WINDOW,
    ) -> None:
        self.sample = sample
        self.interval = interval
        self.window = window
        self._history: dict[int, deque[tuple[float, int, int]]] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            self.record(self.sample())
            await trio.sleep(self.interval)

    def record(self, s: BrokerSample) -> None:
        for p in s.partitions:
            history = self._history.setdefault(p.partition_id, deque())
            if history and (p.commit_index < history[-1][1] or p.applied_records < history[-1][2]):
                history.clear()  # the partition restarted: its counters began again
            history.append((s.at, p.commit_index, p.applied_records))
            while len(history) > 2 and s.at - history[1][0] >= self.window:
                history.popleft()

    def rates(self, partition_id: int) -> tuple[float | None, float | None]:
        """(commit rate, processing rate); None until two samples a moment apart exist."""
        history = self._history.get(partition_id)
        if not history or len(history) < 2:
            return None, None
        (t0, c0, r0), (t1, c1, r1) = history[0], history[-1]
        if t1 - t0 < self.interval / 2:
            return None, None
        return (c1 - c0) / (t1 - t0), (r1 - r0) / (t1 - t0)


def local_report(s: BrokerSample, rates: RateSampler, version: str) -> ReplicasResponse:
    def one(p: PartitionSample) -> ReplicaReport:
        commit_rate, processing_rate = rates.rates(p.partition_id)
        return ReplicaReport(
            partition_id=p.partition_id,
            role=p.role,
            term=p.term,
            health=p.health,
            commit_index=p.commit_index,
            applied_index=p.applied_index,
            applied_records=p.applied_records,
            commit_rate=commit_rate,
            processing_rate=processing_rate,
        )

    return ReplicasResponse(
        s.node_id, version, s.ready, s.healthy, tuple(one(p) for p in s.partitions)
    )


def answer_replicas(
    sample: Callable[[], BrokerSample], rates: RateSampler, version: str
) -> Callable[[Peer, ReplicasRequest], Any]:
    async def handler(_peer: Peer, _request: ReplicasRequest) -> ReplicasResponse:
        return local_report(sample(), rates, version)

    return handler


class ClusterView:
    """Builds the ``/api/cluster`` document; concurrent callers share one build per half second."""

    def __init__(
        self,
        *,
        node_id: int,
        cluster_name: str,
        version: str,
        topology: Callable[[], Topology],
        sample: Callable[[], BrokerSample],
        rates: RateSampler,
        network: Network | None,
        peer_timeout: float = PEER_TIMEOUT,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self.node_id = node_id
        self.cluster_name = cluster_name
        self.version = version
        self.topology = topology
        self.sample = sample
        self.rates = rates
        self.network = network
        self.peer_timeout = peer_timeout
        self.cache_seconds = cache_seconds
        self._lock = trio.Lock()
        self._cached: tuple[float, dict[str, Any]] | None = None

    async def snapshot(self) -> dict[str, Any]:
        async with self._lock:
            now = trio.current_time()
            if self._cached is not None and now - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            document = await self._build()
            self._cached = (trio.current_time(), document)
            return document

    async def _build(self) -> dict[str, Any]:
        topology = self.topology()
        reports: dict[int, ReplicasResponse] = {
            self.node_id: local_report(self.sample(), self.rates, self.version)
        }
        peers = [b for b in topology.brokers if b.node_id != self.node_id and b.state != "dead"]
        if self.network is not None and peers:
            async with trio.open_nursery() as nursery:
                for broker in peers:
                    nursery.start_soon(self._ask, broker, reports)
        brokers = [self._broker(b, reports.get(b.node_id)) for b in topology.brokers]
        return {
            "cluster": {
                "name": self.cluster_name,
                "size": topology.cluster_size,
                "partitions_count": topology.partitions_count,
                "replication_factor": topology.replication_factor,
            },
            "served_by": self.node_id,
            "version": self.version,
            "generated_at": time.time(),
            "brokers": brokers,
            "partitions": _partitions(topology.partitions_count, brokers),
            # The process view (deployed BPMN processes and their instances) joins here once
            # the process engine exists; the page already has its place.
            "processes": None,
        }

    async def _ask(self, broker: BrokerInfo, reports: dict[int, ReplicasResponse]) -> None:
        assert self.network is not None
        try:
            answer = await self.network.request(
                broker.address, ReplicasRequest(), timeout=self.peer_timeout
            )
        except (TransportError, DecodeError) as exc:
            log.debug("monitoring: node %d did not report: %s", broker.node_id, exc)
            return
        if isinstance(answer, ReplicasResponse) and answer.node_id == broker.node_id:
            reports[broker.node_id] = answer

    def _broker(self, info: BrokerInfo, report: ReplicasResponse | None) -> dict[str, Any]:
        gossip = {p.partition_id: p for p in info.partitions}
        partitions = []
        if report is not None:
            for r in report.replicas:
                partitions.append(attrs.asdict(r))
        else:
            for pid, p in sorted(gossip.items()):
                partitions.append(
                    {
                        "partition_id": pid,
                        "role": p.role,
                        "term": p.term,
                        "health": p.health,
                        "commit_index": None,
                        "applied_index": None,
                        "applied_records": None,
                        "commit_rate": None,
                        "processing_rate": None,
                    }
                )
        return {
            "node_id": info.node_id,
            "address": info.address,
            "gateway": info.gateway,
            "state": info.state,
            "reachable": report is not None,
            "version": report.version if report is not None else None,
            "ready": report.ready if report is not None else None,
            "healthy": report.healthy if report is not None else None,
            "partitions": partitions,
        }


def _partitions(count: int, brokers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per partition: its replicas, and its leader (the claim with the highest term)."""
    out = []
    for pid in range(1, count + 1):
        replicas = []
        leader: dict[str, Any] | None = None
        leader_node = None
        for b in brokers:
            for p in b["partitions"]:
                if p["partition_id"] != pid:
                    continue
                replicas.append(b["node_id"])
                claims = b["state"] == "alive" and p["role"] == "leader"
                if claims and (leader is None or p["term"] > leader["term"]):
                    leader, leader_node = p, b["node_id"]
        out.append(
            {
                "partition_id": pid,
                "leader": leader_node,
                "term": leader["term"] if leader else None,
                "health": leader["health"] if leader else "no leader",
                "replicas": sorted(replicas),
                "commit_index": leader["commit_index"] if leader else None,
                "applied_index": leader["applied_index"] if leader else None,
                "commit_rate": leader["commit_rate"] if leader else None,
                "processing_rate": leader["processing_rate"] if leader else None,
            }
        )
    return out
