"""Moving snapshot data between a leader and its followers, out of band of the Raft messages.

The core only names snapshots (``InstallSnapshot`` carries index and term); the bytes move here.
Leader side: :meth:`SnapshotTransfer.send` ships the newest snapshot to a follower in chunks
(:class:`SnapshotChunk` requests, each acknowledged with the offset to go on from, so a lost
chunk costs one chunk, not the transfer), then delivers the ``InstallSnapshot`` message itself
and reports the outcome to the driver's inbox. Follower side: chunks are stored through the
:class:`SnapshotStore` (:meth:`receive_chunk`), and :meth:`admit` lets an ``InstallSnapshot``
through only once the data it names is on disk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import attrs
import trio

from ...logs import ProgressReporter
from ...transport.api import Network, TransportError
from ..messages import InstallSnapshot, SnapshotMeta
from ..ready import Role, SoftState
from ..snapshots import SnapshotChunk, SnapshotChunkAck, SnapshotInfo, SnapshotStore
from .inbox import Inbox, SnapshotSent

log = logging.getLogger("trio_zeebe.raft")

#: Failed chunk requests in a row that are retried; one more gives the transfer up (the core
#: offers the snapshot again later).
CHUNK_RETRIES = 5
#: Pause after the n-th consecutive failure: ``CHUNK_RETRY_DELAY * 2**n`` seconds, at most
#: ``CHUNK_RETRY_MAX_DELAY``.
CHUNK_RETRY_DELAY = 0.1
CHUNK_RETRY_MAX_DELAY = 2.0


class SnapshotTransfer:
    """The snapshot transfers of one partition on one node, in both directions.

    State: the followers a transfer is running to (never two at once to one follower) and the
    number of chunks sent. A transfer runs as a task of the nursery it is started in and stops
    by itself once this node no longer leads in the term it was started for: the new leader
    decides what the follower needs, and two senders would restart each other's transfer.
    """

    def __init__(
        self,
        *,
        partition: int,
        node_id: int,
        store: SnapshotStore,
        network: Network,
        addresses: Mapping[int, str],
        soft_state: Callable[[], SoftState],
        inbox: Inbox,
        chunk_bytes: int,
        request_timeout: float,
    ) -> None:
        self.partition = partition
        self.node_id = node_id
        self.store = store
        self.network = network
        self.addresses = addresses
        self._soft_state = soft_state
        self._inbox = inbox
        self.chunk_bytes = chunk_bytes
        self.request_timeout = request_timeout
        self.chunks_sent = 0
        self._sending: set[int] = set()
        # The snapshot being received, its progress lines and chunks so far.
        self._receiving: tuple[tuple[int, int], ProgressReporter, int] | None = None

    # -- leader side ---------------------------------------------------------------------

    def send(self, nursery: trio.Nursery, message: InstallSnapshot) -> None:
        """Ship the snapshot to ``message.dst`` unless a transfer to it is running."""
        if message.dst not in self._sending:
            self._sending.add(message.dst)
            nursery.start_soon(self._ship, message)

    async def _ship(self, message: InstallSnapshot) -> None:
        """Stream the snapshot in chunks, resuming where the follower says, then deliver the
        InstallSnapshot message itself. Never re-sent to a follower that already has it."""
        peer, ok = message.dst, False
        try:
            info = self.store.latest()
            address = self.addresses.get(peer)
            if info is None or address is None or info.index < message.snapshot_index:
                return
            # The core names its compaction point; the newest snapshot covers at least that
            # (entries are retained behind a snapshot), so ship it and name it instead.
            message = attrs.evolve(message, snapshot_index=info.index, snapshot_term=info.term)
            ok = await self._ship_chunks(info, address, message.term, peer)
            if ok:
                self.network.send(address, message)
        finally:
            self._sending.discard(peer)
            self._inbox.put(SnapshotSent(peer, ok))

    async def _ship_chunks(self, info: SnapshotInfo, address: str, term: int, peer: int) -> bool:
        offset, failures = 0, 0
        while True:
            soft = self._soft_state()
            if soft.role is not Role.LEADER or soft.term != term:
                return False  # deposed (see the class doc)
            try:
                data = self.store.read_chunk(info, offset, self.chunk_bytes)
            except OSError as exc:
                # A newer snapshot replaced this one mid-transfer (only two are kept):
                # give up; the leader offers the newer one at the next round.
                log.info(
                    "partition %d: snapshot for node %d superseded: %s", self.partition, peer, exc
                )
                return False
            chunk = SnapshotChunk(
                self.partition, self.node_id, term, info.index, info.term, offset, info.size, data
            )
            self.chunks_sent += 1
            try:
                ack = await self.network.request(address, chunk, timeout=self.request_timeout)
            except TransportError as exc:
                failures += 1
                if failures > CHUNK_RETRIES:
                    log.warning(
                        "partition %d: snapshot to node %d failed: %s", self.partition, peer, exc
                    )
                    return False
                await trio.sleep(min(CHUNK_RETRY_DELAY * 2**failures, CHUNK_RETRY_MAX_DELAY))
                continue
            failures = 0
            if ack.done:
                return True
            offset = ack.next_offset

    # -- follower side -------------------------------------------------------------------

    async def receive_chunk(self, chunk: SnapshotChunk) -> SnapshotChunkAck:
        """A leader's chunk (refused, with ValueError, from a leader of an older term)."""
        if chunk.term < self._soft_state().term:
            raise ValueError(f"snapshot chunk from term {chunk.term}, a deposed leader's")
        ack = await self.store.receive_chunk(chunk)
        self._received(chunk, ack)
        return ack

    def _received(self, chunk: SnapshotChunk, ack: SnapshotChunkAck) -> None:
        """Progress lines: bytes received of the snapshot's size, and a final line."""
        snapshot = (chunk.index, chunk.snapshot_term)
        if self._receiving is None or self._receiving[0] != snapshot:
            if ack.done and chunk.offset + len(chunk.data) < chunk.total:
                return  # held already: nothing was received
            what = f"partition {self.partition}: receiving the snapshot at index {chunk.index}"
            reporter = ProgressReporter(
                log, what, chunk.total, unit="bytes", clock=trio.current_time
            )
            reporter.begin(f"from node {chunk.src}")
            self._receiving = (snapshot, reporter, 0)
        _, reporter, chunks = self._receiving
        self._receiving = (snapshot, reporter, chunks + 1)
        reporter.update(ack.next_offset)
        if ack.done:
            reporter.finish(f"{chunks + 1} chunks")
            self._receiving = None

    def admit(self, message: InstallSnapshot) -> InstallSnapshot | None:
        """The InstallSnapshot to step into the core, or None while its data is missing."""
        latest = self.store.latest()
        named = (message.snapshot_index, message.snapshot_term)
        if latest is None or (latest.index, latest.term) < named:
            return None  # the data must be installed first; the leader will send it again
        if (latest.index, latest.term) != named:
            # We already hold a newer snapshot (e.g. a deposed leader shipped it): adopt
            # that one, so the state machine restores exactly what the log restarts after.
            # It covers committed entries only, which every later leader holds.
            message = attrs.evolve(message, snapshot_index=latest.index, snapshot_term=latest.term)
        return message

    def installed(self, meta: SnapshotMeta) -> SnapshotInfo:
        """The snapshot the core adopted, as it is on disk (it must be: :meth:`admit`)."""
        info = self.store.latest()
        if info is None or (info.index, info.term) != (meta.index, meta.term):
            raise RuntimeError(f"snapshot {meta} was adopted but is not on disk")
        return info
