"""Process engine throughput on job commands: commands/s through ``Engine.apply``.

Cycles of CreateJob -> ActivateJobs -> CompleteJob as a partition's processor runs them (one
record per command: the type byte and the request bytes in, the answer bytes out), and the cost
of a snapshot and restore of the resulting state. Not a test: ``python bench/engine_apply.py``.

``--metrics N`` measures the cost of Zeebe's job, process and incident metrics instead: N
rounds, each applying the same records once without and once with the engine's trace going to
the broker's metrics listener (as on a partition's serving leader), alternating so that a busy
machine slows both alike; it prints the best CPU time of each and the difference.
"""

from __future__ import annotations

import argparse
import json
import time

from trio_zeebe.engine.commands import CommandType, command
from trio_zeebe.engine.engine import Engine
from trio_zeebe.monitoring.engine_events import EngineEventCounts
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.proto import trio_zeebe_pb2 as tz

VARIABLES = {"order": 4711, "customer": "c-17", "items": [{"sku": "a", "n": 2}], "total": 39.5}
C = CommandType


def create() -> bytes:
    request = tz.CreateJobRequest(
        type="pay", retries=3, variables=json.dumps(VARIABLES), customHeaders='{"region":"eu"}'
    )
    return command(C.CREATE_JOB, request)


def bench_apply(jobs: int, batch: int, metrics: bool | None = None) -> float:
    """Commands/s (wall clock); with ``metrics`` True or False: per CPU second, with or
    without the metrics listener."""
    """Only ``engine.apply`` is timed: records are built beforehand (keys are predictable:
    partition 1, counter 1, 2, ...), as the processor gets them from the log."""
    activate = command(
        C.ACTIVATE_JOBS,
        gw.ActivateJobsRequest(type="pay", worker="w", maxJobsToActivate=batch, timeout=30_000),
    )
    records: list[bytes] = []
    for cycle in range(jobs // batch):
        records += [create()] * batch
        records.append(activate)
        first = (1 << 51) | (cycle * batch + 1)
        records += [
            command(C.COMPLETE_JOB, gw.CompleteJobRequest(jobKey=first + i, variables='{"p":1}'))
            for i in range(batch)
        ]
    engine = Engine(1, 1)
    counts = EngineEventCounts()
    if metrics:
        engine.set_trace(counts)
    apply = engine.apply
    now = 1_700_000_000.0
    start = time.process_time() if metrics is not None else time.perf_counter()
    for position, record in enumerate(records, start=1):
        apply(record, position, now + position * 1e-5)
    elapsed = (time.process_time() if metrics is not None else time.perf_counter()) - start
    assert not engine.jobs(), "a command was refused"
    assert not metrics or counts.jobs[("completed", "pay")] == jobs // batch * batch
    return len(records) / elapsed


def bench_snapshot(live_jobs: int) -> tuple[float, float, int]:
    engine = Engine(1, 1)
    for position in range(1, live_jobs + 1):
        engine.apply(create(), position, 1.0)
    start = time.perf_counter()
    data = engine.snapshot()
    taken = time.perf_counter() - start
    start = time.perf_counter()
    Engine(1, 1).restore(data)
    return taken, time.perf_counter() - start, len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=32, help="jobs per ActivateJobs")
    parser.add_argument("--live", type=int, default=100_000, help="jobs in the snapshot")
    parser.add_argument(
        "--metrics", type=int, metavar="N", help="rounds of apply without/with the metrics"
    )
    args = parser.parse_args()
    if args.metrics:
        without, with_ = [], []
        for _ in range(args.metrics):
            without.append(bench_apply(args.jobs, args.batch, False))
            with_.append(bench_apply(args.jobs, args.batch, True))
        a, b = max(without), max(with_)
        print(
            f"apply, best of {args.metrics} (per CPU second): without metrics {a:,.0f} "
            f"commands/s, with {b:,.0f} commands/s: {a / b - 1:+.1%} CPU time per command"
        )
        return
    print(f"apply (bytes in/out): {bench_apply(args.jobs, args.batch):,.0f} commands/s")
    taken, restored, size = bench_snapshot(args.live)
    print(
        f"snapshot of {args.live:,} jobs: {size / 1e6:.1f} MB, "
        f"taken in {taken * 1e3:.0f} ms, restored in {restored * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
