"""The Disk interface: RealDisk basics and SimDisk's durable/volatile model and power loss."""

from __future__ import annotations

import errno
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import trio
import trio.testing

from trio_zeebe.disk import DirectoryInUse, DiskError, DiskFullError, RealDisk, replace_atomically
from trio_zeebe.testing.disk import ProcessKilled, SimDisk, contain_dead_process_errors


async def test_real_disk_roundtrip(tmp_path: Path) -> None:
    disk = RealDisk()
    d = str(tmp_path / "a" / "b")
    disk.makedirs(d)
    p = os.path.join(d, "f")
    h = disk.open_append(p)
    h.write(b"hello ")
    h.write(b"world")
    assert h.size == 11
    await disk.run_blocking(disk.fsync, h)
    await disk.run_blocking(disk.fsync_dir, d)
    assert disk.read(p) == b"hello world"
    assert disk.read(p, 6, 3) == b"wor"
    h.truncate(5)
    h.write(b"!")
    h.close()
    assert disk.read(p) == b"hello!"
    assert disk.listdir(d) == ["f"]
    disk.rename(p, p + "2")
    assert not disk.exists(p) and disk.exists(p + "2")
    disk.truncate(p + "2", 1)
    assert disk.read(p + "2") == b"h"
    assert disk.free_bytes(d) > 0
    disk.remove(p + "2")
    assert disk.listdir(d) == []


async def test_real_write_failure_is_all_or_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = RealDisk()
    p = str(tmp_path / "f")
    h = disk.open_append(p)
    h.write(b"durable")
    real_write = os.write
    calls = 0

    def half_then_enospc(fd: int, data: bytes | memoryview) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            return real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_enospc)
    with pytest.raises(DiskFullError, match="disk full"):
        h.write(b"0123456789")
    monkeypatch.undo()
    assert h.size == 7
    assert disk.read(p) == b"durable"
    h.close()


async def test_replace_atomically_real(tmp_path: Path) -> None:
    disk = RealDisk()
    p = str(tmp_path / "meta")
    await replace_atomically(disk, p, b"one")
    await replace_atomically(disk, p, b"two")
    assert disk.read(p) == b"two"
    assert sorted(os.listdir(tmp_path)) == ["meta"]


def test_sim_unsynced_write_lost_synced_kept() -> None:
    disk = SimDisk()
    disk.makedirs("/d")
    h = disk.open_append("/d/f")
    h.write(b"abc")
    disk.fsync(h)
    disk.fsync_dir("/d")
    h.write(b"def")
    assert disk.read("/d/f") == b"abcdef"
    disk.crash(random.Random(1), tear=False)
    assert disk.read("/d/f") == b"abc"
    with pytest.raises(DiskError):
        h.write(b"x")  # handles do not survive a power loss


def test_sim_directory_entries_need_fsync_dir() -> None:
    disk = SimDisk()
    disk.makedirs("/d")
    h = disk.open_append("/d/new")
    h.write(b"x")
    disk.fsync(h)  # content durable, name not
    disk.crash(random.Random(1))
    assert not disk.exists("/d/new")

    h = disk.open_append("/d/a")
    h.write(b"A")
    disk.fsync(h)
    disk.fsync_dir("/d")
    disk.rename("/d/a", "/d/b")
    disk.crash(random.Random(1))
    assert disk.listdir("/d") == ["a"]
    disk.rename("/d/a", "/d/b")
    disk.fsync_dir("/d")
    disk.remove("/d/b")
    disk.crash(random.Random(1))
    assert disk.read("/d/b") == b"A"


def test_sim_unsynced_truncate_is_lost() -> None:
    disk = SimDisk()
    disk.makedirs("/d")
    h = disk.open_append("/d/f")
    h.write(b"abcdef")
    disk.fsync(h)
    disk.fsync_dir("/d")
    h.truncate(2)
    h.write(b"XY")
    disk.crash(random.Random(3), tear=True)
    assert disk.read("/d/f") == b"abcdef"


