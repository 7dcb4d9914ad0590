"""Process workloads (BPMN instances through the real engine, messages correlated across
partitions, timers, jobs) in a simulated cluster of real brokers, through the gateways, while
brokers crash (with and without power loss), the network splits and leaderships move; see
:mod:`tests.process_workload` for the process and the invariants checked.

CI runs ``SEEDS`` with a short workload; ``nox -s soak -- --seeds N`` runs N seeds of the full
one. A failing run names its seed in the test id and in every violation; everything random,
trio's scheduling included, derives from it, so
``nox -s soak -- --first-seed S --seeds 1 -k process`` (or ``pytest tests/test_process_sim.py
-m soak --first-seed S --seeds 1``) replays it exactly, in any process.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from .process_workload import Settings, run_workload

QUICK = Settings(instances=8, fault_phase=16.0)
SEEDS = [1, 3, 6, 10]  # between them: blackouts, quorum loss, power loss, WithResult


def verdict(workload: object) -> str:
    return "\n".join([*workload.violations, workload.summary()])  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", SEEDS)
async def test_process_instances_survive_crashes_partitions_and_leader_changes(
    autojump_clock: trio.testing.MockClock, seed: int
) -> None:
    workload = await run_workload(seed, QUICK)
    assert not workload.violations, verdict(workload)
    assert workload.faults and workload.sampled > 50, verdict(workload)
    assert workload.cross_partition() > 0, verdict(workload)
    acked = [t for t in workload.keys.values() if t.instance is not None]
    assert len(acked) >= QUICK.instances // 2 and all(t.finish for t in acked), verdict(workload)


async def test_a_seed_replays_exactly() -> None:
    """The same seed twice, each in a fresh trio run: the same faults at the same times, the
    same calls and answers, the same replica states (a failing seed can be replayed)."""
    settings = Settings(instances=4, fault_phase=8.0)

    def once() -> tuple[object, ...]:
        workload = trio.run(
            run_workload, 5, settings, clock=trio.testing.MockClock(autojump_threshold=0)
        )
        assert not workload.violations, verdict(workload)
        return (workload.faults, workload.errors, workload.calls, sorted(workload.samples.items()))

    first = await trio.to_thread.run_sync(once)
    assert first == await trio.to_thread.run_sync(once)


@pytest.mark.soak
async def test_process_soak(autojump_clock: trio.testing.MockClock, soak_seed: int) -> None:
    # Every other seed snapshots every few entries: replicas restored from snapshots, shipped
    # ones included, take part in the comparisons.
    workload = await run_workload(soak_seed, Settings(snapshot_entries=8 if soak_seed % 2 else 30))
    assert not workload.violations, verdict(workload)
