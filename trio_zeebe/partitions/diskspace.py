"""The disk space monitor: how much room the broker's data directory has left, every second.

A broker learns that its disk is full from a failed write only if it writes; one that is idle
(or only answers reads) would go on reporting itself healthy on a full disk. Like Zeebe's
``DiskSpaceUsageMonitor`` this reads the free space of the data directory's file system every
``data.disk.monitoring_interval`` (``statvfs`` through :meth:`Disk.run_blocking`, so a real disk
is asked from a worker thread and a simulated one inline, deterministically) and compares it
with ``data.disk.free_space_processing``. Below it, :attr:`DiskSpaceMonitor.processing_allowed`
is False: the partition manager reports every local partition unhealthy and the partition
leaders refuse new client commands (RESOURCE_EXHAUSTED, Zeebe's text) until the space is back.

The first reading is taken before :meth:`DiskSpaceMonitor.run` reports itself started, so a
broker that starts on a full disk never serves a command. A reading that fails (the directory
vanished, an I/O error) is logged and keeps the previous state: it is no evidence either way.
With ``data.disk.enable_monitoring = false`` nothing is read and processing is always allowed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from ..disk import Disk
from .config import DiskConfig

log = logging.getLogger("trio_zeebe.partitions.disk")


class DiskSpaceMonitor:
    """Watches the free space of ``path``'s file system (see the module docstring).

    ``on_change`` callbacks run (on the trio thread) whenever :attr:`processing_allowed` flips.
    """

    def __init__(self, disk: Disk, path: str, config: DiskConfig) -> None:
        self.disk = disk
        self.path = path
        self.config = config
        self.free: int | None = None  # bytes free at the last reading (None: none yet)
        self.readings = 0
        self.processing_allowed = True
        self.on_change: list[Callable[[bool], None]] = []

    def describe(self) -> str:
        """Why processing is paused (for health details and refusals)."""
        return (
            f"not enough disk space available: {self.free} bytes free in {self.path}, "
            f"data.disk.free_space_processing is {self.config.free_space_processing}"
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if not self.config.enable_monitoring:
            task_status.started()
            return
        await self.check()
        task_status.started()
        while True:
            await trio.sleep(self.config.monitoring_interval)
            await self.check()

    async def check(self) -> None:
        """Read the free space once and update :attr:`processing_allowed`."""
        try:
            free = await self.disk.run_blocking(self.disk.free_bytes, self.path)
        except OSError as exc:
            log.warning("cannot read the free disk space of %s: %s", self.path, exc)
            return
        self.free = free
        self.readings += 1
        allowed = free >= self.config.free_space_processing
        if allowed == self.processing_allowed:
            return
        self.processing_allowed = allowed
        if allowed:
            log.info(
                "disk space available again: %d bytes free in %s (at least %d needed); "
                "accepting commands",
                free,
                self.path,
                self.config.free_space_processing,
            )
        else:
            log.warning("%s: refusing new commands until there is room", self.describe())
        for callback in self.on_change:
            callback(allowed)