def test_sim_tear_keeps_prefix_and_is_deterministic() -> None:
    outcomes = set()
    for seed in range(200):
        results = []
        for _ in range(2):
            disk = SimDisk()
            disk.makedirs("/d")
            h = disk.open_append("/d/f")
            h.write(b"synced")
            disk.fsync(h)
            disk.fsync_dir("/d")
            h.write(b"-unsynced-tail")
            disk.crash(random.Random(seed), tear=True)
            results.append(disk.read("/d/f"))
        assert results[0] == results[1]
        got = results[0]
        assert got.startswith(b"synced")
        tail = got[6:]
        full = b"-unsynced-tail"
        kept = next((i for i in range(len(tail)) if tail[i] != full[i]), len(tail))
        assert len(tail) <= len(b"-unsynced-tail")
        outcomes.add((kept == 0, kept == len(tail)))
    # some crashes tore, some added junk after the prefix, some dropped everything
    assert len(outcomes) >= 2


def test_sim_capacity_and_counters() -> None:
    disk = SimDisk(capacity=10)
    disk.makedirs("/d")
    h = disk.open_append("/d/f")
    h.write(b"12345678")
    with pytest.raises(DiskFullError):
        h.write(b"abc")
    assert disk.read("/d/f") == b"12345678"
    assert disk.free_bytes("/d") == 2
    disk.fsync(h)
    disk.fsync_dir("/d")
    assert (disk.bytes_written, disk.writes, disk.fsyncs, disk.dir_fsyncs) == (8, 1, 1, 1)


async def test_sim_run_blocking_latency_uses_mock_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    disk = SimDisk(latency=0.005)
    disk.makedirs("/d")
    h = disk.open_append("/d/f")
    h.write(b"x")
    t0 = trio.current_time()
    await disk.run_blocking(disk.fsync, h)
    assert trio.current_time() - t0 == pytest.approx(0.005)
    assert disk.fsyncs == 1


async def test_grouped_calls_queued_behind_a_trip_share_the_next_one(tmp_path: Path) -> None:
    """Group commit across logs: the fsyncs asked for while one worker trip runs go together."""
    disk = RealDisk()
    gate = threading.Event()
    ran: list[int] = []

    def held() -> str:
        gate.wait(10)
        return "first"

    def sync(i: int) -> int:
        handle = disk.open_append(str(tmp_path / f"log-{i}"))
        handle.write(b"x" * i)
        disk.fsync(handle)
        handle.close()
        ran.append(i)
        return i

    def broken() -> None:
        raise DiskError(errno.EIO, "disk error: fsync broken-log: Input/output error")

    results: dict[int, object] = {}

    async def call(i: int) -> None:
        try:
            results[i] = await disk.run_grouped(sync, i)
        except DiskError as exc:
            results[i] = exc

    async def call_broken() -> None:
        with pytest.raises(DiskError, match="broken-log"):
            await disk.run_grouped(broken)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(disk.run_grouped, held)
        await trio.testing.wait_all_tasks_blocked()
        for i in range(1, 21):
            nursery.start_soon(call, i)
        nursery.start_soon(call_broken)
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
    assert results == {i: i for i in range(1, 21)}  # one failure stays with its caller
    assert sorted(ran) == list(range(1, 21))
    assert disk._trips.trips == 2  # the held trip, then one for all 21 queued calls


async def test_grouped_call_cancelled_while_queued_does_not_run_or_block_others(
    tmp_path: Path,
) -> None:
    disk = RealDisk()
    gate = threading.Event()
    ran: list[str] = []

    def step(name: str) -> str:
        if name == "first":
            gate.wait(10)
        ran.append(name)
        return name

    async with trio.open_nursery() as nursery:
        nursery.start_soon(disk.run_grouped, step, "first")
        await trio.testing.wait_all_tasks_blocked()
        with trio.CancelScope() as cancelled:
            cancelled.cancel()
            with pytest.raises(trio.Cancelled):
                await disk.run_grouped(step, "cancelled")
        later = trio.Event()

        async def last() -> None:
            assert await disk.run_grouped(step, "last") == "last"
            later.set()

        nursery.start_soon(last)
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
        await later.wait()
    assert ran == ["first", "last"]


# -- directory locks: one broker per data directory ---------------------------------------------


def test_real_directory_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    disk = RealDisk()
    lock = disk.lock_directory(str(tmp_path), "1234")
    assert (tmp_path / "LOCK").read_text().strip() == "1234"
    # flock holds per open file: a second RealDisk in this very process is refused too.
    with pytest.raises(DirectoryInUse) as refused:
        RealDisk().lock_directory(str(tmp_path), "5678")
    assert str(refused.value) == f"{tmp_path} is in use by another broker (pid 1234)"
    assert refused.value.holder == "1234"
    lock.release()
    lock.release()  # idempotent
    again = disk.lock_directory(str(tmp_path), "5678")
    assert (tmp_path / "LOCK").read_text().strip() == "5678"
    again.release()


