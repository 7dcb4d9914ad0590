"""Raft for one partition: a sans-IO core (:mod:`.core`) plus its wire messages.

The driver (``driver.py``, trio) feeds the core and carries out its :class:`Ready` batches.
"""

from trio_zeebe.raft.config import (
    Backpressure,
    NotLeader,
    ProposalDropped,
    RaftConfig,
    RaftError,
    Ready,
    Role,
    SoftState,
)
from trio_zeebe.raft.core import RaftCore
from trio_zeebe.raft.election import ElectionTimer, PriorityElectionTimer, RandomizedElectionTimer
from trio_zeebe.raft.messages import (
    CONFIG,
    NOOP,
    NORMAL,
    AppendEntries,
    AppendResponse,
    Entry,
    HardState,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    SnapshotMeta,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)
from trio_zeebe.raft.progress import Progress, ProgressState

__all__ = [
    "CONFIG",
    "NOOP",
    "NORMAL",
    "AppendEntries",
    "AppendResponse",
    "Backpressure",
    "ElectionTimer",
    "Entry",
    "HardState",
    "Heartbeat",
    "HeartbeatResponse",
    "InstallSnapshot",
    "InstallSnapshotResponse",
    "Message",
    "NotLeader",
    "PriorityElectionTimer",
    "Progress",
    "ProgressState",
    "ProposalDropped",
    "RaftConfig",
    "RaftCore",
    "RaftError",
    "RandomizedElectionTimer",
    "Ready",
    "Role",
    "SnapshotMeta",
    "SoftState",
    "TimeoutNow",
    "VoteRequest",
    "VoteResponse",
]
