"""What the sans-IO core hands its driver: the :class:`Ready` batch, with the node's role.

The contract for carrying out a Ready is in the module docstring of :mod:`trio_zeebe.raft.core`.
"""

from __future__ import annotations

import enum

import attrs

from trio_zeebe.raft.messages import Entry, HardState, InstallSnapshot, Message, SnapshotMeta


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
    def persisted_point(self) -> tuple[int, int] | None:
        """(index, term) to hand to :meth:`RaftCore.persisted` once this Ready is durable."""
        if self.entries:
            last = self.entries[-1]
            return last.index, last.term
        return None
