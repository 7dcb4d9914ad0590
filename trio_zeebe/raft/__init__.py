"""Raft for one partition: a sans-IO core (:mod:`.core`) plus its wire messages.

The package namespace is the core's API (what a test or a simulation drives it with). The
trio side lives in the subpackage :mod:`.driver`: the driver feeds the core and carries out
its :class:`Ready` batches, with its collaborators (``committed``, ``proposals``, ``inbox``,
``leadership``, ``snapshot_transfer``) beside it. Storage and routing are ``snapshots`` and
``router``.

Sans-IO modules (no trio, sockets, files or clock): ``config``, ``core``, ``election``,
``errors``, ``messages``, ``progress``, ``raftlog``, ``ready``, ``status``, ``voting``.
"""

from trio_zeebe.raft import messages
from trio_zeebe.raft.config import RaftConfig
from trio_zeebe.raft.core import RaftCore
from trio_zeebe.raft.election import PriorityElectionTimer, RandomizedElectionTimer
from trio_zeebe.raft.errors import Backpressure, NotLeader, ProposalDropped, RaftError
from trio_zeebe.raft.messages import *  # noqa: F403 -- listed once in messages.__all__
from trio_zeebe.raft.progress import ProgressState
from trio_zeebe.raft.ready import Ready, Role

__all__ = [
    "Backpressure",
    "NotLeader",
    "PriorityElectionTimer",
    "ProgressState",
    "ProposalDropped",
    "RaftConfig",
    "RaftCore",
    "RaftError",
    "RandomizedElectionTimer",
    "Ready",
    "Role",
]
__all__ += messages.__all__
