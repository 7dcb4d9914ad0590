"""Whole Raft groups (real drivers, simulated network and disks) under MockClock.

The randomized scenario crashes nodes (with power loss and torn writes), restarts them, splits
and heals the network, drops/duplicates/reorders messages and transfers leadership while clients
propose; the checker asserts the Raft invariants on every Ready. After the faults stop, a leader
must appear and everything pending must commit within a bounded simulated time, and every
acknowledged record must be in the committed log exactly once.

CI runs ``SEEDS_IN_CI`` seeds; ``nox -s soak -- --seeds N`` runs N more. A failing run names its
seed in the test id (``test_soak[1000123]``); everything random, trio's scheduling included,
derives from it, so ``nox -s soak -- --first-seed 1000123 --seeds 1`` replays it exactly.
"""

from __future__ import annotations

import itertools
import random

import pytest
import trio
import trio.testing

from trio_zeebe.raft.config import RaftConfig
from trio_zeebe.raft.errors import LeadershipLost, NotLeader, ProposalDropped
from trio_zeebe.testing.network import LinkFaults
from trio_zeebe.testing.raft_group import SimRaftGroup, wait_until

SEEDS_IN_CI = 40
FAULT_PHASE = 12.0  # simulated seconds of faults per seed
RECOVERY_BOUND = 30.0  # after the faults stop: a leader and every proposal committed within this


async def test_three_nodes_elect_a_leader_and_commit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        group: SimRaftGroup = await nursery.start(SimRaftGroup(1, 3).run)
        leader = await group.wait_for_leader(10)
        positions = [await group.propose(f"r{i}".encode()) for i in range(50)]
        assert [p.index for p in positions] == sorted(p.index for p in positions)
        assert group.committed_records() == [f"r{i}".encode() for i in range(50)]
        assert group.leader() == leader
        group.check_log_matching()
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("size", [1, 5])
async def test_one_and_five_nodes(autojump_clock: trio.testing.MockClock, size: int) -> None:
    async with trio.open_nursery() as nursery:
        group: SimRaftGroup = await nursery.start(SimRaftGroup(2, size).run)
        await group.wait_for_leader(10)
        for i in range(20):
            await group.propose(b"x%d" % i)
        assert len(group.committed_records()) == 20
        nursery.cancel_scope.cancel()


async def test_concurrent_proposals_share_entries_and_fsyncs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Group commit: 64 proposals in flight need far fewer entries and fsyncs than 64."""
    async with trio.open_nursery() as nursery:
        group: SimRaftGroup = await nursery.start(SimRaftGroup(3, 3).run)
        leader = await group.wait_for_leader(10)
        fsyncs_before = group.drivers[leader].fsyncs
        indexes: list[int] = []

        async def one(i: int) -> None:
            indexes.append((await group.propose(b"c%d" % i)).index)

        async with trio.open_nursery() as clients:
            for i in range(64):
                clients.start_soon(one, i)
        assert len(indexes) == 64
        assert len(set(indexes)) <= 8  # many records per entry
        assert group.drivers[leader].fsyncs - fsyncs_before <= 8
        nursery.cancel_scope.cancel()


async def test_proposals_arriving_one_by_one_wait_for_the_entry_in_flight_and_share_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Requests reach a leader one at a time: while an entry awaits commit, the next ones are
    held and appended together once it commits. A lone proposal is not held."""
    async with trio.open_nursery() as nursery:
        group: SimRaftGroup = await nursery.start(SimRaftGroup(5, 3).run)
        await group.wait_for_leader(10)
        group.net.set_faults(LinkFaults(delay=(0.001, 0.001)))  # a commit round: ~2 ms
        positions: list[int] = []

        async def one(i: int) -> None:
            positions.append((await group.propose(b"s%d" % i)).index)

        async with trio.open_nursery() as clients:
            clients.start_soon(one, 0)
            for i in range(1, 11):
                await trio.sleep(0.0001)  # each arrives on its own, while the first is pending
                clients.start_soon(one, i)
        first, *rest = positions
        assert first not in rest and len(set(rest)) == 1  # the ten held ones: one entry
        start = trio.current_time()
        await group.propose(b"alone")
        assert trio.current_time() - start < 0.05  # one commit round, nothing waited for
        nursery.cancel_scope.cancel()


