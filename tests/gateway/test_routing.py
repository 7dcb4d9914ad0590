"""Gateway routing in a simulated cluster: any broker takes any request and routes it to the
partition leader, retries across leader changes, and maps refusals to Zeebe's codes."""

from __future__ import annotations

import collections

import trio
import trio.testing

from trio_zeebe import codec
from trio_zeebe.grpc.status import GrpcError, StatusCode
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.proto import trio_zeebe_pb2 as tz

from .helpers import (
    ET,
    Activated,
    activate,
    all_serving,
    call,
    create,
    create_job,
    engine_of,
    job_cluster,
    non_leader,
    serving,
)

CreateJob = create_job
JobKey = tz.CreateJobResponse


async def test_create_job_round_robin_over_partitions_from_every_broker(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with job_cluster(101) as cluster:
        spread: collections.Counter[int] = collections.Counter()
        for i in range(18):
            result = await call(cluster, i % 3, create_job("rr", variables={"i": i}))
            assert isinstance(result, JobKey), result
            spread[result.key >> 51] += 1
        # Each gateway cycles through all partitions: an even spread, whoever leads what.
        assert spread == {1: 6, 2: 6, 3: 6}
        for pid in (1, 2, 3):
            assert engine_of(cluster, pid).activatable_count("rr") == 6


async def test_local_first_creates_on_the_partitions_the_gateway_leads(
    autojump_clock: trio.testing.MockClock,
) -> None:
    network = {"new_work_partitions": "local-first"}
    async with job_cluster(101, brokers=4, network=network) as cluster:
        leaders = cluster.leaders()
        idle = [node for node in range(4) if node not in leaders.values()]
        assert idle  # four brokers, three partitions: one leads nothing
        for node in range(4):
            led = {pid for pid, leader in leaders.items() if leader == node}
            keys = [await create(cluster, node, "lf", variables={"n": node}) for _ in range(6)]
            spread = collections.Counter(key >> 51 for key in keys)
            if led:  # nothing forwarded: round-robin over the partitions led here
                assert set(spread) == led and len(set(spread.values())) == 1, (led, spread)
            else:  # a gateway that leads nothing passes new work round-robin over them all
                assert spread == {1: 2, 2: 2, 3: 2}
        assert sum(engine_of(cluster, pid).activatable_count("lf") for pid in (1, 2, 3)) == 24


async def test_local_first_activates_jobs_of_the_partitions_the_gateway_leads(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A worker on a gateway gets the jobs of the partitions led there first, so completing
    # them needs no forward either; round-robin would start every gateway at partition 1.
    network = {"new_work_partitions": "local-first"}
    async with job_cluster(109, brokers=4, network=network) as cluster:
        leaders = cluster.leaders()
        led = {
            node: {pid for pid, leader in leaders.items() if leader == node} for node in range(4)
        }
        # The leader of partition 1 activates last: the others, asking round-robin, would
        # otherwise take its jobs first.
        workers = sorted((node for node in range(4) if led[node]), key=lambda n: 1 in led[n])
        assert 1 not in led[workers[0]]
        for node in workers:
            for _ in range(3):
                await create(cluster, node, "la")
        activated = {}
        for node in workers:
            got = await call(cluster, node, activate("la", f"w{node}", 3, 60.0, 0))
            assert isinstance(got, Activated), got
            activated[node] = got.keys
        for node, keys in activated.items():
            assert len(keys) == 3 and {key >> 51 for key in keys} <= led[node], (led, activated)
            for key in keys:
                done = await call(cluster, node, gw.CompleteJobRequest(jobKey=key))
                assert isinstance(done, gw.CompleteJobResponse), done
        assert sum(engine_of(cluster, pid).activatable_count("la") for pid in (1, 2, 3)) == 0


async def test_key_addressed_commands_from_a_broker_that_does_not_lead(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with job_cluster(103) as cluster:
        keys = [await create(cluster, 0, "k", retries=2) for _ in range(3)]
        for key in keys:
            pid = key >> 51
            gateway = non_leader(cluster, pid)
            updated = await call(
                cluster, gateway, gw.UpdateJobRetriesRequest(jobKey=key, retries=5)
            )
            assert isinstance(updated, gw.UpdateJobRetriesResponse), updated
            assert engine_of(cluster, pid).jobs()[key].retries == 5
        gateway = non_leader(cluster, keys[0] >> 51)
        activated = await call(cluster, gateway, activate("k", "w", 10, 60.0))
        assert isinstance(activated, Activated)
        assert sorted(activated.keys) == sorted(keys)
        done = await call(cluster, gateway, gw.CompleteJobRequest(jobKey=keys[0], variables="{}"))
        assert isinstance(done, gw.CompleteJobResponse)
        assert keys[0] not in engine_of(cluster, keys[0] >> 51).jobs()  # completed: gone
        failed = await call(
            cluster, gateway, gw.FailJobRequest(jobKey=keys[1], retries=0, errorMessage="boom")
        )
        assert isinstance(failed, gw.FailJobResponse)
        job = engine_of(cluster, keys[1] >> 51).jobs()[keys[1]]
        assert (job.state, job.retries) == ("FAILED", 0)
        thrown = await call(
            cluster,
            gateway,
            gw.ThrowErrorRequest(jobKey=keys[2], errorCode="E1", errorMessage="business"),
        )
        assert isinstance(thrown, gw.ThrowErrorResponse)
        assert engine_of(cluster, keys[2] >> 51).jobs()[keys[2]].state == "ERROR_THROWN"


async def test_bad_keys_and_engine_rejections_keep_their_codes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with job_cluster(107) as cluster:
        key = await create(cluster, 1, "r")
        gateway = non_leader(cluster, key >> 51)

        async def code_of(request: object) -> tuple[StatusCode, str]:
            err = await call(cluster, gateway, request)  # type: ignore[arg-type]
            assert isinstance(err, GrpcError), err
            return err.code, err.message

        # Zeebe's gateway: a key naming no partition of the cluster is UNAVAILABLE.
        code, message = await code_of(gw.CompleteJobRequest(jobKey=9 << 51 | 5))
        assert (code, message) == (
            StatusCode.UNAVAILABLE,
            "Expected to execute command on partition 9, but either it does not exist, or the "
            "gateway is not yet aware of it",
        )
        assert (await code_of(gw.CompleteJobRequest(jobKey=0)))[0] == StatusCode.UNAVAILABLE
        missing = 1 << 51 | 999_999
        assert await code_of(gw.CompleteJobRequest(jobKey=missing)) == (
            StatusCode.NOT_FOUND,
            f"Command 'COMPLETE' rejected with code 'NOT_FOUND': Expected to complete job with "
            f"key '{missing}', but no such job was found",
        )
        # A timeout change needs an activated job: the engine's FAILED_PRECONDITION comes through.
        code, message = await code_of(gw.UpdateJobTimeoutRequest(jobKey=key, timeout=10_000))
        assert code == StatusCode.FAILED_PRECONDITION
        assert message.startswith("Command 'UPDATE_TIMEOUT' rejected with code 'INVALID_STATE':")
        assert (await code_of(CreateJob("")))[0] == StatusCode.INVALID_ARGUMENT
        code, message = await code_of(activate("r", "w", 0, 1.0))
        assert code == StatusCode.INVALID_ARGUMENT
        assert (
            "Expected to activate job batch with max jobs to activate to be greater than zero"
            in (message)
        )


async def test_requests_survive_a_leader_crash_mid_stream(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A gateway keeps routing while the leader of a partition is killed: key-addressed commands
    are retried on the new leader; a CreateJob either succeeds or says its outcome is unknown,
    and every acknowledged job exists afterwards, once."""
    async with job_cluster(109) as cluster:
        keys = [await create(cluster, 0, "mid") for _ in range(12)]
        victim_pid = 2
        victim = cluster.leaders()[victim_pid]
        gateway = next(n for n in range(3) if n != victim)
        on_victim = [k for k in keys if k >> 51 == victim_pid]
        acked: list[int] = []
        outcomes: collections.Counter[str] = collections.Counter()

        async def creator() -> None:
            for i in range(60):
                result = await call(cluster, gateway, CreateJob("mid", variables={"i": i}))
                if isinstance(result, JobKey):
                    acked.append(result.key)
                    outcomes["ok"] += 1
                else:
                    assert result.code == StatusCode.UNAVAILABLE, result.message
                    assert "outcome unknown" in result.message
                    outcomes["unknown"] += 1
                await trio.sleep(0.1)

        async def updater() -> None:
            for round_ in range(6):
                for key in on_victim:
                    request = gw.UpdateJobRetriesRequest(jobKey=key, retries=10 + round_)
                    result = await call(cluster, gateway, request)
                    assert isinstance(result, gw.UpdateJobRetriesResponse), result
                await trio.sleep(0.5)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(creator)
            nursery.start_soon(updater)
            await trio.sleep(1.0)
            cluster.crash(victim, power_loss=False)
        assert outcomes["ok"] >= 50
        await cluster.start(victim)
        await all_serving(cluster, 3)
        for key in on_victim:
            job = engine_of(cluster, victim_pid).jobs().get(key)
            assert job is not None and job.retries == 15
        for key in acked:
            assert key in engine_of(cluster, key >> 51).jobs()
        assert len(set(acked)) == len(acked)


async def test_pending_request_at_a_leader_that_loses_quorum_is_retried_after_healing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with job_cluster(113, partitions=1) as cluster:
        key = await create(cluster, 0, "iso")
        leader = cluster.leaders()[1]
        others = [n for n in range(3) if n != leader]
        cluster.partition([leader], others)

        async def heal_later() -> None:
            await trio.sleep(3 * ET)
            cluster.heal()

        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(heal_later)
            # Idempotent: the lost attempt is retried via whoever leads after the heal.
            result = await call(cluster, leader, gw.UpdateJobRetriesRequest(jobKey=key, retries=7))
        assert isinstance(result, gw.UpdateJobRetriesResponse), result
        assert engine_of(cluster, 1).jobs()[key].retries == 7
        assert trio.current_time() - started < 15.0

        # A CreateJob pending when leadership is lost has an unknown outcome: not retried.
        await all_serving(cluster, 1)
        leader = cluster.leaders()[1]
        cluster.partition([leader], [n for n in range(3) if n != leader])
        started = trio.current_time()
        result = await call(cluster, leader, CreateJob("iso"))
        assert isinstance(result, GrpcError)
        assert result.code == StatusCode.UNAVAILABLE and "outcome unknown" in result.message
        assert trio.current_time() - started <= 2 * ET  # at the step-down, not a timeout
        cluster.heal()


async def test_deadline_exceeded_when_no_partition_has_a_leader(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with job_cluster(127, network={"request_timeout": "4s"}) as cluster:
        key = await create(cluster, 0, "dl")
        cluster.partition([0], [1], [2])
        await trio.sleep(4 * ET)  # every leader has stepped down (no quorum anywhere)
        for request in (gw.CompleteJobRequest(jobKey=key), CreateJob("dl")):
            started = trio.current_time()
            result = await call(cluster, 0, request)
            assert isinstance(result, GrpcError), result
            assert result.code == StatusCode.DEADLINE_EXCEEDED, result.message
            assert result.message.startswith("Time out between gateway and broker: ")
            assert 4.0 - 0.3 <= trio.current_time() - started <= 4.0 + 0.5
        cluster.heal()


async def test_back_pressure_refuses_past_the_in_flight_bound(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with job_cluster(131, network={"max_inflight_per_partition": 2}) as cluster:
        key = await create(cluster, 0, "bp")
        gateway = non_leader(cluster, key >> 51)
        results: list[object] = []

        async def one(i: int) -> None:
            request = gw.UpdateJobRetriesRequest(jobKey=key, retries=i + 1)
            results.append(await call(cluster, gateway, request))

        async with trio.open_nursery() as nursery:
            for i in range(20):
                nursery.start_soon(one, i)
        ok = [r for r in results if isinstance(r, gw.UpdateJobRetriesResponse)]
        refused = [r for r in results if isinstance(r, GrpcError)]
        assert len(ok) + len(refused) == 20 and len(ok) >= 2
        assert refused and all(r.code == StatusCode.RESOURCE_EXHAUSTED for r in refused)
        assert refused[0].message.startswith(
            f"Failed to write client request to partition '{key >> 51}', because the writer "
            "buffer is full"
        )
        assert "max_inflight_per_partition" in refused[0].message

        creates: list[object] = []

        async def create_one() -> None:
            creates.append(await call(cluster, gateway, CreateJob("bp")))

        async with trio.open_nursery() as nursery:
            for _ in range(40):
                nursery.start_soon(create_one)
        codes = {r.code for r in creates if isinstance(r, GrpcError)}
        assert codes <= {StatusCode.RESOURCE_EXHAUSTED}
        assert sum(isinstance(r, JobKey) for r in creates) >= 6  # 3 partitions x 2 in flight
        # Nothing stays counted once the requests are answered.
        for node in range(3):
            gateway_ = cluster.brokers[node].gateway
            assert gateway_ is not None and gateway_.router is not None
            assert gateway_.router.executor.inflight == {}


def test_forward_messages_round_trip_on_the_wire() -> None:
    from trio_zeebe.gateway.forward import ForwardCommands, ForwardReplies, ForwardReply

    replies = ForwardReplies((ForwardReply("lost", b"", 2, "m"), ForwardReply("ok", b"\x02")))
    for message in (ForwardCommands(((3, b"\x01"), (1, b"")), 2.5), replies):
        assert codec.decode(codec.encode(message)) == message


async def test_commands_waiting_together_go_to_each_leader_in_one_request(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Forwarding is batched per leader broker: the creates a gateway reads in one go cost one
    request per other broker, and every one still gets its own answer."""
    async with job_cluster(131) as cluster:
        leaders = cluster.leaders()
        gateway = 0
        broker_gateway = cluster.brokers[gateway].gateway
        assert broker_gateway is not None
        router = broker_gateway.router
        assert router is not None
        before = (router.batcher.batches, router.batcher.forwarded)
        results: list[object] = []

        async def create(i: int) -> None:
            results.append(await call(cluster, gateway, CreateJob("batched", variables={"i": i})))

        async with trio.open_nursery() as nursery:
            for i in range(30):
                nursery.start_soon(create, i)
        assert all(isinstance(r, JobKey) for r in results) and len(results) == 30
        keys = [r.key for r in results if isinstance(r, JobKey)]
        assert len(set(keys)) == 30
        remote = sum(1 for k in keys if leaders[k >> 51] != gateway)
        other_brokers = {node for node in leaders.values() if node != gateway}
        assert remote > 0
        assert router.batcher.forwarded - before[1] == remote
        assert router.batcher.batches - before[0] == len(other_brokers)


async def test_activation_rounds_that_find_nothing_add_no_records(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with job_cluster(137) as cluster:
        processors = [serving(cluster, pid) for pid in (1, 2, 3)]

        def applied() -> list[int]:
            return [p.applied_records for p in processors if p is not None]

        before = applied()
        poll = activate("none", "w", 5, 10.0, request_timeout=0)
        nothing = await call(cluster, 0, poll)
        assert isinstance(nothing, Activated) and (nothing.keys, nothing.responses) == ([], 0)
        assert applied() == before  # three partitions asked, nothing logged
        key = await create(cluster, 1, "some")
        found = await call(cluster, 2, activate("some", "w", 5, 10.0, request_timeout=0))
        assert found.keys == [key] and found.responses == 1
        grown = [after - b for after, b in zip(applied(), before, strict=True)]
        assert sorted(grown) == [0, 0, 2]  # the create and the activation, on one partition
