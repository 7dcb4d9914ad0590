"""Restart time of a broker whose partition log holds N job records, with and without a snapshot.

    python bench/restart_1m.py [--records 1000000] [--concurrency 1024]

One embedded broker (1 partition, replication factor 1, real files with fsync) gets N CreateJob
commands through its partition processor. Then it is restarted twice: once replaying the whole
log (no snapshot), once from a snapshot (taken, then the log compacted behind it). Reports the
time until the partition serves again and the data directory's size before and after compaction.
A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import trio

from trio_zeebe.broker import Broker
from trio_zeebe.config import config_from_dict
from trio_zeebe.engine.commands import CommandType
from trio_zeebe.engine.commands import command as engine_command
from trio_zeebe.proto import trio_zeebe_pb2 as tz


def du(path: Path, suffix: str = "") -> int:
    return sum(f.stat().st_size for f in path.rglob("*" + suffix) if f.is_file())


def sizes(data: Path) -> str:
    mib = 2**20
    return (
        f"{du(data) / mib:.1f} MiB (log segments {du(data, '.log') / mib:.1f} MiB, "
        f"snapshots {du(data, '.snap') / mib:.1f} MiB)"
    )


def broker(data: Path, snapshot_entries: int) -> Broker:
    return Broker(
        config_from_dict(
            {
                "network": {
                    "internal_api": {"port": 0},
                    "gateway": {"port": 0},
                    "monitoring": {"port": 0},
                },
                "data": {
                    "directory": str(data),
                    "snapshot_entries": snapshot_entries,
                    "snapshot_period": "1000h",
                    "log_segment_size": "16MB",
                },
                "security": {"enabled": False, "gateway": {"enabled": False}},
            }
        )
    )


async def serving(b: Broker) -> float:
    started = time.perf_counter()
    while True:
        proc = b.partitions.processor(1) if b.partitions else None
        if proc is not None and proc.serving:
            return time.perf_counter() - started
        await trio.sleep(0.01)


async def fill(data: Path, records: int, concurrency: int) -> None:
    async with trio.open_nursery() as nursery:
        b: Broker = await nursery.start(broker(data, 10**9).run)
        await serving(b)
        proc = b.partitions.processor(1)  # type: ignore[union-attr]
        assert proc is not None
        command = engine_command(
            CommandType.CREATE_JOB, tz.CreateJobRequest(type="bench", variables='{"n":1}')
        )
        started = time.perf_counter()
        remaining = [records]

        async def submitter() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                await proc.submit(command)

        async with trio.open_nursery() as inner:
            for _ in range(concurrency):
                inner.start_soon(submitter)
        elapsed = time.perf_counter() - started
        print(f"created {records} jobs in {elapsed:.1f}s ({records / elapsed:,.0f}/s)", flush=True)
        nursery.cancel_scope.cancel()


async def restart(data: Path, label: str, snapshot_first: bool = False) -> None:
    async with trio.open_nursery() as nursery:
        started = time.perf_counter()
        b: Broker = await nursery.start(broker(data, 10**9).run)
        await serving(b)
        elapsed = time.perf_counter() - started
        proc = b.partitions.processor(1)  # type: ignore[union-attr]
        assert proc is not None
        jobs = len(proc.machine.jobs())  # type: ignore[attr-defined]
        print(f"restart {label}: serving after {elapsed:.2f}s with {jobs} jobs", flush=True)
        if snapshot_first:
            before = sizes(data)
            await proc.take_snapshot()
            print(f"snapshot + compaction: data directory {before} -> {sizes(data)}", flush=True)
        nursery.cancel_scope.cancel()


async def main(records: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        data = Path(tmp) / "data"
        await fill(data, records, concurrency)
        print(f"data directory: {sizes(data)}", flush=True)
        await restart(data, "without snapshot (replays the whole log)", snapshot_first=True)
        await restart(data, "from the snapshot (+ empty log tail)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=1024)
    args = parser.parse_args()
    trio.run(main, args.records, args.concurrency)
