"""The partition-leader table (term fencing, equal-term conflicts, gossip reordering) and the
rebalance plan."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from trio_zeebe.partitions import (
    PartitionHealth,
    PartitionLeaderTable,
    PartitionRole,
    PartitionStatus,
    rebalance_plan,
    round_robin,
)


def L(pid: int, term: int) -> PartitionStatus:
    return PartitionStatus(pid, PartitionRole.LEADER, term, PartitionHealth.HEALTHY)


def F(pid: int, term: int) -> PartitionStatus:
    return PartitionStatus(pid, PartitionRole.FOLLOWER, term, PartitionHealth.HEALTHY)


def I(pid: int, term: int = 0) -> PartitionStatus:  # noqa: E743
    return PartitionStatus(pid, PartitionRole.INACTIVE, term, PartitionHealth.DEAD)


def test_empty_table() -> None:
    t = PartitionLeaderTable()
    assert t.leader(1) is None and t.term(1) is None
    assert t.snapshot() == {} and t.leaders_per_node() == {}


def test_claims_at_higher_or_equal_term_are_accepted() -> None:
    t = PartitionLeaderTable()
    assert t.update(0, [L(1, 1), L(2, 1), F(3, 1)]) == [1, 2]
    assert t.snapshot() == {1: (0, 1), 2: (0, 1)}
    assert t.update(1, [L(1, 2)]) == [1]
    assert t.leader(1) == (1, 2) and t.term(1) == 2
    assert t.update(1, [L(1, 2)]) == []  # a re-publish changes nothing
    assert t.leaders_per_node() == {0: 1, 1: 1}


def test_stale_claim_arriving_late_is_rejected() -> None:
    # Node 0 led at term 3, node 2 took over at term 4; node 0's old gossip arrives afterwards.
    t = PartitionLeaderTable()
    t.update(2, [L(1, 4)])
    assert t.update(0, [L(1, 3)]) == []
    assert t.leader(1) == (2, 4)


def test_stale_claim_rejected_even_after_the_new_leader_is_gone() -> None:
    t = PartitionLeaderTable()
    t.update(0, [L(1, 3)])
    t.update(2, [L(1, 4)])
    assert t.remove_node(2) == [1]
    assert t.leader(1) is None and t.term(1) == 4  # term kept
    t.update(0, [L(1, 3)])  # node 0 still publishes its old claim
    assert t.leader(1) is None
    t.update(1, [L(1, 5)])
    assert t.leader(1) == (1, 5)


def test_higher_term_fences_the_old_leader_for_good() -> None:
    t = PartitionLeaderTable()
    t.update(0, [L(1, 3)])
    t.update(1, [L(1, 4)])
    # The new leader steps down; the old leader's term-3 claim must not come back.
    assert t.update(1, [F(1, 4)]) == [1]
    assert t.leader(1) is None


def test_equal_term_conflict_is_resolved_the_same_way_in_either_order() -> None:
    a, b = PartitionLeaderTable(), PartitionLeaderTable()
    a.update(2, [L(1, 7)])
    a.update(1, [L(1, 7)])
    b.update(1, [L(1, 7)])
    b.update(2, [L(1, 7)])
    assert a.snapshot() == b.snapshot() == {1: (1, 7)}
    assert a.leaders_per_node() == {1: 1}  # never two leaders
    # The winner withdraws: the other claimant takes over without waiting for a re-publish.
    assert a.update(1, [F(1, 7)]) == [1]
    assert a.leader(1) == (2, 7)
    # And if the loser withdraws instead, nothing visible changes.
    assert b.update(2, [F(1, 7)]) == []
    assert b.leader(1) == (1, 7)


def test_follower_report_removes_only_that_node() -> None:
    t = PartitionLeaderTable()
    t.update(0, [L(1, 2)])
    assert t.update(1, [F(1, 2)]) == []  # not the stored leader: no effect
    assert t.update(1, [F(1, 9)]) == []  # even at a higher term (only LEADER claims fence)
    assert t.leader(1) == (0, 2)
    assert t.update(0, [F(1, 2)]) == [1]  # the leader itself stepped down
    assert t.leader(1) is None and t.term(1) == 2


def test_delayed_follower_report_does_not_undo_a_newer_claim() -> None:
    # E.g. the claim was learned from Raft before the node's own gossip caught up.
    t = PartitionLeaderTable()
    t.update(1, [L(1, 5)])
    assert t.update(1, [F(1, 4)]) == []
    assert t.leader(1) == (1, 5)


def test_inactive_report_always_removes_the_claim() -> None:
    # A crashed partition reports inactive with term 0: it cannot be leading.
    t = PartitionLeaderTable()
    t.update(1, [L(1, 5), L(2, 5)])
    assert t.update(1, [I(1)]) == [1]
    assert t.snapshot() == {2: (1, 5)}


def test_partitions_not_mentioned_are_untouched() -> None:
    t = PartitionLeaderTable()
    t.update(0, [L(1, 1), L(2, 1)])
    t.update(0, [F(1, 1)])
    assert t.snapshot() == {2: (0, 1)}


def test_remove_node_drops_its_leaderships_only() -> None:
    t = PartitionLeaderTable()
    t.update(0, [L(1, 1), L(3, 2)])
    t.update(1, [L(2, 1)])
    assert t.remove_node(0) == [1, 3]
    assert t.snapshot() == {2: (1, 1)}
    assert t.term(1) == 1 and t.term(3) == 2
    assert t.remove_node(0) == [] and t.remove_node(42) == []
    # The node comes back and wins a new term.
    t.update(0, [L(1, 2)])
    assert t.leader(1) == (0, 2)


def test_remove_node_hands_over_to_an_equal_term_claimant() -> None:
    t = PartitionLeaderTable()
    t.update(0, [L(1, 3)])
    t.update(1, [L(1, 3)])
    assert t.remove_node(0) == [1]
    assert t.leader(1) == (1, 3)


def test_one_report_claiming_a_partition_twice_uses_the_higher_term() -> None:
    t = PartitionLeaderTable()
    t.update(0, [L(1, 4), L(1, 2)])
    assert t.leader(1) == (0, 4)


# Per node, a sequence of reports in the order that node published them (SWIM delivers one
# member's updates in incarnation order); across nodes the interleaving is arbitrary.
reports = st.lists(
    st.tuples(
        st.integers(1, 3),
        st.sampled_from([PartitionRole.LEADER, PartitionRole.FOLLOWER, PartitionRole.INACTIVE]),
        st.integers(0, 4),
    ),
    max_size=6,
)


@given(
    per_node=st.dictionaries(st.integers(0, 4), reports, max_size=5),
    seed=st.integers(0, 2**32),
)
def test_gossip_interleaving_does_not_change_the_outcome(
    per_node: dict[int, list[tuple[int, PartitionRole, int]]], seed: int
) -> None:
    def statuses(items: list[tuple[int, PartitionRole, int]]) -> list[list[PartitionStatus]]:
        return [[PartitionStatus(p, r, term, PartitionHealth.HEALTHY)] for p, r, term in items]

    def run(order: list[int]) -> PartitionLeaderTable:
        queues = {n: statuses(items) for n, items in per_node.items()}
        t = PartitionLeaderTable()
        for n in order:
            t.update(n, queues[n].pop(0))
        return t

    # Node terms only grow in Raft; make each node's sequence monotonic in term per partition.
    for items in per_node.values():
        last: dict[int, int] = {}
        for i, (p, r, term) in enumerate(items):
            items[i] = (p, r, max(term, last.get(p, 0)))
            last[p] = items[i][2]
    order = [n for n, items in per_node.items() for _ in items]
    first = run(order)
    random.Random(seed).shuffle(order)
    second = run(order)
    assert first.snapshot() == second.snapshot()
    for pid in (1, 2, 3):
        assert first.term(pid) == second.term(pid)
        leader = first.leader(pid)
        if leader is not None:
            assert leader[1] == first.term(pid), "the leader always holds the highest term seen"


def test_rebalance_plan() -> None:
    d = round_robin(range(3), 6, 3)  # primaries: P1 0, P2 1, P3 2, P4 0, P5 1, P6 2
    t = PartitionLeaderTable()
    # Node 0 was down: node 1 took P1 and P4 (P4's secondaries ascend, so node 2 could, too).
    t.update(1, [L(1, 2), L(2, 1), L(5, 1)])
    t.update(2, [L(3, 1), L(4, 2), L(6, 1)])
    everyone = {0, 1, 2}
    assert rebalance_plan(d, t, everyone) == [(1, 1, 0), (4, 2, 0)]
    # Primary still down: nothing to do for its partitions.
    assert rebalance_plan(d, t, {1, 2}) == []
    # A leader not alive (stale table) is not asked; nor are partitions without a leader.
    assert rebalance_plan(d, t, {0, 2}) == [(4, 2, 0)]
    balanced = PartitionLeaderTable()
    for pid in range(1, 7):
        balanced.update(d.primary(pid), [L(pid, 1)])
    assert rebalance_plan(d, balanced, everyone) == []
    assert balanced.leaders_per_node() == {0: 2, 1: 2, 2: 2}
