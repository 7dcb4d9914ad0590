"""Raft log entries, persisted state and wire messages (tags ``r.*``).

Every message carries ``partition`` (the sender's :class:`~trio_zeebe.raft.core.RaftCore`'s),
``src``/``dst`` node ids and the sender's ``term``.  Snapshot *data* never travels in these
messages: :class:`InstallSnapshot` names the snapshot (index, term) and the driver moves the bytes
out of band.
"""

from __future__ import annotations

import attrs

from trio_zeebe.codec import wire

__all__ = [
    "CONFIG",
    "NOOP",
    "NORMAL",
    "AppendEntries",
    "AppendResponse",
    "Entry",
    "HardState",
    "Heartbeat",
    "HeartbeatResponse",
    "InstallSnapshot",
    "InstallSnapshotResponse",
    "Message",
    "SnapshotMeta",
    "TimeoutNow",
    "VoteRequest",
    "VoteResponse",
]

#: Entry kinds.  NOOP is the entry a new leader appends at the start of its term; NORMAL carries
#: opaque application bytes (the layer above packs many commands into one entry).  CONFIG is
#: reserved for membership changes.
NOOP = 0
NORMAL = 1
CONFIG = 2


@wire("r.entry")
@attrs.frozen(slots=True)
class Entry:
    index: int
    term: int
    kind: int
    data: bytes


@attrs.frozen(slots=True)
class HardState:
    """What must be durable before the node answers a vote: current term and vote (or None)."""

    term: int = 0
    vote: int | None = None


@attrs.frozen(slots=True)
class SnapshotMeta:
    """Identity of a snapshot: the last log entry it covers."""

    index: int
    term: int


@wire("r.append")
@attrs.frozen(slots=True)
class AppendEntries:
    """Entries after (``prev_index``, ``prev_term``) plus the leader's ``commit``.

    ``commit_only`` marks a message that only tells an up-to-date follower about a new commit
    index (no entries, anchored at the follower's known match): a follower whose log matches
    does not answer it, since the answer would teach the leader nothing (a mismatch is still
    rejected). That halves the messages per commit when proposals arrive one round at a time.
    """

    partition: int
    src: int
    dst: int
    term: int
    prev_index: int
    prev_term: int
    commit: int
    entries: tuple[Entry, ...] = ()
    commit_only: bool = False


@wire("r.append_resp")
@attrs.frozen(slots=True)
class AppendResponse:
    """Answer to :class:`AppendEntries`; sent only once the entries are durable.

    On success ``index`` is the highest index now known to match the leader.  On a reject
    ``index`` is the rejected ``prev_index`` and (``hint_index``, ``hint_term``) is the follower's
    last entry at or below it whose term is <= the leader's ``prev_term``: everything in between
    cannot match, so the leader skips a whole term per round trip.
    """

    partition: int
    src: int
    dst: int
    term: int
    success: bool
    index: int
    hint_index: int = 0
    hint_term: int = 0


@wire("r.hb")
@attrs.frozen(slots=True)
class Heartbeat:
    """Leader liveness; ``commit`` is min(leader commit, the follower's match index)."""

    partition: int
    src: int
    dst: int
    term: int
    commit: int


@wire("r.hb_resp")
@attrs.frozen(slots=True)
class HeartbeatResponse:
    partition: int
    src: int
    dst: int
    term: int


@wire("r.vote")
@attrs.frozen(slots=True)
class VoteRequest:
    """A (pre-)vote request.  A pre-vote carries the term the candidate *would* use (its term + 1)
    without the candidate having bumped its own term.  ``transfer`` marks a campaign started by a
    leadership transfer: it bypasses the voters' leader lease."""

    partition: int
    src: int
    dst: int
    term: int
    last_index: int
    last_term: int
    pre_vote: bool = False
    transfer: bool = False


@wire("r.vote_resp")
@attrs.frozen(slots=True)
class VoteResponse:
    partition: int
    src: int
    dst: int
    term: int
    granted: bool
    pre_vote: bool = False


@wire("r.timeout_now")
@attrs.frozen(slots=True)
class TimeoutNow:
    """Leadership transfer: the (caught up) target campaigns at once."""

    partition: int
    src: int
    dst: int
    term: int


@wire("r.install")
@attrs.frozen(slots=True)
class InstallSnapshot:
    """The leader's snapshot (metadata only); the driver ships the data before delivering this."""

    partition: int
    src: int
    dst: int
    term: int
    snapshot_index: int
    snapshot_term: int


@wire("r.install_resp")
@attrs.frozen(slots=True)
class InstallSnapshotResponse:
    partition: int
    src: int
    dst: int
    term: int
    success: bool
    index: int


Message = (
    AppendEntries
    | AppendResponse
    | Heartbeat
    | HeartbeatResponse
    | VoteRequest
    | VoteResponse
    | TimeoutNow
    | InstallSnapshot
    | InstallSnapshotResponse
)
