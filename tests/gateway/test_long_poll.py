"""Long-polling ActivateJobs: answered as soon as a matching job appears on any partition (the
leader notifies the gateways; nothing polls meanwhile), empty once the request timeout passes."""

from __future__ import annotations

import trio
import trio.testing

from trio_zeebe import codec
from trio_zeebe.engine.records import ActivatedJobs, ActivateJobs, CreateJob
from trio_zeebe.gateway.messages import ActivateJobsRequest
from trio_zeebe.testing.cluster import SimCluster

from .helpers import call, job_cluster


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
    router = cluster.brokers[leader].router
    assert router is not None
    reply = await router.executor.execute(pid, codec.encode(CreateJob(job_type)))
    key: int = codec.decode(reply.result).key
    return key


async def test_long_poll_is_answered_when_a_job_appears_on_another_partition(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with job_cluster(151) as cluster:
        gateway = 0
        # A partition led elsewhere, so the notice has to cross the network.
        pid = next(p for p, n in cluster.leaders().items() if n != gateway)
        answers: list[tuple[float, object]] = []

        async def poll(worker: str) -> None:
            request = ActivateJobsRequest(ActivateJobs("late", worker, 1, 30.0), 60.0)
            result = await call(cluster, gateway, request)
            answers.append((trio.current_time(), result))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll, "w1")
            nursery.start_soon(poll, "w2")
            await trio.sleep(5.0)
            assert answers == []
            router = cluster.brokers[gateway].router
            assert router is not None and router.waiters.waiting("late") == 2
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
            assert isinstance(result, ActivatedJobs) and len(result.jobs) == 1
            keys.add(result.jobs[0].key)
            assert at - created_at < 1.0  # woken by the notice, long before the 60 s timeout
        assert keys == {first, second}
        assert router.waiters.waiting() == 0


async def test_long_poll_answers_empty_after_its_request_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with job_cluster(157) as cluster:
        await call(cluster, 1, CreateJob("other"))
        started = trio.current_time()
        request = ActivateJobsRequest(ActivateJobs("nothing", "w", 5, 30.0), 7.0)
        result = await call(cluster, 1, request)
        assert result == ActivatedJobs(())
        assert 7.0 <= trio.current_time() - started < 8.0
        router = cluster.brokers[1].router
        assert router is not None and router.waiters.waiting() == 0


async def test_activation_gathers_up_to_max_jobs_across_partitions(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with job_cluster(163) as cluster:
        for _ in range(9):
            await call(cluster, 2, CreateJob("many"))
        got = await call(cluster, 0, ActivateJobsRequest(ActivateJobs("many", "w", 7, 30.0), 1.0))
        assert isinstance(got, ActivatedJobs) and len(got.jobs) == 7
        assert len({j.key >> 51 for j in got.jobs}) == 3
        rest = await call(cluster, 1, ActivateJobsRequest(ActivateJobs("many", "w", 7, 30.0), 1.0))
        assert isinstance(rest, ActivatedJobs) and len(rest.jobs) == 2
        assert not {j.key for j in got.jobs} & {j.key for j in rest.jobs}


async def test_a_new_leader_announces_jobs_it_can_hand_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Jobs become available to a waiting poll when their partition's leader changes (the old
    one was unreachable when the poll asked)."""
    async with job_cluster(167, partitions=1) as cluster:
        leader = cluster.leaders()[1]
        gateway = next(n for n in range(3) if n != leader)
        await call(cluster, gateway, CreateJob("moved"))
        cluster.crash(leader, power_loss=False)
        result = await call(
            cluster, gateway, ActivateJobsRequest(ActivateJobs("moved", "w", 1, 30.0), 30.0)
        )
        assert isinstance(result, ActivatedJobs) and len(result.jobs) == 1
