"""A gateway forwarding to a leader that stops answering (cut off from the cluster, as a stalled
or paused broker is) fails over as fast as the cluster elects a new leader, not after the whole
request timeout; and a slow leader that keeps its followers is waited for, not sent duplicates."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import trio
import trio.testing

from trio_zeebe.client import ClientError
from trio_zeebe.grpc.status import GrpcError, StatusCode
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.proto import trio_zeebe_pb2 as tz
from trio_zeebe.testing.bpmn import ProcessBuilder
from trio_zeebe.testing.cluster import SimCluster
from trio_zeebe.testing.processes import FAST_RAFT, Brokers
from trio_zeebe.testing.raft_group import wait_until

from .helpers import ET, all_serving, call, create, engine_of, job_cluster
from .helpers import create_job as CreateJob


def UpdateJobRetries(key: int, retries: int) -> gw.UpdateJobRetriesRequest:
    return gw.UpdateJobRetriesRequest(jobKey=key, retries=retries)


JobKey = tz.CreateJobResponse
Updated = gw.UpdateJobRetriesResponse

REQUEST_TIMEOUT = 15.0  # network.request_timeout's default: what a stall cost before
SOON = ET + 1.0  # an election timeout, plus a little for the new leader to be known and serve


def gateway_without_the_leader(cluster: SimCluster, pid: int) -> int:
    """A broker not leading ``pid``; one without a replica of it when there is one."""
    leader = cluster.leaders()[pid]
    others = [n for n in sorted(cluster.running) if n != leader]
    for node in others:
        manager = cluster.brokers[node].partitions
        if manager is not None and manager.driver(pid) is None:
            return node
    return others[0]


async def test_keyed_commands_fail_over_from_a_stalled_leader_in_about_an_election_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    for brokers in (3, 4):  # the gateway has a replica of the partition / only the gossip
        async with job_cluster(201, brokers=brokers, partitions=1) as cluster:
            key = await create(cluster, 0, "stall")
            leader = cluster.leaders()[1]
            gateway = gateway_without_the_leader(cluster, 1)
            cluster.partition([leader], [n for n in range(brokers) if n != leader])
            stalled = trio.current_time()
            # A sequential client: each command waits for the one before.
            result = await call(cluster, gateway, UpdateJobRetries(key, 7))
            assert isinstance(result, Updated), result
            assert engine_of(cluster, 1).jobs()[key].retries == 7
            assert trio.current_time() - stalled <= SOON
            assert cluster.leaders()[1] != leader
            started = trio.current_time()
            result = await call(cluster, gateway, UpdateJobRetries(key, 8))
            assert isinstance(result, Updated)
            assert engine_of(cluster, 1).jobs()[key].retries == 8
            assert trio.current_time() - started < 0.5  # the new leader, straight away
            cluster.heal()


async def test_create_job_at_a_stalled_leader_is_unknown_soon_and_the_next_one_succeeds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with job_cluster(203, partitions=1) as cluster:
        leader = cluster.leaders()[1]
        gateway = gateway_without_the_leader(cluster, 1)
        cluster.partition([leader], [n for n in range(3) if n != leader])
        stalled = trio.current_time()
        unknown = await call(cluster, gateway, CreateJob("stall"))
        # Not re-sent: the cut-off leader may have replicated it before the stall.
        assert isinstance(unknown, GrpcError), unknown
        assert unknown.code == StatusCode.UNAVAILABLE and "outcome unknown" in unknown.message
        assert trio.current_time() - stalled <= SOON
        created = await call(cluster, gateway, CreateJob("stall"))
        assert isinstance(created, JobKey), created
        assert trio.current_time() - stalled <= SOON + 0.5
        assert created.key in engine_of(cluster, 1).jobs()
        cluster.heal()
        await all_serving(cluster, 1)
        # The unknown one was never applied (the leader was cut off before it got the command):
        # exactly the acknowledged job exists.
        assert engine_of(cluster, 1).activatable_count("stall") == 1


async def test_every_partition_keeps_serving_a_sequential_client_through_a_stall(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Three partitions, one leader cut off: no request of a one-at-a-time client waits for the
    request timeout, and once the new leaders are known every request succeeds."""
    async with job_cluster(205, brokers=3, partitions=3) as cluster:
        keys = [await create(cluster, 0, "seq") for _ in range(3)]
        victim = cluster.leaders()[1]
        gateway = next(n for n in range(3) if n != victim)
        cluster.partition([victim], [n for n in range(3) if n != victim])
        stalled = trio.current_time()
        longest = 0.0
        outcomes: list[str] = []
        while trio.current_time() - stalled < 3 * ET:
            for request in (CreateJob("seq"), *(UpdateJobRetries(k, 5) for k in keys)):
                started = trio.current_time()
                result = await call(cluster, gateway, request)
                longest = max(longest, trio.current_time() - started)
                outcomes.append("ok" if isinstance(result, Updated | JobKey) else result.code)
            await trio.sleep(0.1)  # in simulated time a healthy request takes none
        assert longest <= SOON
        assert set(outcomes) <= {"ok", StatusCode.UNAVAILABLE}
        assert outcomes[-8:] == ["ok"] * 8
        cluster.heal()


