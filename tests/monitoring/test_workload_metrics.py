"""Latency histograms under a workload: a simulated 3-broker cluster creating, completing jobs."""

from __future__ import annotations

import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families

from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.proto import trio_zeebe_pb2 as tz
from trio_zeebe.testing.cluster import SimCluster
from trio_zeebe.testing.raft_group import wait_until

ET = 2.5
JOBS = 60


def histogram_counts(text: str) -> dict[tuple[str, str], float]:
    """(histogram name, partition or request type) -> observations."""
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.type != "histogram":
            continue
        for s in family.samples:
            if s.name.endswith("_count"):
                key = s.labels.get("partition") or s.labels.get("requestType", "")
                out[(family.name, key)] = s.value
    return out


async def test_histograms_observe_commits_fsyncs_processing_and_snapshots(
    autojump_clock: trio.testing.MockClock,
) -> None:
    overrides = {"data": {"snapshot_entries": 20}}
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(SimCluster(11, 3, 3, 3, overrides=overrides).run)
        await wait_until(lambda: len(cluster.leaders()) == 3, 4 * ET)
        gateway = cluster.brokers[0].gateway  # its services, called in-process
        assert gateway is not None
        for i in range(JOBS):
            request = tz.CreateJobRequest(type="sim", variables=f'{{"i": {i}}}')
            await gateway.call("/trio_zeebe.v1.TrioZeebe/CreateJob", request.SerializeToString())
        activate = gw.ActivateJobsRequest(
            type="sim", worker="w", maxJobsToActivate=JOBS, timeout=60_000, requestTimeout=1000
        )
        jobs = [
            job
            for message in await gateway.call_stream(
                "/gateway_protocol.Gateway/ActivateJobs", activate.SerializeToString()
            )
            for job in gw.ActivateJobsResponse.FromString(message).jobs
        ]
        for job in jobs:
            complete = gw.CompleteJobRequest(jobKey=job.key)
            await gateway.call(
                "/gateway_protocol.Gateway/CompleteJob", complete.SerializeToString()
            )
        await trio.sleep(1)  # followers apply what the leaders committed
        leaders = cluster.leaders()
        for node, broker in cluster.brokers.items():
            body, _ = broker.metrics.exposition(None)
            counts = histogram_counts(body.decode())
            for pid in ("1", "2", "3"):
                # Every replica fsyncs its log and applies every entry (leader or follower).
                assert counts[("atomix_journal_flush_time_seconds", pid)] >= 1, (node, pid)
                assert counts[("zeebe_stream_processor_latency_seconds", pid)] >= 1, (node, pid)
                assert counts[("zeebe_snapshot_duration_seconds", pid)] >= 1, (node, pid)
                # Only a leader proposes: its commit latency counts every proposal it took.
                commits = counts.get(("zeebe_log_appender_commit_latency_seconds", pid), 0)
                if leaders[int(pid)] == node:
                    assert commits >= JOBS / 3, (node, pid)
                else:
                    assert commits == 0, (node, pid)
        counts = histogram_counts(cluster.brokers[0].metrics.exposition(None)[0].decode())
        assert counts[("zeebe_gateway_request_latency_seconds", "CreateJob")] == JOBS
        assert counts[("zeebe_gateway_request_latency_seconds", "CompleteJob")] == len(jobs)
        nursery.cancel_scope.cancel()


def job_events(text: str, action: str) -> float:
    """zeebe_job_events_total{action} of one broker, summed over partitions and types."""
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        if family.name == "zeebe_job_events"
        for s in family.samples
        if s.labels["action"] == action
    )


async def test_job_events_are_counted_on_the_leader_only_and_after_failover_by_the_new_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Every replica applies every record; only the serving leader counts it. A new leader
    counts what it processes from then on, not the records it caught up on; the leader's
    ticker times jobs out, and that is counted too."""

    def created(node: int, action: str = "created") -> float:
        return job_events(cluster.brokers[node].metrics.exposition(None)[0].decode(), action)

    async def create(via: int, count: int) -> None:
        gateway = cluster.brokers[via].gateway
        assert gateway is not None
        for i in range(count):
            request = tz.CreateJobRequest(type="led", variables=f'{{"i": {i}}}')
            await gateway.call("/trio_zeebe.v1.TrioZeebe/CreateJob", request.SerializeToString())

    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(SimCluster(5, 3, 1, 3).run)
        await wait_until(lambda: len(cluster.leaders()) == 1, 4 * ET)
        first = cluster.leaders()[1]
        await create((first + 1) % 3, 5)  # through a follower's gateway
        await trio.sleep(1)  # followers apply what the leader committed
        assert {node: created(node) for node in range(3)} == {
            node: 5 if node == first else 0 for node in range(3)
        }
        cluster.crash(first, power_loss=False)
        await wait_until(lambda: cluster.leaders().get(1, first) != first, 30)
        second = cluster.leaders()[1]
        await create(second, 3)
        await trio.sleep(1)
        survivors = {node: created(node) for node in range(3) if node != first}
        assert survivors == {node: 3 if node == second else 0 for node in survivors}
        gateway = cluster.brokers[second].gateway
        assert gateway is not None
        activate = gw.ActivateJobsRequest(
            type="led", worker="w", maxJobsToActivate=2, timeout=1000, requestTimeout=1000
        )
        await gateway.call_stream(
            "/gateway_protocol.Gateway/ActivateJobs", activate.SerializeToString()
        )
        await trio.sleep(5)  # past the 1 s lease: the leader's ticker times both out
        assert created(second, "activated") == 2
        assert created(second, "timed out") == 2
        assert sum(created(node, "timed out") for node in survivors) == 2
        nursery.cancel_scope.cancel()
