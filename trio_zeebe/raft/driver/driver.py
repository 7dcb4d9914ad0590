"""Trio driver of one partition's Raft core: network in, durable log out, group commit.

One task (``_loop``) owns the core: it is the only one that calls it. Every other task puts its
input into the driver's :class:`~trio_zeebe.raft.driver.inbox.Inbox` (peers' messages, the flusher's
"persisted", campaign / transfer / hand-over requests, compaction after a snapshot, the end of a
snapshot transfer) or into the proposal queue, and wakes the loop. The loop waits for the first
input or the core's next deadline, then drains everything already waiting, so a burst of
proposals becomes one Ready, one write and one fsync.

Persistence follows the core's Ready contract (see :mod:`trio_zeebe.raft.core`):

* entries are written to the segmented log at once (a plain write), the hard state is replaced
  atomically (and durably) before the loop goes on;
* ``messages`` go out at once (a leader replicates while its own fsync runs);
* ``messages_after_persist`` and the persisted point wait in ``_unsynced`` until the flusher's
  fsync covers them. One fsync covers every entry appended since the previous one (group
  commit); it runs in a worker thread via the disk's ``run_blocking``. The flusher sends the
  released messages itself at once (acks leave without waiting a scheduler round) and puts the
  persisted point into the inbox. If a later conflict truncation cut into entries a queued
  item promised, that item is stale and its messages are dropped (Raft resends what is needed);
* committed entries complete the proposals waiting for them and go, in order, to the
  committed feed for the processor.

Proposals are packed into log entries as described in :mod:`trio_zeebe.raft.driver.proposals`.
"""

from __future__ import annotations

import logging
import math
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import trio

from ...disk import Disk
from ...log.meta import MetaState, MetaStore
from ...log.segmented import DEFAULT_SEGMENT_BYTES, SegmentedLog
from ..config import RaftConfig
from ..core import RaftCore
from ..election import ElectionTimer
from ..errors import LeadershipLost, NotLeader, ProposalDropped
from ..messages import Entry, HardState, InstallSnapshot, SnapshotMeta
from ..ready import Ready, Role, SoftState
from ..router import RaftRouter
from ..snapshots import SnapshotChunk, SnapshotChunkAck, SnapshotInfo, SnapshotStore
from ..status import DriverStatus
from .committed import COMMITTED_BUFFER, Applied, CommittedFeed, pack_records
from .inbox import (
    Campaign,
    Compact,
    Control,
    ForgetLeader,
    HandOverLeadership,
    Inbox,
    Persisted,
    Reply,
    SnapshotSent,
    TransferLeadership,
)
from .leadership import Leadership
from .proposals import Position, Proposals
from .snapshot_transfer import SnapshotTransfer

log = logging.getLogger("trio_zeebe.raft")

#: Peers' messages the inbox holds; more are dropped (and counted) rather than stall a peer.
INBOX_SIZE = 4096


class _Unsynced:
    """What one Ready promised once durable: messages to send and the point to report."""

    __slots__ = ("messages", "point", "stale", "upto")

    def __init__(self, upto: int, messages: list[Any], point: tuple[int, int] | None) -> None:
        self.upto = upto
        self.messages = messages
        self.point = point
        self.stale = False


