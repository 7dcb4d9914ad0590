"""Job engine throughput: commands/s through ``JobEngine.apply`` (decode, process, encode).

Cycles of CreateJob -> ActivateJobs -> CompleteJob, as a partition's processor would run them
(one record per command, encoded results), plus the typed path without the codec and the cost
of a snapshot and restore of the resulting state. Not a test: ``python bench/engine_apply.py``.
"""

from __future__ import annotations

import argparse
import time

from trio_zeebe import codec
from trio_zeebe.engine import (
    ActivatedJobs,
    ActivateJobs,
    CompleteJob,
    CreateJob,
    JobEngine,
)

VARIABLES = {"order": 4711, "customer": "c-17", "items": [{"sku": "a", "n": 2}], "total": 39.5}


def bench_apply(jobs: int, batch: int) -> float:
    """Only ``engine.apply`` is timed: records are encoded beforehand (keys are predictable:
    partition 1, sequence 1, 2, ...), as the processor gets them from the log."""
    create = codec.encode(CreateJob("pay", 3, VARIABLES, {"region": "eu"}))
    activate = codec.encode(ActivateJobs("pay", "w", batch, 30.0))
    records: list[bytes] = []
    for cycle in range(jobs // batch):
        records += [create] * batch
        records.append(activate)
        first = (1 << 51) | (cycle * batch + 1)
        records += [codec.encode(CompleteJob(first + i, {"paid": True})) for i in range(batch)]
    engine = JobEngine(1)
    apply = engine.apply
    now = 1_700_000_000.0
    start = time.perf_counter()
    for position, record in enumerate(records):
        apply(record, position, now + position * 1e-5)
    elapsed = time.perf_counter() - start
    assert engine.job_count == 0, "a command was refused"
    final = codec.decode(apply(activate, len(records), now))
    assert isinstance(final, ActivatedJobs) and not final.jobs
    return len(records) / elapsed


def bench_typed(jobs: int, batch: int) -> float:
    engine = JobEngine(1)
    now = 1_700_000_000.0
    commands = 0
    start = time.perf_counter()
    for _ in range(jobs // batch):
        for _ in range(batch):
            engine.execute(CreateJob("pay", 3, VARIABLES, {"region": "eu"}), now)
        activated = engine.execute(ActivateJobs("pay", "w", batch, 30.0), now)
        assert isinstance(activated, ActivatedJobs)
        for job in activated.jobs:
            engine.execute(CompleteJob(job.key, {"paid": True}), now)
        commands += 2 * batch + 1
        now += 0.001
    return commands / (time.perf_counter() - start)


def bench_snapshot(live_jobs: int) -> tuple[float, float, int]:
    engine = JobEngine(1)
    for _ in range(live_jobs):
        engine.execute(CreateJob("pay", 3, VARIABLES, {"region": "eu"}), 1.0)
    engine.execute(ActivateJobs("pay", "w", live_jobs // 2, 30.0), 1.0)
    start = time.perf_counter()
    data = engine.snapshot()
    taken = time.perf_counter() - start
    start = time.perf_counter()
    JobEngine(1).restore(data)
    return taken, time.perf_counter() - start, len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=32, help="jobs per ActivateJobs")
    parser.add_argument("--live", type=int, default=100_000, help="jobs in the snapshot")
    args = parser.parse_args()
    print(f"apply (bytes in/out): {bench_apply(args.jobs, args.batch):,.0f} commands/s")
    print(f"typed execute:        {bench_typed(args.jobs, args.batch):,.0f} commands/s")
    taken, restored, size = bench_snapshot(args.live)
    print(
        f"snapshot of {args.live:,} jobs: {size / 1e6:.1f} MB, "
        f"taken in {taken * 1e3:.0f} ms, restored in {restored * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
