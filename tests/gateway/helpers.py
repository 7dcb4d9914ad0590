"""Simulated cluster helpers for the gateway tests: gRPC requests through any broker's gateway
(its services called in-process), answers as messages or the GrpcError a client would get."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
from google.protobuf.message import Message

from trio_zeebe.engine.engine import Engine
from trio_zeebe.grpc.status import GrpcError
from trio_zeebe.processing.processor import PartitionProcessor
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.proto import trio_zeebe_pb2 as tz
from trio_zeebe.testing.cluster import SimCluster
from trio_zeebe.testing.raft_group import wait_until

ET = 2.5
GATEWAY = "/gateway_protocol.Gateway/"
EXTENSION = "/trio_zeebe.v1.TrioZeebe/"


def serving(cluster: SimCluster, pid: int) -> PartitionProcessor | None:
    node = cluster.leaders().get(pid)
    if node is None:
        return None
    manager = cluster.brokers[node].partitions
    proc = manager.processor(pid) if manager is not None else None
    return proc if proc is not None and proc.serving else None


def engine_of(cluster: SimCluster, pid: int) -> Engine:
    proc = serving(cluster, pid)
    assert proc is not None
    machine = proc.machine
    assert isinstance(machine, Engine)
    return machine


async def all_serving(cluster: SimCluster, partitions: int, within: float = 6 * ET) -> None:
    """Every partition has a serving leader and every broker's table knows it."""

    def ready() -> bool:
        leaders = cluster.leaders()
        if any(serving(cluster, p) is None for p in range(1, partitions + 1)):
            return False
        for node in cluster.running:
            manager = cluster.brokers[node].partitions
            assert manager is not None
            for pid, leader in leaders.items():
                known = manager.leaders.leader(pid)
                if known is None or known[0] != leader:
                    return False
        return True

    await wait_until(ready, within)


@asynccontextmanager
async def job_cluster(
    seed: int,
    brokers: int = 3,
    partitions: int = 3,
    replication: int = 3,
    network: dict[str, Any] | None = None,
) -> AsyncIterator[SimCluster]:
    """A simulated cluster running the process engine on every partition."""
    overrides = {"network": network} if network else None
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(
            SimCluster(seed, brokers, partitions, replication, overrides=overrides).run
        )
        await all_serving(cluster, partitions)
        yield cluster
        nursery.cancel_scope.cancel()


_RPCS: dict[type[Message], tuple[str, type[Message]]] = {
    tz.CreateJobRequest: (EXTENSION + "CreateJob", tz.CreateJobResponse),
    gw.CompleteJobRequest: (GATEWAY + "CompleteJob", gw.CompleteJobResponse),
    gw.FailJobRequest: (GATEWAY + "FailJob", gw.FailJobResponse),
    gw.ThrowErrorRequest: (GATEWAY + "ThrowError", gw.ThrowErrorResponse),
    gw.UpdateJobRetriesRequest: (GATEWAY + "UpdateJobRetries", gw.UpdateJobRetriesResponse),
    gw.UpdateJobTimeoutRequest: (GATEWAY + "UpdateJobTimeout", gw.UpdateJobTimeoutResponse),
    gw.DeployResourceRequest: (GATEWAY + "DeployResource", gw.DeployResourceResponse),
    gw.CreateProcessInstanceRequest: (
        GATEWAY + "CreateProcessInstance",
        gw.CreateProcessInstanceResponse,
    ),
    gw.CreateProcessInstanceWithResultRequest: (
        GATEWAY + "CreateProcessInstanceWithResult",
        gw.CreateProcessInstanceWithResultResponse,
    ),
    gw.CancelProcessInstanceRequest: (
        GATEWAY + "CancelProcessInstance",
        gw.CancelProcessInstanceResponse,
    ),
    gw.TopologyRequest: (GATEWAY + "Topology", gw.TopologyResponse),
}


async def call(
    cluster: SimCluster,
    node: int,
    request: Message,
    timeout: float | None = None,  # noqa: ASYNC109 - the call's gRPC deadline
) -> Any:
    """One client request through ``node``'s gateway; an error comes back as the GrpcError.

    ActivateJobs answers with one ActivateJobsResponse holding the jobs of every response the
    stream carried (``.responses``: how many there were).
    """
    gateway = cluster.brokers[node].gateway
    assert gateway is not None
    data = request.SerializeToString()
    try:
        if isinstance(request, gw.ActivateJobsRequest):
            sent = await gateway.call_stream(GATEWAY + "ActivateJobs", data, timeout=timeout)
            merged = gw.ActivateJobsResponse()
            for message in sent:
                merged.MergeFromString(message)
            return Activated(merged, len(sent))
        path, response = _RPCS[type(request)]
        return response.FromString(await gateway.call(path, data, timeout=timeout))
    except GrpcError as exc:
        return exc


class Activated:
    """The jobs of an ActivateJobs stream and how many responses carried them."""

    def __init__(self, merged: gw.ActivateJobsResponse, responses: int) -> None:
        self.jobs = list(merged.jobs)
        self.responses = responses

    @property
    def keys(self) -> list[int]:
        return [j.key for j in self.jobs]


def create_job(job_type: str, retries: int = 3, variables: dict[str, Any] | None = None) -> Any:
    return tz.CreateJobRequest(
        type=job_type, retries=retries, variables=json.dumps(variables or {})
    )


def activate(
    job_type: str, worker: str, max_jobs: int, timeout: float, request_timeout: float = 1.0
) -> gw.ActivateJobsRequest:
    """Seconds here, milliseconds on the wire; request_timeout 0: one pass (Zeebe's -1)."""
    return gw.ActivateJobsRequest(
        type=job_type,
        worker=worker,
        maxJobsToActivate=max_jobs,
        timeout=int(timeout * 1000),
        requestTimeout=-1 if request_timeout == 0 else int(request_timeout * 1000),
    )


async def create(cluster: SimCluster, node: int, job_type: str, **kw: Any) -> int:
    result = await call(cluster, node, create_job(job_type, **kw))
    assert isinstance(result, tz.CreateJobResponse), result
    return int(result.key)


def non_leader(cluster: SimCluster, pid: int) -> int:
    leader = cluster.leaders()[pid]
    return next(n for n in sorted(cluster.running) if n != leader)
