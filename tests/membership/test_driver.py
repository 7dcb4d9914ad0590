"""MembershipService (the trio driver) on SimNetwork + SimDisk under a virtual clock.

Every test runs under ``autojump_clock`` (MockClock, autojump_threshold=0): timings asserted here
are virtual seconds, exact and repeatable, and the tests take milliseconds of real time.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable

import attrs
import pytest
import trio
import trio.testing

from trio_zeebe.membership import (
    Event,
    MemberAdded,
    MemberRemoved,
    MemberSuspect,
    PropertiesChanged,
    State,
    SwimConfig,
    SwimCore,
)
from trio_zeebe.membership.driver import MembershipService
from trio_zeebe.membership.topology_store import PersistedTopology, TopologyStore
from trio_zeebe.testing.disk import SimDisk
from trio_zeebe.testing.network import SimEndpoint, SimNetwork
from trio_zeebe.transport.api import Peer

CLUSTER = "sim-cluster"
CONFIG = SwimConfig(
    probe_interval=1.0,
    probe_timeout=0.2,
    failure_timeout=5.0,
    gossip_interval=0.25,
    sync_interval=10.0,
)
DETECTION_BOUND = CONFIG.failure_timeout + 2 * CONFIG.probe_interval


def address(i: int) -> str:
    return f"10.0.0.{i}:26502"


@attrs.define(eq=False)
class Node:
    index: int
    endpoint: SimEndpoint
    service: MembershipService
    disk: SimDisk
    scope: trio.CancelScope
    channel: trio.MemoryReceiveChannel[Event]
    seen: list[Event] = attrs.field(factory=list)
    stopped: trio.Event = attrs.field(factory=trio.Event)
    service_returned: trio.Event = attrs.field(factory=trio.Event)

    @property
    def core(self) -> SwimCore:
        return self.service.core

    def alive(self) -> set[int]:
        return {n for n, m in self.service.members().items() if m.state is State.ALIVE}

    def state_of(self, node_id: int) -> State | None:
        member = self.service.members().get(node_id)
        return None if member is None else member.state

    @property
    def events(self) -> list[Event]:
        """Every event this node's subscriber received so far, in order."""
        while True:
            try:
                self.seen.append(self.channel.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return self.seen

    def kinds_about(self, node_id: int) -> list[str]:
        return [type(e).__name__ for e in self.events if e.member.node_id == node_id]


class Cluster:
    def __init__(self, nursery: trio.Nursery, *, seed: int = 1) -> None:
        self.nursery = nursery
        self.rng = random.Random(seed)
        self.net = SimNetwork(random.Random(seed))
        self.disks: dict[int, SimDisk] = {}
        self.nodes: dict[int, Node] = {}

    async def start(
        self,
        index: int,
        contacts: Iterable[int] = (),
        *,
        incarnation: int = 1,
        cluster_name: str = CLUSTER,
        properties: dict[str, str] | None = None,
    ) -> Node:
        peer = Peer(index, address(index))
        self.net.restart(peer.address)
        endpoint = self.net.endpoint(peer)
        core = SwimCore(
            node_id=index,
            address=peer.address,
            incarnation=incarnation,
            rng=random.Random(self.rng.getrandbits(32)),
            config=CONFIG,
            properties=properties,
            now=trio.current_time(),
        )
        disk = self.disks.setdefault(index, SimDisk())
        service = MembershipService(
            core,
            endpoint,
            cluster_name=cluster_name,
            contact_points=[address(c) for c in contacts],
            store=TopologyStore(disk, f"/data/{index}"),
        )
        node = Node(index, endpoint, service, disk, trio.CancelScope(), service.subscribe())
        self.nodes[index] = node
        await self.nursery.start(self._run, node)
        return node

    async def _run(self, node: Node, *, task_status: trio.TaskStatus[None]) -> None:
        try:
            with node.scope:
                async with trio.open_nursery() as nursery:
                    await nursery.start(node.endpoint.run)
                    await nursery.start(self._service, node)
                    task_status.started()
        finally:
            node.stopped.set()

    @staticmethod
    async def _service(node: Node, *, task_status: trio.TaskStatus[None]) -> None:
        await node.service.run(task_status=task_status)
        node.service_returned.set()

    async def crash(self, index: int, *, power_loss: bool = True) -> None:
        """kill -9: the node vanishes from the network, its tasks die, unsynced disk state too."""
        node = self.nodes[index]
        self.net.crash(address(index))
        if power_loss:
            node.disk.crash(self.rng)
        node.scope.cancel()
        await node.stopped.wait()

    def others(self, index: int) -> list[Node]:
        return [n for i, n in self.nodes.items() if i != index and not n.stopped.is_set()]


async def wait_until(predicate: Callable[[], bool], limit: float) -> float:
    """Virtual seconds until ``predicate()`` holds; fails after ``limit`` virtual seconds."""
    start = trio.current_time()
    with trio.fail_after(limit):
        while not predicate():  # noqa: ASYNC110 (polls core state; virtual time)
            await trio.sleep(0.01)
    return trio.current_time() - start


async def converge(cluster: Cluster, ids: set[int], limit: float = 5.0) -> float:
    return await wait_until(lambda: all(cluster.nodes[i].alive() == ids for i in ids), limit=limit)


async def test_five_members_join_through_one_contact_point(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery)
        await cluster.start(0)
        for i in range(1, 5):
            await cluster.start(i, contacts=[0])
        took = await converge(cluster, set(range(5)))
        # Sync with the contact point answers with the full list; gossip does the rest.
        assert took < 2 * CONFIG.probe_interval
        for node in cluster.nodes.values():
            added = {e.member.node_id for e in node.events if isinstance(e, MemberAdded)}
            assert added == set(range(5)) - {node.index}
            assert node.service.known() == {i: address(i) for i in range(5)}
        nursery.cancel_scope.cancel()


async def test_crashed_member_is_declared_dead_within_the_failure_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, seed=7)
        await cluster.start(0)
        for i in range(1, 5):
            await cluster.start(i, contacts=[0])
        await converge(cluster, set(range(5)))
        crashed_at = trio.current_time()
        await cluster.crash(4)
        survivors = cluster.others(4)
        suspected: dict[int, float] = {}
        dead: dict[int, float] = {}
        with trio.fail_after(DETECTION_BOUND):
            while len(dead) < len(survivors):
                for node in survivors:
                    state = node.state_of(4)
                    if state is not State.ALIVE:
                        suspected.setdefault(node.index, trio.current_time() - crashed_at)
                    if state in (State.DEAD, None):
                        dead.setdefault(node.index, trio.current_time() - crashed_at)
                await trio.sleep(0.01)
        # Suspected after some prober's turn came (round-robin: within n-1 probe intervals, plus
        # the probe itself), dead once the suspicion timer ran out, known to all within the bound.
        assert min(suspected.values()) <= 4 * CONFIG.probe_interval + CONFIG.probe_interval
        assert max(dead.values()) <= DETECTION_BOUND
        for node in survivors:
            kinds = node.kinds_about(4)
            # Seen alive, then suspected (by itself or through gossip), then removed; never
            # alive again in between, since node 4 cannot refute.
            assert kinds == ["MemberAdded", "MemberSuspect", "MemberRemoved"], kinds
            assert node.alive() == {0, 1, 2, 3}
            # Dead, yet still a known member of the cluster (status lists it as dead).
            assert 4 in node.service.known()
        # No false suspicion of anyone else while detecting the crash.
        for node in survivors:
            others = [e for e in node.events if e.member.node_id != 4]
            assert not any(isinstance(e, MemberSuspect | MemberRemoved) for e in others)
        nursery.cancel_scope.cancel()


