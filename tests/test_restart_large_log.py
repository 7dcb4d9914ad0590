"""Restart of a broker whose partition log holds 1,000,000 job records (issue: processing).

The log is written directly in the on-disk format (what a broker that created a million jobs
leaves behind, without spending minutes creating them one by one); the broker must come back
serving with every job, first by replaying the whole log, then from a snapshot plus log tail,
with the log compacted behind the snapshot.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio

from trio_zeebe.broker import Broker
from trio_zeebe.config import config_from_dict
from trio_zeebe.disk import RealDisk
from trio_zeebe.engine.commands import CommandType, command, decode_answer
from trio_zeebe.log.meta import MetaState, MetaStore
from trio_zeebe.log.segmented import SegmentedLog
from trio_zeebe.processing import envelope
from trio_zeebe.proto import trio_zeebe_pb2 as tz
from trio_zeebe.raft.driver.committed import pack_records
from trio_zeebe.raft.messages import NORMAL, Entry

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

RECORDS = 1_000_000
PER_ENTRY = 500


def broker(data: Path) -> Broker:
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
                    "log_segment_size": "8MB",
                    "snapshot_entries": 10**9,
                    "snapshot_period": "1000h",
                },
                "security": {"enabled": False, "gateway": {"enabled": False}},
            }
        )
    )


async def write_log(data: Path) -> None:
    disk = RealDisk()
    directory = str(data / "partitions" / "1")
    disk.makedirs(directory)
    await MetaStore(disk, f"{directory}/raft.meta").save(MetaState(term=1, vote=0))
    log = SegmentedLog.open(disk, directory, segment_bytes=8 * 1024 * 1024)
    create = command(
        CommandType.CREATE_JOB, tz.CreateJobRequest(type="restart", variables='{"n":1}')
    )
    for index, first in enumerate(range(0, RECORDS, PER_ENTRY), start=1):
        records = [
            envelope.command(n + 1, 1_000_000.0 + n, create)
            for n in range(first, min(first + PER_ENTRY, RECORDS))
        ]
        log.append([Entry(index, 1, NORMAL, pack_records(records))])
    await log.flush()
    log.close()


def du(path: Path, suffix: str) -> int:
    return sum(f.stat().st_size for f in path.rglob("*" + suffix) if f.is_file())


async def start_and_count(data: Path) -> tuple[float, int]:
    async with trio.open_nursery() as nursery:
        started = time.perf_counter()
        b: Broker = await nursery.start(broker(data).run)
        with trio.fail_after(300):
            while True:
                proc = b.partitions.processor(1) if b.partitions else None
                if proc is not None and proc.serving:
                    break
                await trio.sleep(0.05)
        elapsed = time.perf_counter() - started
        jobs = len(proc.machine.jobs())  # type: ignore[attr-defined]
        # It serves: a new job gets the next key.
        after = command(CommandType.CREATE_JOB, tz.CreateJobRequest(type="after"))
        answer = decode_answer(await proc.submit(after)).response(CommandType.CREATE_JOB)
        assert isinstance(answer, tz.CreateJobResponse)
        assert answer.key & ((1 << 51) - 1) == jobs + 1
        if not (data / "partitions" / "1" / "snapshots").exists():
            await proc.take_snapshot()
        nursery.cancel_scope.cancel()
    return elapsed, jobs


async def test_restart_with_a_million_job_records(tmp_path: Path) -> None:
    data = tmp_path / "data"
    await write_log(data)
    log_before = du(data, ".log")
    replayed, jobs = await start_and_count(data)
    assert jobs == RECORDS
    log_after = du(data, ".log")
    assert du(data, ".snap") > 0
    assert log_after < log_before / 4  # segments behind the snapshot are gone
    from_snapshot, jobs = await start_and_count(data)
    assert jobs == RECORDS + 1  # plus the job created to prove the first restart served
    mib = 2**20
    print(
        f"\n1,000,000 job records: restart replaying the log {replayed:.1f}s, "
        f"from snapshot {from_snapshot:.1f}s; log {log_before / mib:.1f} MiB -> "
        f"{log_after / mib:.1f} MiB after compaction, snapshot {du(data, '.snap') / mib:.1f} MiB"
    )