def test_real_directory_lock_dies_with_its_process(tmp_path: Path) -> None:
    """kill -9 leaves no stale lock behind: the OS drops a dead process's flock."""
    code = (
        "import sys, time; from trio_zeebe.disk import RealDisk; "
        "RealDisk().lock_directory(sys.argv[1], 'child'); print('locked', flush=True); "
        "time.sleep(60)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "locked\n"
        with pytest.raises(DirectoryInUse, match=r"\(pid child\)"):
            RealDisk().lock_directory(str(tmp_path), "me")
    finally:
        child.kill()
        child.wait()
    RealDisk().lock_directory(str(tmp_path), "me").release()


def test_sim_directory_lock_is_exclusive_and_dropped_by_a_crash() -> None:
    disk = SimDisk()
    disk.makedirs("/data/b0")
    first = disk.lock_directory("/data/b0", "1")
    with pytest.raises(DirectoryInUse, match=r"/data/b0 is in use by another broker \(pid 1\)"):
        disk.lock_directory("/data/b0/", "2")
    other = disk.lock_directory("/data", "3")  # another directory: its own lock
    disk.crash(random.Random(1))  # power loss: the holders are gone
    second = disk.lock_directory("/data/b0", "2")
    first.release()  # the crashed owner's late clean-up must not free the new owner's hold
    assert disk.lock_holder("/data/b0") == "2"
    with pytest.raises(DirectoryInUse):
        disk.lock_directory("/data/b0", "4")
    second.release()
    other.release()
    assert disk.lock_holder("/data/b0") is None
    with pytest.raises(DiskError):
        disk.lock_directory("/nope", "1")  # like the real disk: the directory must exist


# --- a killed process's view of a SimDisk ----------------------------------------------------


async def test_a_killed_process_reaches_the_disk_no_more() -> None:
    disk = SimDisk()
    disk.makedirs("/d")
    process = disk.process()
    handle = process.open_append("/d/f")
    handle.write(b"synced")
    await process.run_blocking(process.fsync, handle)
    await process.run_blocking(process.fsync_dir, "/d")
    process.kill()
    # Nothing the dead process still runs takes effect: not through its handles ...
    with pytest.raises(ProcessKilled):
        handle.write(b" ghost")
    # ... nor through the disk (each call of the Disk protocol is refused) ...
    for call in (
        lambda: process.open_append("/d/g"),
        lambda: process.rename("/d/f", "/d/h"),
        lambda: process.remove("/d/f"),
        lambda: process.read("/d/f"),
        lambda: process.fsync_dir("/d"),
    ):
        with pytest.raises(ProcessKilled):
            call()
    assert isinstance(ProcessKilled("x"), DiskError)  # code that handles disk errors copes
    # ... and a blocking call of a cancelled (killed) task stops at its cancellation.
    with trio.CancelScope() as scope:
        scope.cancel()
        await process.run_blocking(disk.fsync, handle)
        raise AssertionError("a killed process's cancelled task must not get past its call")
    disk.crash(random.Random(1))
    again = disk.process()  # the next process finds what the first made durable, only that
    assert again.read("/d/f") == b"synced" and again.listdir("/d") == ["f"]


def test_only_errors_from_a_killed_process_are_contained() -> None:
    process = SimDisk().process()
    with contain_dead_process_errors(process), pytest.raises(ProcessKilled):
        raise ProcessKilled("alive: not contained")  # the process was not killed
    process.kill()
    with contain_dead_process_errors(process):
        raise ProcessKilled("fsync")
    with contain_dead_process_errors(process):
        try:
            raise ProcessKilled("write")
        except DiskError as exc:
            raise RuntimeError("log disabled") from exc  # caused by the dead process's call
    with pytest.raises(ExceptionGroup) as left, contain_dead_process_errors(process):
        raise ExceptionGroup("tasks", [ProcessKilled("fsync"), ValueError("a real bug")])
    assert [type(e) for e in left.value.exceptions] == [ValueError]
    with pytest.raises(KeyError), contain_dead_process_errors(process):
        raise KeyError("a real bug of a killed process still shows")
