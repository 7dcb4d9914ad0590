"""Raft configuration, roles, the :class:`Ready` batch and the errors a proposal can raise."""

from __future__ import annotations

import enum
from typing import Any

import attrs

from trio_zeebe.raft.messages import (
    Entry,
    HardState,
    InstallSnapshot,
    Message,
    SnapshotMeta,
)


def _positive(_inst: Any, attr: Any, value: Any) -> None:
    if not value > 0:
        raise ValueError(f"raft.{attr.name} must be > 0, got {value!r}")


@attrs.frozen
class RaftConfig:
    """Defaults follow Zeebe's (reference §3.1)."""

    partition: int
    heartbeat_interval: float = attrs.field(default=0.25, validator=_positive)
    election_timeout: float = attrs.field(default=2.5, validator=_positive)
    max_inflight: int = attrs.field(default=2, validator=_positive)
    max_batch_bytes: int = attrs.field(default=32 * 1024, validator=_positive)
    pre_vote: bool = True
    check_quorum: bool = True
    #: Proposals are refused with :class:`Backpressure` while the uncommitted tail is this big.
    max_uncommitted_bytes: int = attrs.field(default=64 * 1024 * 1024, validator=_positive)
    #: A follower with nothing new to receive learns a new commit index this much later (in a
    #: commit-only append), unless a message carries it sooner: under steady load the next
    #: append does, so commits cost no messages of their own. 0: tell at once.
    commit_notice_delay: float = attrs.field(default=0.005, validator=attrs.validators.ge(0))

    def __attrs_post_init__(self) -> None:
        if self.heartbeat_interval >= self.election_timeout:
            raise ValueError("raft.heartbeat_interval must be smaller than raft.election_timeout")


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre_candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@attrs.frozen
class SoftState:
    """Volatile state worth telling the outside world about (not persisted)."""

    role: Role
    leader: int | None
    term: int


@attrs.frozen
class Ready:
    """Everything the core produced since the previous :meth:`RaftCore.ready` call.

    See the module docstring of :mod:`trio_zeebe.raft.core` for the contract.
    """

    hard_state: HardState | None
    snapshot: SnapshotMeta | None
    entries: list[Entry]
    messages: list[Message]
    messages_after_persist: list[Message]
    committed: list[Entry]
    soft_state: SoftState | None
    snapshots_to_send: list[InstallSnapshot]

    @property
    def must_persist(self) -> bool:
        return self.hard_state is not None or self.snapshot is not None or bool(self.entries)

    @property
    def persisted_point(self) -> tuple[int, int] | None:
        """(index, term) to hand to :meth:`RaftCore.persisted` once this Ready is durable."""
        if self.entries:
            last = self.entries[-1]
            return last.index, last.term
        return None


class RaftError(Exception):
    pass


class NotLeader(RaftError):
    """Proposals go to the leader; ``leader`` is the one this node knows about, if any."""

    def __init__(self, leader: int | None) -> None:
        super().__init__(f"not the leader (leader: {leader})")
        self.leader = leader


class ProposalDropped(RaftError):
    """The leader refuses proposals for now (leadership transfer in progress)."""


class Backpressure(ProposalDropped):
    """Too many uncommitted bytes; retry once the tail commits."""
