"""What a partition's Raft driver hands to the layer above: committed records and restores.

Proposals are records (bytes); the records waiting when the driver runs are packed into as few
log entries as the batch size allows, so one log entry usually carries many client commands.
"""

from __future__ import annotations

import attrs

from .. import codec
from .config import ProposalDropped
from .snapshots import SnapshotInfo


class LeadershipLost(ProposalDropped):
    """The leader stepped down before the proposal committed: its outcome is unknown."""


def pack_records(records: list[bytes]) -> bytes:
    return codec.packb(records)


def unpack_records(data: bytes) -> list[bytes]:
    records = codec.unpackb(data)
    if not isinstance(records, list):
        raise codec.DecodeError("entry data is not a list of records")
    return records


@attrs.frozen
class Committed:
    """A committed entry, in log order; NOOP entries (a new leader's first) have no records."""

    index: int
    term: int
    records: list[bytes]
    noop: bool = False


@attrs.frozen
class Restore:
    """Rebuild the state machine from this snapshot, then continue with later entries."""

    snapshot: SnapshotInfo


Applied = Committed | Restore


@attrs.frozen
class Position:
    """Where a proposed record landed: entry index and its offset within the entry."""

    index: int
    offset: int
