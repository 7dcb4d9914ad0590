"""Trio driver of one partition's Raft core: network in, durable log out, group commit.

One task (``_loop``) owns the core. It waits for the first of: a message in the inbox, a wake-up
(new proposals, an fsync finished) or the core's next deadline; then it drains every input that
is already waiting, so a burst of proposals becomes one Ready, one write and one fsync.

Persistence follows the core's Ready contract (see :mod:`trio_zeebe.raft.core`):

* entries are written to the segmented log at once (a plain write), the hard state is replaced
  atomically (and durably) before the loop goes on;
* ``messages`` go out at once (a leader replicates while its own fsync runs);
* ``messages_after_persist`` and the persisted point wait in ``_unsynced`` until the flusher's
  fsync covers them. One fsync covers every entry appended since the previous one (group
  commit); it runs in a worker thread via the disk's ``run_blocking``. If a later conflict
  truncation cut into entries a queued item promised, that item is stale and its messages are
  dropped (Raft resends what is needed);
* committed entries complete the proposals waiting for them and go, in order, to the
  ``committed`` channel for the processor.

Proposals are records (bytes); the records waiting when the loop runs are packed into as few
log entries as ``max_batch_bytes`` allows ("many commands per log entry"). Requests reach a
leader one by one, so under load a leader with ``PROPOSAL_WINDOW`` entries awaiting commit holds
new proposals back until one commits (or a full batch is waiting) and then appends them all as
one entry: a commit round costs the same for one record as for a hundred. An idle leader
proposes at once.
"""

from __future__ import annotations

import logging
import math
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import trio

from ..disk import Disk
from ..log.meta import MetaState, MetaStore
from ..log.segmented import SegmentedLog
from .applied import (
    Applied,
    Committed,
    LeadershipLost,
    Position,
    Restore,
    pack_records,
    unpack_records,
)
from .config import NotLeader, ProposalDropped, RaftConfig, Ready, Role, SoftState
from .core import RaftCore
from .driver_leadership import LeadershipMixin
from .driver_snapshots import SnapshotTransferMixin
from .election import ElectionTimer
from .messages import NOOP, NORMAL, Entry, HardState, InstallSnapshot, SnapshotMeta
from .router import RaftRouter
from .snapshots import SnapshotStore

log = logging.getLogger("trio_zeebe.raft")

INBOX_SIZE = 4096
COMMITTED_BUFFER = 1024
PROPOSAL_WINDOW = 1
"""Uncommitted entries a leader appends before it holds new proposals back (see the module doc)."""


__all__ = [
    "Applied",
    "Committed",
    "LeadershipLost",
    "Position",
    "RaftDriver",
    "RaftRouter",
    "Restore",
    "pack_records",
    "unpack_records",
]


class _Proposal:
    __slots__ = ("done", "error", "index", "offset", "record", "term")

    def __init__(self, record: bytes) -> None:
        self.record = record
        self.done = trio.Event()
        self.error: Exception | None = None
        self.index = 0
        self.term = 0
        self.offset = 0


class _Unsynced:
    __slots__ = ("messages", "point", "stale", "upto")

    def __init__(self, upto: int, messages: list[Any], point: tuple[int, int] | None) -> None:
        self.upto = upto
        self.messages = messages
        self.point = point
        self.stale = False


