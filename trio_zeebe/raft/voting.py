"""Elections as one node sees them: the votes of its campaign, when to grant a vote, the lease.

Sans-IO like the core (time comes in as ``now``). The core decides when to campaign and what to
send; :class:`Voting` keeps the state an election needs and applies its rules.
"""

from __future__ import annotations

import enum

from trio_zeebe.raft.messages import VoteRequest

#: "Never heard from a leader": far enough in the past that no lease is held.
NEVER = -1e18


class Tally(enum.Enum):
    """Where a (pre-)campaign stands after a vote came in."""

    WON = "won"
    LOST = "lost"
    OPEN = "open"


class Voting:
    """Votes received in the current (pre-)campaign, the vote-granting rule, the leader lease.

    The lease is the follower's half of check-quorum: a node that heard from a leader within an
    election timeout ignores (pre-)vote requests, so a partitioned node rejoining with a higher
    term cannot depose a healthy leader (a leadership transfer's campaign bypasses it).
    """

    __slots__ = ("check_quorum", "election_timeout", "leader_contact", "quorum", "size", "votes")

    def __init__(self, voters: int, check_quorum: bool, election_timeout: float) -> None:
        self.size = voters
        self.quorum = voters // 2 + 1
        self.check_quorum = check_quorum
        self.election_timeout = election_timeout
        self.votes: dict[int, bool] = {}
        self.leader_contact = NEVER  # when this node last heard from a leader

    # -- a campaign ------------------------------------------------------------------------

    def start(self, node_id: int) -> None:
        """A (pre-)campaign starts: this node votes for itself."""
        self.votes = {node_id: True}

    def clear(self) -> None:
        self.votes = {}

    def record(self, src: int, granted: bool) -> Tally:
        """A vote from ``src`` (a repeated one counts once)."""
        votes = self.votes
        votes.setdefault(src, granted)
        yes = sum(votes.values())
        if yes >= self.quorum:
            return Tally.WON
        if len(votes) - yes > self.size - self.quorum:
            return Tally.LOST
        return Tally.OPEN

    # -- granting ----------------------------------------------------------------------

    @staticmethod
    def grants(
        m: VoteRequest,
        term: int,
        vote: int | None,
        leader: int | None,
        last_term: int,
        last_index: int,
    ) -> bool:
        """Would a node in ``term`` that voted ``vote`` and follows ``leader``, with its log
        ending at (``last_index``, ``last_term``), grant this (pre-)vote?"""
        can_vote = (
            vote == m.src or (vote is None and leader is None) or (m.pre_vote and m.term > term)
        )
        return can_vote and (m.last_term, m.last_index) >= (last_term, last_index)

    # -- the lease ---------------------------------------------------------------------

    def heard_leader(self, now: float) -> None:
        self.leader_contact = now

    def forget_leader(self) -> None:
        self.leader_contact = NEVER

    def in_lease(self, now: float, leader: int | None, leading: bool) -> bool:
        """Is a leader known to be alive (so votes are not answered)?"""
        if not self.check_quorum or leader is None:
            return False
        if leading:
            return True
        return now - self.leader_contact < self.election_timeout
