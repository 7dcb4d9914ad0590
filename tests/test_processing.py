"""The stream processor inside simulated brokers: leader answers, follower replay, snapshots,
raw appends as opaque units, poison records, and a state machine that fails."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator

import pytest
import trio
import trio.testing

from trio_zeebe import codec
from trio_zeebe.broker import Broker
from trio_zeebe.engine.engine import Engine
from trio_zeebe.engine.runtime.snapshot import BLOCK_ROWS
from trio_zeebe.grpc.status import GrpcError, StatusCode
from trio_zeebe.partitions.manager import LocalPartition
from trio_zeebe.processing import envelope
from trio_zeebe.processing.envelope import Kind
from trio_zeebe.processing.processor import (
    PartitionProcessor,
    position_of,
    produce_snapshot,
    restore_snapshot,
)
from trio_zeebe.proto import trio_zeebe_pb2 as tz
from trio_zeebe.raft.driver.committed import unpack_records
from trio_zeebe.raft.errors import LeadershipLost, NotLeader, ProposalDropped
from trio_zeebe.testing.cluster import SimCluster
from trio_zeebe.testing.disk import KillSwitch
from trio_zeebe.testing.raft_group import wait_until

from . import enginecmds as cmd

ET = 2.5


class Ledger:
    """A tiny deterministic state machine: an append-only list; answers with its new length."""

    def __init__(self, partition_id: int) -> None:
        self.items: list[bytes] = []
        self.last_position = 0

    def apply(self, command: bytes, position: int, timestamp: float) -> bytes:
        assert position > self.last_position
        self.last_position = position
        self.items.append(command)
        return codec.packb(len(self.items))

    def snapshot(self) -> bytes:
        return codec.packb([self.last_position, self.items])

    def restore(self, data: bytes) -> None:
        self.last_position, self.items = codec.unpackb(data)


def processors(cluster: SimCluster, pid: int) -> dict[int, PartitionProcessor]:
    out = {}
    for node in cluster.running:
        manager = cluster.brokers[node].partitions
        proc = manager.processor(pid) if manager is not None else None
        if proc is not None:
            out[node] = proc
    return out


def leader_processor(cluster: SimCluster, pid: int) -> PartitionProcessor | None:
    node = cluster.leaders().get(pid)
    if node is None:
        return None
    proc = processors(cluster, pid).get(node)
    return proc if proc is not None and proc.serving else None


async def submit(cluster: SimCluster, pid: int, command: bytes) -> bytes | None:
    proc = leader_processor(cluster, pid)
    if proc is None:
        return None
    try:
        return await proc.submit(command)
    except (NotLeader, ProposalDropped, LeadershipLost):
        return None


async def test_leader_answers_after_commit_and_followers_replay(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(SimCluster(41, 3, 2, 3, state_machine=Ledger).run)
        await wait_until(lambda: all(leader_processor(cluster, p) for p in (1, 2)), 4 * ET)
        answers = [await submit(cluster, 1, b"cmd-%d" % i) for i in range(20)]
        assert [codec.unpackb(a) for a in answers if a is not None] == list(range(1, 21))
        states = lambda: {n: p.machine.snapshot() for n, p in processors(cluster, 1).items()}  # noqa: E731
        await wait_until(lambda: len(set(states().values())) == 1, 10)
        assert len(states()) == 3
        nursery.cancel_scope.cancel()


async def test_new_leader_serves_only_after_catching_up_and_pending_requests_fail_fast(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(SimCluster(43, 3, 1, 3, state_machine=Ledger).run)
        await wait_until(lambda: leader_processor(cluster, 1) is not None, 4 * ET)
        old = cluster.leaders()[1]
        proc = processors(cluster, 1)[old]
        others = [n for n in range(3) if n != old]
        cluster.partition([old], others)  # the leader loses its quorum mid-request
        started = trio.current_time()
        try:
            await proc.submit(b"cut-off")
            raise AssertionError("a request without a quorum must not succeed")
        except (LeadershipLost, NotLeader):
            pass
        # Failed when the leader stepped down (check quorum), not at some client timeout.
        assert trio.current_time() - started <= 2 * ET
        await wait_until(lambda: leader_processor(cluster, 1) is not None, 6 * ET)
        new = leader_processor(cluster, 1)
        assert new is not None and new.driver.node_id != old
        with trio.fail_after(1):
            await new.submit(b"after")
        nursery.cancel_scope.cancel()


async def test_replay_equivalence_with_crashes_power_loss_and_snapshots(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rng = random.Random(47)
    overrides = {"data": {"snapshot_entries": 25}}
    acked: list[bytes] = []
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(
            SimCluster(47, 3, 1, 3, state_machine=Ledger, overrides=overrides).run
        )
        await wait_until(lambda: leader_processor(cluster, 1) is not None, 4 * ET)
        for step in range(300):
            command = b"c%d" % step
            if await submit(cluster, 1, command) is not None:
                acked.append(command)
            if step % 50 == 25:
                victim = rng.randrange(3)
                cluster.crash(victim, power_loss=True)
                await trio.sleep(rng.uniform(0.5, 3.0))
                await cluster.start(victim)
            if leader_processor(cluster, 1) is None:
                await wait_until(lambda: leader_processor(cluster, 1) is not None, 30)

        # Everyone converges to the same bytes ...
        def states() -> set[bytes]:
            return {p.machine.snapshot() for p in processors(cluster, 1).values()}

        await wait_until(lambda: len(states()) == 1 and len(processors(cluster, 1)) == 3, 30)
        final = states().pop()
        _, items = codec.unpackb(final)
        # ... every acknowledged command is in it, in acknowledgement order, exactly once.
        assert [i for i in items if i in set(acked)] == acked
        # ... and a replica rebuilt from its snapshot + log tail reaches the same bytes.
        node = (cluster.leaders()[1] + 1) % 3
        assert cluster.brokers[node].partitions.driver(1).snapshots.latest() is not None  # type: ignore[union-attr]
        cluster.crash(node, power_loss=True)
        await cluster.start(node)
        rebuilt = lambda: processors(cluster, 1)[node].machine.snapshot()  # noqa: E731
        await wait_until(lambda: rebuilt() == final, 30)
        nursery.cancel_scope.cancel()


async def test_job_timeout_enters_the_log_and_survives_a_leader_change(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The process engine: a lease runs out via a leader-stamped time record, on every replica,
    even when the leader that activated the job is gone."""
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(SimCluster(53, 3, 1, 3).run)
        await wait_until(lambda: leader_processor(cluster, 1) is not None, 4 * ET)
        create = cmd.create_job("work")
        created = cmd.answer(create, await submit(cluster, 1, create))
        assert isinstance(created, tz.CreateJobResponse) and created.key >> 51 == 1
        activate = cmd.activate("work", "w1", 10, 5.0)
        first = cmd.answer(activate, await submit(cluster, 1, activate))
        assert cmd.job_keys(first) == [created.key]
        assert cmd.job_keys(cmd.answer(activate, await submit(cluster, 1, activate))) == []
        cluster.crash(cluster.leaders()[1], power_loss=True)
        await wait_until(lambda: leader_processor(cluster, 1) is not None, 6 * ET)
        await trio.sleep(6.0)  # past the 5 s lease: the new leader appends the time record
        again = cmd.activate("work", "w2", 10, 5.0)
        assert cmd.workers(cmd.answer(again, await submit(cluster, 1, again))) == ["w2"]
        nursery.cancel_scope.cancel()