async def test_a_slow_leader_that_keeps_its_followers_gets_no_duplicate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Past the attempt timeout the gateway re-checks the leader; while the same broker still
    leads (slow, not gone) it keeps waiting for that answer instead of re-sending."""
    async with job_cluster(207, partitions=1) as cluster:
        key = await create(cluster, 0, "slow")
        leader = cluster.leaders()[1]
        gateway = gateway_without_the_leader(cluster, 1)
        processor = cluster.brokers[leader].partitions.processor(1)  # type: ignore[union-attr]
        assert processor is not None
        broker_gateway = cluster.brokers[gateway].gateway
        assert broker_gateway is not None
        router = broker_gateway.router
        assert router is not None
        release = trio.Event()
        submit_many = processor.submit_many
        calls = 0

        async def slow_submit(commands: list[bytes]) -> list[bytes | Exception]:
            nonlocal calls
            calls += 1
            await release.wait()
            return await submit_many(commands)

        processor.submit_many = slow_submit  # type: ignore[method-assign]

        async def release_later() -> None:
            await trio.sleep(3 * ET)  # longer than the attempt timeout, shorter than the request's
            release.set()

        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(release_later)
            result = await call(cluster, gateway, UpdateJobRetries(key, 9))
        assert isinstance(result, Updated)
        assert engine_of(cluster, 1).jobs()[key].retries == 9
        assert 3 * ET <= trio.current_time() - started < REQUEST_TIMEOUT
        assert calls == 1 and router.abandoned == 0
        assert cluster.leaders()[1] == leader


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_sigstop_of_a_leader_process_costs_a_sequential_client_about_an_election(
    tmp_path: Path,
) -> None:
    brokers = Brokers(tmp_path / "dc", partitions=1, replication_factor=3, env=FAST_RAFT)
    election_timeout = 1.0  # FAST_RAFT's
    stopped: int | None = None
    try:
        for node in range(3):
            brokers.start(node)
        await brokers.wait_all_alive(30)
        leader = await _leader(brokers, limit=30)
        gateway = (leader + 1) % 3
        async with brokers.client(gateway, timeout=10) as client:
            with trio.fail_after(30):
                while True:  # the partition serves once its leader has applied its backlog
                    try:
                        key = await client.create_job("stall")
                        break
                    except ClientError:
                        await trio.sleep(0.05)
            os.kill(brokers.procs[leader].pid, signal.SIGSTOP)
            stopped = leader
            frozen = time.monotonic()
            while True:  # one request at a time, as a sequential client does
                try:
                    await client.update_job_retries(key, 5)
                    break
                except ClientError:
                    assert time.monotonic() - frozen < 15
            # An election timeout before the gateway re-checks, then the election: not 15 s.
            assert time.monotonic() - frozen < 4 * election_timeout
            longest, created = 0.0, None
            while created is None:
                started = time.monotonic()
                try:
                    created = await client.create_job("stall")
                except ClientError as exc:  # at most "outcome unknown", and soon
                    assert "outcome unknown" in str(exc) or "leader" in str(exc), exc
                longest = max(longest, time.monotonic() - started)
                assert time.monotonic() - frozen < 15
            assert longest < 4 * election_timeout
    finally:
        if stopped is not None:
            os.kill(brokers.procs[stopped].pid, signal.SIGCONT)
        brokers.stop_all()


async def _leader(brokers: Brokers, limit: float) -> int:
    with trio.fail_after(limit):
        while True:
            topology = await brokers.topology(0)
            if topology is not None:
                claims = {
                    (p.term, b.node_id)
                    for b in topology.brokers
                    for p in b.partitions
                    if p.partition_id == 1 and p.role == "leader"
                }
                if claims:
                    return max(claims)[1]
            brokers.check_running()
            await trio.sleep(0.05)


async def test_create_with_result_at_a_cut_off_leader_is_unknown_soon_not_at_its_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """CreateProcessInstanceWithResult waits for the instance to complete, so a silent leader is
    waited for; but once another broker leads, the deferred answer cannot come any more (the old
    leader dropped it when it stepped down, and its reply would not get through): the client
    hears "outcome unknown" about an election later, not when its requestTimeout runs out (it
    once waited the whole minute)."""
    xml = ProcessBuilder("wait").start_event().service_task("t", job_type="t").end_event().done()
    async with job_cluster(209, partitions=1) as cluster:
        deployed = await call(
            cluster,
            0,
            gw.DeployResourceRequest(resources=[gw.Resource(name="w.bpmn", content=xml)]),
        )
        assert isinstance(deployed, gw.DeployResourceResponse), deployed
        leader = cluster.leaders()[1]
        gateway = gateway_without_the_leader(cluster, 1)
        create = gw.CreateProcessInstanceRequest(bpmnProcessId="wait", version=-1)
        request = gw.CreateProcessInstanceWithResultRequest(request=create, requestTimeout=60_000)
        answers: list[object] = []

        async def client() -> None:
            answers.append(await call(cluster, gateway, request, timeout=120))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(client)
            await wait_until(lambda: len(engine_of(cluster, 1).instances()) > 0 or answers, 5)
            assert not answers, answers
            cluster.partition([leader], [n for n in range(3) if n != leader])
            stalled = trio.current_time()
        [unknown] = answers
        assert isinstance(unknown, GrpcError), unknown
        assert unknown.code == StatusCode.UNAVAILABLE and "outcome unknown" in unknown.message
        assert trio.current_time() - stalled <= 2 * SOON
        cluster.heal()