async def test_suspect_then_alive_again_after_a_short_isolation(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, seed=3)
        await cluster.start(0)
        for i in range(1, 4):
            await cluster.start(i, contacts=[0])
        await converge(cluster, set(range(4)))
        cluster.net.isolate(address(3))
        observers = cluster.others(3)
        await wait_until(lambda: any(n.state_of(3) is State.SUSPECT for n in observers), limit=3.0)
        cluster.net.heal()
        # It refutes with a higher incarnation before any suspicion timer runs out.
        await converge(cluster, set(range(4)), limit=CONFIG.failure_timeout)
        for node in observers:
            kinds = node.kinds_about(3)
            assert "MemberRemoved" not in kinds
            if "MemberSuspect" in kinds:
                assert kinds.index("MemberSuspect") < len(kinds) - 1
                assert kinds[-1] == "MemberAlive"
        assert any("MemberAlive" in n.kinds_about(3) for n in observers)
        assert cluster.nodes[3].core.local.incarnation > 1
        nursery.cancel_scope.cancel()


async def test_properties_reach_every_member(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery)
        await cluster.start(0, properties={"gateway": "g0"})
        for i in (1, 2):
            await cluster.start(i, contacts=[0], properties={"gateway": f"g{i}"})
        await converge(cluster, {0, 1, 2})
        assert cluster.nodes[0].service.members()[2].properties == {"gateway": "g2"}
        cluster.nodes[2].service.set_properties({"gateway": "g2", "role": "leader"})
        wanted = {"gateway": "g2", "role": "leader"}
        took = await wait_until(
            lambda: all(n.service.members()[2].properties == wanted for n in cluster.others(2)),
            limit=2.0,
        )
        assert took <= 2 * CONFIG.gossip_interval
        for node in cluster.others(2):
            changed = [e for e in node.events if isinstance(e, PropertiesChanged)]
            assert [e.member.properties for e in changed] == [wanted]
        nursery.cancel_scope.cancel()