async def test_job_engine_replicas_are_byte_identical_after_crashes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Random job traffic (create, activate with short leases, complete, fail with back-off)
    while brokers crash with power loss: leader, followers and a replica rebuilt from snapshot
    plus log end with byte-identical engine state."""
    rng = random.Random(59)
    overrides = {"data": {"snapshot_entries": 40}}
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(SimCluster(59, 3, 1, 3, overrides=overrides).run)
        await wait_until(lambda: leader_processor(cluster, 1) is not None, 4 * ET)
        held: list[int] = []
        answered = activated = 0
        for step in range(400):
            roll = rng.random()
            if roll < 0.4:
                command = cmd.create_job(rng.choice(["a", "b"]), retries=2, variables={"n": step})
            elif roll < 0.7:
                command = cmd.activate(rng.choice(["a", "b"]), "w", 3, rng.uniform(0.5, 3.0))
            elif held and roll < 0.9:
                command = cmd.complete(held.pop(rng.randrange(len(held))), {"done": step})
            elif held:
                key = held.pop(rng.randrange(len(held)))
                command = cmd.fail(key, rng.randrange(0, 2), "boom", rng.uniform(0, 1.0))
            else:
                continue
            answer = await submit(cluster, 1, command)
            if answer is not None:
                answered += 1
                result = cmd.answer(command, answer)
                if command[0] == cmd.C.ACTIVATE_JOBS and not isinstance(result, cmd.Rejection):
                    keys = cmd.job_keys(result)
                    held.extend(keys)
                    activated += len(keys)
            await trio.sleep(rng.uniform(0, 0.05))
            if step % 100 == 50:
                victim = rng.randrange(3)
                cluster.crash(victim, power_loss=True)
                await trio.sleep(rng.uniform(0.5, 2.0))
                await cluster.start(victim)
            if leader_processor(cluster, 1) is None:
                await wait_until(lambda: leader_processor(cluster, 1) is not None, 30)

        assert answered > 300 and activated > 50, (answered, activated)

        def states() -> set[bytes]:
            return {p.machine.snapshot() for p in processors(cluster, 1).values()}

        await wait_until(lambda: len(states()) == 1 and len(processors(cluster, 1)) == 3, 30)
        final = states().pop()
        node = (cluster.leaders()[1] + 1) % 3
        cluster.crash(node, power_loss=True)
        await cluster.start(node)
        # Nothing new is submitted, but lease expiries may still append ticks: compare again
        # once the rebuilt replica has caught up with everyone.
        await wait_until(lambda: len(states()) == 1 and len(processors(cluster, 1)) == 3, 30)
        assert Engine(1, 1).snapshot() != final  # the state is not trivially empty
        nursery.cancel_scope.cancel()


# --- the processor owns its framing: raw appends, poison records, halting ---------------------

POISON = [
    # Read as the old [request id, stamp, command] framing, these forged the leader's clock
    # (every lease deadline became 1e300) or made apply raise on every replica.
    codec.packb([1, 1e300, ["e.tick", {"now": 1.0}]]),
    codec.packb([1, "a string stamp", b"\x92\xa8e.create\x81\xa4type\xa1x"]),
    codec.packb([1, 1.0, ["e.create", {b"type": "x"}]]),
]


class Recorder:
    """An embedder's state machine: keeps every (payload, position, timestamp) it is given."""

    def __init__(self, partition_id: int) -> None:
        self.seen: list[tuple[bytes, int, float]] = []

    def apply(self, command: bytes, position: int, timestamp: float) -> bytes:
        if command == b"boom":
            raise RuntimeError("boom")  # a bug in the embedder's code
        self.seen.append((command, position, timestamp))
        return codec.packb(len(self.seen))

    def snapshot(self) -> bytes:
        return codec.packb([list(s) for s in self.seen])

    def restore(self, data: bytes) -> None:
        self.seen = [tuple(s) for s in codec.unpackb(data)]  # type: ignore[misc]


