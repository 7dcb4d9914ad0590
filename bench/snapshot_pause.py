"""How long a snapshot of a big partition stalls the broker's trio thread, and how long restoring
it takes. A benchmark, not a test: ``python bench/snapshot_pause.py [--jobs 1000000]`` or
``python bench/snapshot_pause.py --instances 100000``.

Builds one partition's engine state through the engine's own apply path (``Engine.apply``, as
the processor applies committed records): ``--jobs`` CreateJob commands with 100-byte JSON
variables, or with ``--instances`` a deployed process (start -> service task -> end) and that
many CreateProcessInstance commands with 100-byte JSON variables, each instance then waiting
at its service task (one active job each). It reports memory per active job or per active
process instance (the process's resident set before and after creating them).
Then, inside ``trio.run``, a ticker task checkpoints every millisecond and records the longest
gap between two of its wake-ups while the snapshot is taken the way the partition processor
takes it (:meth:`PartitionProcessor.produce_snapshot` and the snapshot store's ``save`` on a
real disk, fsync included), so the longest gap is how long every other task of the broker
(heartbeats, SWIM probes, other partitions) waited. On a shared machine the wall-clock gap also
holds the time the OS ran other processes; the trio thread's CPU time within the gap is the
part this process's own work is responsible for. ``--old`` measures the previous way, the
whole ``Engine.snapshot()`` in one go. A second snapshot follows at once: the first one is
the first after the rows were made, the second what a broker that snapshots periodically sees
(the rows not changed since the last snapshot are out of the cyclic collector's walks by then).
Finally the bytes are restored into a fresh engine, once in one go (``Engine.restore``) and once
in pieces the way the partition processor restores a snapshot at a restart or from its leader
(:func:`restore_snapshot`, a checkpoint between pieces), with the ticker running: the longest
stall of the trio thread meanwhile. One full pass of the cyclic garbage
collector is timed after the snapshots and after the restore, with the number of objects it
still tracks: what every full pass, landing at a random moment, costs the trio thread.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import time
from typing import Any

import trio

from trio_zeebe.disk import RealDisk
from trio_zeebe.engine.commands import AnswerStatus, CommandType, command, decode_answer
from trio_zeebe.engine.engine import Engine
from trio_zeebe.processing.processor import produce_snapshot, restore_snapshot
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.proto import trio_zeebe_pb2 as tz
from trio_zeebe.raft.snapshots import SnapshotStore
from trio_zeebe.testing.bpmn import ProcessBuilder

PAYLOAD = 100
NOW = 1_700_000_000.0  # the leader's clock for every applied command


def rss() -> int:
    """Resident set size in bytes (Linux /proc; else the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def full_pass() -> tuple[float, int]:
    """One full (generation-2) pass of the cyclic garbage collector: its seconds, and how many
    objects it still tracks afterwards (what every later full pass walks again)."""
    started = time.perf_counter()
    gc.collect()
    elapsed = time.perf_counter() - started
    return elapsed, len(gc.get_objects())


def variables() -> str:
    base = len(json.dumps({"payload": ""}, separators=(",", ":")))
    return json.dumps({"payload": "x" * (PAYLOAD - base)}, separators=(",", ":"))


def build(jobs: int) -> tuple[Engine, float, int]:
    record = command(
        CommandType.CREATE_JOB, tz.CreateJobRequest(type="bench", variables=variables())
    )
    before = rss()
    engine = Engine(1, 1)
    apply = engine.apply
    started = time.perf_counter()
    for position in range(1, jobs + 1):
        apply(record, position, NOW)
    elapsed = time.perf_counter() - started
    assert len(engine.jobs()) == jobs, "a CreateJob was refused"
    return engine, elapsed, rss() - before


def build_instances(instances: int) -> tuple[Engine, float, int]:
    """An engine with ``instances`` process instances of start -> service task -> end, each
    waiting at its service task; the memory is the resident set's growth from creating them
    (the deployment is made before the first measurement)."""
    process = (
        ProcessBuilder("bench")
        .start_event("start")
        .service_task("work", job_type="bench")
        .end_event("end")
        .done()
    )
    engine = Engine(1, 1)
    deploy = gw.DeployResourceRequest(resources=[gw.Resource(name="bench.bpmn", content=process)])
    answer = decode_answer(engine.apply(command(CommandType.DEPLOY_RESOURCE, deploy), 1, NOW))
    assert answer.status is AnswerStatus.OK, f"the deployment was refused: {answer.body}"
    record = command(
        CommandType.CREATE_PROCESS_INSTANCE,
        gw.CreateProcessInstanceRequest(bpmnProcessId="bench", version=-1, variables=variables()),
    )
    before = rss()
    apply = engine.apply
    started = time.perf_counter()
    for position in range(2, instances + 2):
        apply(record, position, NOW)
    elapsed = time.perf_counter() - started
    assert not engine.pending_steps, "an instance did not reach its service task in one apply"
    assert len(engine.jobs()) == instances, "a CreateProcessInstance was refused"
    return engine, elapsed, rss() - before


async def measure(engine: Engine, directory: str, old: bool) -> dict[str, Any]:
    gaps: list[tuple[float, float]] = []  # (gap, when it ended)
    cpu_gaps: list[float] = []  # the trio thread's CPU time in each gap: our work, not the OS's
    done = trio.Event()

    async def ticker() -> None:
        last, last_cpu = time.perf_counter(), time.thread_time()
        while not done.is_set():
            await trio.sleep(0.001)
            now, cpu = time.perf_counter(), time.thread_time()
            gaps.append((now - last, now))
            cpu_gaps.append(cpu - last_cpu)
            last, last_cpu = now, cpu

    store = SnapshotStore(RealDisk(), directory)
    result: dict[str, Any] = {}
    windows: list[tuple[float, float]] = []  # each snapshot's start and end
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        for index in (1, 2):
            await trio.sleep(0.05)
            started = time.perf_counter()
            body = engine.snapshot() if old else await produce_snapshot(engine)
            produced = time.perf_counter()
            info = await store.save(index, 1, body)
            if index == 1:
                result["produce_s"] = produced - started
                result["total_s"] = time.perf_counter() - started
                result["bytes"] = info.size
            await trio.sleep(0.05)
            windows.append((started, time.perf_counter()))
        done.set()
    result["gc_after_snapshot"] = full_pass()
    for (started, ended), prefix in zip(windows, ("", "second_"), strict=True):
        inside = [i for i, g in enumerate(gaps) if started <= g[1] <= ended]
        result[f"{prefix}max_cpu_gap_ms"] = 1000 * max(cpu_gaps[i] for i in inside)
        during = sorted((gaps[i] for i in inside), reverse=True)
        result[f"{prefix}max_gap_ms"] = 1000 * during[0][0]
        result[f"{prefix}top_gaps"] = [
            (round(1000 * g, 1), round(w - started, 3)) for g, w in during[:5]
        ]
    data = store.load(info)
    once = Engine(1, 1)
    started = time.perf_counter()
    once.restore(data)
    result["restore_s"] = time.perf_counter() - started
    del once
    gc.collect()  # the engine is in reference cycles: free it now, not in the next window
    restored = Engine(1, 1)
    result.update(await restore_in_pieces(restored, data))
    result["gc_after_restore"] = full_pass()
    assert restored.snapshot() == data, "the restored state differs from the snapshot"
    return result


async def restore_in_pieces(engine: Engine, data: bytes) -> dict[str, Any]:
    """Restore ``data`` the way the partition processor does (:func:`restore_snapshot`: a
    checkpoint between pieces) while a ticker checkpoints every millisecond: how long it
    takes, and the longest stall of the trio thread meanwhile (wall clock and CPU)."""
    longest, longest_cpu = 0.0, 0.0
    done = False

    async def ticker() -> None:
        nonlocal longest, longest_cpu
        last, last_cpu = time.perf_counter(), time.thread_time()
        while not done:
            await trio.sleep(0.001)
            now, cpu = time.perf_counter(), time.thread_time()
            longest, longest_cpu = max(longest, now - last), max(longest_cpu, cpu - last_cpu)
            last, last_cpu = now, cpu

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        await trio.sleep(0.01)
        started = time.perf_counter()
        await restore_snapshot(engine, data)
        elapsed = time.perf_counter() - started
        done = True
    return {
        "pieces_restore_s": elapsed,
        "pieces_max_gap_ms": 1000 * longest,
        "pieces_max_cpu_gap_ms": 1000 * longest_cpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--jobs", type=int, default=1_000_000, help="standalone active jobs")
    mode.add_argument(
        "--instances",
        type=int,
        help="active process instances (start -> service task -> end), each at its job",
    )
    parser.add_argument("--old", action="store_true", help="Engine.snapshot() in one go")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() after building: keeps full collector passes over the built state "
        "(which land at random moments, also inside the snapshot) out of the measurement",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.instances is not None:
        engine, build_s, memory = build_instances(args.instances)
    else:
        engine, build_s, memory = build(args.jobs)
    tracked_built = len(gc.get_objects())  # no collection here: it would change the stall
    if args.gc_freeze:
        gc.freeze()
    with tempfile.TemporaryDirectory() as tmp:
        result = trio.run(measure, engine, tmp, args.old)
    result["tracked_built"] = tracked_built
    if args.instances is not None:
        result.update(
            instances=args.instances,
            build_s=build_s,
            bytes_per_instance=memory / args.instances,
        )
    else:
        result.update(jobs=args.jobs, build_s=build_s, bytes_per_job=memory / args.jobs)
    if args.json:
        print(json.dumps(result))
        return 0
    if args.instances is not None:
        print(
            f"{args.instances:,} active process instances (start -> service task -> end, "
            f"{PAYLOAD}-byte variables, one active job each) built through Engine.apply in "
            f"{build_s:.1f} s; memory {result['bytes_per_instance']:.0f} bytes per instance"
        )
    else:
        print(
            f"{args.jobs:,} active jobs ({PAYLOAD}-byte variables) built through Engine.apply "
            f"in {build_s:.1f} s; memory {result['bytes_per_job']:.0f} bytes per job"
        )
    way = "Engine.snapshot() in one go" if args.old else "produce_snapshot (incremental)"
    print(
        f"snapshot ({way}): {result['bytes'] / 1e6:.1f} MB, produced in "
        f"{result['produce_s']:.2f} s, saved (fsync) after {result['total_s']:.2f} s; "
        f"longest trio stall {result['max_gap_ms']:.0f} ms wall clock, "
        f"{result['max_cpu_gap_ms']:.0f} ms of the trio thread's CPU time"
    )
    print("  longest stalls (ms, ended at s after the start):", result["top_gaps"])
    print(
        f"a second snapshot right after: longest trio stall {result['second_max_gap_ms']:.0f} "
        f"ms wall clock, {result['second_max_cpu_gap_ms']:.0f} ms of the trio thread's CPU time"
    )
    print("  longest stalls (ms, ended at s after the start):", result["second_top_gaps"])
    print(
        f"restore into a fresh engine: {result['restore_s']:.2f} s in one go; in pieces (as the "
        f"partition processor restores) {result['pieces_restore_s']:.2f} s, longest trio stall "
        f"{result['pieces_max_gap_ms']:.0f} ms wall clock, "
        f"{result['pieces_max_cpu_gap_ms']:.0f} ms of the trio thread's CPU time"
    )
    snap_s, snap_n = result["gc_after_snapshot"]
    restore_s, restore_n = result["gc_after_restore"]
    print(
        f"objects the cyclic collector tracks: {result['tracked_built']:,} after building; "
        f"one full pass after the snapshot {1000 * snap_s:.0f} ms, {snap_n:,} tracked; "
        f"after the restore (both states alive) {1000 * restore_s:.0f} ms, {restore_n:,} tracked"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
