"""Where and how the local partitions keep their data: the broker's ``[data]`` section.

This class *is* that TOML section (:mod:`trio_zeebe.config` uses it as is), read by the
partition manager: the log's segment size for every Raft driver, when every processor takes a
snapshot, how the free disk space is watched and how much a failed partition waits for.
Defaults are Zeebe's.
"""

from __future__ import annotations

import attrs

from ..knobs import KnobError, duration, non_negative, number, size
from ..log.segmented import DEFAULT_SEGMENT_BYTES


@attrs.frozen
class DiskConfig:
    """Free disk space watching (Zeebe's ``data.disk``).

    Every ``monitoring_interval`` the broker reads the free space of its data directory's file
    system. Below ``free_space_processing`` it reports itself unhealthy and its partition
    leaders refuse new client commands with RESOURCE_EXHAUSTED (commands already proposed
    finish), until the space is back (Zeebe's ``freeSpace.processing``). After a partition
    failed on a full disk it restarts only once ``free_space_replication`` is free (Zeebe's
    ``freeSpace.replication``); processing needs more room than replication.
    """

    enable_monitoring: bool = True
    monitoring_interval: float = duration(1.0)
    free_space_processing: int = size(2 * 1024**3, check=non_negative)
    free_space_replication: int = size(1024**3, check=non_negative)

    def __attrs_post_init__(self) -> None:
        if self.enable_monitoring and self.free_space_processing <= self.free_space_replication:
            raise KnobError(
                "free_space_processing",
                f"must be greater than free_space_replication ({self.free_space_replication} "
                f"bytes), got {self.free_space_processing} bytes",
            )


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
