"""A whole Raft group in one process: real drivers on a simulated network and simulated disks.

Run it under ``trio.testing.MockClock(autojump_threshold=0)``. Everything random comes from one
seed: the network's faults, the disks' torn writes, the Raft timers, the fault schedule a test
draws, and trio's own scheduler (seeded through ``seed_trio_scheduler``), so a failing seed
replays exactly.

:class:`RaftChecker` watches every Ready of every node and checks, as they happen: at most one
leader per term, state machine safety (no two nodes apply different entries at one index, and
each node applies a gap-free sequence), leader completeness (a new leader holds every entry
known committed), and that an acknowledged proposal is durable on a majority at the moment it
is acknowledged. :meth:`SimRaftGroup.check_log_matching` compares the nodes' logs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any, Self

import trio

from ..disk import Disk
from ..raft.config import RaftConfig
from ..raft.driver import RaftDriver
from ..raft.driver.proposals import Position
from ..raft.election import ElectionTimer
from ..raft.messages import NORMAL, Entry
from ..raft.ready import Ready, Role
from ..raft.router import RaftRouter
from ..transport.api import Peer
from .disk import SimDisk, SimDiskProcess, contain_dead_process_errors
from .network import SimNetwork

PARTITION = 1
"""The partition the simulated group replicates."""


class InvariantViolation(AssertionError):
    pass


async def wait_until(predicate: Callable[[], bool], within: float, poll: float = 0.05) -> None:
    """Poll ``predicate`` (simulated time makes polling free); TooSlowError after ``within``."""
    with trio.fail_after(within):
        while not predicate():  # noqa: ASYNC110 - state lives in sans-IO cores, not in events
            await trio.sleep(poll)


def seed_trio_scheduler(seed: int) -> None:
    """Make trio's run-queue order a function of ``seed`` (see peers-and-testing.md §5).

    Seeding trio's shuffle is not enough on its own: the tasks a cancellation wakes are
    collected from a set (ordered by their memory addresses), so each batch is first put in
    creation order, as trio does when Hypothesis is loaded (pytest loads it; a replay run as a
    plain script does not).
    """
    from trio._core import _run

    _run._r.seed(seed)
    setattr(_run, "_ALLOW_DETERMINISTIC_SCHEDULING", True)  # noqa: B010 - a Final in trio


class RaftChecker:
    def __init__(self) -> None:
        self.leaders: dict[int, int] = {}  # term -> leader
        self.committed: dict[int, tuple[int, int, bytes]] = {}  # index -> (term, kind, data)
        self.applied: dict[int, int] = {}  # node -> last index applied since its (re)start
        self.acked: dict[bytes, Position] = {}
        self.events = 0
        self.trace: list[tuple[Any, ...]] = []  # for replay comparison

    def restarted(self, node: int) -> None:
        self.applied.pop(node, None)

    def on_ready(self, group: SimRaftGroup, node: int, ready: Ready) -> None:
        self.events += 1
        soft = ready.soft_state
        if soft is not None:
            self.trace.append((trio.current_time(), node, soft.role.value, soft.term, soft.leader))
            if soft.role is Role.LEADER:
                other = self.leaders.setdefault(soft.term, node)
                if other != node:
                    raise InvariantViolation(
                        f"two leaders in term {soft.term}: node {other} and node {node}"
                    )
                self._check_completeness(group, node)
        if ready.snapshot is not None:
            self.applied[node] = ready.snapshot.index
        last = self.applied.get(node)
        for entry in ready.committed:
            if last is not None and entry.index != last + 1:
                raise InvariantViolation(
                    f"node {node} applied index {entry.index} after {last} (gap or repeat)"
                )
            last = entry.index
            seen = self.committed.setdefault(entry.index, (entry.term, entry.kind, entry.data))
            if seen != (entry.term, entry.kind, entry.data):
                raise InvariantViolation(
                    f"node {node} applied a different entry at index {entry.index}: "
                    f"term {entry.term} vs committed term {seen[0]}"
                )
        if last is not None:
            self.applied[node] = last

    def _check_completeness(self, group: SimRaftGroup, node: int) -> None:
        core = group.drivers[node].core
        assert core is not None
        for index, (term, _, _) in self.committed.items():
            if index <= core.log.snap_index:
                continue
            if core.log.term(index) != term:
                raise InvariantViolation(
                    f"leader {node} of term {core.term} lacks committed entry {index} "
                    f"(term {term}; has {core.log.term(index)})"
                )

    def on_ack(self, group: SimRaftGroup, record: bytes, position: Position) -> None:
        self.acked[record] = position
        term = self.committed.get(position.index, (None,))[0]
        durable = 0
        for driver in group.drivers.values():
            log = driver.log
            if (
                log is not None
                and log.durable_index >= position.index
                and log.term_at(position.index) == term
            ):
                durable += 1
        if durable * 2 <= group.size:
            raise InvariantViolation(
                f"acknowledged entry {position.index} is durable on only {durable} of "
                f"{group.size} nodes"
            )


class ListMachine:
    """A replicated list of every record, fed from a driver's committed stream; its snapshot is
    the msgpack list. Lets simulations exercise snapshots, compaction and snapshot install."""

    def __init__(self, driver: RaftDriver) -> None:
        self.driver = driver
        self.channel = driver.committed_entries()
        self.records: list[bytes] = []
        self.applied = (0, 0)
        self.restores = 0

    async def run(self) -> None:
        from .. import codec
        from ..raft.driver.committed import Committed, Restore

        async for item in self.channel:
            if isinstance(item, Restore):
                self.records = list(codec.unpackb(self.driver.snapshots.load(item.snapshot)))
                self.applied = (item.snapshot.index, item.snapshot.term)
                self.restores += 1
            elif isinstance(item, Committed):
                self.records.extend(item.records)
                self.applied = (item.index, item.term)

    async def snapshot(self) -> None:
        from .. import codec

        index, term = self.applied
        if index:
            await self.driver.take_snapshot(index, term, codec.packb(self.records))


class SimNodes:
    """What both in-process simulators share: one seed, ``size`` nodes on one
    :class:`SimNetwork`, each node's tasks in its own cancel scope inside :meth:`run`'s nursery.

    A subclass names a node's address (:meth:`address`) and runs its tasks
    (:meth:`_run_node`, which calls ``task_status.started()`` once the node is up).
    """

    def __init__(self, seed: int, size: int) -> None:
        self.seed = seed
        self.size = size
        self.rng = random.Random(seed)
        self.net = SimNetwork(random.Random(self.rng.getrandbits(64)))
        self.running: set[int] = set()
        self._scopes: dict[int, trio.CancelScope] = {}
        self._nursery: trio.Nursery | None = None

    def address(self, node: int) -> str:
        raise NotImplementedError

    async def run(self, *, task_status: trio.TaskStatus[Self] = trio.TASK_STATUS_IGNORED) -> None:
        seed_trio_scheduler(self.seed)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for node in range(self.size):
                await self.start(node)
            task_status.started(self)
            await trio.sleep_forever()

    async def start(self, node: int) -> None:
        assert self._nursery is not None
        self.net.restart(self.address(node))
        self._restarting(node)
        await self._nursery.start(self._node, node)
        self.running.add(node)

    def _restarting(self, node: int) -> None:
        """Called just before the node's tasks start again."""

    async def _node(self, node: int, *, task_status: trio.TaskStatus[None]) -> None:
        with trio.CancelScope() as scope:
            self._scopes[node] = scope
            await self._run_node(node, task_status)

    async def _run_node(self, node: int, task_status: trio.TaskStatus[None]) -> None:
        raise NotImplementedError

    def _kill(self, node: int) -> None:
        """Cancel the node's tasks and cut it off the network, as a crash does."""
        self._scopes[node].cancel()
        self.net.crash(self.address(node))
        self.running.discard(node)

    def partition(self, *groups: Iterable[int]) -> None:
        self.net.partition(*[[self.address(n) for n in g] for g in groups])

    def heal(self) -> None:
        self.net.heal()


