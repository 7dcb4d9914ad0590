"""Round-robin partition distribution with priorities (reference §4), persistence, compatibility."""

from __future__ import annotations

import json
from typing import Any

import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_zeebe import codec
from trio_zeebe.membership.topology_store import (
    PersistedTopology,
    decode_topology,
    encode_topology,
)
from trio_zeebe.partitions import (
    PartitionDistribution,
    PartitionReplica,
    check_compatible,
    round_robin,
    should_campaign,
)


def table(d: PartitionDistribution) -> dict[int, dict[int, int]]:
    """partition -> {node: priority}, in replica order."""
    return {pid: {r.node_id: r.priority for r in reps} for pid, reps in d.partitions}


def test_reference_javadoc_example() -> None:
    d = round_robin(range(4), 5, 3)
    assert table(d) == {
        1: {0: 3, 1: 2, 2: 1},
        2: {1: 3, 2: 2, 3: 1},
        3: {2: 3, 3: 2, 0: 1},
        4: {3: 3, 0: 2, 1: 1},
        5: {0: 3, 1: 1, 2: 2},
    }
    # Replica order matters too (it decides who gets which secondary priority).
    assert d.nodes(5) == (0, 1, 2)
    assert d.nodes(3) == (2, 3, 0)


def test_docs_example_five_nodes_three_partitions() -> None:
    d = round_robin(range(5), 3, 3)
    assert d.nodes(1) == (0, 1, 2)
    assert d.nodes(2) == (1, 2, 3)
    assert d.nodes(3) == (2, 3, 4)
    assert table(d)[3] == {2: 3, 3: 2, 4: 1}
    assert d.partitions_of(4) == (3,)


@pytest.mark.parametrize(
    ("nodes", "partitions", "rf", "expected"),
    [
        (
            [0, 1, 2],
            6,
            3,
            {
                1: {0: 3, 1: 2, 2: 1},
                2: {1: 3, 2: 2, 0: 1},
                3: {2: 3, 0: 2, 1: 1},
                # (pid - 1) div 3 == 1: secondaries ascend.
                4: {0: 3, 1: 1, 2: 2},
                5: {1: 3, 2: 1, 0: 2},
                6: {2: 3, 0: 1, 1: 2},
            },
        ),
        # RF larger than the cluster: k = n replicas, primary still gets priority RF.
        ([0, 1], 4, 3, {1: {0: 3, 1: 2}, 2: {1: 3, 0: 2}, 3: {0: 3, 1: 1}, 4: {1: 3, 0: 1}}),
        ([0], 3, 1, {1: {0: 1}, 2: {0: 1}, 3: {0: 1}}),
        ([0, 1, 2], 4, 1, {1: {0: 1}, 2: {1: 1}, 3: {2: 1}, 4: {0: 1}}),
        # Ids are sorted as integers (10 after 9), gaps allowed.
        ([10, 9, 2], 3, 2, {1: {2: 2, 9: 1}, 2: {9: 2, 10: 1}, 3: {10: 2, 2: 1}}),
        (
            [0, 1, 2, 3, 4],
            7,
            4,
            {
                1: {0: 4, 1: 3, 2: 2, 3: 1},
                2: {1: 4, 2: 3, 3: 2, 4: 1},
                3: {2: 4, 3: 3, 4: 2, 0: 1},
                4: {3: 4, 4: 3, 0: 2, 1: 1},
                5: {4: 4, 0: 3, 1: 2, 2: 1},
                6: {0: 4, 1: 1, 2: 2, 3: 3},
                7: {1: 4, 2: 1, 3: 2, 4: 3},
            },
        ),
    ],
)
def test_distribution_tables(
    nodes: list[int], partitions: int, rf: int, expected: dict[int, dict[int, int]]
) -> None:
    d = round_robin(nodes, partitions, rf)
    assert table(d) == expected
    for pid, reps in expected.items():
        assert d.nodes(pid) == tuple(reps)


