"""Partitions inside brokers: bootstrap persistence, supervision, and the real-process failover."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing

from trio_zeebe.broker import Broker, StartupError
from trio_zeebe.config import config_from_dict
from trio_zeebe.errors import find_error
from trio_zeebe.raft.errors import LeadershipLost, NotLeader
from trio_zeebe.testing.cluster import SimCluster
from trio_zeebe.testing.processes import FAST_RAFT, Brokers
from trio_zeebe.testing.raft_group import wait_until

ET = 2.5


def single(tmp: Path, partitions: int) -> Broker:
    return Broker(
        config_from_dict(
            {
                "cluster": {"partitions_count": partitions},
                "network": {
                    "internal_api": {"port": 0},
                    "gateway": {"port": 0},
                    "monitoring": {"port": 0},
                },
                "data": {"directory": str(tmp)},
                "security": {"enabled": False, "gateway": {"enabled": False}},
            }
        )
    )


async def test_distribution_is_fixed_at_bootstrap(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        broker: Broker = await nursery.start(single(tmp_path, 2).run)
        assert broker.distribution is not None
        assert broker.distribution.partitions_of(0) == (1, 2)
        nursery.cancel_scope.cancel()
    # Same config: starts again on the persisted layout.
    async with trio.open_nursery() as nursery:
        await nursery.start(single(tmp_path, 2).run)
        nursery.cancel_scope.cancel()
    # Another partition count: refused with a message naming the key.
    with pytest.raises(BaseException) as info:
        async with trio.open_nursery() as nursery:
            await nursery.start(single(tmp_path, 3).run)
    error = find_error(info.value, StartupError)
    assert error is not None and "cluster.partitions_count" in str(error)


async def test_full_disk_fails_partitions_which_recover_while_the_cluster_serves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        overrides = {"data": {"disk": {"free_space_replication": "64KB"}}}
        cluster: SimCluster = await nursery.start(SimCluster(21, 3, 3, 3, overrides=overrides).run)
        await wait_until(lambda: len(cluster.leaders()) == 3, 4 * ET)
        disk = cluster.disks[2]
        disk.capacity = disk.used_bytes()  # the next write on broker 2 fails: ENOSPC
        manager = cluster.brokers[2].partitions
        assert manager is not None
        # Writing an entry on broker 2 fails; its partitions restart with back-off, unhealthy.
        for pid, node in cluster.leaders().items():
            driver = cluster.brokers[node].partitions.driver(pid)  # type: ignore[union-attr]
            assert driver is not None
            with trio.move_on_after(5), contextlib.suppress(LeadershipLost, NotLeader):
                await driver.propose(b"needs-disk")  # broker 2's own leadership fails here
        await wait_until(lambda: not manager.healthy, 10)
        assert any(p.restarts for p in manager.local.values())
        # The other brokers keep every partition led and committing.
        await wait_until(lambda: len(cluster.leaders()) == 3, 4 * ET)
        for pid, node in cluster.leaders().items():
            assert node != 2
            driver = cluster.brokers[node].partitions.driver(pid)  # type: ignore[union-attr]
            assert driver is not None
            await driver.propose(b"still-serving")
        # Space again: broker 2's partitions come back healthy and catch up.
        disk.capacity = None
        await wait_until(lambda: manager.healthy, 60)
        topology = attrs.asdict(cluster.brokers[0].cluster_view())
        health = {p["health"] for b in topology["brokers"] for p in b["partitions"]}
        await wait_until(
            lambda: (
                {
                    p["health"]
                    for b in attrs.asdict(cluster.brokers[0].cluster_view())["brokers"]
                    for p in b["partitions"]
                }
                == {"healthy"}
            ),
            10,
        )
        assert health  # the broker view listed partitions all along
        nursery.cancel_scope.cancel()


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[Brokers]:
    cluster = Brokers(tmp_path / "dc", partitions=3, replication_factor=3, env=FAST_RAFT)
    try:
        yield cluster
    finally:
        cluster.stop_all()


async def leaders_seen_by(
    brokers: Brokers, node: int, exclude: int | None = None
) -> dict[int, int]:
    topology = await brokers.topology(node)
    if topology is None:
        return {}
    return {
        p.partition_id: b.node_id
        for b in topology.brokers
        if b.state == "alive" and b.node_id != exclude
        for p in b.partitions
        if p.role == "leader"
    }


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_processes_one_leader_per_broker_and_failover_within_10s(brokers: Brokers) -> None:
    for i in range(3):
        brokers.start(i)
    # Balanced: one leader per broker, as seen from every broker once the
    # leaders' claims have been gossiped (each view converges on its own).
    with trio.fail_after(30):
        for node in range(3):
            while sorted((await leaders_seen_by(brokers, node)).values()) != [0, 1, 2]:
                brokers.check_running()
                await trio.sleep(0.1)
    brokers.kill(0)
    killed = time.monotonic()
    with trio.fail_after(10):
        while len(await leaders_seen_by(brokers, 2, exclude=0)) != 3:  # noqa: ASYNC110
            await trio.sleep(0.05)
    print(
        f"kill -9 of broker 0 -> every partition led again after {time.monotonic() - killed:.2f}s"
    )
    # Back, then `rebalance` moves partition leadership home to the primaries.
    brokers.start(0)
    await brokers.wait_all_alive(limit=30)
    with trio.fail_after(30):
        while True:
            topology = await brokers.topology(0)
            mine = [
                p
                for b in (topology.brokers if topology else ())
                if b.node_id == 0
                for p in b.partitions
            ]
            if len(mine) == 3 and all(p.role == "follower" for p in mine):
                break
            await trio.sleep(0.1)
    out = await trio.run_process(
        [
            sys.executable,
            "-m",
            "trio_zeebe",
            "rebalance",
            "--json",
            "--address",
            brokers.gateways[1],
            "--ca",
            brokers.ca,
        ],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr.decode()
    moves = json.loads(out.stdout)["moves"]
    assert moves and all(m["to"] == 0 for m in moves)
    with trio.fail_after(15):
        while sorted((await leaders_seen_by(brokers, 2)).values()) != [0, 1, 2]:  # noqa: ASYNC110
            await trio.sleep(0.1)


async def test_corrupt_log_stops_only_that_partition_with_a_clear_message(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(SimCluster(23, 3, 2, 3).run)
        await wait_until(lambda: len(cluster.leaders()) == 2, 4 * ET)
        for pid, node in cluster.leaders().items():
            driver = cluster.brokers[node].partitions.driver(pid)  # type: ignore[union-attr]
            assert driver is not None
            for i in range(50):
                await driver.propose(b"record-%d" % i)
        victim = next(n for n in range(3) if n not in cluster.leaders().values())
        cluster.crash(victim, power_loss=False)
        segment = f"/data/broker-{victim}/partitions/1/00000000000000000001.log"
        cluster.disks[victim].corrupt(segment, 200)  # bit rot well before the tail
        await cluster.start(victim)
        manager = cluster.brokers[victim].partitions
        assert manager is not None
        await wait_until(lambda: manager.local[1].health == "dead", 10)
        messages = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert any(
            "partition 1 on node" in m and "00000000000000000001.log" in m and "offset" in m
            for m in messages
        ), messages
        # Partition 2 on the same broker is fine, and partition 1 is still served elsewhere.
        await wait_until(lambda: manager.local[2].health == "healthy", 10)
        await wait_until(lambda: cluster.leaders().get(1) not in (None, victim), 10)
        nursery.cancel_scope.cancel()
