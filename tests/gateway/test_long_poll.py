"""Long-polling ActivateJobs: answered as soon as a matching job appears on any partition (the
leader notifies the gateways; nothing polls meanwhile), empty once the request timeout passes."""

from __future__ import annotations

import trio
import trio.testing

from trio_zeebe.gateway.answers import response_bytes
from trio_zeebe.gateway.refusals import Status
from trio_zeebe.gateway.router import CommandRouter
from trio_zeebe.proto import trio_zeebe_pb2 as tz
from trio_zeebe.testing.cluster import SimCluster

from ..enginecmds import create_job
from .helpers import Activated, activate, call, create, job_cluster


def router_of(cluster: SimCluster, node: int) -> CommandRouter:
    gateway = cluster.brokers[node].gateway
    assert gateway is not None and gateway.router is not None
    return gateway.router


def applied_records(cluster: SimCluster) -> int:
    total = 0
    for node in cluster.running:
        manager = cluster.brokers[node].partitions
        assert manager is not None
        total += sum(p.processor.applied_records for p in manager.local.values() if p.processor)
    return total


async def create_on(cluster: SimCluster, pid: int, job_type: str) -> int:
    """Create a job on a chosen partition, straight at its leader."""
    leader = cluster.leaders()[pid]
    reply = await router_of(cluster, leader).executor.execute(pid, create_job(job_type), 10.0)
    assert reply.status == Status.OK, reply
    return int(tz.CreateJobResponse.FromString(response_bytes(reply.result)).key)


async def test_long_poll_is_answered_when_a_job_appears_on_another_partition(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with job_cluster(151) as cluster:
        gateway = 0
        # A partition led elsewhere, so the notice has to cross the network.
        pid = next(p for p, n in cluster.leaders().items() if n != gateway)
        answers: list[tuple[float, object]] = []

        async def poll(worker: str) -> None:
            request = activate("late", worker, 1, 30.0, request_timeout=60.0)
            result = await call(cluster, gateway, request)
            answers.append((trio.current_time(), result))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll, "w1")
            nursery.start_soon(poll, "w2")
            await trio.sleep(5.0)
            assert answers == []
            router = router_of(cluster, gateway)
            assert router.waiters.waiting("late") == 2
            # Waiting costs nothing: no activation command enters any log while nothing changes.
            before = applied_records(cluster)
            await trio.sleep(5.0)
            assert applied_records(cluster) == before
            created_at = trio.current_time()
            first = await create_on(cluster, pid, "late")
            second = await create_on(cluster, pid, "late")
        assert len(answers) == 2
        keys = set()
        for at, result in answers:
            assert isinstance(result, Activated) and len(result.keys) == 1
            keys.add(result.keys[0])
            assert at - created_at < 1.0  # woken by the notice, long before the 60 s timeout
        assert keys == {first, second}
        assert router.waiters.waiting() == 0


async def test_long_poll_answers_empty_after_its_request_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with job_cluster(157) as cluster:
        await create(cluster, 1, "other")
        started = trio.current_time()
        result = await call(cluster, 1, activate("nothing", "w", 5, 30.0, request_timeout=7.0))
        # Zeebe's long poll ends with no response at all and status OK.
        assert isinstance(result, Activated) and (result.keys, result.responses) == ([], 0)
        assert 7.0 <= trio.current_time() - started < 8.0
        assert router_of(cluster, 1).waiters.waiting() == 0
        # requestTimeout 0 is the gateway's default long poll (10 s), as in Zeebe.
        started = trio.current_time()
        default = activate("nothing", "w", 5, 30.0)
        default.requestTimeout = 0
        result = await call(cluster, 1, default)
        assert isinstance(result, Activated) and result.keys == []
        assert 9.999 <= trio.current_time() - started < 11.0


async def test_activation_gathers_up_to_max_jobs_across_partitions(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with job_cluster(163) as cluster:
        for _ in range(9):
            await create(cluster, 2, "many")
        got = await call(cluster, 0, activate("many", "w", 7, 30.0))
        assert isinstance(got, Activated) and len(got.keys) == 7
        assert len({k >> 51 for k in got.keys}) == 3
        assert got.responses == 3  # one ActivateJobsResponse per partition that had jobs
        rest = await call(cluster, 1, activate("many", "w", 7, 30.0))
        assert isinstance(rest, Activated) and len(rest.keys) == 2
        assert not set(got.keys) & set(rest.keys)


async def test_a_new_leader_announces_jobs_it_can_hand_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Jobs become available to a waiting poll when their partition's leader changes (the old
    one was unreachable when the poll asked)."""
    async with job_cluster(167, partitions=1) as cluster:
        leader = cluster.leaders()[1]
        gateway = next(n for n in range(3) if n != leader)
        await create(cluster, gateway, "moved")
        cluster.crash(leader, power_loss=False)
        result = await call(cluster, gateway, activate("moved", "w", 1, 30.0, request_timeout=30))
        assert isinstance(result, Activated) and len(result.keys) == 1
