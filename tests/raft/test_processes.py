"""Raft between real broker processes over mutual TLS with fsync: kill -9 of the leader.

Three brokers replicate one partition (replication factor 3). Jobs are created through the
leader's gateway; every acknowledged creation is committed (durable on a quorum). After kill -9
of the leader a new leader is elected; at the end the brokers are stopped and their log files are
read back from disk: the new leader's log holds every record acknowledged before and after the
kill, and so does a majority of the brokers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from trio_zeebe.client import ClientError
from trio_zeebe.disk import RealDisk
from trio_zeebe.engine.commands import CommandType
from trio_zeebe.log.segmented import SegmentedLog
from trio_zeebe.processing import envelope
from trio_zeebe.proto import trio_zeebe_pb2 as tz
from trio_zeebe.raft.driver.committed import unpack_records
from trio_zeebe.testing.processes import FAST_RAFT, Brokers

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[Brokers]:
    cluster = Brokers(tmp_path / "dc", partitions=1, replication_factor=3, env=FAST_RAFT)
    try:
        yield cluster
    finally:
        cluster.stop_all()


async def leader_of_partition_1(
    brokers: Brokers, asking: list[int], limit: float, not_node: int | None = None
) -> int:
    """The node every asked broker agrees leads partition 1 (polls until they agree)."""
    with trio.fail_after(limit):
        while True:
            seen = set()
            for i in asking:
                topology = await brokers.topology(i)
                if topology is None:
                    seen.add(None)
                    continue
                leaders = {
                    b.node_id
                    for b in topology.brokers
                    if b.state == "alive" and b.node_id != not_node
                    for p in b.partitions
                    if p.partition_id == 1 and p.role == "leader"
                }
                seen.add(leaders.pop() if len(leaders) == 1 else None)
            if len(seen) == 1 and None not in seen:
                return seen.pop()  # type: ignore[no-any-return]
            brokers.check_running()
            await trio.sleep(0.05)


async def append(brokers: Brokers, node: int, tags: list[str]) -> set[str]:
    """Create a job tagged with each of ``tags``; the tags whose creation was acknowledged."""
    async with brokers.client(node, timeout=10) as client:
        for tag in tags:
            await client.create_job("kill-9", variables={"tag": tag})
    return set(tags)


def read_log(brokers: Brokers, node: int) -> set[str]:
    """The tags of the job creations in ``node``'s log file."""
    log = SegmentedLog.open(RealDisk(), str(brokers.data_dir(node) / "partitions" / "1"))
    try:
        out = set()
        for entry in log.entries():
            if entry.kind == 1:
                for record in unpack_records(entry.data):
                    env = envelope.decode(record)
                    payload = env.payloads[0] if env.payloads else b""
                    if env.kind is envelope.Kind.COMMAND and payload[:1] == bytes(
                        [CommandType.CREATE_JOB]
                    ):
                        command = tz.CreateJobRequest.FromString(payload[1:])
                        out.add(json.loads(command.variables)["tag"])
        return out
    finally:
        log.close()


async def test_kill_9_of_the_leader_keeps_every_acknowledged_record(brokers: Brokers) -> None:
    for i in range(3):
        brokers.start(i)
    old = await leader_of_partition_1(brokers, [0, 1, 2], limit=30)
    acked: set[str] = set()
    for batch in range(20):
        acked |= await append(brokers, old, [f"before-{batch}-{i}" for i in range(10)])

    brokers.kill(old)
    killed = time.monotonic()
    others = [i for i in range(3) if i != old]
    new = await leader_of_partition_1(brokers, others, limit=30, not_node=old)
    print(
        f"kill -9 of leader {old} -> new leader {new} known after {time.monotonic() - killed:.2f}s"
    )
    assert new != old
    while True:  # the first appends may race the hand-over of client traffic
        try:
            acked |= await append(brokers, new, [f"after-{i}" for i in range(50)])
            break
        except ClientError:
            await trio.sleep(0.1)

    brokers.terminate_all()
    assert all(p.returncode in (0, -9) for p in brokers.procs.values())
    logs = {i: read_log(brokers, i) for i in range(3)}
    for tag in acked:
        assert tag in logs[new], f"new leader lacks {tag!r}"
        holders = sum(1 for i in range(3) if tag in logs[i])
        assert holders >= 2, f"{tag!r} is on {holders} of 3 logs"
