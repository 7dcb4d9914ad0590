"""The partition manager: one supervised subtree per partition this broker replicates.

For every local partition it runs a Raft driver and a processor, restarting a failed partition
with capped exponential back-off while reporting it unhealthy; the rest of the broker keeps
serving. A partition whose state machine failed on a committed record is not restarted (the
replay would fail on the same record): it stays unhealthy with the reason in
:meth:`PartitionManager.problems` while its Raft replica keeps replicating. The manager publishes
the broker's partition roles, terms and health in its membership properties, keeps the
cluster-wide partition-leader table from what the other brokers publish, and speeds up failover:
when membership says the leader of a partition is no longer alive, the highest-priority live
replica stands at once instead of waiting for its priority timer (Zeebe's worst case is about
(quorum + 1) election timeouts).

It also owns the broker's :class:`~.diskspace.DiskSpaceMonitor`: while the data directory's
free space is below ``data.disk.free_space_processing`` every local partition reports itself
unhealthy (its Raft role stays what it is, so clients are still routed to its leader) and the
leaders refuse new client commands, until the space is back.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import trio

from ..codec import wire
from ..disk import Disk
from ..engine.runtime.trace import TraceListener
from ..engine.statemachine import StateMachine
from ..errors import find_error
from ..log.meta import MetaCorruptionError
from ..log.record import LogCorruptionError
from ..logs import log_context
from ..membership.driver import MembershipService
from ..membership.events import (
    MemberAdded,
    MemberAlive,
    MemberRemoved,
    MemberSuspect,
    PropertiesChanged,
)
from ..membership.messages import State
from ..processing.processor import Halt, PartitionProcessor
from ..raft.config import RaftConfig
from ..raft.driver import RaftDriver
from ..raft.election import PriorityElectionTimer
from ..raft.ready import Role, SoftState
from ..raft.router import RaftRouter
from .broker_info import (
    BrokerInfoProps,
    PartitionHealth,
    PartitionRole,
    PartitionStatus,
    decode_broker_info,
    encode_broker_info,
)
from .config import DataConfig
from .diskspace import DiskSpaceMonitor
from .distribution import PartitionDistribution, should_campaign
from .leaders import PartitionLeaderTable, rebalance_plan
from .messenger import PartitionMessenger

log = logging.getLogger("trio_zeebe.partitions")


@wire("p.transfer")
@attrs.frozen
class TransferLeadership:
    """Broker to broker: "hand leadership of ``partition`` over to ``target``" (rebalance)."""

    partition: int
    source: int
    target: int


RESTART_BACKOFF_INITIAL = 0.1
RESTART_BACKOFF_MAX = 10.0
PUBLISH_DELAY = 0.02  # coalesce many role changes (e.g. at startup) into one gossip update
DISK_SPACE_POLL = 1.0  # seconds between free-space checks of a partition waiting for room
LEADER_SILENT_HEARTBEATS = 3  # Raft's half of the failover evidence: the leader is this quiet
CAMPAIGN_RETRY_HEARTBEATS = 2  # a failover campaign is retried this often until a leader shows


@attrs.define
class LocalPartition:
    """The manager's record of one partition this broker replicates (one per partition for
    the broker's lifetime; its driver and processor are replaced on every restart)."""

    partition_id: int
    driver: RaftDriver | None = None
    processor: PartitionProcessor | None = None
    health: PartitionHealth = PartitionHealth.UNHEALTHY
    problem: str = ""  # why it is not healthy, when known (e.g. its state machine failed)
    installed: bool = False  # has been leader or follower at least once (readiness)
    restarts: int = 0
    halted: bool = False  # its processor stopped applying (Raft still runs)
    last_campaign: float = -1e9
    failed_leader: int | None = None  # the leader both failure detectors gave up on


class PartitionObservers(Protocol):
    """What a partition's components report for metrics, in seconds (the broker's monitoring
    provides them; see :class:`trio_zeebe.monitoring.metrics.PartitionMetrics`)."""

    @property
    def commit_latency(self) -> Callable[[float], None]: ...
    @property
    def fsync_latency(self) -> Callable[[float], None]: ...
    @property
    def processing_latency(self) -> Callable[[float], None]: ...
    @property
    def snapshot_duration(self) -> Callable[[float], None]: ...
    @property
    def engine_events(self) -> TraceListener | None: ...