class SimRaftGroup(SimNodes):
    """``size`` RaftDrivers for one partition, each on its own SimDisk and network endpoint."""

    def __init__(
        self,
        seed: int,
        size: int,
        *,
        config: RaftConfig | None = None,
        segment_bytes: int = 64 * 1024,
        timers: dict[int, ElectionTimer] | None = None,
        on_start: Callable[[int, RaftDriver, trio.Nursery], None] | None = None,
        machines: bool = False,
    ) -> None:
        super().__init__(seed, size)
        self.config = config or RaftConfig()
        self.segment_bytes = segment_bytes
        self.timers = timers or {}
        self.on_start = on_start
        self.with_machines = machines
        self.machines: dict[int, ListMachine] = {}
        self.addresses = {i: f"node-{i}:26502" for i in range(size)}
        self.disks: dict[int, Disk] = {i: SimDisk() for i in range(size)}
        self.drivers: dict[int, RaftDriver] = {}
        self.checker = RaftChecker()
        self._processes: dict[int, SimDiskProcess] = {}  # each node's view of a SimDisk

    # -- lifecycle ------------------------------------------------------------------------

    def address(self, node: int) -> str:
        return self.addresses[node]

    def _restarting(self, node: int) -> None:
        self.checker.restarted(node)

    async def _run_node(self, node: int, task_status: trio.TaskStatus[None]) -> None:
        disk = self.disks[node]
        process = None
        if isinstance(disk, SimDisk):
            process = self._processes[node] = disk.process()
            disk = process
        # A crashed node's tasks unwind after the crash (trio cancels them at their next
        # checkpoint): what its disk calls raise meanwhile is no error of the run.
        with contain_dead_process_errors(process):
            async with trio.open_nursery() as nursery:
                endpoint = self.net.endpoint(Peer(node, self.addresses[node]))
                await nursery.start(endpoint.run)
                driver = RaftDriver(
                    partition=PARTITION,
                    config=self.config,
                    node_id=node,
                    voters=range(self.size),
                    addresses=self.addresses,
                    router=RaftRouter(endpoint),
                    disk=disk,
                    directory=f"/data/node-{node}/partition-{PARTITION}",
                    rng=random.Random(self.rng.getrandbits(64)),
                    segment_bytes=self.segment_bytes,
                    timer=self.timers.get(node),
                    on_ready=lambda n, r: self.checker.on_ready(self, n, r),
                )
                self.drivers[node] = driver
                if self.with_machines:
                    machine = self.machines[node] = ListMachine(driver)
                    nursery.start_soon(machine.run)
                if self.on_start is not None:
                    self.on_start(node, driver, nursery)
                await nursery.start(driver.run)
                task_status.started()

    def crash(self, node: int, *, power_loss: bool = True) -> None:
        """Kill the node's tasks (nothing they still run reaches a SimDisk); with
        ``power_loss`` its disk also loses unsynced writes."""
        process = self._processes.pop(node, None)
        if process is not None:
            process.kill()
        self._kill(node)
        if power_loss:
            disk = self.disks[node]
            assert isinstance(disk, SimDisk)
            disk.crash(random.Random(self.rng.getrandbits(64)), tear=True)

    # -- queries --------------------------------------------------------------------------

    def leader(self) -> int | None:
        """The running node that considers itself leader with the highest term."""
        best: tuple[int, int] | None = None
        for node in self.running:
            soft = self.drivers[node].soft_state
            if soft.role is Role.LEADER and (best is None or soft.term > best[0]):
                best = (soft.term, node)
        return None if best is None else best[1]

    async def wait_for_leader(self, within: float = 60.0) -> int:
        await wait_until(lambda: self.leader() is not None, within)
        leader = self.leader()
        assert leader is not None
        return leader

    async def propose(self, record: bytes, node: int | None = None) -> Position:
        """Propose through ``node`` (default: the current leader); checks the ack invariant."""
        target = self.leader() if node is None else node
        if target is None:
            from ..raft.errors import NotLeader

            raise NotLeader(None)
        position = await self.drivers[target].propose(record)
        self.checker.on_ack(self, record, position)
        return position

    def committed_records(self) -> list[bytes]:
        """Every record in committed NORMAL entries, in log order."""
        from ..raft.driver.committed import unpack_records

        out: list[bytes] = []
        for index in sorted(self.checker.committed):
            _term, kind, data = self.checker.committed[index]
            if kind == NORMAL:
                out.extend(unpack_records(data))
        return out

    def check_log_matching(self) -> None:
        """Log matching: if two logs hold the same term at an index, they agree up to it."""
        logs: dict[int, list[Entry]] = {}
        for node in self.running:
            core = self.drivers[node].core
            if core is None:
                continue
            logs[node] = core.log.slice(core.log.first_index, core.log.last_index + 1)
        nodes = sorted(logs)
        for i, a in enumerate(nodes):
            for b in nodes[i + 1 :]:
                by_index_b = {e.index: e for e in logs[b]}
                anchored = False  # below the highest index where both hold the same term
                for entry in reversed(logs[a]):
                    other = by_index_b.get(entry.index)
                    if other is None:
                        continue
                    if not anchored and other.term != entry.term:
                        continue
                    anchored = True
                    if other != entry:
                        raise InvariantViolation(
                            f"log matching: nodes {a} and {b} differ at index {entry.index} "
                            "at or below an index where they hold the same term"
                        )
