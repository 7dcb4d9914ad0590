"""Where and how the local partitions keep their data: the broker's ``[data]`` section.

This class *is* that TOML section (:mod:`trio_zeebe.config` uses it as is), read by the
partition manager: the log's segment size for every Raft driver, when every processor takes a
snapshot, and how much free disk a failed partition waits for. Defaults are Zeebe's.
"""

from __future__ import annotations

import attrs

from ..knobs import duration, non_negative, number, size
from ..log.segmented import DEFAULT_SEGMENT_BYTES


@attrs.frozen
class DiskConfig:
    """After a partition failed on a full disk it restarts only once this much space is free
    (Zeebe's ``data.disk.freeSpace.replication``)."""

    free_space_replication: int = size(1024**3, check=non_negative)


@attrs.frozen
class DataConfig:
    directory: str = "data"
    """Partition logs, snapshots and the persisted topology (relative: to the config file)."""
    log_segment_size: int = size(DEFAULT_SEGMENT_BYTES)
    snapshot_period: float = duration(300.0)
    """A processor snapshots (and Raft then compacts the log) this often ..."""
    snapshot_entries: int = number(10_000)
    """... or after this many log entries were applied since the last snapshot."""
    disk: DiskConfig = DiskConfig()
