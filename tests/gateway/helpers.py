"""Simulated job cluster helpers for the gateway tests: requests through any broker's gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from trio_zeebe.engine.jobs import JobEngine
from trio_zeebe.gateway.server import GatewayRequestError
from trio_zeebe.processing.processor import PartitionProcessor
from trio_zeebe.testing.cluster import SimCluster
from trio_zeebe.testing.raft_group import wait_until

ET = 2.5


def serving(cluster: SimCluster, pid: int) -> PartitionProcessor | None:
    node = cluster.leaders().get(pid)
    if node is None:
        return None
    manager = cluster.brokers[node].partitions
    proc = manager.processor(pid) if manager is not None else None
    return proc if proc is not None and proc.serving else None


def engine_of(cluster: SimCluster, pid: int) -> JobEngine:
    proc = serving(cluster, pid)
    assert proc is not None
    machine = proc.machine
    assert isinstance(machine, JobEngine)
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
    overrides = {"network": network} if network else None
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(
            SimCluster(
                seed, brokers, partitions, replication, state_machine=JobEngine, overrides=overrides
            ).run
        )
        await all_serving(cluster, partitions)
        yield cluster
        nursery.cancel_scope.cancel()


async def call(cluster: SimCluster, node: int, request: Any) -> Any:
    """One client request through ``node``'s gateway; an error comes back as the exception."""
    try:
        return await cluster.brokers[node].handle_client_request(request)
    except GatewayRequestError as exc:
        return exc


def non_leader(cluster: SimCluster, pid: int) -> int:
    leader = cluster.leaders()[pid]
    return next(n for n in sorted(cluster.running) if n != leader)
