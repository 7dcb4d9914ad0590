"""Elections of the sans-IO Raft core: campaigning, pre-vote, vote handling, the leader lease.

A mixin of :class:`trio_zeebe.raft.core.RaftCore`, kept apart so each part of the core fits in
one reading; the Ready contract and the safety rules are described in :mod:`.core`. Sans-IO like
the core: no trio, sockets, files or clock (time comes from the core's ``_now``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trio_zeebe.raft.config import RaftConfig, Role
from trio_zeebe.raft.election import ElectionTimer
from trio_zeebe.raft.memlog import MemLog
from trio_zeebe.raft.messages import Message, TimeoutNow, VoteRequest, VoteResponse


class VotingMixin:
    # State owned and initialised by RaftCore; declared here for the type checker only.
    config: RaftConfig
    id: int
    voters: tuple[int, ...]
    peers: tuple[int, ...]
    _quorum: int
    log: MemLog
    term: int
    vote: int | None
    role: Role
    leader: int | None
    timer: ElectionTimer
    _now: float
    _last_leader_contact: float
    _votes: dict[int, bool]
    _msgs: list[Message]
    _msgs_after: list[Message]

    if TYPE_CHECKING:  # role transitions defined by RaftCore

        def _become_follower(self, term: int, leader: int | None) -> None: ...

        def _become_leader(self) -> None: ...

    def campaign(self, transfer: bool = False) -> None:
        if self.role is Role.LEADER:
            return
        if self.config.pre_vote and not transfer:
            self._become_pre_candidate()
        else:
            self._become_candidate(transfer)

    def _become_pre_candidate(self) -> None:
        self.role = Role.PRE_CANDIDATE
        self.leader = None
        self._votes = {self.id: True}
        self.timer.reset(self._now, False)
        if self._quorum == 1:
            self._become_candidate(False)
            return
        log, cfg = self.log, self.config
        for p in self.peers:
            self._msgs.append(
                VoteRequest(
                    cfg.partition, self.id, p, self.term + 1, log.last_index, log.last_term, True
                )
            )

    def _become_candidate(self, transfer: bool) -> None:
        self.role = Role.CANDIDATE
        self.term += 1
        self.vote = self.id
        self.leader = None
        self._votes = {self.id: True}
        self.timer.reset(self._now, False)
        if self._quorum == 1:
            self._become_leader()
            return
        log, cfg = self.log, self.config
        for p in self.peers:
            # After persist: the request counts on our own vote being durable.
            self._msgs_after.append(
                VoteRequest(
                    cfg.partition,
                    self.id,
                    p,
                    self.term,
                    log.last_index,
                    log.last_term,
                    False,
                    transfer,
                )
            )

    def _in_lease(self) -> bool:
        if not self.config.check_quorum or self.leader is None:
            return False
        if self.role is Role.LEADER:
            return True
        return self._now - self._last_leader_contact < self.config.election_timeout

    def _on_vote_request(self, m: VoteRequest) -> None:
        log, cfg = self.log, self.config
        can_vote = (
            self.vote == m.src
            or (self.vote is None and self.leader is None)
            or (m.pre_vote and m.term > self.term)
        )
        granted = can_vote and (m.last_term, m.last_index) >= (log.last_term, log.last_index)
        if m.pre_vote:
            term = m.term if granted else self.term
            self._msgs.append(VoteResponse(cfg.partition, self.id, m.src, term, granted, True))
            return
        if granted:
            self.vote = m.src
            self.timer.reset(self._now, False)
        self._msgs_after.append(
            VoteResponse(cfg.partition, self.id, m.src, self.term, granted, False)
        )

    def _on_vote_response(self, m: VoteResponse) -> None:
        if m.pre_vote:
            if self.role is not Role.PRE_CANDIDATE:
                return
        elif self.role is not Role.CANDIDATE:
            return
        self._votes.setdefault(m.src, m.granted)
        yes = sum(self._votes.values())
        if yes >= self._quorum:
            if m.pre_vote:
                self._become_candidate(False)
            else:
                self._become_leader()
        elif len(self._votes) - yes > len(self.voters) - self._quorum:
            self._become_follower(self.term, None)

    def _on_timeout_now(self, m: TimeoutNow) -> None:
        if self.role is not Role.LEADER:
            self._become_candidate(True)