def test_lookups() -> None:
    d = round_robin(range(4), 5, 3)
    assert d.cluster_size == 4 and d.partitions_count == 5 and d.replication_factor == 3
    assert d.primary(5) == 0
    assert d.priority(5, 2) == 2
    assert d.target_priority(4) == 3
    assert d.partitions_of(0) == (1, 3, 4, 5)
    assert d.partitions_of(3) == (2, 3, 4)
    assert d.partitions_of(7) == ()
    assert d.primaries_of(0) == (1, 5)
    assert d.primaries_of(3) == (4,)
    assert d.is_replica(2, 3) and not d.is_replica(2, 0)
    assert d.node_ids() == (0, 1, 2, 3)
    with pytest.raises(KeyError, match="does not replicate"):
        d.priority(2, 0)
    for bad in (0, 6, -1, True):
        with pytest.raises(KeyError, match="no partition"):
            d.replicas(bad)


@given(
    nodes=st.sets(st.integers(0, 50), min_size=1, max_size=9),
    partitions=st.integers(1, 40),
    rf=st.integers(1, 7),
)
def test_properties(nodes: set[int], partitions: int, rf: int) -> None:
    d = round_robin(list(nodes), partitions, rf)
    k = min(rf, len(nodes))
    assert [pid for pid, _ in d.partitions] == list(range(1, partitions + 1))
    primaries: dict[int, int] = dict.fromkeys(nodes, 0)
    for pid, reps in d.partitions:
        ids = [r.node_id for r in reps]
        prios = [r.priority for r in reps]
        assert len(set(ids)) == k and set(ids) <= nodes
        assert len(set(prios)) == k, "priorities must be distinct within a partition"
        assert prios.count(rf) == 1 and prios[0] == rf, "exactly one primary, listed first"
        assert all(1 <= p <= rf for p in prios)
        assert d.primary(pid) == ids[0] and d.target_priority(pid) == rf
        primaries[ids[0]] += 1
    assert max(primaries.values()) - min(primaries.values()) <= 1
    if partitions % len(nodes) == 0:
        # Whole rounds: every node replicates exactly the same number of partitions.
        assert len({len(d.partitions_of(n)) for n in nodes}) == 1
    assert PartitionDistribution.from_dict(d.to_dict()) == d
    assert PartitionDistribution.from_dict(json.loads(json.dumps(d.to_dict()))) == d
    assert codec.converter.structure(codec.converter.unstructure(d), PartitionDistribution) == d


def test_secondaries_spread_when_a_primary_dies() -> None:
    # The purpose of alternating priorities: node 0's partitions fail over to different nodes.
    d = round_robin(range(3), 6, 3)
    alive = {1, 2}
    winners = {
        pid: next(n for n in alive if should_campaign(pid, n, d, alive, False))
        for pid in d.primaries_of(0)
    }
    assert winners == {1: 1, 4: 2}


def test_round_trip_through_persisted_topology() -> None:
    d = round_robin(range(3), 12, 3)
    topo = PersistedTopology("c", ((0, "a:1"),), {"partition_distribution": d.to_dict()})
    back = decode_topology(encode_topology(topo))
    assert PartitionDistribution.from_dict(back.extra["partition_distribution"]) == d


def _good() -> dict[str, Any]:
    return round_robin(range(3), 2, 2).to_dict()


def _set(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    d = _good()
    target: Any = d
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return d


def _drop(key: str) -> dict[str, Any]:
    d = _good()
    del d[key]
    return d


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "expected a map, got list"),
        (None, "expected a map, got nothing"),
        (_drop("version"), "unsupported version None"),
        (_set(("version",), 2), "unsupported version 2"),
        (_set(("version",), True), "unsupported version True"),
        (_drop("cluster_size"), "cluster_size: expected an int, got nothing"),
        (_set(("partitions_count",), "2"), "partitions_count: expected an int, got str"),
        (_set(("replication_factor",), 0), "replication_factor must be a positive int"),
        (_set(("cluster_size",), -3), "cluster_size must be a positive int"),
        (_drop("partitions"), "partitions: expected a list, got nothing"),
        (_set(("partitions",), "12"), "partitions: expected a list, got str"),
        (_set(("partitions", 0), [1]), "partitions[0]: expected [partition_id, replicas]"),
        (_set(("partitions", 0, 0), "1"), "partition id must be an int, got str"),
        (_set(("partitions", 0, 1), {}), "replicas: expected a list, got dict"),
        (_set(("partitions", 0, 1, 0), [0]), "is not [node_id, priority]"),
        (_set(("partitions", 0, 1, 0), [0, 2.0]), "is not [node_id, priority]"),
        (_set(("partitions", 0, 0), 2), "expected partition 1 at position 0"),
        (_set(("partitions_count",), 3), "2 partitions listed, partitions_count is 3"),
        (_set(("partitions", 1, 1), [[1, 2]]), "partition 2: 1 replicas, expected 2"),
        (_set(("partitions", 1, 1, 1), [2, 2]), "partition 2: priorities are not distinct"),
        (_set(("partitions", 1, 1, 1), [1, 9]), "priorities must be ints in 1..2"),
        (_set(("partitions", 1, 1, 1), [1, 0]), "priorities must be ints in 1..2"),
        (_set(("partitions", 1, 1, 1), [-1, 1]), "node ids must be non-negative"),
        (_set(("partitions", 0, 1, 1), [0, 1]), "partition 1: a node is listed twice"),
        (_set(("cluster_size",), 2), "3 nodes used, cluster_size is 2"),
    ],
)
def test_malformed_dicts_are_rejected(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match="partition distribution") as err:
        PartitionDistribution.from_dict(data)
    assert message in str(err.value)