async def test_restart_with_a_higher_incarnation_replaces_the_old_instance(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery)
        await cluster.start(0)
        for i in (1, 2):
            await cluster.start(i, contacts=[0], incarnation=100)
        await converge(cluster, {0, 1, 2})
        old = cluster.nodes[2].core.local
        await cluster.crash(2)
        # Back before anyone declared it dead: a new process, a higher incarnation.
        await cluster.start(2, contacts=[0], incarnation=200)
        await converge(cluster, {0, 1, 2}, limit=3.0)
        for node in cluster.others(2):
            record = node.service.members()[2]
            assert record.incarnation >= 200 and record.instance_id != old.instance_id
            kinds = node.kinds_about(2)
            assert kinds[-2:] == ["MemberRemoved", "MemberAdded"], kinds
        nursery.cancel_scope.cancel()


async def test_rejoins_from_persisted_topology_when_contact_points_are_down(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery)
        await cluster.start(0)
        await cluster.start(1, contacts=[0])
        await cluster.start(2, contacts=[0])
        await converge(cluster, {0, 1, 2})
        store = cluster.nodes[2].service.store
        assert store is not None
        await wait_until(lambda: (t := store.load()) is not None and len(t.members) == 3, limit=1.0)
        await cluster.crash(0)  # the only configured contact point: gone for good
        await cluster.crash(2)  # power loss: only what was fsynced survives
        # Node 1 must have given up on node 2, or its own probes would find node 2 again. Alone,
        # it has no one to confirm suspicions and its local health multiplier slows it down.
        await wait_until(lambda: cluster.nodes[1].state_of(2) in (State.DEAD, None), 30.0)
        node = await cluster.start(2, contacts=[0], incarnation=2)
        await wait_until(lambda: {1, 2} <= node.alive(), limit=3.0)
        await wait_until(lambda: 2 in cluster.nodes[1].alive(), limit=3.0)
        nursery.cancel_scope.cancel()


