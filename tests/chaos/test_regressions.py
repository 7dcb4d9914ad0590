"""Bugs the chaos suite found, each pinned by a test of its own (real broker processes).

A seed of ``nox -s chaos`` that fails becomes a case here: either the seed itself in
``FAILING_SEEDS`` (replayed as a short round), or, better, the fault sequence it needed.
"""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any, cast

import pytest
import trio
import trio.testing

from trio_zeebe.partitions.config import DataConfig
from trio_zeebe.partitions.distribution import round_robin
from trio_zeebe.partitions.manager import PartitionManager
from trio_zeebe.raft.config import RaftConfig
from trio_zeebe.raft.ready import Role, SoftState
from trio_zeebe.testing.chaos.runner import ChaosOptions, run_chaos

pytestmark = [pytest.mark.chaos]

# (seed, minutes, brokers) of chaos runs that once failed; replayed in full.
FAILING_SEEDS: list[tuple[int, float, int]] = []


class _FollowingDriver:
    """A Raft driver that followed its leader before anyone watched its roles."""

    def __init__(self, leader: int | None = 0) -> None:
        self.soft_state = SoftState(Role.FOLLOWER, leader=leader, term=3)
        self.send, self.receive = trio.open_memory_channel[SoftState](1)

    def watch_roles(self) -> trio.MemoryReceiveChannel[SoftState]:
        return self.receive  # nothing more will change


@pytest.mark.parametrize("leader", [0, None])
async def test_a_partition_following_before_its_roles_are_watched_is_ready(
    leader: int | None,
) -> None:
    """Found by the chaos suite (a kill -9 of a broker with a big log, then its restart): the
    partition's replica followed its leader before the manager subscribed to role changes, the
    change was told to no one, the broker never became ready and /health answered 503 until
    the next leader change. The manager must start from the present role; a follower that
    knows no leader yet (how every replica starts) has no role yet."""
    manager = PartitionManager(
        node_id=1,
        distribution=round_robin(range(3), 1, 3),
        raft=RaftConfig(),
        data=DataConfig(),
        router=cast(Any, SimpleNamespace(network=SimpleNamespace(on=lambda *a: None))),
        disk=cast(Any, None),
        data_dir="/nowhere",
        membership=cast(Any, None),
        gateway_address="127.0.0.1:1",
        rng=random.Random(1),
    )
    part = manager.local[1]
    driver = _FollowingDriver(leader)
    assert not manager.ready
    async with trio.open_nursery() as nursery:
        nursery.start_soon(manager._watch_roles, part, cast(Any, driver))
        await trio.testing.wait_all_tasks_blocked()
        if leader is None:
            assert not manager.ready
        else:
            assert manager.ready
            assert manager.leaders.leader(1) == (0, 3)  # Raft's word on the leader, too
        nursery.cancel_scope.cancel()


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize(("seed", "minutes", "size"), FAILING_SEEDS)
def test_a_seed_that_failed_passes(seed: int, minutes: float, size: int) -> None:
    result = run_chaos(ChaosOptions(seconds=minutes * 60, seed=seed, brokers=size))
    assert result.report.ok, result.summary
