"""The disk space watch: a broker whose disk runs low says so and takes no new commands, even
when it writes nothing (it does not wait for a write to fail), and serves again once there is
room; commands it had already taken finish.

Simulated (SimDisk's reported free space, MockClock), plus one real broker process.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from tests.gateway.helpers import all_serving, call, create, create_job
from trio_zeebe.config import ConfigError, config_from_dict
from trio_zeebe.grpc.status import GrpcError, StatusCode
from trio_zeebe.monitoring.health import actuator_health
from trio_zeebe.monitoring.sample import sample_broker
from trio_zeebe.partitions.config import DiskConfig
from trio_zeebe.partitions.diskspace import DiskSpaceMonitor
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.proto import trio_zeebe_pb2 as tz
from trio_zeebe.testing.cluster import SimCluster
from trio_zeebe.testing.disk import SimDisk
from trio_zeebe.testing.raft_group import wait_until

MB = 1024 * 1024
WATCH = {"free_space_processing": "16MB", "free_space_replication": "8MB"}


# --- the monitor ------------------------------------------------------------------------------


async def test_the_monitor_follows_the_free_space_every_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    disk = SimDisk(free_space=100 * MB)
    config = DiskConfig(free_space_processing=16 * MB, free_space_replication=8 * MB)
    monitor = DiskSpaceMonitor(disk, "/", config)
    flips: list[bool] = []
    monitor.on_change.append(flips.append)
    async with trio.open_nursery() as nursery:
        await nursery.start(monitor.run)
        assert monitor.readings == 1 and monitor.free == 100 * MB  # read before started
        assert monitor.processing_allowed
        disk.free_space = 16 * MB - 1
        started = trio.current_time()
        await wait_until(lambda: not monitor.processing_allowed, 2.0, poll=0.01)
        assert trio.current_time() - started <= 1.01  # within one interval (and a poll)
        assert "16777215 bytes free" in monitor.describe()
        disk.free_space = 16 * MB  # exactly the threshold is enough
        await wait_until(lambda: monitor.processing_allowed, 2.0, poll=0.01)
        assert flips == [False, True]
        nursery.cancel_scope.cancel()


async def test_a_broker_starting_on_a_full_disk_never_accepts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    monitor = DiskSpaceMonitor(SimDisk(free_space=0), "/", DiskConfig())
    async with trio.open_nursery() as nursery:
        await nursery.start(monitor.run)
        assert not monitor.processing_allowed  # decided before anything else starts
        nursery.cancel_scope.cancel()


async def test_monitoring_disabled_reads_nothing(autojump_clock: trio.testing.MockClock) -> None:
    monitor = DiskSpaceMonitor(SimDisk(free_space=0), "/", DiskConfig(enable_monitoring=False))
    async with trio.open_nursery() as nursery:
        await nursery.start(monitor.run)
        await trio.sleep(5)
        assert monitor.readings == 0 and monitor.processing_allowed
        nursery.cancel_scope.cancel()


async def test_a_failed_reading_keeps_the_last_state(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The directory does not exist on this SimDisk's file system... a real statvfs fails then.
    class Broken(SimDisk):
        def free_bytes(self, path: str) -> int:
            raise OSError(5, "I/O error")

    monitor = DiskSpaceMonitor(Broken(), "/data", DiskConfig())
    await monitor.check()
    assert monitor.processing_allowed and monitor.free is None and monitor.readings == 0


def test_processing_needs_more_room_than_replication() -> None:
    plain = {"security": {"enabled": False, "gateway": {"enabled": False}}}
    with pytest.raises(ConfigError) as info:
        config_from_dict({**plain, "data": {"disk": {"free_space_processing": "1GB"}}})
    assert "data.disk.free_space_processing: must be greater than free_space_replication" in str(
        info.value
    )
    # Without monitoring the relation does not matter.
    c = config_from_dict(
        {**plain, "data": {"disk": {"enable_monitoring": False, "free_space_processing": "1GB"}}}
    )
    assert c.data.disk.free_space_processing == 1024**3


# --- a simulated cluster ----------------------------------------------------------------------


def exhausted(pid: int) -> tuple[StatusCode, str]:
    return (
        StatusCode.RESOURCE_EXHAUSTED,
        f"Cannot accept requests for partition {pid}. Broker is out of disk space",
    )


async def test_a_leader_low_on_disk_is_unhealthy_and_refuses_until_there_is_room(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(
            SimCluster(31, 3, 1, 3, overrides={"data": {"disk": WATCH}}).run
        )
        await all_serving(cluster, 1)
        leader = cluster.leaders()[1]
        other = next(n for n in range(3) if n != leader)
        broker = cluster.brokers[leader]
        manager = broker.partitions
        assert manager is not None and broker.is_healthy()
        accepted = await create(cluster, other, "before")

        cluster.disks[leader].free_space = 15 * MB  # another tenant filled the disk
        await wait_until(lambda: not broker.is_healthy(), 1.5)
        # Health, metrics' source and the cluster view say so, with the reason ...
        sample = sample_broker(broker)
        assert not sample.healthy and [p.health for p in sample.partitions] == ["unhealthy"]
        assert actuator_health(sample).status == 503
        (mine,) = next(b for b in broker.cluster_view().brokers if b.node_id == leader).partitions
        assert mine.role == "leader" and mine.health == "unhealthy"
        assert mine.problem.startswith("not enough disk space available: 15728640 bytes free")
        # ... and other brokers learn it by gossip, while still routing to the leader.
        seen = cluster.brokers[other]

        def gossiped() -> bool:
            view = seen.cluster_view()
            (p,) = next(b for b in view.brokers if b.node_id == leader).partitions
            return p.health == "unhealthy" and p.role == "leader"

        await wait_until(gossiped, 2.0)
        assert seen.is_healthy()  # its own disk is fine
        # New commands, forwarded or local, keyed or new work: RESOURCE_EXHAUSTED, Zeebe's text.
        applied = manager.processor(1).applied_records  # type: ignore[union-attr]
        for via in (other, leader):
            refused = await call(cluster, via, create_job("during"))
            assert isinstance(refused, GrpcError), refused
            assert (refused.code, refused.message) == exhausted(1)
            keyed = await call(cluster, via, gw.CompleteJobRequest(jobKey=accepted))
            assert isinstance(keyed, GrpcError) and (keyed.code, keyed.message) == exhausted(1)
        activation = await call(
            cluster,
            other,
            gw.ActivateJobsRequest(
                type="before", worker="w", maxJobsToActivate=1, timeout=1000, requestTimeout=-1
            ),
        )
        assert isinstance(activation, GrpcError)
        assert activation.code is StatusCode.RESOURCE_EXHAUSTED
        assert manager.processor(1).applied_records == applied  # type: ignore[union-attr]

        cluster.disks[leader].free_space = None  # room again
        await wait_until(broker.is_healthy, 1.5)
        assert isinstance(await call(cluster, other, create_job("after")), tz.CreateJobResponse)
        done = await call(cluster, other, gw.CompleteJobRequest(jobKey=accepted))
        assert isinstance(done, gw.CompleteJobResponse), done
        await wait_until(lambda: not gossiped() and seen.is_healthy(), 2.0)
        nursery.cancel_scope.cancel()


async def test_a_command_proposed_before_the_disk_ran_low_is_answered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(
            SimCluster(32, 3, 1, 3, overrides={"data": {"disk": WATCH}}).run
        )
        await all_serving(cluster, 1)
        leader = cluster.leaders()[1]
        manager = cluster.brokers[leader].partitions
        assert manager is not None
        proc = manager.processor(1)
        assert proc is not None
        answers: list[object] = []

        async def submit() -> None:
            answers.append(await call(cluster, leader, create_job("in-flight")))

        # Slow the replication down so the command is still pending when the space goes.
        for n in range(3):
            cluster.disks[n].latency = 0.2
        nursery.start_soon(submit)
        await wait_until(lambda: bool(proc._pending), 1.0, poll=0.001)
        cluster.disks[leader].free_space = 0
        await manager.disk_space.check()
        assert not manager.disk_space.processing_allowed
        await wait_until(lambda: bool(answers), 5.0)
        (answer,) = answers
        assert isinstance(answer, tz.CreateJobResponse), answer  # acknowledged, so it is there
        nursery.cancel_scope.cancel()


# --- a real broker --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_a_real_broker_below_its_free_space_for_processing(tmp_path: Path) -> None:
    from trio_zeebe.client import ClientError
    from trio_zeebe.testing.chaos.cluster import http_status
    from trio_zeebe.testing.processes import Brokers

    cluster = Brokers(tmp_path / "dc", brokers=1)
    try:
        # More than any disk here has free: the broker sees it from its first reading.
        cluster.start(0, TRIO_ZEEBE_BROKER_DATA__DISK__FREE_SPACE_PROCESSING="1000000GB")
        await cluster.wait_all_alive(limit=30)
        monitoring = cluster.loaded[0].network.monitoring_port
        assert await http_status("127.0.0.1", monitoring, "/health") == 503
        assert await http_status("127.0.0.1", monitoring, "/actuator/health") == 503
        refusal = ""
        async with cluster.client(0, timeout=5) as client:
            with trio.fail_after(20):
                while "out of disk space" not in refusal:  # partition 1 may have no leader yet
                    try:
                        await client.create_job("real", retries=1)
                    except ClientError as exc:
                        refusal = str(exc)
                    await trio.sleep(0.2)
        assert "Cannot accept requests for partition 1. Broker is out of disk space" in refusal
        assert "not enough disk space available" in cluster.log(0)
    finally:
        cluster.stop_all()
