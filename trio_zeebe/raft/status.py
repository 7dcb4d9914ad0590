"""What a partition's Raft reports about itself: typed snapshots for metrics, tests and tools."""

from __future__ import annotations

import attrs

from trio_zeebe.raft.progress import ProgressState
from trio_zeebe.raft.ready import Role


@attrs.frozen
class FollowerStatus:
    """The leader's view of one follower (see :class:`trio_zeebe.raft.progress.Progress`)."""

    match: int
    next: int
    state: ProgressState
    paused: bool
    inflight: int
    recent_active: bool


@attrs.frozen
class RaftStatus:
    """The core's state at one moment (:meth:`RaftCore.status`)."""

    id: int
    role: Role
    term: int
    vote: int | None
    leader: int | None
    commit: int
    applied: int
    durable: int
    last_index: int
    snapshot_index: int
    transferee: int | None
    dropped_messages: int
    #: Per follower, while leader (empty otherwise).
    progress: dict[int, FollowerStatus]


@attrs.frozen
class DriverStatus:
    """A driver's status (:meth:`RaftDriver.status`): its core's and its disk side's."""

    #: None until the driver has built its core (``run`` started).
    raft: RaftStatus | None
    #: Last log index known fsynced on this node.
    durable_index: int
    fsyncs: int
    #: Inbound messages dropped because the driver's inbox was full.
    dropped_inbound: int
