"""A short chaos round in the normal suite: three real brokers, about a minute of load (standalone
jobs, and process instances with their jobs and messages) under a seeded fault schedule that
meets every fault family once, then the checker.

Faults that need root (network partitions in namespaces, a full disk) are skipped with their
reason where the machine does not allow them. ``TRIO_ZEEBE_CHAOS_SEED`` picks another seed; the
summary line names the seed and the run's replay command is printed first.
"""

from __future__ import annotations

import os

import pytest

from trio_zeebe.testing.chaos.runner import ChaosOptions, run_chaos

pytestmark = [pytest.mark.slow, pytest.mark.chaos, pytest.mark.timeout(300)]

SEED = int(os.environ.get("TRIO_ZEEBE_CHAOS_SEED", "20251"))
SECONDS = 60.0


def test_a_short_chaos_round_loses_nothing_acknowledged() -> None:
    lines: list[str] = []

    def out(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    result = run_chaos(
        ChaosOptions(
            seconds=SECONDS,
            seed=SEED,
            replay=f"nox -s chaos -- --minutes {SECONDS / 60:g} --seed {SEED} --brokers 3",
        ),
        out=out,
    )
    print(result.summary)
    assert result.report.faults, "no fault was injected"
    assert result.report.outcomes.get("ok", 0) > 100, "the workload made no progress"
    acknowledged = result.report.acknowledged
    assert acknowledged.get("create_instance", 0) > 0, "no process instance was created"
    assert acknowledged.get("publish_message", 0) > 0, "no message was published"
    assert result.report.stats.get("instances_completed", 0) > 0, "no instance completed"
    assert result.report.ok, result.summary + "\n" + "\n".join(lines)
