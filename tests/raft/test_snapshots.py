"""Snapshots: the store, resumable chunked install, compaction and restart from snapshot + tail."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trio_zeebe.raft.config import RaftConfig
from trio_zeebe.raft.snapshots import (
    MAGIC,
    SnapshotChunk,
    SnapshotCorruptError,
    SnapshotInfo,
    SnapshotStore,
    encode_snapshot,
    snapshot_name,
)
from trio_zeebe.testing.disk import SimDisk
from trio_zeebe.testing.network import LinkFaults
from trio_zeebe.testing.raft_group import SimRaftGroup, wait_until


async def test_store_keeps_two_and_falls_back_past_a_corrupt_one() -> None:
    disk = SimDisk()
    store = SnapshotStore(disk, "/s")
    for index in (10, 20, 30):
        await store.save(index, 1, b"state-%d" % index)
    assert [i for i, _, _ in store._list()] == [30, 20]  # pruned to the newest two
    latest = store.latest()
    assert latest is not None and store.load(latest) == b"state-30"
    disk.corrupt(latest.path, 20)
    fallback = SnapshotStore(disk, "/s").latest()  # as found by the next start
    assert fallback is not None and fallback.index == 20
    assert store.load(fallback) == b"state-20"


def write(disk: SimDisk, path: str, data: bytes) -> None:
    handle = disk.open_append(path)
    handle.write(data)
    handle.close()


@settings(max_examples=300, deadline=None)
@given(garbage=st.binary(max_size=120), prefix=st.sampled_from([b"", MAGIC, MAGIC + b"\0" * 12]))
def test_a_garbage_snapshot_file_is_reported_corrupt_and_skipped(
    garbage: bytes, prefix: bytes
) -> None:
    """Whatever the newest file holds, reading it raises only SnapshotCorruptError and the
    store falls back to the older, intact snapshot."""
    disk = SimDisk()
    disk.makedirs("/s")
    write(disk, f"/s/{snapshot_name(3, 1)}", encode_snapshot(b"good"))
    path = f"/s/{snapshot_name(9, 2)}"
    data = prefix + garbage
    assume(data != encode_snapshot(data[len(MAGIC) + 12 :]))  # by chance a valid snapshot
    write(disk, path, data)
    store = SnapshotStore(disk, "/s")
    latest = store.latest()
    assert latest is not None and latest.index == 3 and store.load(latest) == b"good"
    with pytest.raises(SnapshotCorruptError):
        store.load(SnapshotInfo(9, 2, path, len(data)))


async def test_a_garbage_part_file_or_transfer_never_becomes_a_snapshot() -> None:
    disk = SimDisk()
    store = SnapshotStore(disk, "/s")
    data = encode_snapshot(b"y" * 100)
    disk.makedirs("/s")
    write(disk, f"/s/{50:020d}-{3:020d}.part", b"\xff" * 70)  # left over by a crash
    # A whole transfer of bytes that are no snapshot: refused, asked for again from 0.
    bad = SnapshotChunk(1, 0, 1, 50, 3, 0, len(data), b"\x00" * len(data))
    ack = await store.receive_chunk(bad)
    assert (ack.next_offset, ack.done) == (0, False) and store.latest() is None
    ack = await store.receive_chunk(SnapshotChunk(1, 0, 1, 50, 3, 0, len(data), data))
    assert ack.done
    info = store.latest()
    assert info is not None and store.load(info) == b"y" * 100


async def test_snapshot_survives_power_loss_whole_or_not_at_all() -> None:
    for cut in range(4):
        disk = SimDisk()
        store = SnapshotStore(disk, "/s")
        await store.save(5, 1, b"old")
        disk.power_cut_after = cut
        try:
            await store.save(9, 2, b"new")
        except Exception:
            pass
        disk.crash(random.Random(cut))
        latest = SnapshotStore(disk, "/s").latest()
        assert latest is not None
        assert (latest.index, store.load(latest)) in ((5, b"old"), (9, b"new"))


async def test_receiving_chunks_is_resumable_and_idempotent() -> None:
    store = SnapshotStore(SimDisk(), "/s")
    data = encode_snapshot(b"x" * 1000)

    def chunk(offset: int, size: int = 300) -> SnapshotChunk:
        return SnapshotChunk(1, 0, 1, 50, 3, offset, len(data), data[offset : offset + size])

    assert (await store.receive_chunk(chunk(0))).next_offset == 300
    assert (await store.receive_chunk(chunk(0))).next_offset == 300  # duplicate: no harm
    assert (await store.receive_chunk(chunk(900))).next_offset == 300  # gap: resume at 300
    assert (await store.receive_chunk(chunk(300))).next_offset == 600
    assert (await store.receive_chunk(chunk(600))).next_offset == 900
    ack = await store.receive_chunk(chunk(900))
    assert ack.done
    info = store.latest()
    assert info is not None and (info.index, info.term) == (50, 3)
    assert store.load(info) == b"x" * 1000
    # Offered again (e.g. after a leader change): done at once, nothing re-sent.
    assert (await store.receive_chunk(chunk(0))).done


async def test_lagging_follower_catches_up_through_a_snapshot_with_lost_chunks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = RaftConfig(
        heartbeat_interval=0.1, election_timeout=1.0, retain_entries=5, snapshot_chunk_size=256
    )
    group = SimRaftGroup(
        31,
        3,
        config=config,
        segment_bytes=2048,
        machines=True,
    )
    machines = group.machines
    async with trio.open_nursery() as nursery:
        await nursery.start(group.run)
        leader = await group.wait_for_leader(10)
        lagging = next(n for n in range(3) if n != leader)
        group.crash(lagging, power_loss=False)
        for i in range(300):
            await group.propose(b"record-%03d" % i)
        leader_machine = machines[leader]
        await wait_until(lambda: len(leader_machine.records) == 300, 10)
        await leader_machine.snapshot()
        driver = group.drivers[leader]
        assert driver.log is not None and driver.log.first_index > 200  # segments deleted
        # The follower comes back over a lossy link: chunks get lost and are resumed.
        group.net.set_faults(
            LinkFaults(drop=0.3), group.addresses[leader], group.addresses[lagging]
        )
        await group.start(lagging)
        await wait_until(lambda: machines[lagging].records == leader_machine.records, 60)
        assert machines[lagging].restores == 1
        size = driver.snapshots.latest().size  # type: ignore[union-attr]
        chunks = -(-size // 256)
        # Lost chunks are resumed, not restarted: far fewer sends than restarting each time.
        assert driver.snapshot_chunks_sent < 3 * chunks
        await group.propose(b"after")
        await wait_until(lambda: machines[lagging].records[-1:] == [b"after"], 10)
        nursery.cancel_scope.cancel()


async def test_restart_from_snapshot_plus_log_tail(autojump_clock: trio.testing.MockClock) -> None:
    group = SimRaftGroup(
        33, 1, config=RaftConfig(retain_entries=0), segment_bytes=2048, machines=True
    )
    machines = group.machines
    async with trio.open_nursery() as nursery:
        await nursery.start(group.run)
        await group.wait_for_leader(10)
        for i in range(100):
            await group.propose(b"a%d" % i)
        await wait_until(lambda: len(machines[0].records) == 100, 10)
        await machines[0].snapshot()
        for i in range(20):
            await group.propose(b"b%d" % i)
        expected = [b"a%d" % i for i in range(100)] + [b"b%d" % i for i in range(20)]
        group.crash(0, power_loss=True)
        await group.start(0)
        await group.wait_for_leader(10)
        await group.propose(b"c")
        await wait_until(lambda: machines[0].records == [*expected, b"c"], 10)
        assert machines[0].restores == 1
        nursery.cancel_scope.cancel()
