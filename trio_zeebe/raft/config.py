"""The configuration of one partition's Raft group (the ``cluster.raft`` section)."""

from __future__ import annotations

from typing import Any

import attrs


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
