"""Which brokers replicate which partition, and with what election priority.

Zeebe's round-robin distributor with priorities (reference §4), computed once when the cluster is
first bootstrapped and then persisted with the topology (``PersistedTopology.extra``), so that a
later config change cannot silently move partitions.  Pure: no trio, no I/O.

Layout: members sorted by integer node id, partitions ``1..P``; partition ``i + 1`` (``i``
0-based) is replicated by ``members[(i + j) mod n]`` for ``j = 0..k-1`` with ``k = min(RF, n)``.
The first of those, ``members[i mod n]``, is the *primary* and gets priority ``RF``; the others,
in replica order, get ``RF-1, RF-2, ...`` when ``(partition_id - 1) div n`` is even and
``1, 2, ...`` when it is odd, so that the partitions of a dead primary do not all fail over to the
same secondary.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from typing import Any

import attrs

FORMAT_VERSION = 1
"""Version of the :meth:`PartitionDistribution.to_dict` shape."""


@attrs.frozen
class PartitionReplica:
    node_id: int
    priority: int
    """Priority-election priority; the primary's is the highest (= replication factor)."""


@attrs.frozen
class PartitionDistribution:
    """The replica set of every partition.  ``partitions[i]`` is ``(i + 1, replicas)``.

    Construction validates the shape (also when built by the codec converter), so every instance
    is well formed: partitions numbered ``1..partitions_count`` in order, each with
    ``min(replication_factor, cluster_size)`` replicas on distinct nodes with distinct priorities.
    """

    cluster_size: int
    partitions_count: int
    replication_factor: int
    partitions: tuple[tuple[int, tuple[PartitionReplica, ...]], ...]

    def __attrs_post_init__(self) -> None:
        _validate(self)

    def replicas(self, partition_id: int) -> tuple[PartitionReplica, ...]:
        """Replicas in replica order (the primary first).  KeyError for an unknown partition."""
        if type(partition_id) is not int or not 1 <= partition_id <= self.partitions_count:
            raise KeyError(f"no partition {partition_id!r} (partitions 1..{self.partitions_count})")
        return self.partitions[partition_id - 1][1]

    def nodes(self, partition_id: int) -> tuple[int, ...]:
        """Node ids replicating the partition, in replica order."""
        return tuple(r.node_id for r in self.replicas(partition_id))

    def primary(self, partition_id: int) -> int:
        """Node id of the partition's primary (highest priority): its preferred leader."""
        return max(self.replicas(partition_id), key=lambda r: r.priority).node_id

    def is_replica(self, partition_id: int, node_id: int) -> bool:
        return any(r.node_id == node_id for r in self.replicas(partition_id))

    def priority(self, partition_id: int, node_id: int) -> int:
        """The node's election priority for the partition; KeyError if it is not a replica."""
        for r in self.replicas(partition_id):
            if r.node_id == node_id:
                return r.priority
        raise KeyError(f"node {node_id!r} does not replicate partition {partition_id}")

    def target_priority(self, partition_id: int) -> int:
        """Initial target of the priority election timer: the primary's priority."""
        return max(r.priority for r in self.replicas(partition_id))

    def partitions_of(self, node_id: int) -> tuple[int, ...]:
        """Partition ids the node replicates, ascending."""
        return tuple(
            pid for pid, reps in self.partitions if any(r.node_id == node_id for r in reps)
        )

    def primaries_of(self, node_id: int) -> tuple[int, ...]:
        """Partition ids whose primary the node is, ascending."""
        return tuple(pid for pid, _ in self.partitions if self.primary(pid) == node_id)

    def node_ids(self) -> tuple[int, ...]:
        """Every node that replicates at least one partition, ascending."""
        return tuple(sorted({r.node_id for _, reps in self.partitions for r in reps}))

    def to_dict(self) -> dict[str, Any]:
        """Plain msgpack/JSON-safe shape for the persisted topology (string keys only)."""
        return {
            "version": FORMAT_VERSION,
            "cluster_size": self.cluster_size,
            "partitions_count": self.partitions_count,
            "replication_factor": self.replication_factor,
            "partitions": [
                [pid, [[r.node_id, r.priority] for r in reps]] for pid, reps in self.partitions
            ],
        }

    @classmethod
    def from_dict(cls, data: Any) -> PartitionDistribution:
        """Inverse of :meth:`to_dict`; raises ValueError naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"partition distribution: expected a map, got {_kind(data)}")
        version = data.get("version")
        if version != FORMAT_VERSION or type(version) is not int:
            raise ValueError(f"partition distribution: unsupported version {version!r}")
        sizes = [_int_field(data, k) for k in _SIZE_KEYS]
        raw = data.get("partitions")
        if not isinstance(raw, list | tuple):
            raise ValueError(
                f"partition distribution: partitions: expected a list, got {_kind(raw)}"
            )
        partitions = []
        for index, entry in enumerate(raw):
            where = f"partition distribution: partitions[{index}]"
            if not isinstance(entry, list | tuple) or len(entry) != 2:
                raise ValueError(f"{where}: expected [partition_id, replicas]")
            pid, reps = entry
            if type(pid) is not int:
                raise ValueError(f"{where}: partition id must be an int, got {_kind(pid)}")
            if not isinstance(reps, list | tuple):
                raise ValueError(f"{where}: replicas: expected a list, got {_kind(reps)}")
            replicas = []
            for rep in reps:
                if (
                    not isinstance(rep, list | tuple)
                    or len(rep) != 2
                    or type(rep[0]) is not int
                    or type(rep[1]) is not int
                ):
                    raise ValueError(f"{where}: replica {rep!r} is not [node_id, priority]")
                replicas.append(PartitionReplica(rep[0], rep[1]))
            partitions.append((pid, tuple(replicas)))
        return cls(sizes[0], sizes[1], sizes[2], tuple(partitions))


_SIZE_KEYS = ("cluster_size", "partitions_count", "replication_factor")


def round_robin(
    node_ids: Iterable[int], partitions_count: int, replication_factor: int
) -> PartitionDistribution:
    """Zeebe's round-robin distribution with priorities over ``node_ids`` (reference §4).

    ``cluster_size`` of the result is ``len(node_ids)``.  Raises ValueError on empty or duplicate
    node ids, negative ids, or non-positive counts.
    """
    members = sorted(node_ids)
    if not members:
        raise ValueError("round_robin: no members")
    if any(type(m) is not int or m < 0 for m in members):
        raise ValueError("round_robin: node ids must be non-negative ints")
    if len(set(members)) != len(members):
        raise ValueError("round_robin: duplicate node ids")
    for name, value in (
        ("partitions_count", partitions_count),
        ("replication_factor", replication_factor),
    ):
        if type(value) is not int or value < 1:
            raise ValueError(f"round_robin: {name} must be a positive int, got {value!r}")
    n = len(members)
    k = min(replication_factor, n)
    partitions = []
    for i in range(partitions_count):
        pid = i + 1
        descending = ((pid - 1) // n) % 2 == 0
        replicas = [PartitionReplica(members[i % n], replication_factor)]
        for j in range(1, k):
            priority = replication_factor - j if descending else j
            replicas.append(PartitionReplica(members[(i + j) % n], priority))
        partitions.append((pid, tuple(replicas)))
    return PartitionDistribution(n, partitions_count, replication_factor, tuple(partitions))


def check_compatible(
    persisted: PartitionDistribution,
    cluster_size: int,
    partitions_count: int,
    replication_factor: int,
) -> str | None:
    """None if the config matches the bootstrapped distribution, else a one-line user error."""
    wrong = [
        f"cluster.{key} is {configured} but the cluster was bootstrapped with {stored}"
        for key, configured, stored in (
            ("cluster_size", cluster_size, persisted.cluster_size),
            ("partitions_count", partitions_count, persisted.partitions_count),
            ("replication_factor", replication_factor, persisted.replication_factor),
        )
        if configured != stored
    ]
    if not wrong:
        return None
    return (
        "; ".join(wrong)
        + " (persisted topology); changing it is not supported yet, restore the original value"
    )


def should_campaign(
    partition_id: int,
    me: int,
    distribution: PartitionDistribution,
    alive: Set[int],
    leader_known: bool,
) -> bool:
    """Whether ``me`` should start an election for the partition right now.

    True when no live leader is known and ``me`` is the highest-priority replica among those alive
    (``me`` counts as alive).  This moves leadership straight to the best live replica instead of
    waiting out the priority timer's (quorum+1)·ET (reference §3.3, pain point 2).  The election
    can still fail (e.g. ``me`` is not up to date); the election timer remains the fallback.
    """
    if leader_known or not distribution.is_replica(partition_id, me):
        return False
    best = max(
        distribution.replicas(partition_id),
        key=lambda r: (r.node_id == me or r.node_id in alive, r.priority),
    )
    return best.node_id == me


def _validate(d: PartitionDistribution) -> None:
    for key in _SIZE_KEYS:
        value = getattr(d, key)
        if type(value) is not int or value < 1:
            raise ValueError(f"partition distribution: {key} must be a positive int, got {value!r}")
    if len(d.partitions) != d.partitions_count:
        raise ValueError(
            f"partition distribution: {len(d.partitions)} partitions listed, "
            f"partitions_count is {d.partitions_count}"
        )
    k = min(d.replication_factor, d.cluster_size)
    nodes: set[int] = set()
    for index, (pid, reps) in enumerate(d.partitions):
        where = f"partition distribution: partition {pid!r}"
        if type(pid) is not int or pid != index + 1:
            raise ValueError(f"{where}: expected partition {index + 1} at position {index}")
        if len(reps) != k:
            raise ValueError(f"{where}: {len(reps)} replicas, expected {k}")
        ids = [r.node_id for r in reps]
        prios = [r.priority for r in reps]
        if any(type(x) is not int or x < 0 for x in ids):
            raise ValueError(f"{where}: node ids must be non-negative ints")
        if any(type(x) is not int or not 1 <= x <= d.replication_factor for x in prios):
            raise ValueError(f"{where}: priorities must be ints in 1..{d.replication_factor}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"{where}: a node is listed twice")
        if len(set(prios)) != len(prios):
            raise ValueError(f"{where}: priorities are not distinct")
        nodes.update(ids)
    if len(nodes) > d.cluster_size:
        raise ValueError(
            f"partition distribution: {len(nodes)} nodes used, cluster_size is {d.cluster_size}"
        )


def _int_field(data: dict[Any, Any], key: str) -> int:
    value = data.get(key)
    if type(value) is not int:
        raise ValueError(f"partition distribution: {key}: expected an int, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