class RaftDriver(LeadershipMixin, SnapshotTransferMixin):
    # Leadership controls and role announcements live in driver_leadership.py; taking, shipping and
    # installing snapshots in driver_snapshots.py. Here: start-up, the loop that owns the core
    # and carries out its Readies, proposals, the flusher and the committed-entries channel.

    def __init__(
        self,
        *,
        config: RaftConfig,
        node_id: int,
        voters: Sequence[int],
        addresses: Mapping[int, str],
        router: RaftRouter,
        disk: Disk,
        directory: str,
        rng: random.Random,
        segment_bytes: int = 128 * 1024 * 1024,
        timer: ElectionTimer | None = None,
        on_ready: Callable[[int, Ready], None] | None = None,
        retain_entries: int = 1000,
        retain_bytes: int = 4 * 1024 * 1024,
        request_timeout: float = 2.5,
        snapshot_chunk_bytes: int = 1 << 20,
    ) -> None:
        if node_id not in voters:
            raise ValueError(f"node {node_id} is not among the partition's voters {sorted(voters)}")
        self.config = config
        self.partition = config.partition
        self.node_id = node_id
        self.voters = tuple(sorted(voters))
        # A live view (kept up to date by membership): peers found after start are reachable.
        self.addresses = addresses
        self.router = router
        self.network = router.network
        self.disk = disk
        self.directory = directory
        self.rng = rng
        self.segment_bytes = segment_bytes
        self.timer = timer
        self.on_ready = on_ready  # test hook: sees every Ready (invariant checks)
        self.core: RaftCore | None = None
        self.log: SegmentedLog | None = None
        self.meta = MetaStore(disk, f"{directory}/raft.meta")
        self.snapshots = SnapshotStore(disk, f"{directory}/snapshots")
        # Entries kept behind a snapshot, so a follower a little behind gets entries, not the
        # whole snapshot (Zeebe: preferSnapshotReplicationThreshold).
        self.retain_entries = retain_entries
        self.retain_bytes = retain_bytes
        self.request_timeout = request_timeout
        self.snapshot_chunk_bytes = snapshot_chunk_bytes
        self.snapshot_chunks_sent = 0
        self._transfers: set[int] = set()
        self._nursery: trio.Nursery | None = None
        self.soft_state = SoftState(Role.FOLLOWER, None, 0)
        self.dropped_inbound = 0
        self.fsyncs = 0
        send, receive = trio.open_memory_channel[Any](INBOX_SIZE)
        self._inbox_send, self._inbox = send, receive
        self._committed_send: trio.MemorySendChannel[Applied] | None = None
        self._committed_backlog: deque[Applied] = deque()
        self._committed_ready = trio.Event()
        self._queued: list[_Proposal] = []
        self._queued_bytes = 0
        self._waiting: dict[int, list[_Proposal]] = {}  # entry index -> proposals in it
        self._unsynced: deque[_Unsynced] = deque()
        self._need_flush = trio.Event()
        self._wake_pending = False
        self._wait_scope: trio.CancelScope | None = None
        self._hard_state = HardState()
        self._role_watchers: list[trio.MemorySendChannel[SoftState]] = []

    # -- public API ---------------------------------------------------------------------

    def deliver(self, message: Any) -> None:
        """Called by the router for every inbound message of this partition (never blocks)."""
        if isinstance(message, InstallSnapshot):
            latest = self.snapshots.latest()
            named = (message.snapshot_index, message.snapshot_term)
            if latest is None or (latest.index, latest.term) < named:
                return  # the data must be installed first; the leader will send it again
            if (latest.index, latest.term) != named:
                # We already hold a newer snapshot (e.g. a deposed leader shipped it): adopt
                # that one, so the state machine restores exactly what the log restarts after.
                # It covers committed entries only, which every later leader holds.
                message = attrs.evolve(
                    message, snapshot_index=latest.index, snapshot_term=latest.term
                )
        try:
            self._inbox_send.send_nowait(message)
        except trio.WouldBlock:
            self.dropped_inbound += 1  # Raft recovers from loss; never stall the connection

    async def propose(self, record: bytes) -> Position:
        """Replicate ``record``; returns once it is committed (durable on a quorum).

        Raises NotLeader (with the known leader), ProposalDropped/Backpressure (retry later) or
        LeadershipLost (the leader stepped down first: the record may or may not commit).
        """
        if self.soft_state.role is not Role.LEADER:
            raise NotLeader(self.soft_state.leader)
        proposal = _Proposal(record)
        self._queued.append(proposal)
        self._queued_bytes += len(record)
        self._wake()
        await proposal.done.wait()
        if proposal.error is not None:
            raise proposal.error
        return Position(proposal.index, proposal.offset)

    async def propose_many(self, records: Sequence[bytes]) -> list[Position | Exception]:
        """:meth:`propose` for several records at once; each one's position or error."""
        if self.soft_state.role is not Role.LEADER:
            raise NotLeader(self.soft_state.leader)
        proposals = [_Proposal(record) for record in records]
        self._queued += proposals
        self._queued_bytes += sum(len(record) for record in records)
        self._wake()
        for proposal in proposals:
            await proposal.done.wait()
        return [p.error if p.error is not None else Position(p.index, p.offset) for p in proposals]

    def committed_entries(
        self, buffer: int = COMMITTED_BUFFER
    ) -> trio.MemoryReceiveChannel[Applied]:
        """Every committed entry, in order, after a :class:`Restore` of the snapshot to start
        from (call before ``run``; one consumer)."""
        send, receive = trio.open_memory_channel[Applied](buffer)
        self._committed_send = send
        return receive

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.core.status() if self.core is not None else {}
        status.update(
            fsyncs=self.fsyncs,
            dropped_inbound=self.dropped_inbound,
            durable_index=self.log.durable_index if self.log is not None else 0,
        )
        return status

    async def run(
        self, *, task_status: trio.TaskStatus[RaftDriver] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self.disk.makedirs(self.directory)
        meta = self.meta.load()
        self.log = SegmentedLog.open(self.disk, self.directory, segment_bytes=self.segment_bytes)
        # Whatever recovery read may sit only in the page cache (a process crash keeps it):
        # make it durable before anything is promised about it.
        await self.log.flush()
        snapshot = self.snapshots.latest()
        snap_meta = None
        if snapshot is not None:
            snap_meta = SnapshotMeta(snapshot.index, snapshot.term)
            if self.log.last_index < snapshot.index:
                # Installed from a leader, crashed before the log caught up: start after it.
                self.log.reset(snapshot.index, snapshot.term)
            if self._committed_send is not None:
                self._committed_backlog.append(Restore(snapshot))
        after = snapshot.index if snapshot is not None else 0
        entries = [
            Entry(r.index, r.term, r.kind, r.data) for r in self.log.entries() if r.index > after
        ]
        self._hard_state = HardState(meta.term, meta.vote)
        self.core = RaftCore(
            self.config,
            self.node_id,
            self.voters,
            self._hard_state,
            entries,
            snap_meta,
            self.rng,
            trio.current_time(),
            timer=self.timer,
        )
        log.info(
            "partition %d: raft started on node %d (term %d, %d entries, voters %s)",
            self.partition,
            self.node_id,
            meta.term,
            len(entries),
            list(self.voters),
        )
        self.router.register(self)
        if self.voters == (self.node_id,):
            self.core.campaign()  # alone: no one to wait for, lead at once
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._flusher)
                nursery.start_soon(self._committed_pump)
                self._committed_ready.set()
                task_status.started(self)
                await self._loop()
        finally:
            self.router.unregister(self)
            # A stopped driver leads nothing, whatever its core last said.
            self.soft_state = SoftState(Role.FOLLOWER, None, self.soft_state.term)
            self._fail_all(LeadershipLost("partition stopped"))
            if self._committed_send is not None:
                self._committed_send.close()
            for watcher in self._role_watchers:
                watcher.close()
            if self.log is not None:
                self.log.close()

    # -- the loop -----------------------------------------------------------------------

    def _wake(self) -> None:
        if self._wake_pending:
            return  # already woken: a second cancel would only cost time
        self._wake_pending = True
        if self._wait_scope is not None:
            self._wait_scope.cancel()

    async def _loop(self) -> None:
        core = self.core
        assert core is not None
        while True:
            deadline = core.next_deadline()
            message = None
            if not self._wake_pending:
                with trio.CancelScope(
                    deadline=deadline if math.isfinite(deadline) else math.inf
                ) as scope:
                    self._wait_scope = scope
                    message = await self._inbox.receive()
                self._wait_scope = None
            self._wake_pending = False
            # The core only knows the time we tell it: tick first, so that a heartbeat stepped
            # below restarts the election timer from now, not from the last tick.
            core.tick(trio.current_time())
            if message is not None:
                core.step(message)
            while True:  # drain what is already waiting: one Ready for the whole burst
                try:
                    core.step(self._inbox.receive_nowait())
                except trio.WouldBlock:
                    break
            self._propose_queued()
            await self._process_ready()
            if self._proposals_due():
                self._wake_pending = True  # an entry committed: the held proposals go now

    def _proposals_due(self) -> bool:
        if not self._queued:
            return False
        if self.soft_state.role is not Role.LEADER:
            return True  # to be refused at once
        core = self.core
        assert core is not None
        return (
            core.log.last_index - core.commit < PROPOSAL_WINDOW
            or self._queued_bytes >= self.config.max_batch_bytes
        )

    def _propose_queued(self) -> None:
        if not self._proposals_due():
            return
        core = self.core
        assert core is not None
        queued, self._queued = self._queued, []
        self._queued_bytes = 0
        if self.soft_state.role is not Role.LEADER:
            self._fail(queued, NotLeader(self.soft_state.leader))
            return
        limit = self.config.max_batch_bytes
        start = 0
        while start < len(queued):
            end, size = start, 0
            while end < len(queued) and (end == start or size + len(queued[end].record) <= limit):
                size += len(queued[end].record) + 5
                end += 1
            batch = queued[start:end]
            try:
                index = core.propose(pack_records([p.record for p in batch]))
            except (NotLeader, ProposalDropped) as exc:
                self._fail(queued[start:], exc)
                return
            term = self.soft_state.term
            for offset, p in enumerate(batch):
                p.index, p.term, p.offset = index, term, offset
            self._waiting[index] = batch
            start = end

    async def _process_ready(self) -> None:
        core = self.core
        log_ = self.log
        assert core is not None and log_ is not None
        while True:
            self._release_synced()  # may let the core commit: loop until nothing is left
            ready = core.ready()
            if ready is None:
                return
            if self.on_ready is not None:
                self.on_ready(self.node_id, ready)
            if ready.soft_state is not None:
                self._on_soft_state(ready.soft_state)
            if ready.snapshot is not None:
                await self._install(ready.snapshot)
            # Messages that promise nothing go out first: followers start their own write
            # while ours is still being made.
            for message in ready.messages:
                self._send(message)
            if ready.entries:
                first = ready.entries[0].index
                if first <= log_.last_index:
                    for item in self._unsynced:
                        if item.upto >= first:
                            item.stale = True
                log_.append(ready.entries)
            if ready.hard_state is not None and ready.hard_state != self._hard_state:
                await self.meta.save(MetaState(ready.hard_state.term, ready.hard_state.vote))
                self._hard_state = ready.hard_state
            if ready.messages_after_persist or ready.persisted_point is not None:
                self._unsynced.append(
                    _Unsynced(log_.last_index, ready.messages_after_persist, ready.persisted_point)
                )
                self._need_flush.set()
            for snap in ready.snapshots_to_send:
                if snap.dst not in self._transfers and self._nursery is not None:
                    self._transfers.add(snap.dst)
                    self._nursery.start_soon(self._ship_snapshot, snap)
            if ready.committed:
                self._apply(ready.committed)

    def _release_synced(self) -> None:
        log_ = self.log
        core = self.core
        assert log_ is not None and core is not None
        durable = log_.durable_index
        released = False
        while self._unsynced:
            item = self._unsynced[0]
            if not item.stale and item.upto > durable:
                break
            self._unsynced.popleft()
            released = True
            if item.stale:
                continue
            for message in item.messages:
                self._send(message)
            if item.point is not None:
                core.persisted(*item.point)
        if released and self._unsynced:
            self._need_flush.set()

    def _send(self, message: Any) -> None:
        address = self.addresses.get(message.dst)
        if address is not None:
            self.network.send(address, message)

    def _apply(self, entries: list[Entry]) -> None:
        consumer = self._committed_send is not None
        for entry in entries:
            waiting = self._waiting.pop(entry.index, None)
            if entry.kind != NORMAL:
                if waiting:
                    self._fail(waiting, LeadershipLost("entry overwritten by a new leader"))
                if consumer and entry.kind == NOOP:
                    self._committed_backlog.append(Committed(entry.index, entry.term, [], True))
                continue
            if waiting:
                if waiting[0].term == entry.term:
                    for p in waiting:
                        p.done.set()
                else:
                    self._fail(waiting, LeadershipLost("entry overwritten by a new leader"))
            if consumer:
                records = unpack_records(entry.data)
                self._committed_backlog.append(Committed(entry.index, entry.term, records))
        if self._committed_backlog:
            self._committed_ready.set()

    async def _committed_pump(self) -> None:
        """Moves committed entries to the bounded channel; a slow consumer never blocks Raft."""
        while True:
            await self._committed_ready.wait()
            self._committed_ready = trio.Event()
            while self._committed_backlog and self._committed_send is not None:
                item = self._committed_backlog.popleft()
                try:
                    await self._committed_send.send(item)
                except trio.BrokenResourceError:  # the consumer went away
                    self._committed_send = None
                    self._committed_backlog.clear()

    async def _flusher(self) -> None:
        log_ = self.log
        assert log_ is not None
        while True:
            await self._need_flush.wait()
            self._need_flush = trio.Event()
            await log_.flush()
            self.fsyncs += 1
            # Acknowledge what is now durable right away rather than a scheduler round later;
            # the loop then processes whatever the core makes of it.
            self._release_synced()
            self._wake()

    # -- proposals bookkeeping ----------------------------------------------------------

    def _fail(self, proposals: list[_Proposal], error: Exception) -> None:
        for p in proposals:
            if not p.done.is_set():
                p.error = error
                p.done.set()

    def _fail_all(self, error: Exception) -> None:
        self._fail(self._queued, error)
        self._queued = []
        self._queued_bytes = 0
        for waiting in self._waiting.values():
            self._fail(waiting, error)
        self._waiting.clear()
