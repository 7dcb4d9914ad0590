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