async def test_leader_power_loss_new_leader_keeps_committed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        group: SimRaftGroup = await nursery.start(SimRaftGroup(4, 3).run)
        old = await group.wait_for_leader(10)
        acked = [await group.propose(b"a%d" % i) for i in range(30)]
        group.crash(old, power_loss=True)
        start = trio.current_time()
        new = await group.wait_for_leader(30)
        assert new != old
        assert trio.current_time() - start < 3 * group.config.election_timeout
        await group.propose(b"after")
        committed = group.committed_records()
        assert committed[: len(acked)] == [b"a%d" % i for i in range(30)]
        await group.start(old)  # it rejoins and catches up
        await wait_until(
            lambda: group.drivers[old].status().raft.commit > acked[-1].index,  # type: ignore[union-attr]
            30,
        )
        group.check_log_matching()
        nursery.cancel_scope.cancel()


async def test_minority_partition_cannot_commit_and_heals(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        group: SimRaftGroup = await nursery.start(SimRaftGroup(5, 5).run)
        old = await group.wait_for_leader(10)
        await group.propose(b"before")
        others = [n for n in range(5) if n != old]
        group.partition([old, others[0]], others[1:])
        with trio.move_on_after(10) as stuck:
            # Cannot reach a quorum: check-quorum makes the old leader step down, failing it.
            with pytest.raises((LeadershipLost, NotLeader)):
                await group.drivers[old].propose(b"minority")
        assert not stuck.cancelled_caught
        new = await group.wait_for_leader(30)
        assert new in others[1:]
        await group.propose(b"majority")
        group.heal()
        # The old leader follows the new one.
        await wait_until(lambda: group.drivers[old].soft_state.leader == group.leader(), 30)
        assert b"minority" not in group.committed_records()
        nursery.cancel_scope.cancel()


async def run_random_scenario(seed: int, size: int) -> SimRaftGroup:
    rng = random.Random(seed * 7919 + size)
    # Small retained tails and chunks: snapshots get installed, in several chunks.
    config = RaftConfig(
        heartbeat_interval=0.1, election_timeout=1.0, retain_entries=20, snapshot_chunk_size=512
    )
    acked: set[bytes] = set()
    proposed: set[bytes] = set()
    async with trio.open_nursery() as nursery:
        group: SimRaftGroup = await nursery.start(
            SimRaftGroup(
                seed,
                size,
                config=config,
                machines=True,
            ).run
        )

        async def client(k: int) -> None:
            crng = random.Random(rng.getrandbits(64))
            n = 0
            while True:
                await trio.sleep(crng.uniform(0.0, 0.08))
                record = b"c%d-%d" % (k, n)
                n += 1
                proposed.add(record)
                with trio.move_on_after(5.0):
                    try:
                        await group.propose(record)
                        acked.add(record)
                    except (NotLeader, ProposalDropped, LeadershipLost):
                        pass

        async with trio.open_nursery() as clients:
            for k in range(3):
                clients.start_soon(client, k)
            end = trio.current_time() + FAULT_PHASE
            while trio.current_time() < end:
                await trio.sleep(rng.uniform(0.1, 1.5))
                await _random_fault(group, rng)
            # Faults stop: heal everything and require progress within a bound.
            group.heal()
            group.net.set_faults(group.net.default.__class__())
            for node in range(size):
                if node not in group.running:
                    await group.start(node)
            with trio.fail_after(RECOVERY_BOUND):
                await group.wait_for_leader(RECOVERY_BOUND)
                for attempt in itertools.count():
                    # A fresh record per attempt: after LeadershipLost the previous one may
                    # still commit, and re-proposing it would (rightly) commit it twice.
                    record = b"final-%d" % attempt
                    proposed.add(record)
                    try:
                        await group.propose(record)
                        break
                    except (NotLeader, ProposalDropped, LeadershipLost):
                        await trio.sleep(0.1)
            clients.cancel_scope.cancel()
        # Every replica's state machine converges on exactly the committed sequence (some of
        # them through snapshot installs). Compared with what Raft committed, not with one
        # machine's list: a machine may still be consuming its committed channel.
        await wait_until(
            lambda: all(
                group.machines[n].records == group.committed_records() for n in range(size)
            ),
            RECOVERY_BOUND,
        )
        committed = group.committed_records()
        assert len(committed) == len(set(committed)), "a record was committed twice"
        lost = acked - set(committed)
        assert not lost, f"acknowledged records lost: {sorted(lost)[:5]}"
        assert set(committed) <= proposed
        group.check_log_matching()
        nursery.cancel_scope.cancel()
    return group


async def _random_fault(group: SimRaftGroup, rng: random.Random) -> None:
    from trio_zeebe.testing.network import LinkFaults

    nodes = list(range(group.size))
    action = rng.choice(
        ["crash", "restart", "restart", "partition", "heal", "faults", "calm", "transfer", "snap"]
    )
    if action == "crash" and len(group.running) > 1:
        group.crash(rng.choice(sorted(group.running)), power_loss=rng.random() < 0.7)
    elif action == "restart":
        down = [n for n in nodes if n not in group.running]
        if down:
            await group.start(rng.choice(down))
    elif action == "partition":
        rng.shuffle(nodes)
        cut = rng.randrange(1, group.size) if group.size > 1 else 1
        group.partition(nodes[:cut], nodes[cut:])
    elif action == "heal":
        group.heal()
    elif action == "faults":
        group.net.set_faults(
            LinkFaults(
                drop=rng.uniform(0, 0.3),
                delay=(0.0, rng.uniform(0, 0.02)),
                duplicate=rng.uniform(0, 0.1),
                reorder=rng.uniform(0, 0.3),
            )
        )
    elif action == "calm":
        group.net.set_faults(LinkFaults())
    elif action == "snap":
        for node in sorted(group.running):
            if rng.random() < 0.5:
                await group.machines[node].snapshot()
    elif action == "transfer":
        leader = group.leader()
        if leader is not None and group.size > 1:
            group.drivers[leader].transfer_leadership(rng.choice([n for n in nodes if n != leader]))


@pytest.mark.parametrize("seed", range(SEEDS_IN_CI))
async def test_random_faults_keep_raft_safe_and_live(
    autojump_clock: trio.testing.MockClock, seed: int
) -> None:
    await run_random_scenario(seed, 3 if seed % 4 else 5)


async def test_a_seed_replays_exactly() -> None:
    traces = []
    for _ in range(2):
        clock = trio.testing.MockClock(autojump_threshold=0)
        group: list[SimRaftGroup] = []

        async def main(out: list[SimRaftGroup] = group) -> None:
            out.append(await run_random_scenario(12345, 3))

        # A fresh trio run per replay, as a re-run of a failing seed would be.
        await trio.to_thread.run_sync(lambda c=clock, m=main: trio.run(m, clock=c))
        traces.append((group[0].checker.trace, group[0].committed_records()))
    assert traces[0] == traces[1]


# Seeds the soak found problems with, kept in CI: 1000495 took snapshots faster than a transfer
# could ship one (the file being shipped was pruned); 1001961 re-proposed a record after an
# unknown outcome (a scenario bug); 1005539 offered a follower an older snapshot than the one a
# deposed leader had already shipped to it; 1006115 compared a state machine that was still
# consuming its committed channel with what Raft had committed (a check race); 2000136: a
# deposed leader kept shipping a snapshot while the new leader shipped another, and the
# follower restarted one transfer for the other forever, in zero simulated time.
@pytest.mark.parametrize("seed", [1000495, 1001961, 1005539, 1006115, 2000136])
async def test_soak_regressions(autojump_clock: trio.testing.MockClock, seed: int) -> None:
    await run_random_scenario(seed, 3 if seed % 4 else 5)


@pytest.mark.soak
async def test_soak(autojump_clock: trio.testing.MockClock, soak_seed: int) -> None:
    await run_random_scenario(soak_seed, 3 if soak_seed % 4 else 5)
