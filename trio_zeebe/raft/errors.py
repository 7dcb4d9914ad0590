"""The errors a Raft proposal (or a leader-only request) can end with."""

from __future__ import annotations


class RaftError(Exception):
    """Base of every error this package raises at a proposal or a leader-only request."""


class NotLeader(RaftError):
    """Proposals go to the leader; ``leader`` is the one this node knows about, if any."""

    def __init__(self, leader: int | None) -> None:
        super().__init__(f"not the leader (leader: {leader})")
        self.leader = leader


class ProposalDropped(RaftError):
    """The leader refuses proposals for now (leadership transfer in progress)."""


class Backpressure(ProposalDropped):
    """Too many uncommitted bytes; retry once the tail commits."""


class LeadershipLost(ProposalDropped):
    """The leader stepped down before the proposal committed: its outcome is unknown."""
