"""A broker's status at one moment, as plain typed values: what metrics and the cluster page show.

:func:`sample_broker` is the one place that reads the components (membership, transport, the
partition manager, each partition's Raft driver and processor); everything in monitoring works
on the :class:`BrokerSample` it returns, so the exporter and the page never reach into a
component themselves, and a component's internals can change without touching them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

import attrs
import trio

from ..raft.ready import Role

if TYPE_CHECKING:
    from ..membership.driver import MembershipService
    from ..partitions.manager import LocalPartition, PartitionManager
    from ..transport.api import Network

_ROLE_NAME = {
    Role.LEADER: "leader",
    Role.FOLLOWER: "follower",
    Role.CANDIDATE: "candidate",
    Role.PRE_CANDIDATE: "candidate",
}


@attrs.frozen
class PartitionSample:
    """This broker's replica of one partition."""

    partition_id: int
    role: str  # leader | follower | candidate | inactive
    term: int
    health: str  # healthy | unhealthy | dead
    leader: int | None
    commit_index: int
    last_index: int
    durable_index: int
    snapshot_index: int
    applied_index: int
    applied_records: int
    skipped_records: int  # committed records that were not the processor's (never applied)
    fsyncs: int
    dropped_inbound: int
    restarts: int


@attrs.frozen
class BrokerSample:
    node_id: int
    started: bool
    ready: bool
    healthy: bool
    members: Mapping[str, int]  # SWIM state -> how many members this broker sees in it
    transport: Mapping[str, int]  # the peer transport's counters and gauges
    partitions: tuple[PartitionSample, ...]
    at: float  # trio.current_time() when taken


class SampledBroker(Protocol):
    """What :func:`sample_broker` reads of a broker (:class:`trio_zeebe.broker.Broker` is one):
    its components, each None until started."""

    @property
    def node_id(self) -> int: ...
    @property
    def started(self) -> bool: ...
    @property
    def membership(self) -> MembershipService | None: ...
    @property
    def partitions(self) -> PartitionManager | None: ...
    @property
    def network(self) -> Network | None: ...
    def is_ready(self) -> bool: ...
    def is_healthy(self) -> bool: ...


def sample_broker(broker: SampledBroker) -> BrokerSample:
    members: dict[str, int] = {"alive": 0, "suspect": 0, "dead": 0}
    if broker.membership is not None:
        for member in broker.membership.members().values():
            members[member.state.label] = members.get(member.state.label, 0) + 1
    partitions: tuple[PartitionSample, ...] = ()
    if broker.partitions is not None:
        manager = broker.partitions
        partitions = tuple(
            sample_partition(part, str(manager.health(part)))
            for _, part in sorted(manager.local.items())
        )
    return BrokerSample(
        node_id=broker.node_id,
        started=broker.started,
        ready=broker.is_ready(),
        healthy=broker.is_healthy(),
        members=members,
        transport=broker.network.stats() if broker.network is not None else {},
        partitions=partitions,
        at=trio.current_time(),
    )


def sample_partition(part: LocalPartition, health: str | None = None) -> PartitionSample:
    """``health``: as the partition manager reports it (e.g. unhealthy on a full disk), else
    the partition's own."""
    driver = part.driver
    processor = part.processor
    status = driver.status() if driver is not None else None
    raft = status.raft if status is not None else None
    soft = driver.soft_state if driver is not None else None
    role = "inactive"
    if soft is not None and raft is not None and part.health == "healthy":
        role = _ROLE_NAME.get(soft.role, "follower")
    return PartitionSample(
        partition_id=part.partition_id,
        role=role,
        term=soft.term if soft is not None else 0,
        health=part.health if health is None else health,
        leader=soft.leader if soft is not None else None,
        commit_index=raft.commit if raft is not None else 0,
        last_index=raft.last_index if raft is not None else 0,
        durable_index=status.durable_index if status is not None else 0,
        snapshot_index=raft.snapshot_index if raft is not None else 0,
        applied_index=processor.applied_index if processor is not None else 0,
        applied_records=processor.applied_records if processor is not None else 0,
        skipped_records=processor.skipped_records if processor is not None else 0,
        fsyncs=status.fsyncs if status is not None else 0,
        dropped_inbound=status.dropped_inbound if status is not None else 0,
        restarts=part.restarts,
    )
