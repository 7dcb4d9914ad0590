"""The Raft driver's own contract: one task steps the core, controls arrive through the inbox,
``propose_many`` keeps one call's records together.

Real drivers on a simulated network and disks under MockClock (see ``SimRaftGroup``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from trio_zeebe.raft.config import RaftConfig
from trio_zeebe.raft.core import RaftCore
from trio_zeebe.raft.driver.committed import unpack_records
from trio_zeebe.raft.driver.proposals import Position
from trio_zeebe.raft.errors import LeadershipLost
from trio_zeebe.testing.disk import KillSwitch
from trio_zeebe.testing.raft_group import SimRaftGroup, wait_until

FAST = RaftConfig(heartbeat_interval=0.1, election_timeout=1.0)

#: Every method that changes a core (tick and ready too: both move its state on).
CORE_INPUTS = (
    "tick",
    "step",
    "propose",
    "persisted",
    "campaign",
    "forget_leader",
    "transfer_leadership",
    "compact",
    "restore_snapshot",
    "report_snapshot",
    "ready",
)


def record_callers(core: RaftCore, callers: set[str]) -> None:
    """Note the name of every task that calls one of the core's inputs."""
    for name in CORE_INPUTS:
        original: Callable[..., Any] = getattr(core, name)

        def spy(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            callers.add(trio.lowlevel.current_task().name)
            return _original(*args, **kwargs)

        setattr(core, name, spy)


async def test_only_the_loop_steps_the_core_whatever_task_asks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Proposals, the flusher, snapshots taken and shipped, transfer, hand-over, campaign and
    forget-leader all reach the core, and every call to it comes from the driver's own task."""
    group = SimRaftGroup(
        41,
        3,
        config=attrs.evolve(FAST, retain_entries=5, snapshot_chunk_size=256),
        segment_bytes=2048,
        machines=True,
    )
    callers: dict[int, set[str]] = {}

    def watch(node: int) -> None:
        core = group.drivers[node].core
        assert core is not None
        record_callers(core, callers.setdefault(node, set()))

    async with trio.open_nursery() as nursery:
        await nursery.start(group.run)
        leader = await group.wait_for_leader(10)
        for node in range(3):
            watch(node)
        lagging = next(n for n in range(3) if n != leader)
        group.crash(lagging, power_loss=False)

        for i in range(100):
            await group.propose(b"record-%03d" % i)
        machine = group.machines[leader]
        await wait_until(lambda: len(machine.records) == 100, 10)
        await machine.snapshot()  # take_snapshot: its compaction goes through the inbox
        core = group.drivers[leader].core
        assert core is not None and core.log.snap_index > 90  # compacted by the time it returns

        await group.start(lagging)  # catches up by a snapshot transfer (ends in the inbox too)
        watch(lagging)
        await wait_until(lambda: group.machines[lagging].records == machine.records, 30)
        assert group.machines[lagging].restores == 1

        group.drivers[leader].transfer_leadership(lagging)
        await wait_until(lambda: group.leader() == lagging, 10)

        assert await group.drivers[lagging].hand_over_leadership(5.0)
        successor = group.leader()
        assert successor not in (None, lagging)

        # Membership says the leader is gone: the others forget it, one campaigns and wins.
        candidate = next(n for n in range(3) if n != successor)
        for node in range(3):
            if node != successor:
                group.drivers[node].forget_leader()
        group.drivers[candidate].campaign()
        await wait_until(lambda: group.leader() == candidate, 10)
        await group.propose(b"after")
        nursery.cancel_scope.cancel()

    for node, names in callers.items():
        assert len(names) == 1, (node, names)
        assert names.pop().endswith("RaftDriver.run"), node


async def test_a_control_that_fails_raises_at_its_caller_and_the_loop_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        group: SimRaftGroup = await nursery.start(SimRaftGroup(43, 1).run)
        await group.wait_for_leader(10)
        position = await group.propose(b"one")
        driver = group.drivers[0]
        with pytest.raises(ValueError, match="cannot compact"):
            # A snapshot claiming more than was applied cannot compact the log.
            await driver.take_snapshot(position.index + 10, 1, b"state")
        await group.propose(b"two")
        assert group.committed_records() == [b"one", b"two"]
        nursery.cancel_scope.cancel()


async def test_propose_many_puts_one_calls_records_into_one_entry_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Even past max_append_batch_size and among concurrent proposals, one call's records share an
    entry, contiguously and in order (a raw append relies on it)."""
    config = RaftConfig(max_append_batch_size=200)
    async with trio.open_nursery() as nursery:
        group: SimRaftGroup = await nursery.start(SimRaftGroup(44, 3, config=config).run)
        leader = await group.wait_for_leader(10)
        driver = group.drivers[leader]
        calls = {k: [b"call%d-%02d" % (k, i) + b"." * 40 for i in range(10)] for k in range(4)}
        outcomes: dict[int, list[Position | Exception]] = {}

        async def many(k: int) -> None:
            outcomes[k] = await driver.propose_many(calls[k])

        async def single(i: int) -> None:
            await group.propose(b"single-%02d" % i + b"." * 40)

        async with trio.open_nursery() as clients:
            for i in range(30):
                clients.start_soon(single, i)
                if i % 8 == 0:
                    clients.start_soon(many, i // 8)
        core = driver.core
        assert core is not None
        for k, records in calls.items():
            positions = outcomes[k]
            assert all(isinstance(p, Position) for p in positions), positions
            indexes = {p.index for p in positions if isinstance(p, Position)}
            assert len(indexes) == 1, (k, positions)
            first = positions[0]
            assert isinstance(first, Position)
            assert [p.offset for p in positions if isinstance(p, Position)] == list(
                range(first.offset, first.offset + len(records))
            )
            entry = unpack_records(core.log.entry(first.index).data)
            assert entry[first.offset : first.offset + len(records)] == records
        # The limit still cuts everything else: single records did not all share one entry.
        singles = [r for r in group.committed_records() if r.startswith(b"single")]
        assert len(singles) == 30
        nursery.cancel_scope.cancel()


async def test_a_node_that_loses_power_inside_a_disk_call_is_only_crashed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    group = SimRaftGroup(47, 3, config=FAST)
    group.disks = {node: KillSwitch() for node in range(3)}
    async with trio.open_nursery() as nursery:
        await nursery.start(group.run)
        leader = await group.wait_for_leader(10)
        await group.propose(b"before")
        disk = group.disks[leader]
        assert isinstance(disk, KillSwitch)
        disk.armed = lambda: group.crash(leader, power_loss=True)
        with pytest.raises(LeadershipLost):  # its outcome is unknown: the leader died with it
            await group.propose(b"during", leader)
        assert disk.armed is None and leader not in group.running
        await group.start(leader)
        await group.wait_for_leader(10)
        await group.propose(b"after")
        assert b"before" in group.committed_records() and b"after" in group.committed_records()
        nursery.cancel_scope.cancel()