class PartitionManager:
    """The partitions of one broker (see the module docstring).

    Owns one :class:`LocalPartition` per partition the distribution gives this node, and under
    ``run`` one supervisor task per partition (its :class:`RaftDriver` and
    :class:`PartitionProcessor`, rebuilt on every restart), the publisher of the broker's
    partition roles (membership properties), the :class:`PartitionLeaderTable` of the whole
    cluster fed from gossip, and the failover loop. Others read: :meth:`driver`,
    :meth:`processor`, :meth:`statuses`, :attr:`ready`, :attr:`healthy`, :meth:`problems`;
    ``on_partition_started`` hooks (the gateway) run with the partition id and its subtree's
    nursery when a partition's subtree is up.
    Leadership moves only through Raft (:meth:`transfer_leadership`, :meth:`rebalance`).
    """

    def __init__(
        self,
        *,
        node_id: int,
        distribution: PartitionDistribution,
        raft: RaftConfig,
        data: DataConfig,
        router: RaftRouter,
        disk: Disk,
        data_dir: str,
        membership: MembershipService,
        gateway_address: str,
        rng: random.Random,
        machine_factory: Callable[[int], StateMachine] | None = None,
        clock: Callable[[], float] | None = None,
        metrics: Callable[[int], PartitionObservers] | None = None,
    ) -> None:
        self.node_id = node_id
        self.distribution = distribution
        self.raft = raft
        self.data = data
        self.router = router
        self.disk = disk
        self.data_dir = data_dir
        self.membership = membership
        self.gateway_address = gateway_address
        self.rng = rng
        self.machine_factory = machine_factory
        self.clock = clock or time.time
        self.leaders = PartitionLeaderTable()
        self.peers: dict[int, BrokerInfoProps] = {}
        self.addresses: dict[int, str] = {}  # live address book shared with the drivers
        self.local: dict[int, LocalPartition] = {
            pid: LocalPartition(pid) for pid in distribution.partitions_of(node_id)
        }
        self.observers = {pid: metrics(pid) for pid in self.local} if metrics else {}
        self.on_partition_started: list[Callable[[int, trio.Nursery], None]] = []
        self._publish_needed = trio.Event()
        self.became_ready = trio.Event()
        """Set once every local partition has had a role (see :attr:`ready`)."""
        if not self.local:
            self.became_ready.set()
        router.network.on(TransferLeadership, self._on_transfer_request)
        self.messenger = PartitionMessenger(self, router.network)
        self.disk_space = DiskSpaceMonitor(disk, data_dir, data.disk)
        self.disk_space.on_change.append(self._on_disk_space)

    # -- views ----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return all(p.installed for p in self.local.values())

    @property
    def healthy(self) -> bool:
        return all(self.health(p) is PartitionHealth.HEALTHY for p in self.local.values())

    def health(self, part: LocalPartition) -> PartitionHealth:
        """The partition's health as reported: its own, and unhealthy while the disk is too
        full to process (a dead partition stays dead)."""
        if part.health is PartitionHealth.HEALTHY and not self.disk_space.processing_allowed:
            return PartitionHealth.UNHEALTHY
        return part.health

    def statuses(self) -> list[PartitionStatus]:
        out = []
        for pid, part in sorted(self.local.items()):
            soft = part.driver.soft_state if part.driver is not None else None
            role = PartitionRole.INACTIVE
            # A halted processor or a full disk leaves Raft running: its role is real, only its
            # health is not.
            if soft is not None and (part.health is PartitionHealth.HEALTHY or part.halted):
                role = _published_role(soft.role)
            out.append(PartitionStatus(pid, role, soft.term if soft else 0, self.health(part)))
        return out

    def driver(self, partition_id: int) -> RaftDriver | None:
        part = self.local.get(partition_id)
        return part.driver if part is not None else None

    def processor(self, partition_id: int) -> PartitionProcessor | None:
        part = self.local.get(partition_id)
        return part.processor if part is not None else None

    def leader_of(self, partition_id: int) -> int | None:
        """Who leads the partition: Raft's own view when this broker has a replica, else (or
        when fresher) the gossiped leader table's; None while nobody is known to."""
        local_term = -1
        driver = self.driver(partition_id)
        if driver is not None:
            soft = driver.soft_state
            if soft.role is Role.LEADER:
                return self.node_id
            if soft.leader is not None:
                return soft.leader
            local_term = soft.term
        known = self.leaders.leader(partition_id)
        # A claim older than the local replica's term is from before an election in progress.
        if known is None or known[1] < local_term:
            return None
        return known[0]

    def problems(self) -> dict[int, str]:
        """Partition id -> why it is unhealthy, for the local partitions where that is known."""
        found = {pid: p.problem for pid, p in sorted(self.local.items()) if p.problem}
        if not self.disk_space.processing_allowed:
            low = self.disk_space.describe()
            for pid, part in self.local.items():
                if part.health is PartitionHealth.HEALTHY:
                    found[pid] = low
        return dict(sorted(found.items()))

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.addresses.update(self.membership.known())
        events = self.membership.subscribe()
        async with trio.open_nursery() as nursery:
            # The first reading before any partition starts: none serves on a full disk.
            await nursery.start(self.disk_space.run)
            nursery.start_soon(self._follow_membership, events)
            nursery.start_soon(self._publisher)
            nursery.start_soon(self._failover_loop)
            for pid in self.local:
                nursery.start_soon(self._supervise, pid)
            self._publish_needed.set()
            task_status.started()

    def rebalance(self) -> list[tuple[int, int, int]]:
        """Ask every live leader that is not its partition's primary to hand over to it.

        Returns the plan ``(partition, from node, to node)``; the transfers run asynchronously.
        """
        members = self.membership.members()
        alive = {n for n, m in members.items() if m.state is State.ALIVE}
        plan = rebalance_plan(self.distribution, self.leaders, alive)
        for pid, source, target in plan:
            if source == self.node_id:
                self.transfer_leadership(pid, target)
            elif source in self.addresses:
                self.router.network.send(
                    self.addresses[source], TransferLeadership(pid, source, target)
                )
        return plan

    def transfer_leadership(self, partition_id: int, to: int) -> None:
        driver = self.driver(partition_id)
        if driver is not None and driver.is_leader:
            log.info("partition %d: transferring leadership to node %d", partition_id, to)
            driver.transfer_leadership(to)

    async def _on_transfer_request(self, peer: Any, message: TransferLeadership) -> None:
        if message.source == self.node_id:
            self.transfer_leadership(message.partition, message.target)

    async def hand_over_leaderships(self, within: float) -> None:
        """Graceful shutdown: move every local leadership to an up-to-date follower."""
        async with trio.open_nursery() as nursery:
            for part in self.local.values():
                if part.driver is not None and part.driver.is_leader:
                    nursery.start_soon(part.driver.hand_over_leadership, within)

    async def _supervise(self, pid: int) -> None:
        # Everything this partition's tasks log carries its partition (and node) id.
        with log_context(node=self.node_id, partition=pid):
            await self._supervise_partition(pid)

    async def _supervise_partition(self, pid: int) -> None:
        part = self.local[pid]
        backoff = RESTART_BACKOFF_INITIAL
        while True:
            driver = self._new_driver(pid)
            part.driver = driver
            processor = None
            if self.machine_factory is not None:
                observers = self.observers.get(pid)
                processor = PartitionProcessor(
                    driver,
                    self.machine_factory(pid),
                    clock=self.clock,
                    snapshot_every=self.data.snapshot_entries,
                    snapshot_period=self.data.snapshot_period,
                    observe_processing=observers.processing_latency if observers else None,
                    observe_snapshot=observers.snapshot_duration if observers else None,
                    trace=observers.engine_events if observers else None,
                    messenger=self.messenger,
                    accepting=self._accepting_commands,
                )
            part.processor = processor
            part.halted, part.problem = False, ""
            if processor is not None:
                processor.on_halted.append(functools.partial(self._on_halted, part))
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(driver.run)
                    if processor is not None:
                        await nursery.start(processor.run)
                    part.health = PartitionHealth.HEALTHY
                    if processor is not None and processor.halted is not None:
                        self._on_halted(part, processor.halted)  # failed while starting
                    self._publish_needed.set()
                    backoff = RESTART_BACKOFF_INITIAL
                    for hook in self.on_partition_started:
                        hook(pid, nursery)
                    nursery.start_soon(self._watch_roles, part, driver)
            except Exception as exc:
                corrupt = find_error(exc, LogCorruptionError) or find_error(
                    exc, MetaCorruptionError
                )
                if corrupt is not None:
                    # Restarting cannot help and could make things worse: stop this partition
                    # (its replicas elsewhere keep serving) and say exactly what is wrong.
                    part.health = PartitionHealth.DEAD
                    self._publish_needed.set()
                    log.error(
                        "partition %d on node %d stopped: %s (the other replicas keep serving; "
                        "move the partition directory away to resync it from them)",
                        pid,
                        self.node_id,
                        corrupt,
                    )
                    return
                part.restarts += 1
                part.health = PartitionHealth.UNHEALTHY
                part.halted, part.problem = False, f"restarting after {type(exc).__name__}"
                self._publish_needed.set()
                log.exception(
                    "partition %d failed on node %d; restarting in %.1fs",
                    pid,
                    self.node_id,
                    backoff,
                )
                if find_error(exc, OSError) is not None:
                    await self._wait_for_disk_space(pid, backoff)
            await trio.sleep(backoff)
            backoff = min(backoff * 2, RESTART_BACKOFF_MAX)

    def _accepting_commands(self) -> bool:
        return self.disk_space.processing_allowed

    def _on_disk_space(self, allowed: bool) -> None:
        """The disk crossed ``free_space_processing``: publish the partitions' new health."""
        self._publish_needed.set()

    def _on_halted(self, part: LocalPartition, halt: Halt) -> None:
        """The state machine failed on a committed record: unhealthy, with the reason, but not
        restarted (replaying would fail on the same record); Raft goes on replicating."""
        part.health = PartitionHealth.UNHEALTHY
        part.halted = True
        part.problem = halt.describe()
        self._publish_needed.set()

    async def _wait_for_disk_space(self, pid: int, poll: float) -> None:
        """A partition that failed on the disk stays down (and out of elections) until there is
        room again, rather than winning elections only to fail on its first write."""
        needed = self.data.disk.free_space_replication
        disk, data_dir = self.disk, self.data_dir
        while (free := await disk.run_blocking(disk.free_bytes, data_dir)) < needed:
            log.warning(
                "partition %d on node %d waits for disk space: %d bytes free, %d needed",
                pid,
                self.node_id,
                free,
                needed,
            )
            await trio.sleep(max(poll, DISK_SPACE_POLL))

    def _new_driver(self, pid: int) -> RaftDriver:
        observers = self.observers.get(pid)
        dist = self.distribution
        voters = [r.node_id for r in dist.replicas(pid)]
        timer = None
        priority = dist.priority(pid, self.node_id)
        if self.raft.enable_priority_election and priority is not None:
            timer = PriorityElectionTimer(
                self.raft.election_timeout, priority, dist.target_priority(pid)
            )
        return RaftDriver(
            partition=pid,
            config=self.raft,
            node_id=self.node_id,
            voters=voters,
            addresses=self.addresses,
            router=self.router,
            disk=self.disk,
            directory=f"{self.data_dir}/partitions/{pid}",
            rng=random.Random(self.rng.getrandbits(64)),
            segment_bytes=self.data.log_segment_size,
            timer=timer,
            observe_commit=observers.commit_latency if observers else None,
            observe_fsync=observers.fsync_latency if observers else None,
        )

    async def _watch_roles(self, part: LocalPartition, driver: RaftDriver) -> None:
        roles = driver.watch_roles()
        async with roles:
            # Changes from before the subscription were sent to no one (Raft may have found its
            # leader already): begin with the present, unless it is still the state every
            # replica starts in (a follower knowing no leader), which is no role yet.
            present = driver.soft_state
            if present.role is Role.LEADER or present.leader is not None:
                self._on_role(part, present)
            async for soft in roles:
                self._on_role(part, soft)

    def _on_role(self, part: LocalPartition, soft: SoftState) -> None:
        if soft.role in (Role.LEADER, Role.FOLLOWER):
            part.installed = True
            if self.ready:
                self.became_ready.set()
        me = PartitionStatus(part.partition_id, _published_role(soft.role), soft.term, part.health)
        self.leaders.update(self.node_id, [me])
        if soft.leader is not None and soft.leader != self.node_id:
            # Raft itself tells us who leads; gossip may lag behind.
            leader = PartitionStatus(
                part.partition_id, PartitionRole.LEADER, soft.term, PartitionHealth.HEALTHY
            )
            self.leaders.update(soft.leader, [leader])
        self._publish_needed.set()

    async def _publisher(self) -> None:
        while True:
            await self._publish_needed.wait()
            await trio.sleep(PUBLISH_DELAY)
            self._publish_needed = trio.Event()
            statuses = self.statuses()
            self.leaders.update(self.node_id, statuses)
            self.membership.set_properties(
                encode_broker_info(BrokerInfoProps(self.gateway_address, tuple(statuses)))
            )

    async def _follow_membership(self, events: Any) -> None:
        async with events:
            async for event in events:
                member = event.member
                if member.node_id == self.node_id:
                    continue
                if isinstance(event, MemberAdded | MemberAlive | PropertiesChanged):
                    self.addresses[member.node_id] = member.address
                    info = decode_broker_info(member.properties)
                    self.peers[member.node_id] = info
                    self.leaders.update(member.node_id, info.partitions)
                elif isinstance(event, MemberRemoved):
                    self.peers.pop(member.node_id, None)
                    self.leaders.remove_node(member.node_id)
                elif isinstance(event, MemberSuspect):
                    pass  # the failover loop looks at states directly

    async def _failover_loop(self) -> None:
        """Stand at once when both failure detectors agree that a partition's leader is gone.

        Evidence needed: SWIM marks the leader's broker SUSPECT or DEAD *and* Raft has not heard
        from it for several heartbeats. Then every replica drops its leader lease (so it votes at
        once instead of after an election timeout) and the highest-priority live replica
        campaigns, retrying every couple of heartbeats until a new leader is known.
        """
        hb = self.raft.heartbeat_interval
        while True:
            await trio.sleep(hb)
            members = self.membership.members()
            alive = {n for n, m in members.items() if m.state is State.ALIVE}
            now = trio.current_time()
            for pid, part in self.local.items():
                driver = part.driver
                if driver is None or driver.core is None or driver.is_leader:
                    part.failed_leader = None
                    continue
                leader = driver.soft_state.leader
                if leader is not None:
                    record = members.get(leader)
                    quiet = driver.silence() >= LEADER_SILENT_HEARTBEATS * hb
                    if record is None or record.state is State.ALIVE or not quiet:
                        part.failed_leader = None
                        continue
                    part.failed_leader = leader
                    log.info(
                        "partition %d: leader %d is %s and silent; node %d drops its lease",
                        pid,
                        leader,
                        record.state.label,
                        self.node_id,
                    )
                    driver.forget_leader()
                elif part.failed_leader is None or part.failed_leader in alive:
                    part.failed_leader = None
                    continue  # an ordinary election: the Raft timers decide
                if now - part.last_campaign < CAMPAIGN_RETRY_HEARTBEATS * hb:
                    continue
                if should_campaign(pid, self.node_id, self.distribution, alive, leader_known=False):
                    part.last_campaign = now
                    driver.campaign()


def _published_role(role: Role) -> PartitionRole:
    """What a running replica publishes: leader, or follower (a candidate is not serving)."""
    return PartitionRole.LEADER if role is Role.LEADER else PartitionRole.FOLLOWER
