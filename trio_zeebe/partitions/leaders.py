"""Who leads each partition, as gossiped by the brokers, and the failover/rebalance decisions.

:class:`PartitionLeaderTable` is the table every broker keeps from its peers' broker info
(reference §6 "Leader table").  Zeebe's rule: a LEADER claim is accepted only with a term at least
the stored one; a FOLLOWER/INACTIVE report removes the node as leader only if it is the stored
leader.  Zeebe keeps just the last accepted claim, so what it shows depends on gossip arrival
order, and #3697 reports two leaders for one partition at one term.  This table keeps every
node's current claim and derives the leader from them, so (given each node's reports in order)
the answer depends on the latest reports and the highest term seen, not on how gossip interleaved:

* the stored term of a partition is the highest term of any LEADER claim ever seen for it (kept
  when a node is removed, so a dead leader's late claim stays fenced off);
* the leader is the node whose current LEADER claim carries the stored term; if two nodes claim
  the same term (impossible in Raft, so one report is stale or wrong), the lower node id wins on
  every broker, and if it withdraws, the other takes over without waiting for a re-publish.

Pure: no trio, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from .broker_info import PartitionRole, PartitionStatus
from .distribution import PartitionDistribution

__all__ = ["PartitionLeaderTable", "rebalance_plan"]


class PartitionLeaderTable:
    def __init__(self) -> None:
        self._term: dict[int, int] = {}
        """Highest leader term seen per partition."""
        self._claims: dict[int, dict[int, int]] = {}
        """partition -> {node -> term} of current LEADER claims; all at the stored term."""
        self._by_node: dict[int, set[int]] = {}
        """node -> partitions it currently claims (for remove_node)."""
        self._leader: dict[int, tuple[int, int]] = {}

    def update(self, node_id: int, statuses: Iterable[PartitionStatus]) -> list[int]:
        """Apply what ``node_id`` reports about the listed partitions; others are untouched.

        LEADER at term t: accepted if t >= the stored term (a higher t fences every older claim).
        FOLLOWER at term t: withdraws the node's claim unless that claim has a higher term (a
        delayed follower report must not undo a newer claim, e.g. one learned from Raft).
        INACTIVE: withdraws the node's claim (its replica is not running).
        Returns the partition ids whose leader or term changed, ascending.
        """
        before: dict[int, tuple[int, int] | None] = {}
        for s in statuses:
            pid = s.partition_id
            if pid not in before:
                before[pid] = self._leader.get(pid)
            claims = self._claims.get(pid)
            claimed = claims.get(node_id) if claims is not None else None
            if s.role is PartitionRole.LEADER:
                stored = self._term.get(pid, -1)
                if s.term < stored:
                    # Stale claim (gossip reordering, or a deposed leader not yet stepped down).
                    continue
                if s.term > stored:
                    self._term[pid] = s.term
                    for other in list(claims or ()):
                        self._withdraw(other, pid)
                self._claims.setdefault(pid, {})[node_id] = s.term
                self._by_node.setdefault(node_id, set()).add(pid)
            elif claimed is not None and (s.role is PartitionRole.INACTIVE or s.term >= claimed):
                self._withdraw(node_id, pid)
            else:
                continue
            self._elect(pid)
        return sorted(p for p, old in before.items() if self._leader.get(p) != old)

    def remove_node(self, node_id: int) -> list[int]:
        """The member left or was declared dead: drop its claims (terms are kept)."""
        changed = []
        for pid in sorted(self._by_node.get(node_id, set())):
            before = self._leader.get(pid)
            self._withdraw(node_id, pid)
            self._elect(pid)
            if self._leader.get(pid) != before:
                changed.append(pid)
        return changed

    def leader(self, partition_id: int) -> tuple[int, int] | None:
        """``(node_id, term)`` of the partition's leader, or None if none is known."""
        return self._leader.get(partition_id)

    def term(self, partition_id: int) -> int | None:
        """Highest leader term seen for the partition (even if its leader is gone)."""
        return self._term.get(partition_id)

    def snapshot(self) -> dict[int, tuple[int, int]]:
        """partition -> (leader node, term) for every partition with a known leader."""
        return dict(sorted(self._leader.items()))

    def leaders_per_node(self) -> dict[int, int]:
        """node -> number of partitions it leads (nodes leading nothing are absent)."""
        counts: dict[int, int] = {}
        for node, _ in self._leader.values():
            counts[node] = counts.get(node, 0) + 1
        return counts

    def _withdraw(self, node_id: int, pid: int) -> None:
        claims = self._claims.get(pid)
        if claims is not None:
            claims.pop(node_id, None)
        owned = self._by_node.get(node_id)
        if owned is not None:
            owned.discard(pid)
            if not owned:
                del self._by_node[node_id]

    def _elect(self, pid: int) -> None:
        claims = self._claims.get(pid)
        if claims:
            node = min(claims)
            self._leader[pid] = (node, claims[node])
        else:
            self._leader.pop(pid, None)
            self._claims.pop(pid, None)


def rebalance_plan(
    distribution: PartitionDistribution,
    leaders: PartitionLeaderTable,
    alive: Set[int],
) -> list[tuple[int, int, int]]:
    """``(partition_id, from_node, to_node)`` for every partition led by a live non-primary while
    its primary is alive: ask ``from_node`` to transfer leadership to ``to_node`` (the primary)."""
    plan = []
    for pid, _ in distribution.partitions:
        current = leaders.leader(pid)
        if current is None or current[0] not in alive:
            continue
        primary = distribution.primary(pid)
        if current[0] != primary and primary in alive:
            plan.append((pid, current[0], primary))
    return plan