class Appended:
    """An AppendRecords answer: positions (entry index, slot) and the machine's answers."""

    def __init__(self, response: tz.AppendRecordsResponse) -> None:
        self.positions = tuple((p.index, p.offset) for p in response.positions)
        self.answers = list(response.answers)


async def append(cluster: SimCluster, pid: int, records: list[bytes]) -> Appended:
    """A raw append as a client sends it (AppendRecords), at the partition's leader."""
    broker = cluster.brokers[cluster.leaders()[pid]]
    assert broker.gateway is not None
    request = tz.AppendRecordsRequest(partitionId=pid, records=records)
    data = await broker.gateway.call(
        "/trio_zeebe.v1.TrioZeebe/AppendRecords", request.SerializeToString()
    )
    return Appended(tz.AppendRecordsResponse.FromString(data))


def broker_of(cluster: SimCluster, node: int) -> Broker:
    return cluster.brokers[node]


def part(cluster: SimCluster, node: int, pid: int) -> LocalPartition:
    manager = cluster.brokers[node].partitions
    assert manager is not None
    return manager.local[pid]


async def test_a_job_engine_partition_refuses_raw_records_and_keeps_serving(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(SimCluster(61, 3, 1, 3).run)  # the engine
        await wait_until(lambda: leader_processor(cluster, 1) is not None, 4 * ET)
        for record in POISON:
            with pytest.raises(GrpcError) as refused:
                await append(cluster, 1, [record])
            assert refused.value.code is StatusCode.FAILED_PRECONDITION
            assert refused.value.message == (
                "partition 1 runs the process engine; raw records are accepted only by an "
                "embedder's state machine"
            )
        create = cmd.create_job("work")
        assert isinstance(
            cmd.answer(create, await submit(cluster, 1, create)), tz.CreateJobResponse
        )
        lease = cmd.activate("work", "w1", 1, 5.0)
        assert len(cmd.job_keys(cmd.answer(lease, await submit(cluster, 1, lease)))) == 1
        await trio.sleep(6.0)  # the lease runs out by the leader's clock
        again = cmd.activate("work", "w2", 1, 5.0)
        assert cmd.workers(cmd.answer(again, await submit(cluster, 1, again))) == ["w2"]
        for node, proc in processors(cluster, 1).items():
            assert isinstance(proc.machine, Engine) and proc.machine.clock < 1e6
            assert (
                part(cluster, node, 1).health == "healthy" and part(cluster, node, 1).restarts == 0
            )
        nursery.cancel_scope.cancel()


async def test_forged_records_that_bypass_the_processor_are_skipped_alike_everywhere(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Records put into the log around the processor (an older format, corruption) are not
    envelopes: every replica skips them, nothing raises, leases still expire."""
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(SimCluster(67, 3, 1, 3).run)
        await wait_until(lambda: leader_processor(cluster, 1) is not None, 4 * ET)
        await submit(cluster, 1, cmd.create_job("work"))
        lease = cmd.activate("work", "w1", 1, 5.0)
        assert len(cmd.job_keys(cmd.answer(lease, await submit(cluster, 1, lease)))) == 1
        driver = cluster.brokers[cluster.leaders()[1]].partitions.driver(1)  # type: ignore[union-attr]
        assert driver is not None
        for record in POISON:
            await driver.propose(record)
        await wait_until(
            lambda: [p.skipped_records for p in processors(cluster, 1).values()] == [3] * 3, 10
        )
        await trio.sleep(6.0)
        again = cmd.activate("work", "w2", 1, 5.0)
        assert cmd.workers(cmd.answer(again, await submit(cluster, 1, again))) == ["w2"]
        states = {p.machine.snapshot() for p in processors(cluster, 1).values()}
        await wait_until(
            lambda: len({p.machine.snapshot() for p in processors(cluster, 1).values()}) == 1, 10
        )
        assert all(part(cluster, n, 1).restarts == 0 for n in range(3)), states
        nursery.cancel_scope.cancel()


async def test_an_embedders_machine_gets_raw_payloads_opaque_with_the_leaders_stamp(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(
            SimCluster(71, 3, 1, 3, state_machine=Recorder).run
        )
        await wait_until(lambda: leader_processor(cluster, 1) is not None, 4 * ET)
        before = trio.current_time()
        answer = await append(cluster, 1, POISON)
        after = trio.current_time()
        [(index, first), *rest] = answer.positions
        assert rest == [(index, first + 1), (index, first + 2)]  # one entry, in order
        assert [codec.unpackb(a) for a in answer.answers] == [1, 2, 3]
        await wait_until(
            lambda: all(len(p.machine.seen) == 3 for p in processors(cluster, 1).values()), 10
        )  # type: ignore[attr-defined]
        for proc in processors(cluster, 1).values():
            seen = proc.machine.seen  # type: ignore[attr-defined]
            assert [s[0] for s in seen] == POISON  # byte for byte, never parsed
            assert [s[1] for s in seen] == [position_of(index, first + i) for i in range(3)]
            assert all(before <= s[2] <= after for s in seen)  # the leader's clock, not 1e300
        nursery.cancel_scope.cancel()


async def test_records_of_each_append_land_contiguous_and_in_order_under_load(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Many concurrent appends (units larger than a batch, so entries split between them):
    each call's records are one run in the log, in the order given."""
    overrides = {"cluster": {"raft": {"max_append_batch_size": "2KB"}}}
    calls = 200
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(
            SimCluster(73, 3, 1, 3, state_machine=Recorder, overrides=overrides).run
        )
        await wait_until(lambda: leader_processor(cluster, 1) is not None, 4 * ET)
        rng = random.Random(73)
        sent: dict[int, list[bytes]] = {}
        answers: dict[int, Appended] = {}

        async def one(call: int) -> None:
            records = [
                b"%03d-%03d-" % (call, i) + b"x" * rng.randrange(200)
                for i in range(rng.randrange(1, 12))
            ]
            sent[call] = records
            answers[call] = await append(cluster, 1, records)

        async with trio.open_nursery() as load:
            for call in range(calls):
                load.start_soon(one, call)
        assert len(answers) == calls
        total = sum(len(r) for r in sent.values())
        await wait_until(
            lambda: all(len(p.machine.seen) == total for p in processors(cluster, 1).values()), 10
        )  # type: ignore[attr-defined]
        for proc in processors(cluster, 1).values():
            order = [s[0] for s in proc.machine.seen]  # type: ignore[attr-defined]
            for call, records in sent.items():
                start = order.index(records[0])
                assert order[start : start + len(records)] == records, call
                index, first = answers[call].positions[0]
                assert answers[call].positions == tuple(
                    (index, first + i) for i in range(len(records))
                )
                assert [s[1] for s in proc.machine.seen[start : start + len(records)]] == [  # type: ignore[attr-defined]
                    position_of(index, first + i) for i in range(len(records))
                ]
        # In the log itself: each call is one unit record in the entry its positions name.
        driver = cluster.brokers[cluster.leaders()[1]].partitions.driver(1)  # type: ignore[union-attr]
        assert driver is not None and driver.core is not None
        for call, records in sent.items():
            index = answers[call].positions[0][0]
            units = [envelope.decode(r) for r in unpack_records(driver.core.log.entry(index).data)]
            assert tuple(records) in [u.payloads for u in units if u.kind is Kind.UNIT]
        nursery.cancel_scope.cancel()


async def test_a_failing_state_machine_halts_its_partition_once_without_a_restart_loop(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="trio_zeebe.processing")

    def failures() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "the state machine failed" in r.getMessage()]

    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(
            SimCluster(79, 3, 2, 3, state_machine=Recorder).run
        )
        await wait_until(lambda: all(leader_processor(cluster, p) for p in (1, 2)), 4 * ET)
        await append(cluster, 1, [b"ok-1"])
        with pytest.raises(GrpcError) as pending:
            await append(cluster, 1, [b"ok-2", b"boom", b"ok-3"])
        assert pending.value.code is StatusCode.UNAVAILABLE
        assert "RuntimeError: boom" in pending.value.message
        await wait_until(lambda: all(p.halted for p in processors(cluster, 1).values()), 10)
        halts = {p.halted for p in processors(cluster, 1).values()}
        assert len(halts) == 1  # the same record, the same error, on every replica
        [halt] = halts
        assert halt is not None and halt.error == "RuntimeError: boom" and halt.position > 0
        for node in range(3):
            p1 = part(cluster, node, 1)
            assert p1.health == "unhealthy" and f"position {halt.position}" in p1.problem
            assert "RuntimeError: boom" in p1.problem
            assert not broker_of(cluster, node).is_healthy()
            [info] = [
                i
                for b in broker_of(cluster, node).cluster_view().brokers
                if b.node_id == node
                for i in b.partitions
                if i.partition_id == 1
            ]
            assert info.health == "unhealthy" and info.role in ("leader", "follower")
            assert f"position {halt.position}" in info.problem  # status says why
        assert len(failures()) == 3 and all(r.exc_info for r in failures())  # once per replica

        await trio.sleep(60)  # long enough for many restart back-offs, were there any
        assert all(part(cluster, n, 1).restarts == 0 for n in range(3))
        assert len(failures()) == 3
        with pytest.raises(GrpcError) as refused:
            await append(cluster, 1, [b"later"])
        assert refused.value.code is StatusCode.UNAVAILABLE
        assert f"position {halt.position}" in refused.value.message
        # The other partition is untouched; Raft of the halted one still replicates.
        assert [codec.unpackb(a) for a in (await append(cluster, 2, [b"p2"])).answers] == [1]
        driver = cluster.brokers[cluster.leaders()[1]].partitions.driver(1)  # type: ignore[union-attr]
        assert driver is not None
        landed = await driver.propose(b"replicated while halted")
        await wait_until(
            lambda: all(
                p.driver.core is not None and p.driver.core.commit >= landed.index
                for p in processors(cluster, 1).values()
            ),
            10,
        )
        # Nothing was dropped: the records behind the failure are still in the log.
        assert [s[0] for s in processors(cluster, 1)[0].machine.seen] == [b"ok-1", b"ok-2"]  # type: ignore[attr-defined]

        # A full restart replays up to the same record and halts there again, once.
        for node in range(3):
            cluster.crash(node, power_loss=False)
        for node in range(3):
            await cluster.start(node)
        await wait_until(
            lambda: (
                len(processors(cluster, 1)) == 3
                and all(p.halted for p in processors(cluster, 1).values())
            ),
            30,
        )
        await wait_until(lambda: leader_processor(cluster, 2) is not None, 30)
        await trio.sleep(60)
        assert len(failures()) == 6
        assert all(part(cluster, n, 1).restarts == 0 for n in range(3))
        assert {p.halted for p in processors(cluster, 1).values()} == {halt}
        assert [codec.unpackb(a) for a in (await append(cluster, 2, [b"p2-again"])).answers] == [2]
        nursery.cancel_scope.cancel()


class Alarm(Recorder):
    """A TimeDriven embedder machine: b"arm" sets a deadline 5 s after the record's stamp."""

    sticky = False  # a buggy machine whose deadline never clears

    def __init__(self, partition_id: int) -> None:
        super().__init__(partition_id)
        self.deadline: float | None = None
        self.ticks: list[tuple[int, float]] = []

    def apply(self, command: bytes, position: int, timestamp: float) -> bytes:
        if command == b"arm":
            self.deadline = timestamp + 5.0
        return super().apply(command, position, timestamp)

    def next_deadline(self) -> float | None:
        return self.deadline

    def tick(self, position: int, timestamp: float) -> bytes:
        self.ticks.append((position, timestamp))
        if self.deadline is not None and timestamp >= self.deadline and not self.sticky:
            self.deadline = None
        return b""


class StickyAlarm(Alarm):
    sticky = True


async def test_an_embedders_time_driven_machine_ticks_with_the_leaders_stamp(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(SimCluster(83, 3, 1, 3, state_machine=Alarm).run)
        await wait_until(lambda: leader_processor(cluster, 1) is not None, 4 * ET)
        [(index, slot)] = (await append(cluster, 1, [b"arm"])).positions
        armed = processors(cluster, 1)[cluster.leaders()[1]].machine.deadline  # type: ignore[attr-defined]
        assert armed is not None
        await trio.sleep(10)
        for proc in processors(cluster, 1).values():
            machine = proc.machine
            assert isinstance(machine, Alarm)
            [(position, stamp)] = machine.ticks  # one time record, applied on every replica
            assert position > position_of(index, slot)
            assert armed <= stamp <= armed + 1.0  # the leader's clock when the deadline passed
            assert machine.deadline is None
        nursery.cancel_scope.cancel()


async def test_a_deadline_that_does_not_move_after_its_tick_is_not_spun_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(
            SimCluster(89, 3, 1, 3, state_machine=StickyAlarm).run
        )
        await wait_until(lambda: leader_processor(cluster, 1) is not None, 4 * ET)
        await append(cluster, 1, [b"arm"])
        await trio.sleep(5.0 + 10.0)
        ticks = len(processors(cluster, 1)[cluster.leaders()[1]].machine.ticks)  # type: ignore[attr-defined]
        assert 5 <= ticks <= 12  # about one a second, not as fast as the log commits
        nursery.cancel_scope.cancel()


async def test_a_broker_that_loses_power_inside_a_disk_call_is_only_crashed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The process engine, power loss in the middle of the leader's fsync: its tasks unwind
    after the crash and their disk calls fail (the handles died with the power); that is the
    crash, contained in the broker, not an error out of the cluster (it once was a DiskError)."""
    sim = SimCluster(97, 3, 1, 3)
    sim.disks = {node: KillSwitch() for node in range(3)}
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(sim.run)
        await wait_until(lambda: leader_processor(cluster, 1) is not None, 4 * ET)
        first = cmd.create_job("before")
        created = cmd.answer(first, await submit(cluster, 1, first))
        assert isinstance(created, tz.CreateJobResponse)
        victim = cluster.leaders()[1]
        disk = sim.disks[victim]
        assert isinstance(disk, KillSwitch)
        disk.armed = lambda: cluster.crash(victim, power_loss=True)
        # The crash fires inside the fsync of this command's entry: its outcome is unknown.
        await submit(cluster, 1, cmd.create_job("during"))
        assert disk.armed is None and victim not in cluster.running
        await wait_until(lambda: leader_processor(cluster, 1) is not None, 6 * ET)
        await cluster.start(victim)
        after = cmd.activate("before", "w", 5, 10.0)
        assert cmd.job_keys(cmd.answer(after, await submit(cluster, 1, after))) == [created.key]
        await wait_until(lambda: len(processors(cluster, 1)) == 3, 10 * ET)
        await wait_until(
            lambda: len({p.machine.snapshot() for p in processors(cluster, 1).values()}) == 1, 30
        )
        nursery.cancel_scope.cancel()


class Pieces:
    """A machine snapshotted in pieces: one piece per record, the view a frozen copy."""

    def __init__(self) -> None:
        self.records: list[bytes] = []

    def apply(self, command: bytes, position: int, timestamp: float) -> bytes:
        self.records.append(command)
        return b"ok"

    def snapshot(self) -> bytes:
        return b"".join(self.records)

    def restore(self, data: bytes) -> None:
        raise NotImplementedError

    def snapshot_view(self) -> tuple[bytes, ...]:
        return tuple(self.records)

    def snapshot_chunks(self, view: tuple[bytes, ...]) -> Iterator[bytes]:
        yield from view


async def test_a_snapshot_in_pieces_lets_other_tasks_and_the_machine_run_and_is_of_its_moment() -> (
    None
):
    machine = Pieces()
    for i in range(50):
        machine.apply(b"%03d" % i, i + 1, 0.0)
    expected = machine.snapshot()
    ran_between = 0

    async def other_work() -> None:
        nonlocal ran_between
        for i in range(50, 80):
            machine.apply(b"%03d" % i, i + 1, 0.0)  # the live state moves on meanwhile
            ran_between += 1
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other_work)
        body = await produce_snapshot(machine)
        during = ran_between
    assert during > 0  # other tasks ran while the snapshot was being written
    assert (
        b"".join(body) == expected
    )  # the state as of the call, not what was applied while writing
    assert machine.snapshot() != expected


def _jobs_snapshot(jobs: int) -> bytes:
    source = Engine(1, 1)
    for i in range(jobs):
        source.apply(cmd.create_job("t"), i + 1, 1_700_000_000.0)
    return source.snapshot()


async def test_a_restore_in_pieces_lets_other_tasks_run_and_never_shows_half_a_state() -> None:
    data = _jobs_snapshot(4 * BLOCK_ROWS)
    machine = Engine(1, 1)
    seen: list[int] = []
    finished = False

    async def other_work() -> None:  # heartbeats, SWIM, other partitions...
        while not finished:
            seen.append(len(machine.jobs()))
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other_work)
        await trio.lowlevel.checkpoint()
        assert await restore_snapshot(machine, data)
        finished = True
    assert len(seen) >= 3  # other tasks ran between the pieces (a piece per block of jobs)
    assert set(seen) == {0}  # and saw the machine as it was: the state changes at the end
    assert machine.snapshot() == data


async def test_a_restore_in_pieces_that_is_told_to_stop_leaves_the_machine_as_it_was() -> None:
    machine = Engine(1, 1)
    before = machine.snapshot()
    asked = 0

    def going_on() -> bool:
        nonlocal asked
        asked += 1
        return asked < 3

    assert not await restore_snapshot(machine, _jobs_snapshot(3 * BLOCK_ROWS), going_on)
    assert machine.snapshot() == before
