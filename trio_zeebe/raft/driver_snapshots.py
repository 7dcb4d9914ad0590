"""Snapshots of the Raft driver: taking one (and compacting behind it), shipping one to a
follower in chunks, and installing one received from the leader.

A mixin of :class:`trio_zeebe.raft.driver.RaftDriver`, kept apart so the driver fits in one
reading. The receiving side of the chunks is :meth:`SnapshotStore.receive_chunk` (the router
calls it); the InstallSnapshot message that follows them goes through ``RaftDriver.deliver``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs
import trio

from ..log.segmented import SegmentedLog
from ..transport.api import Network, TransportError
from .applied import Applied, Restore
from .config import Role, SoftState
from .core import RaftCore
from .messages import InstallSnapshot, SnapshotMeta
from .snapshots import SnapshotChunk, SnapshotInfo, SnapshotStore

if TYPE_CHECKING:
    from .driver import _Unsynced

log = logging.getLogger("trio_zeebe.raft")


class SnapshotTransferMixin:
    # State owned and initialised by RaftDriver; declared here for the type checker only.
    partition: int
    node_id: int
    addresses: Mapping[int, str]
    network: Network
    core: RaftCore | None
    log: SegmentedLog | None
    snapshots: SnapshotStore
    retain_entries: int
    retain_bytes: int
    request_timeout: float
    snapshot_chunk_bytes: int
    snapshot_chunks_sent: int
    _transfers: set[int]
    _unsynced: deque[_Unsynced]
    _committed_send: trio.MemorySendChannel[Applied] | None
    _committed_backlog: deque[Applied]
    _committed_ready: trio.Event
    soft_state: SoftState

    if TYPE_CHECKING:  # defined by RaftDriver

        def _wake(self) -> None: ...

    async def take_snapshot(self, index: int, term: int, body: bytes) -> SnapshotInfo:
        """Persist the state machine as of entry ``index``, then compact the log behind it."""
        info = await self.snapshots.save(index, term, body)
        core, log_ = self.core, self.log
        if core is not None and log_ is not None:
            # Keep at most retain_entries entries, and at most retain_bytes of them.
            upto, kept = index, 0
            floor = max(index - self.retain_entries, core.log.snap_index)
            while upto > floor:
                size = len(core.log.entry(upto).data)
                if kept + size > self.retain_bytes:
                    break
                kept += size
                upto -= 1
            if upto > core.log.snap_index:
                upto_term = core.log.term(upto)
                if upto_term is not None:
                    core.compact(upto)
                    log_.compact(upto)
        return info

    async def _install(self, meta: SnapshotMeta) -> None:
        """The core adopted a snapshot received from the leader: the log restarts after it."""
        assert self.log is not None
        info = self.snapshots.latest()
        if info is None or (info.index, info.term) != (meta.index, meta.term):
            raise RuntimeError(f"snapshot {meta} was adopted but is not on disk")
        for item in self._unsynced:
            item.stale = True
        self.log.reset(meta.index, meta.term)
        if self._committed_send is not None:
            self._committed_backlog.append(Restore(info))
            self._committed_ready.set()

    async def _ship_snapshot(self, message: InstallSnapshot) -> None:
        """Stream the snapshot to a follower in chunks, resuming where it says, then deliver
        the InstallSnapshot message itself. Never re-sent to a follower that already has it."""
        peer, ok = message.dst, False
        try:
            info = self.snapshots.latest()
            address = self.addresses.get(peer)
            if info is None or address is None or info.index < message.snapshot_index:
                return
            # The core names its compaction point; the newest snapshot covers at least that
            # (entries are retained behind a snapshot), so ship it and name it instead.
            message = attrs.evolve(message, snapshot_index=info.index, snapshot_term=info.term)
            chunk_size = self.snapshot_chunk_bytes
            offset, failures = 0, 0
            while True:
                soft = self.soft_state
                if soft.role is not Role.LEADER or soft.term != message.term:
                    # Deposed: the new leader decides what the follower needs. Two senders
                    # would restart each other's transfer at the follower, forever.
                    return
                try:
                    data = self.snapshots.read_chunk(info, offset, chunk_size)
                except OSError as exc:
                    # A newer snapshot replaced this one mid-transfer (only two are kept):
                    # give up; the leader offers the newer one at the next round.
                    log.info(
                        "partition %d: snapshot for node %d superseded: %s",
                        self.partition,
                        peer,
                        exc,
                    )
                    return
                chunk = SnapshotChunk(
                    self.partition,
                    self.node_id,
                    message.term,
                    info.index,
                    info.term,
                    offset,
                    info.size,
                    data,
                )
                self.snapshot_chunks_sent += 1
                try:
                    ack = await self.network.request(address, chunk, timeout=self.request_timeout)
                except TransportError as exc:
                    failures += 1
                    if failures > 5:
                        log.warning(
                            "partition %d: snapshot to node %d failed: %s",
                            self.partition,
                            peer,
                            exc,
                        )
                        return
                    await trio.sleep(min(0.1 * 2**failures, 2.0))
                    continue
                failures = 0
                if ack.done:
                    break
                offset = ack.next_offset
            self.network.send(address, message)
            ok = True
        finally:
            self._transfers.discard(peer)
            if self.core is not None:
                self.core.report_snapshot(peer, ok)
                self._wake()