def test_direct_construction_is_validated() -> None:
    with pytest.raises(ValueError, match="expected partition 1"):
        PartitionDistribution(1, 1, 1, ((2, (PartitionReplica(0, 1),)),))
    with pytest.raises(cattrs.ClassValidationError) as err:
        codec.converter.structure(
            {
                "cluster_size": 1,
                "partitions_count": 1,
                "replication_factor": 1,
                "partitions": [[1, [{"node_id": 0, "priority": 5}]]],
            },
            PartitionDistribution,
        )
    assert "priorities must be ints in 1..1" in str(err.value.exceptions[0])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([], 1, 1), "no members"),
        (([0, 0], 1, 1), "duplicate node ids"),
        (([-1, 0], 1, 1), "non-negative"),
        (([0], 0, 1), "partitions_count must be a positive int"),
        (([0], 1, 0), "replication_factor must be a positive int"),
    ],
)
def test_round_robin_rejects_bad_input(args: tuple[Any, int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        round_robin(*args)


def test_check_compatible() -> None:
    d = round_robin(range(3), 3, 3)
    assert check_compatible(d, 3, 3, 3) is None
    err = check_compatible(d, 3, 6, 3)
    assert err is not None and "\n" not in err
    assert "cluster.partitions_count is 6" in err and "bootstrapped with 3" in err
    assert "cluster_size" not in err and "replication_factor" not in err
    err = check_compatible(d, 5, 3, 1)
    assert err is not None and "\n" not in err
    assert "cluster.cluster_size is 5" in err and "cluster.replication_factor is 1" in err
    assert "not supported" in err


def test_should_campaign() -> None:
    d = round_robin(range(4), 5, 3)  # P1: n0=3 n1=2 n2=1; P5: n0=3 n1=1 n2=2
    everyone = {0, 1, 2, 3}
    # A known live leader: nobody campaigns early.
    assert not any(should_campaign(1, n, d, everyone, True) for n in everyone)
    # No leader known, all alive: only the primary.
    assert [n for n in everyone if should_campaign(1, n, d, everyone, False)] == [0]
    # Primary dead: the best live secondary, which differs between P1 and P5.
    survivors = {1, 2, 3}
    assert [n for n in survivors if should_campaign(1, n, d, survivors, False)] == [1]
    assert [n for n in survivors if should_campaign(5, n, d, survivors, False)] == [2]
    # Only the lowest-priority replica left: it stands.
    assert should_campaign(1, 2, d, {2, 3}, False)
    # Me counts as alive even if my own membership view does not list me.
    assert should_campaign(1, 1, d, {2}, False)
    # Not a replica: never.
    assert not should_campaign(1, 3, d, {3}, False)


@given(
    n=st.integers(1, 6),
    partitions=st.integers(1, 12),
    rf=st.integers(1, 5),
    alive=st.sets(st.integers(0, 5)),
)
def test_exactly_one_live_replica_campaigns(
    n: int, partitions: int, rf: int, alive: set[int]
) -> None:
    d = round_robin(range(n), partitions, rf)
    alive &= set(range(n))
    for pid in range(1, partitions + 1):
        standing = [m for m in alive if should_campaign(pid, m, d, alive, False)]
        live_replicas = [m for m in d.nodes(pid) if m in alive]
        assert len(standing) == (1 if live_replicas else 0)
        if standing:
            assert d.priority(pid, standing[0]) == max(d.priority(pid, m) for m in live_replicas)
