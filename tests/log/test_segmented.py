"""SegmentedLog: round trip, roll-over, recovery (torn tail vs corruption), truncation,
compaction, reset and group commit — on SimDisk, plus a round trip on the real disk."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import trio

from tests.log.helpers import recs
from trio_zeebe.disk import DiskError, DiskFullError, RealDisk
from trio_zeebe.log import LogCorruptionError, LogRecord, SegmentedLog
from trio_zeebe.log.segmented import segment_name
from trio_zeebe.testing.disk import PowerCut, SimDisk

D = "/data/p1"


def fresh(segment_bytes: int = 1 << 20, **kw: object) -> tuple[SimDisk, SegmentedLog]:
    disk = SimDisk(**kw)  # type: ignore[arg-type]
    return disk, SegmentedLog.open(disk, D, segment_bytes=segment_bytes)


def reopen(disk: SimDisk, segment_bytes: int = 1 << 20) -> SegmentedLog:
    return SegmentedLog.open(disk, D, segment_bytes=segment_bytes)


async def test_round_trip_and_reopen() -> None:
    disk, log = fresh()
    assert (log.first_index, log.last_index, log.durable_index) == (1, 0, 0)
    entries = [*recs(1, 5), LogRecord(6, 2, 0, b"")]
    log.append(entries)
    assert log.entries() == entries
    assert log.read(2, 4) == entries[1:3]
    assert (log.last_index, log.last_term, log.term_at(3), log.term_at(7)) == (6, 2, 1, None)
    assert await log.flush() == 6
    log2 = reopen(disk)
    assert log2.recovered == entries and log2.entries() == entries
    assert not log2.torn_tail_truncated
    assert log2.durable_index == 0  # nothing counts as durable before the first flush
    assert await log2.flush() == 6


async def test_real_disk_round_trip(tmp_path: Path) -> None:
    disk = RealDisk()
    d = str(tmp_path / "log")
    log = SegmentedLog.open(disk, d, segment_bytes=300)
    entries = recs(1, 40)
    for i in range(0, 40, 8):
        log.append(entries[i : i + 8])
        assert await log.flush() == i + 8
    log.close()
    assert len(os.listdir(d)) > 1
    log2 = SegmentedLog.open(disk, d, segment_bytes=300)
    assert log2.recovered == entries
    log2.append(recs(20, 3, term=2))  # conflict truncation on real files
    assert await log2.flush() == 22
    log2.close()
    assert SegmentedLog.open(disk, d).entries() == entries[:19] + recs(20, 3, term=2)


async def test_append_validation() -> None:
    _, log = fresh()
    log.append(recs(1, 3, term=2))
    with pytest.raises(ValueError, match="does not fit"):
        log.append(recs(5, 1))
    with pytest.raises(ValueError, match="not contiguous"):
        log.append([*recs(4, 1, term=2), *recs(6, 1, term=2)])
    with pytest.raises(ValueError, match="term goes backwards"):
        log.append(recs(4, 1, term=1))
    with pytest.raises(ValueError, match="out of range"):
        log.append([LogRecord(4, 2, 999, b"")])
    assert log.last_index == 3  # bad batches write nothing


async def test_segment_roll_over_many_segments() -> None:
    disk, log = fresh(segment_bytes=100)
    entries = recs(1, 60)
    for i in range(0, 60, 3):
        log.append(entries[i : i + 3])
        await log.flush()
    assert log.segment_count >= 15
    names = disk.listdir(D)
    assert names[0] == segment_name(1) and all(n.endswith(".log") for n in names)
    log2 = reopen(disk, 100)
    assert log2.recovered == entries
    assert log2.segment_count == log.segment_count
    assert log2.read(10, 50) == entries[9:49]


async def test_power_loss_loses_only_unflushed_entries() -> None:
    disk, log = fresh(segment_bytes=200)
    log.append(recs(1, 10))
    assert await log.flush() == 10
    log.append(recs(11, 30))  # rolls over to new segments, never flushed
    disk.crash(random.Random(0), tear=False)
    log2 = reopen(disk, 200)
    assert log2.recovered == recs(1, 10)


async def test_torn_tail_at_random_points_keeps_flushed_prefix() -> None:
    torn = 0
    for seed in range(300):
        rng = random.Random(seed)
        disk, log = fresh(segment_bytes=rng.choice([80, 200, 1 << 20]))
        model: list[LogRecord] = []
        durable = 0
        for _ in range(rng.randrange(1, 6)):
            batch = [
                LogRecord(len(model) + k + 1, 1, 1, rng.randbytes(rng.randrange(40)))
                for k in range(rng.randrange(1, 6))
            ]
            log.append(batch)
            model += batch
            if rng.random() < 0.5:
                durable = await log.flush()
        disk.crash(rng, tear=True)
        log2 = reopen(disk, log.segment_bytes)
        got = log2.recovered
        assert got == model[: len(got)], seed
        assert len(got) >= durable, seed
        torn += log2.torn_tail_truncated
        # recovery is stable: a second open sees the same, with no more tearing
        log2.close()
        disk.crash(rng, tear=True)
        assert reopen(disk, log.segment_bytes).recovered == got
    assert torn > 10  # the scenario really exercised torn tails


async def test_bad_checksum_mid_log_names_file_and_offset() -> None:
    disk, log = fresh()
    log.append(recs(1, 10))
    await log.flush()
    path = os.path.join(D, segment_name(1))
    frame = 25 + 10
    disk.corrupt(path, 3 * frame + 30)  # a data byte of the 4th record
    with pytest.raises(LogCorruptionError) as info:
        reopen(disk)
    assert info.value.path == path and info.value.offset == 3 * frame
    assert f"{path} at byte offset {3 * frame}" in str(info.value)
    assert "valid records after it" in str(info.value)


async def test_bad_length_mid_log_is_corruption_not_a_torn_tail() -> None:
    disk, log = fresh()
    log.append(recs(1, 10))
    await log.flush()
    path = os.path.join(D, segment_name(1))
    disk.corrupt(path, 2 * 35 + 2, 0x40)  # length field of record 3 now runs past EOF
    with pytest.raises(LogCorruptionError, match="byte offset 70"):
        reopen(disk)


async def test_bad_last_record_is_a_torn_tail() -> None:
    disk, log = fresh()
    log.append(recs(1, 10))
    await log.flush()
    path = os.path.join(D, segment_name(1))
    disk.corrupt(path, 9 * 35 + 30)
    log2 = reopen(disk)
    assert log2.recovered == recs(1, 9)
    assert log2.torn_tail_truncated and log2.torn_tail_bytes == 35
    assert len(disk.read(path)) == 9 * 35


async def test_bad_record_in_older_segment_is_corruption() -> None:
    disk, log = fresh(segment_bytes=100)
    for i in range(1, 30, 3):
        log.append(recs(i, 3))
        await log.flush()
    second = disk.listdir(D)[1]
    path = os.path.join(D, second)
    size = len(disk.read(path))
    disk.corrupt(path, size - 1)  # the *last* record of a non-last segment
    with pytest.raises(LogCorruptionError, match=f"{second} at byte offset {size - 35}"):
        reopen(disk, 100)


async def test_index_gap_between_segments_is_corruption() -> None:
    disk, log = fresh(segment_bytes=100)
    for i in range(1, 30, 3):
        log.append(recs(i, 3))
        await log.flush()
    names = disk.listdir(D)
    disk.remove(os.path.join(D, names[2]))
    with pytest.raises(LogCorruptionError, match=f"{names[3]} at byte offset 0.*expected"):
        reopen(disk, 100)


async def test_conflict_truncation_in_last_segment() -> None:
    disk, log = fresh()
    log.append(recs(1, 10))
    assert await log.flush() == 10
    new = recs(7, 2, term=2)
    log.append(new)
    assert (log.last_index, log.last_term, log.durable_index) == (8, 2, 6)
    assert log.entries() == recs(1, 6) + new
    assert await log.flush() == 8
    disk.crash(random.Random(0))
    assert reopen(disk).recovered == recs(1, 6) + new


async def test_conflict_truncation_across_segments_then_reopen() -> None:
    disk, log = fresh(segment_bytes=100)
    for i in range(1, 31, 3):
        log.append(recs(i, 3))
        await log.flush()
    before = log.segment_count
    new = recs(5, 4, term=3)
    log.append(new)
    assert log.segment_count < before
    assert await log.flush() == 8
    for i in range(9, 20):  # appends after a flushed truncation roll over again
        log.append(recs(i, 1, term=3))
    await log.flush()
    expect = recs(1, 4) + new + recs(9, 11, term=3)
    disk.crash(random.Random(5))
    assert reopen(disk, 100).recovered == expect


async def test_unflushed_truncation_may_come_back_but_never_mixes() -> None:
    for seed in range(100):
        disk, log = fresh(segment_bytes=100)
        for i in range(1, 31, 3):
            log.append(recs(i, 3))
        await log.flush()
        log.append(recs(5, 12, term=2))  # truncates across segments, not flushed
        disk.crash(random.Random(seed))
        got = reopen(disk, 100).recovered
        old, new = recs(1, 30), recs(1, 4) + recs(5, 12, term=2)
        assert got == old or got == new[: len(got)], seed


async def test_compaction_deletes_covered_segments() -> None:
    disk, log = fresh(segment_bytes=100)
    for i in range(1, 31, 3):
        log.append(recs(i, 3))
        await log.flush()
    firsts = [int(n[:20]) for n in disk.listdir(D)]
    upto = 13
    log.compact(upto)
    keep = max(f for f in firsts if f <= upto + 1)
    assert log.first_index == keep
    assert next(int(n[:20]) for n in disk.listdir(D)) == keep
    assert log.entries() == recs(keep, 31 - keep)
    log.compact(10_000)  # the last segment always stays
    assert log.segment_count == 1 and log.last_index == 30
    await log.flush()
    log2 = reopen(disk, 100)
    assert log2.first_index == log.first_index and log2.last_index == 30
    with pytest.raises(ValueError):
        log2.append(recs(log2.first_index - 1, 1))


async def test_reset_after_snapshot() -> None:
    disk, log = fresh(segment_bytes=100)
    log.append(recs(1, 20))
    await log.flush()
    log.reset(100, 7)
    assert (log.first_index, log.last_index, log.last_term, log.durable_index) == (101, 100, 7, 100)
    with pytest.raises(ValueError):
        log.append(recs(50, 1, term=7))
    log.append(recs(101, 2, term=7))
    assert await log.flush() == 102
    disk.crash(random.Random(1))
    log2 = reopen(disk, 100)
    assert (log2.first_index, log2.recovered) == (101, recs(101, 2, term=7))


async def test_group_commit_one_fsync_for_many_appends() -> None:
    disk, log = fresh()
    await log.flush()
    log.append(recs(1, 1))
    await log.flush()  # creates the segment: file + directory fsync
    f0, d0 = disk.fsyncs, disk.dir_fsyncs
    for i in range(2, 102):
        log.append(recs(i, 1))
    assert await log.flush() == 101
    assert (disk.fsyncs - f0, disk.dir_fsyncs - d0) == (1, 0)
    assert await log.flush() == 101  # nothing new: no fsync at all
    assert disk.fsyncs - f0 == 1


async def test_concurrent_flushes_join_and_report_after_fsync(
    autojump_clock: trio.testing.MockClock,
) -> None:
    disk, log = fresh(latency=0.002)
    log.append(recs(1, 1))
    await log.flush()
    f0 = disk.fsyncs
    results: dict[int, int] = {}

    async def writer(i: int) -> None:
        await trio.sleep(0.0005 * i)
        log.append(recs(i, 1))
        results[i] = await log.flush()

    async with trio.open_nursery() as nursery:
        for i in range(2, 42):
            nursery.start_soon(writer, i)
    assert all(v >= i for i, v in results.items())
    assert log.durable_index == 41
    assert disk.fsyncs - f0 < 20  # grouped: far fewer fsyncs than callers


async def test_truncation_during_inflight_flush_lowers_durable_index(
    autojump_clock: trio.testing.MockClock,
) -> None:
    _disk, log = fresh(latency=0.01)
    log.append(recs(1, 10))
    await log.flush()
    log.append(recs(11, 10))
    got: list[int] = []
    async with trio.open_nursery() as nursery:

        async def flusher() -> None:
            got.append(await log.flush())

        nursery.start_soon(flusher)
        await trio.sleep(0.001)  # fsync of 1..20 in flight
        log.append(recs(15, 3, term=2))  # truncates 15.. while it runs
        assert log.durable_index == 10
    assert got == [14]  # 15..17 are new and not yet synced
    assert await log.flush() == 17


async def test_disk_full_keeps_log_consistent() -> None:
    disk, log = fresh(capacity=2000)
    log.append(recs(1, 10))
    assert await log.flush() == 10
    with pytest.raises(DiskFullError):
        log.append(recs(11, 100))
    assert log.last_index == 10
    log.append(recs(11, 2))  # smaller writes still fit
    assert await log.flush() == 12
    disk.crash(random.Random(0))
    assert reopen(disk).recovered == recs(1, 12)


def _is_prefix(got: list[LogRecord], of: list[LogRecord]) -> bool:
    return got == of[: len(got)]


async def _three_flushed_segments() -> tuple[SimDisk, SegmentedLog]:
    disk, log = fresh(segment_bytes=100)  # 3 records of 35 bytes per segment
    for i in range(1, 10, 3):
        log.append(recs(i, 3))
        await log.flush()
    assert log.segment_count == 3
    return disk, log


async def test_flushed_truncation_removing_segments_survives_power_loss() -> None:
    disk, log = await _three_flushed_segments()
    log.append(recs(5, 2, term=2))  # cuts segment 4, removes segment 7
    assert await log.flush() == 6
    disk.crash(random.Random(0), tear=False)
    assert reopen(disk, 100).recovered == recs(1, 4) + recs(5, 2, term=2)


async def test_power_cut_at_every_sync_of_a_truncating_flush() -> None:
    old = recs(1, 9)
    new = recs(1, 4) + recs(5, 9, term=2)
    for cut in range(6):
        for seed in range(20):
            disk, log = await _three_flushed_segments()
            log.append(recs(5, 6, term=2))  # cut segment 4, remove segment 7
            log.append(recs(11, 3, term=2))  # segment 4 is full again
            disk.power_cut_after = cut
            try:
                await log.flush()
            except PowerCut:
                pass
            disk.crash(random.Random(seed), tear=True)
            got = reopen(disk, 100).recovered
            assert _is_prefix(got, old) or _is_prefix(got, new), (cut, seed)


async def test_truncation_on_a_segment_boundary_then_power_loss() -> None:
    old = recs(1, 9)
    new = recs(1, 3) + recs(4, 5, term=2)
    for seed in range(50):
        disk, log = await _three_flushed_segments()
        log.append(recs(4, 5, term=2))  # removes segments 4 and 7 exactly
        disk.crash(random.Random(seed), tear=True)
        got = reopen(disk, 100).recovered
        assert _is_prefix(got, old) or _is_prefix(got, new), seed


async def test_failed_fsync_disables_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    disk, log = fresh()
    log.append(recs(1, 3))

    def broken(handle: object) -> None:
        raise DiskError(5, "disk error: fsync: Input/output error")

    monkeypatch.setattr(disk, "fsync", broken)
    with pytest.raises(DiskError, match="Input/output"):
        await log.flush()
    assert log.durable_index == 0
    with pytest.raises(DiskError, match="unusable after a failed fsync"):
        log.append(recs(4, 1))
    with pytest.raises(DiskError, match="unusable"):
        await log.flush()
