"""MetaStore: defaults, round trip, corruption is a clear error, atomic replace under crashes."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from trio_zeebe.disk import FileHandle, RealDisk
from trio_zeebe.log import MetaCorruptionError, MetaState, MetaStore
from trio_zeebe.testing.disk import SimDisk

P = "/data/p1/raft.meta"


async def test_defaults_round_trip_and_extra_fields(tmp_path: Path) -> None:
    store = MetaStore(RealDisk(), str(tmp_path / "p" / "raft.meta"))
    assert store.load() == MetaState()
    state = MetaState(term=5, vote=2, snapshot_id="10-3", extra={"future": [1, 2]})
    await store.save(state)
    assert MetaStore(RealDisk(), store.path).load() == state
    await store.save(state)  # unchanged: no rewrite
    assert store.saves == 1


async def test_corrupt_file_is_a_clear_error() -> None:
    disk = SimDisk()
    store = MetaStore(disk, P)
    store.load()
    await store.save(MetaState(term=3, vote=1))
    disk.corrupt(P, len(disk.read(P)) - 2)
    with pytest.raises(MetaCorruptionError, match=f"{P} is corrupt: checksum mismatch"):
        MetaStore(disk, P).load()
    h = disk.open_append(P)
    h.truncate(3)
    with pytest.raises(MetaCorruptionError, match="bad header"):
        MetaStore(disk, P).load()


class PowerCut(Exception):
    pass


class CutAfter:
    """Wraps a SimDisk; the k-th mutating call (write, fsync, rename, ...) cuts the power."""

    def __init__(self, disk: SimDisk, k: int) -> None:
        self.disk, self.left = disk, k

    def _tick(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise PowerCut

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.disk, name)
        if name in ("remove", "rename", "fsync", "fsync_dir", "truncate"):

            def wrapped(*args: Any) -> Any:
                self._tick()
                return attr(*args)

            return wrapped
        if name == "open_append":
            return lambda path: _CutHandle(self, attr(path))
        return attr

    def fsync(self, handle: Any) -> None:
        self._tick()
        self.disk.fsync(handle.inner)


class _CutHandle:
    def __init__(self, cut: CutAfter, inner: FileHandle) -> None:
        self.cut, self.inner = cut, inner
        self.path, self.close = inner.path, inner.close

    def write(self, data: bytes) -> None:
        self.cut._tick()
        self.inner.write(data)


async def test_atomic_replace_survives_power_cut_at_every_step() -> None:
    old, new = MetaState(term=4, vote=1), MetaState(term=5, vote=None, snapshot_id="x" * 300)
    seen = set()
    for k in range(12):
        for seed in range(5):
            disk = SimDisk()
            store = MetaStore(disk, P)
            store.load()
            await store.save(old)
            cut = CutAfter(disk, k)
            try:
                await MetaStore(cut, P).save(new)
            except PowerCut:
                pass
            disk.crash(random.Random(seed), tear=True)
            got = MetaStore(disk, P).load()
            assert got in (old, new), (k, seed)
            seen.add(got == new)
            # and a later save still works after the crash (leftover temp file)
            await MetaStore(disk, P).save(MetaState(term=9))
            assert MetaStore(disk, P).load() == MetaState(term=9)
    assert seen == {True, False}
