"""Routes Raft messages arriving on a shared network to the driver of their partition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from .driver import RaftDriver

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


class RaftRouter:
    """Dispatches Raft messages arriving on a shared network to the partition's driver."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.drivers: dict[int, RaftDriver] = {}
        self.unknown_partition = 0
        for message_type in RAFT_MESSAGES:
            network.on(message_type, self._on_message)
        network.on(SnapshotChunk, self._on_chunk)

    def register(self, driver: RaftDriver) -> None:
        self.drivers[driver.partition] = driver

    def unregister(self, driver: RaftDriver) -> None:
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
        if chunk.term < driver.soft_state.term:
            raise ValueError(f"snapshot chunk from term {chunk.term}, a deposed leader's")
        return await driver.snapshots.receive_chunk(chunk)