async def test_without_persisted_topology_the_same_restart_stays_alone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Control for the test above: it is the file that makes the rejoin work."""
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery)
        await cluster.start(0)
        await cluster.start(1, contacts=[0])
        await cluster.start(2, contacts=[0])
        await converge(cluster, {0, 1, 2})
        await cluster.crash(0)
        await cluster.crash(2)
        await wait_until(lambda: cluster.nodes[1].state_of(2) in (State.DEAD, None), 30.0)
        cluster.disks[2] = SimDisk()
        node = await cluster.start(2, contacts=[0], incarnation=2)
        await trio.sleep(3 * CONFIG.probe_interval)
        assert node.alive() == {2}
        nursery.cancel_scope.cancel()


async def test_corrupt_topology_file_is_reported_ignored_and_relearned(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="trio_zeebe.membership")
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery)
        disk = cluster.disks[2] = SimDisk()
        bad = TopologyStore(disk, "/data/2")
        await bad.save(PersistedTopology(CLUSTER, ((2, address(2)), (9, "10.9.9.9:1"))))
        disk.corrupt(bad.path, offset=len(disk.read(bad.path)) - 3)
        await cluster.start(0)
        await cluster.start(1, contacts=[0])
        node = await cluster.start(2, contacts=[0])
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(
            "ignoring persisted topology /data/2/topology.meta: checksum mismatch" in w
            for w in warnings
        ), warnings
        assert 9 not in node.service.known()  # nothing from the corrupt file was used
        await converge(cluster, {0, 1, 2})
        store = node.service.store
        assert store is not None
        await wait_until(lambda: (t := store.load()) is not None and len(t.members) == 3, 1.0)
        relearned = store.load()
        assert relearned is not None
        assert relearned.members == tuple((i, address(i)) for i in range(3))
        nursery.cancel_scope.cancel()


async def test_persisted_topology_of_another_cluster_is_not_used(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery)
        disk = cluster.disks[0] = SimDisk()
        await TopologyStore(disk, "/data/0").save(
            PersistedTopology("other", ((0, address(0)), (5, address(5))))
        )
        node = await cluster.start(0)
        assert "ignoring persisted topology of cluster 'other'" in caplog.text
        assert node.service.known() == {0: address(0)}
        nursery.cancel_scope.cancel()


async def test_leave_removes_the_member_at_once(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery)
        await cluster.start(0)
        for i in (1, 2):
            await cluster.start(i, contacts=[0])
        await converge(cluster, {0, 1, 2})
        leaving = cluster.nodes[2]
        leaving.service.leave()
        took = await wait_until(
            lambda: all(n.state_of(2) is not State.ALIVE for n in cluster.others(2)), 1.0
        )
        assert took < CONFIG.probe_interval
        with trio.fail_after(1):
            await leaving.service_returned.wait()  # run() returns once the core has left
        nursery.cancel_scope.cancel()


async def test_stop_ends_subscriptions_and_ignores_late_messages(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery)
        await cluster.start(0)
        await cluster.start(1, contacts=[0])
        await converge(cluster, {0, 1})
        node = cluster.nodes[1]
        # Stop only the service; its endpoint keeps delivering node 0's probes.
        service_scope = trio.CancelScope()
        peer = Peer(3, address(3))
        endpoint = cluster.net.endpoint(peer)
        core = SwimCore(node_id=3, address=peer.address, incarnation=1, rng=random.Random(3))
        service = MembershipService(core, endpoint, cluster_name=CLUSTER, contact_points=[])
        events = service.subscribe()

        async def run_service() -> None:
            with service_scope:
                await service.run()

        nursery.start_soon(endpoint.run)
        nursery.start_soon(run_service)
        cluster.nodes[0].service.core.join([peer.address])
        await wait_until(lambda: 3 in cluster.nodes[0].alive(), 2.0)
        service_scope.cancel()
        with trio.fail_after(1):
            async for _ in events:  # drains what was buffered, then ends
                pass
        with pytest.raises(trio.EndOfChannel):
            await service.subscribe().receive()
        members_before = service.members()
        await trio.sleep(3 * CONFIG.probe_interval)  # node 0 keeps probing the stopped node
        assert endpoint.stats().get("handler_errors", 0) == 0
        assert service.members() == members_before
        assert node.alive() == {0, 1}
        nursery.cancel_scope.cancel()


async def test_slow_subscriber_loses_events_without_stalling_detection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery)
        await cluster.start(0)
        never_read = cluster.nodes[0].service.subscribe(buffer=1)
        for i in range(1, 5):
            await cluster.start(i, contacts=[0])
        await converge(cluster, set(range(5)))
        assert cluster.nodes[0].service.dropped_events >= 3
        await cluster.crash(4)
        await wait_until(lambda: cluster.nodes[0].state_of(4) is not State.ALIVE, DETECTION_BOUND)
        assert never_read.receive_nowait().member.node_id in range(1, 5)
        nursery.cancel_scope.cancel()


async def test_disk_failure_is_logged_and_retried(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery)
        disk = cluster.disks[1] = SimDisk(capacity=10)  # too small for the topology file
        await cluster.start(0)
        node = await cluster.start(1, contacts=[0])
        await converge(cluster, {0, 1})
        await wait_until(lambda: "cannot persist topology to /data/1/topology" in caplog.text, 1)
        store = node.service.store
        assert store is not None and store.load() is None
        disk.capacity = None  # space freed
        await wait_until(lambda: (t := store.load()) is not None and len(t.members) == 2, 3.0)
        nursery.cancel_scope.cancel()


async def test_members_remain_consistent_under_message_loss(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from trio_zeebe.testing.network import LinkFaults

    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery, seed=11)
        cluster.net.set_faults(LinkFaults(drop=0.05, delay=(0.001, 0.01)))
        await cluster.start(0)
        for i in range(1, 5):
            await cluster.start(i, contacts=[0])
        await converge(cluster, set(range(5)), limit=10.0)
        await trio.sleep(30.0)
        for node in cluster.nodes.values():
            assert not any(isinstance(e, MemberRemoved) for e in node.events)
            assert node.alive() == set(range(5))
        nursery.cancel_scope.cancel()


async def test_rewriting_the_topology_keeps_what_other_components_stored(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The broker keeps the partition distribution in ``extra``; membership must not drop it."""
    async with trio.open_nursery() as nursery:
        cluster = Cluster(nursery)
        disk = cluster.disks[1] = SimDisk()
        extra = {"distribution": {"partitions": [[1, [0, 1]]]}}
        await TopologyStore(disk, "/data/1").save(
            PersistedTopology(CLUSTER, ((1, address(1)),), extra)
        )
        await cluster.start(0)
        await cluster.start(1, contacts=[0])
        await converge(cluster, {0, 1})
        store = TopologyStore(disk, "/data/1")
        await wait_until(lambda: (t := store.load()) is not None and len(t.members) == 2, 1.0)
        reread = store.load()
        assert reread is not None and reread.extra == extra
        nursery.cancel_scope.cancel()
