"""Routes Raft messages arriving on a shared network to the driver of their partition."""

from __future__ import annotations

from typing import Any, Protocol

from ..transport.api import Network, Peer
from .messages import (
    AppendEntries,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)
from .snapshots import SnapshotChunk, SnapshotChunkAck

RAFT_MESSAGES = (
    AppendEntries,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    VoteRequest,
    VoteResponse,
    TimeoutNow,
    InstallSnapshot,
    InstallSnapshotResponse,
)


class PartitionEndpoint(Protocol):
    """What the router needs of a partition's driver (``RaftDriver`` is one)."""

    @property
    def partition(self) -> int: ...

    def deliver(self, message: Any) -> None:
        """An inbound Raft message of this partition; must not block."""

    async def receive_chunk(self, chunk: SnapshotChunk) -> SnapshotChunkAck:
        """A snapshot chunk from this partition's leader."""


class RaftRouter:
    """Dispatches Raft messages arriving on a shared network to the partition's driver."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.drivers: dict[int, PartitionEndpoint] = {}
        self.unknown_partition = 0
        for message_type in RAFT_MESSAGES:
            network.on(message_type, self._on_message)
        network.on(SnapshotChunk, self._on_chunk)

    def register(self, driver: PartitionEndpoint) -> None:
        self.drivers[driver.partition] = driver

    def unregister(self, driver: PartitionEndpoint) -> None:
        if self.drivers.get(driver.partition) is driver:
            del self.drivers[driver.partition]

    async def _on_message(self, peer: Peer, message: Any) -> None:
        driver = self.drivers.get(message.partition)
        if driver is None:
            self.unknown_partition += 1
            return
        driver.deliver(message)

    async def _on_chunk(self, peer: Peer, chunk: SnapshotChunk) -> SnapshotChunkAck:
        driver = self.drivers.get(chunk.partition)
        if driver is None:
            raise ValueError(f"partition {chunk.partition} is not running here")
        return await driver.receive_chunk(chunk)
