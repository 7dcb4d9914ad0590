"""The cluster as one broker sees it: every broker with its partitions' roles, terms and health.

:func:`cluster_view` gathers it from the broker's own partitions and what membership knows of
the others (their gossiped broker info). The gateway answers ``Gateway.Topology`` (Zeebe's
shape) and the extension's ``ClusterStatus`` (what ``python -m trio_zeebe status`` shows)
from it, locally, without asking anyone.

Pure data and a pure function of its inputs; no trio, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from ..membership.messages import Member, State
from .broker_info import PartitionStatus, decode_broker_info


@attrs.frozen
class PartitionView:
    partition_id: int
    role: str  # leader | follower | inactive
    term: int
    health: str  # healthy | unhealthy | dead
    problem: str = ""  # why it is not healthy, when the broker knows (a halted partition)


@attrs.frozen
class BrokerView:
    node_id: int
    address: str  # internal API (gossip, Raft, inter-partition commands)
    gateway: str  # client API; "" when unknown
    state: str  # alive | suspect | dead, as seen by the answering broker
    partitions: tuple[PartitionView, ...] = ()


@attrs.frozen
class ClusterView:
    cluster_size: int
    partitions_count: int
    replication_factor: int
    brokers: tuple[BrokerView, ...]


def cluster_view(
    *,
    node_id: int,
    cluster_size: int,
    partitions_count: int,
    replication_factor: int,
    internal_address: str,
    gateway_address: str,
    local: Sequence[PartitionStatus],
    problems: Mapping[int, str],
    members: Mapping[int, Member],
    known: Mapping[int, str],
) -> ClusterView:
    """This broker (alive by definition, with its local partitions and their problems), every
    member membership lists, and the remembered address of long-dead ones."""
    brokers = []
    for node in sorted(set(members) | set(known) | {node_id}):
        member = members.get(node)
        if node == node_id:
            partitions = tuple(
                PartitionView(
                    s.partition_id,
                    str(s.role),
                    s.term,
                    str(s.health),
                    problems.get(s.partition_id, ""),
                )
                for s in local
            )
            brokers.append(BrokerView(node, internal_address, gateway_address, "alive", partitions))
        elif member is None:  # long dead: only the remembered address is left
            brokers.append(BrokerView(node, known[node], "", "dead"))
        else:
            props = decode_broker_info(member.properties)
            dead = member.state is State.DEAD  # its last gossip is history, not a role
            partitions = tuple(
                PartitionView(
                    s.partition_id,
                    "inactive" if dead else str(s.role),
                    s.term,
                    "dead" if dead else str(s.health),
                )
                for s in props.partitions
            )
            brokers.append(
                BrokerView(node, member.address, props.gateway, member.state.label, partitions)
            )
    return ClusterView(cluster_size, partitions_count, replication_factor, tuple(brokers))
