"""The durable log of a partition: segmented write-ahead log and the Raft hard-state file."""

from trio_zeebe.log.meta import MetaCorruptionError, MetaState, MetaStore
from trio_zeebe.log.record import EntryLike, LogCorruptionError, LogRecord
from trio_zeebe.log.segmented import DEFAULT_SEGMENT_BYTES, SegmentedLog

__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "EntryLike",
    "LogCorruptionError",
    "LogRecord",
    "MetaCorruptionError",
    "MetaState",
    "MetaStore",
    "SegmentedLog",
]