class RaftDriver:
    """Runs one partition's :class:`RaftCore` on trio, with its log on disk and its peers on
    the network.

    Contract: after ``run`` has started, ``propose``/``propose_many`` return once the record
    is committed (durable on a quorum), or raise :class:`NotLeader`, :class:`ProposalDropped`
    (:class:`Backpressure`) or :class:`LeadershipLost` (outcome unknown);
    ``committed_entries()`` yields every committed entry in order (after a :class:`Restore`);
    ``soft_state``/``watch_roles()`` tell this node's role. Controls (``campaign``,
    ``forget_leader``, ``transfer_leadership``, ``hand_over_leadership``, ``take_snapshot``)
    may be called from any task: they go through the inbox to the loop, the only task that
    steps the core. Reading ``core`` (never changing it) is fine from anywhere.

    Collaborators: :class:`Inbox` (inputs to the loop), :class:`Proposals` (queue, window,
    packing, completion), :class:`Leadership` (soft state, watchers, hand-over rules),
    :class:`SnapshotTransfer` (snapshot bytes to and from peers), :class:`CommittedFeed` (the
    stream to the processor), :class:`SnapshotStore` and :class:`SegmentedLog` on disk.
    """

    def __init__(
        self,
        *,
        partition: int,
        config: RaftConfig,
        node_id: int,
        voters: Sequence[int],
        addresses: Mapping[int, str],
        router: RaftRouter,
        disk: Disk,
        directory: str,
        rng: random.Random,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        timer: ElectionTimer | None = None,
        on_ready: Callable[[int, Ready], None] | None = None,
        observe_commit: Callable[[float], None] | None = None,
        observe_fsync: Callable[[float], None] | None = None,
    ) -> None:
        if node_id not in voters:
            raise ValueError(f"node {node_id} is not among the partition's voters {sorted(voters)}")
        self.config = config
        self.partition = partition
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
        self.fsyncs = 0
        self.inbox = Inbox(INBOX_SIZE)
        # Metrics hooks (seconds): a proposal until it commits; one fsync of the log.
        self.proposals = Proposals(self.inbox.wake, observe_commit)
        self._observe_fsync = observe_fsync
        self.leadership = Leadership(self.partition, node_id)
        self.committed = CommittedFeed()
        self.snapshot_transfer = SnapshotTransfer(
            partition=self.partition,
            node_id=node_id,
            store=self.snapshots,
            network=self.network,
            addresses=addresses,
            soft_state=lambda: self.leadership.soft_state,
            inbox=self.inbox,
            chunk_bytes=config.snapshot_chunk_size,
            request_timeout=config.snapshot_request_timeout,
        )
        self._nursery: trio.Nursery | None = None
        self._unsynced: deque[_Unsynced] = deque()
        self._need_flush = trio.Event()
        self._hard_state = HardState()

    # -- reading ------------------------------------------------------------------------

    @property
    def soft_state(self) -> SoftState:
        return self.leadership.soft_state

    @property
    def is_leader(self) -> bool:
        return self.leadership.is_leader

    @property
    def snapshot_chunks_sent(self) -> int:
        return self.snapshot_transfer.chunks_sent

    def status(self) -> DriverStatus:
        return DriverStatus(
            raft=self.core.status() if self.core is not None else None,
            durable_index=self.log.durable_index if self.log is not None else 0,
            fsyncs=self.fsyncs,
            dropped_inbound=self.inbox.dropped,
        )

    def silence(self) -> float:
        """Seconds since this follower last heard from a leader."""
        return trio.current_time() - self.core.last_leader_contact if self.core else math.inf

    def watch_roles(self, buffer: int = 64) -> trio.MemoryReceiveChannel[SoftState]:
        return self.leadership.watch(buffer)

    def committed_entries(
        self, buffer: int = COMMITTED_BUFFER
    ) -> trio.MemoryReceiveChannel[Applied]:
        """Every committed entry, in order, after a :class:`Restore` of the snapshot to start
        from (call before ``run``; one consumer)."""
        return self.committed.open(buffer)

    # -- inputs from other tasks --------------------------------------------------------

    def deliver(self, message: Any) -> None:
        """Called by the router for every inbound message of this partition (never blocks)."""
        if isinstance(message, InstallSnapshot):
            message = self.snapshot_transfer.admit(message)
            if message is None:
                return
        self.inbox.deliver(message)

    async def receive_chunk(self, chunk: SnapshotChunk) -> SnapshotChunkAck:
        """Called by the router for a snapshot chunk from this partition's leader."""
        return await self.snapshot_transfer.receive_chunk(chunk)

    async def propose(self, record: bytes) -> Position:
        """Replicate ``record``; returns once it is committed (durable on a quorum).

        Raises NotLeader (with the known leader), ProposalDropped/Backpressure (retry later) or
        LeadershipLost (the leader stepped down first: the record may or may not commit).
        """
        soft = self.leadership.soft_state
        if soft.role is not Role.LEADER:
            raise NotLeader(soft.leader)
        proposal = self.proposals.add((record,))
        await proposal.done.wait()
        if proposal.error is not None:
            raise proposal.error
        return Position(proposal.index, proposal.offset)

    async def propose_many(self, records: Sequence[bytes]) -> list[Position | Exception]:
        """:meth:`propose` for several records at once; each one's position or error.

        Guarantee: the records go into the log as one entry, contiguously and in the given
        order (one index, offsets consecutive), whatever else is proposed meanwhile and even
        past ``max_batch_bytes``; so they commit together or not at all, with one outcome.
        """
        soft = self.leadership.soft_state
        if soft.role is not Role.LEADER:
            raise NotLeader(soft.leader)
        if not records:
            return []
        proposal = self.proposals.add(records)
        await proposal.done.wait()
        outcomes: list[Position | Exception] = []
        if proposal.error is not None:
            outcomes += [proposal.error] * len(records)
        else:
            outcomes += proposal.positions()
        return outcomes

    def campaign(self) -> None:
        """Stand for election now (e.g. membership says the leader is dead)."""
        self.inbox.put(Campaign())

    def forget_leader(self) -> None:
        """Drop the leader lease (membership says the leader is gone), so this node votes now."""
        self.inbox.put(ForgetLeader())

    def transfer_leadership(self, to: int) -> None:
        """Hand leadership to ``to`` (leader only: NotLeader otherwise); returns at once."""
        if self.core is None:
            return
        soft = self.leadership.soft_state
        if soft.role is not Role.LEADER:
            raise NotLeader(soft.leader)
        self.inbox.put(TransferLeadership(to))

    async def hand_over_leadership(self, within: float) -> bool:
        """Graceful stop: transfer leadership to the most up-to-date follower; True if done."""
        if self.core is None or not self.is_leader or len(self.voters) == 1:
            return False
        with trio.move_on_after(within):
            if await self.inbox.call(HandOverLeadership()) is None:
                return False
            # Done when another node is known to lead: clients can be sent there at once.
            await self.leadership.wait_for_successor()
        return self.leadership.led_elsewhere

    async def take_snapshot(
        self, index: int, term: int, body: bytes | Sequence[bytes]
    ) -> SnapshotInfo:
        """Persist the state machine as of entry ``index`` (``body`` whole or in pieces), then
        compact the log behind it."""
        info = await self.snapshots.save(index, term, body)
        await self.inbox.call(Compact(index))
        return info

    # -- running ------------------------------------------------------------------------

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
            self.committed.restore(snapshot)
        after = snapshot.index if snapshot is not None else 0
        entries = [
            Entry(r.index, r.term, r.kind, r.data) for r in self.log.entries() if r.index > after
        ]
        self._hard_state = HardState(meta.term, meta.vote)
        core = self.core = RaftCore(
            self.config,
            self.node_id,
            self.voters,
            self._hard_state,
            entries,
            snap_meta,
            self.rng,
            trio.current_time(),
            timer=self.timer,
            partition=self.partition,
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
        self.inbox.open()
        if self.voters == (self.node_id,):
            # Alone: no one to wait for, lead at once. Stepped here, in the loop's own task
            # before the loop starts, and without waking it: the first Ready (announcing the
            # role) comes at the first deadline, once the starter has subscribed to roles.
            core.campaign()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._flusher)
                nursery.start_soon(self.committed.pump)
                task_status.started(self)
                await self._loop(core)
        finally:
            self.router.unregister(self)
            self.inbox.close()
            self.leadership.stopped()
            self.proposals.fail_all(LeadershipLost("partition stopped"))
            self.committed.close()
            if self.log is not None:
                self.log.close()

    # -- the loop -----------------------------------------------------------------------

    async def _loop(self, core: RaftCore) -> None:
        """Every change to the core is made here (after ``run`` built it and, for a lone
        voter, made it campaign, in this same task)."""
        inbox = self.inbox
        while True:
            message = await inbox.wait(core.next_deadline())
            # The core only knows the time we tell it: tick first, so that a heartbeat stepped
            # below restarts the election timer from now, not from the last tick.
            core.tick(trio.current_time())
            if inbox.has_controls:
                points, controls = inbox.take_controls()
                for point in points:
                    core.persisted(point.index, point.term)
                for control, reply in controls:
                    self._step_control(core, control, reply)
            if message is not None:
                core.step(message)
            for message in inbox.messages():  # one Ready for the whole burst
                core.step(message)
            self._propose_queued(core)
            await self._process_ready(core)
            if self._proposals_due(core):
                inbox.wake()  # an entry committed: the held proposals go now

    def _step_control(self, core: RaftCore, control: Control, reply: Reply | None) -> None:
        result: Any = None
        try:
            match control:
                case Campaign():
                    core.campaign()
                case ForgetLeader():
                    core.forget_leader()
                case TransferLeadership(to):
                    if core.role is Role.LEADER:  # else moot: this node stepped down meanwhile
                        core.transfer_leadership(to)
                case HandOverLeadership():
                    if core.role is Role.LEADER and len(self.voters) > 1:
                        result = Leadership.successor(core.progress)
                        if result is not None:
                            core.transfer_leadership(result)
                case Compact(index):
                    self._compact(core, index)
                case SnapshotSent(peer, ok):
                    core.report_snapshot(peer, ok)
        except Exception as exc:
            if reply is None:
                raise
            reply.fail(exc)
            return
        if reply is not None:
            reply.set(result)

    def _compact(self, core: RaftCore, index: int) -> None:
        """A snapshot covers ``index``: compact, keeping at most ``config.retain_entries``
        entries (and at most ``config.retain_bytes`` of them) behind it."""
        log_ = self.log
        assert log_ is not None
        if index > core.applied:
            raise ValueError(f"cannot compact to {index}: only {core.applied} applied")
        upto, kept = index, 0
        floor = max(index - self.config.retain_entries, core.log.snap_index)
        while upto > floor:
            size = len(core.log.entry(upto).data)
            if kept + size > self.config.retain_bytes:
                break
            kept += size
            upto -= 1
        if upto > core.log.snap_index and core.log.term(upto) is not None:
            core.compact(upto)
            log_.compact(upto)

    def _proposals_due(self, core: RaftCore) -> bool:
        if not self.proposals.queued:
            return False
        return self.proposals.due(
            self.leadership.soft_state.role is Role.LEADER,
            core.log.last_index - core.log.commit,
            self.config.max_append_batch_size,
        )

    def _propose_queued(self, core: RaftCore) -> None:
        if not self._proposals_due(core):
            return
        batches = self.proposals.take(self.config.max_append_batch_size)
        soft = self.leadership.soft_state
        if soft.role is not Role.LEADER:
            self.proposals.fail_batches(batches, NotLeader(soft.leader))
            return
        for k, batch in enumerate(batches):
            try:
                index = core.propose(pack_records(batch.records))
            except (NotLeader, ProposalDropped) as exc:
                self.proposals.fail_batches(batches[k:], exc)
                return
            self.proposals.placed(batch, index, soft.term)

    async def _process_ready(self, core: RaftCore) -> None:
        log_ = self.log
        assert log_ is not None
        while True:
            # What the fsync covers may let the core commit: loop until nothing is left.
            for point in self._release_synced():
                core.persisted(point.index, point.term)
            ready = core.ready()
            if ready is None:
                return
            if self.on_ready is not None:
                self.on_ready(self.node_id, ready)
            if ready.soft_state is not None and self.leadership.announce(ready.soft_state):
                # Fail at once rather than at the client's timeout (Zeebe #42720).
                self.proposals.fail_all(
                    LeadershipLost(f"leader stepped down (new leader: {ready.soft_state.leader})")
                )
            if ready.snapshot is not None:
                self._install(ready.snapshot)
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
            if self._nursery is not None:
                for snap in ready.snapshots_to_send:
                    self.snapshot_transfer.send(self._nursery, snap)
            if ready.committed:
                for entry in ready.committed:
                    self.proposals.committed(entry)
                self.committed.entries(ready.committed)

    def _install(self, meta: SnapshotMeta) -> None:
        """The core adopted a snapshot received from the leader: the log restarts after it."""
        assert self.log is not None
        info = self.snapshot_transfer.installed(meta)
        for item in self._unsynced:
            item.stale = True
        self.log.reset(meta.index, meta.term)
        self.committed.restore(info)

    def _release_synced(self) -> list[Persisted]:
        """Send what the fsync so far covers; the persisted points it covers, in order."""
        log_ = self.log
        assert log_ is not None
        durable = log_.durable_index
        points: list[Persisted] = []
        released = False
        unsynced = self._unsynced
        while unsynced:
            item = unsynced[0]
            if not item.stale and item.upto > durable:
                break
            unsynced.popleft()
            released = True
            if item.stale:
                continue
            for message in item.messages:
                self._send(message)
            if item.point is not None:
                points.append(Persisted(*item.point))
        if released and unsynced:
            self._need_flush.set()
        return points

    def _send(self, message: Any) -> None:
        address = self.addresses.get(message.dst)
        if address is not None:
            self.network.send(address, message)

    async def _flusher(self) -> None:
        log_ = self.log
        assert log_ is not None
        while True:
            await self._need_flush.wait()
            self._need_flush = trio.Event()
            started = trio.current_time()
            await log_.flush()
            self.fsyncs += 1
            if self._observe_fsync is not None:
                self._observe_fsync(trio.current_time() - started)
            # Acknowledge what is now durable right away rather than a scheduler round later;
            # the loop steps the point into the core and processes whatever it makes of it.
            points = self._release_synced()
            if points:
                self.inbox.persisted(points)
            else:
                self.inbox.wake()
