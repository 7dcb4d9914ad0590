"""The tunables of a partition's Raft replica: the broker's ``cluster.raft`` section.

This class *is* that TOML section (:mod:`trio_zeebe.config` uses it as is): each knob's default
and check are written here once. Names are Zeebe's in snake_case where Zeebe has the knob;
defaults are Zeebe's (reference §3.1) unless a comment says why not. Which partition a replica
belongs to is not a tunable: the core and the driver take it as their own argument.
"""

from __future__ import annotations

import attrs

from trio_zeebe.knobs import KnobError, duration, non_negative, number, size


@attrs.frozen
class RaftConfig:
    """What the core (timing, flow control, elections) and the driver (snapshots sent to
    followers, compaction) of every partition's replica run with."""

    heartbeat_interval: float = duration(0.25)
    election_timeout: float = duration(2.5)
    #: Each partition's primary replica becomes its usual leader (Zeebe's priority election).
    enable_priority_election: bool = True
    #: AppendEntries in flight per follower before the leader waits for answers.
    max_appends_per_follower: int = number(2)
    #: Most bytes of entries in one AppendEntries (and in one packed log entry).
    max_append_batch_size: int = size(32 * 1024)
    #: Poll before campaigning, so a node that was cut off cannot depose a healthy leader.
    pre_vote: bool = True
    #: A leader that has not heard from a quorum for an election timeout steps down.
    check_quorum: bool = True
    #: Proposals are refused with :class:`Backpressure` while the uncommitted tail is this big.
    max_uncommitted_bytes: int = size(64 * 1024 * 1024)
    #: A follower with nothing new to receive learns a new commit index this much later (in a
    #: commit-only append), unless a message carries it sooner: under steady load the next
    #: append does, so commits cost no messages of their own. 0: tell at once.
    commit_notice_delay: float = duration(0.005, check=non_negative)
    #: How long the leader waits for a follower to acknowledge one snapshot chunk.
    snapshot_request_timeout: float = duration(2.5)
    #: Bytes of a snapshot per chunk sent to a follower (Zeebe sends whole files of up to 1GB;
    #: smaller chunks keep one message well below ``network.max_message_size``).
    snapshot_chunk_size: int = size(1024 * 1024)
    #: Entries kept behind a snapshot when the log is compacted, so a follower a little behind
    #: gets entries rather than the whole snapshot (the role of Zeebe's
    #: ``preferSnapshotReplicationThreshold``) ...
    retain_entries: int = number(1000, check=non_negative)
    #: ... and at most this many bytes of them.
    retain_bytes: int = size(4 * 1024 * 1024, check=non_negative)

    def __attrs_post_init__(self) -> None:
        if self.heartbeat_interval >= self.election_timeout:
            raise KnobError("heartbeat_interval", "must be shorter than election_timeout")
