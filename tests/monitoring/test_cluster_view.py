"""The cluster view: rates from samples, and a whole simulated cluster drawn from one broker."""

from __future__ import annotations

import attrs
import trio
import trio.testing

from trio_zeebe.broker import Broker
from trio_zeebe.monitoring.cluster import ClusterView, RateSampler, ReplicasRequest, answer_replicas
from trio_zeebe.monitoring.sample import BrokerSample, sample_broker
from trio_zeebe.testing.cluster import SimCluster
from trio_zeebe.testing.raft_group import wait_until

from .test_metrics import partition, sample

ET = 2.5


def at(t: float, commit: int, records: int) -> BrokerSample:
    return sample(at=t, partitions=(partition(1, commit_index=commit, applied_records=records),))


def test_rates_need_two_samples_and_span_the_window() -> None:
    rates = RateSampler(lambda: sample(), interval=1.0, window=5.0)
    assert rates.rates(1) == (None, None)
    rates.record(at(0.0, 10, 100))
    assert rates.rates(1) == (None, None)
    rates.record(at(1.0, 20, 130))
    assert rates.rates(1) == (10.0, 30.0)
    for t in range(2, 10):  # steady 5 entries and 10 records per second
        rates.record(at(float(t), 20 + 5 * (t - 1), 130 + 10 * (t - 1)))
    assert rates.rates(1) == (5.0, 10.0)  # the early burst has left the 5 s window


def test_a_restarted_partition_starts_its_rate_over() -> None:
    rates = RateSampler(lambda: sample(), interval=1.0)
    rates.record(at(0.0, 500, 900))
    rates.record(at(1.0, 510, 910))
    rates.record(at(2.0, 3, 0))  # counters began again: no negative rate
    assert rates.rates(1) == (None, None)
    rates.record(at(3.0, 7, 4))
    assert rates.rates(1) == (4.0, 4.0)


def view_of(cluster: SimCluster, node: int, samplers: dict[int, RateSampler]) -> ClusterView:
    broker = cluster.brokers[node]
    return ClusterView(
        node_id=node,
        cluster_name="sim",
        version="test",
        topology=broker.cluster_view,
        sample=lambda: sample_broker(broker),
        rates=samplers[node],
        network=broker.network,
    )


async def monitored(cluster: SimCluster, nursery: trio.Nursery) -> dict[int, RateSampler]:
    """What a MonitoringService adds to each broker: a rate sampler and the peer answer."""
    samplers = {}
    for node, broker in cluster.brokers.items():

        def sampler_of(b: Broker = broker) -> BrokerSample:
            return sample_broker(b)

        samplers[node] = RateSampler(sampler_of)
        assert broker.network is not None
        broker.network.on(ReplicasRequest, answer_replicas(sampler_of, samplers[node], "test"))
        await nursery.start(samplers[node].run)
    return samplers


async def test_any_broker_draws_the_whole_cluster(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(SimCluster(5, 3, 3, 3).run)
        samplers = await monitored(cluster, nursery)
        await wait_until(lambda: len(cluster.leaders()) == 3, 4 * ET)
        await trio.sleep(3)  # gossip rounds and rate samples
        leaders = cluster.leaders()
        for node in range(3):
            document = await view_of(cluster, node, samplers).snapshot()
            assert document["served_by"] == node
            assert [b["node_id"] for b in document["brokers"]] == [0, 1, 2]
            assert all(b["reachable"] and b["state"] == "alive" for b in document["brokers"])
            got = {p["partition_id"]: p["leader"] for p in document["partitions"]}
            assert got == leaders
            for p in document["partitions"]:
                assert p["replicas"] == [0, 1, 2]
                assert p["commit_index"] >= 1 and p["commit_rate"] is not None
            for b in document["brokers"]:
                roles = sorted(r["role"] for r in b["partitions"])
                assert len(roles) == 3 and set(roles) <= {"leader", "follower"}
        nursery.cancel_scope.cancel()


async def test_an_unreachable_broker_is_drawn_from_gossip(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(SimCluster(6, 3, 3, 3).run)
        samplers = await monitored(cluster, nursery)
        await wait_until(lambda: len(cluster.leaders()) == 3, 4 * ET)
        await trio.sleep(2)
        cluster.partition([0, 1], [2])
        view = view_of(cluster, 0, samplers)
        start = trio.current_time()
        document = await view.snapshot()
        assert trio.current_time() - start < 1.0  # a silent peer costs its timeout, no more
        by_node = {b["node_id"]: b for b in document["brokers"]}
        assert by_node[1]["reachable"] and not by_node[2]["reachable"]
        cut_off = by_node[2]
        assert cut_off["ready"] is None and cut_off["version"] is None
        assert len(cut_off["partitions"]) == 3  # from gossip: role, term and health
        assert all(p["commit_index"] is None for p in cut_off["partitions"])
        # Cached for half a second: a burst of page loads costs one round of questions.
        assert await view.snapshot() is document
        await trio.sleep(0.6)
        assert await view.snapshot() is not document
        nursery.cancel_scope.cancel()


def test_partition_leader_is_the_claim_with_the_highest_term() -> None:
    from trio_zeebe.monitoring.cluster import _partitions

    def replica(role: str, term: int) -> dict[str, object]:
        return attrs.asdict(partition(1, role=role, term=term)) | {
            "commit_rate": 1.0,
            "processing_rate": 2.0,
        }

    brokers = [
        {"node_id": 0, "state": "alive", "partitions": [replica("leader", 4)]},
        {"node_id": 1, "state": "alive", "partitions": [replica("leader", 5)]},
        {"node_id": 2, "state": "dead", "partitions": [replica("leader", 6)]},
    ]
    (only,) = _partitions(1, brokers)
    assert (only["leader"], only["term"], only["replicas"]) == (1, 5, [0, 1, 2])
    (none,) = _partitions(
        1, [{"node_id": 0, "state": "alive", "partitions": [replica("follower", 3)]}]
    )
    assert (none["leader"], none["health"]) == (None, "no leader")
