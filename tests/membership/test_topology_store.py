"""TopologyStore: the members a broker remembers across restarts (SimDisk, power loss)."""

from __future__ import annotations

import logging
import random
import struct
import zlib

import pytest

from trio_zeebe import codec
from trio_zeebe.membership.topology_store import (
    MAGIC,
    VERSION,
    PersistedTopology,
    TopologyStore,
    decode_topology,
    encode_topology,
)
from trio_zeebe.testing.disk import PowerCut, SimDisk

OLD = PersistedTopology("c", ((0, "a:1"), (1, "b:1")))
NEW = PersistedTopology("c", ((0, "a:1"), (1, "b:1"), (2, "c:1")), {"partitions": [[1, [0, 1]]]})


async def test_round_trip_and_unchanged_topology_is_not_rewritten() -> None:
    disk = SimDisk()
    store = TopologyStore(disk, "/data")
    assert store.load() is None  # nothing yet: not an error
    assert await store.save(NEW)
    assert TopologyStore(disk, "/data").load() == NEW
    fsyncs = disk.fsyncs
    assert await store.save(NEW)
    assert disk.fsyncs == fsyncs


@pytest.mark.parametrize("cut_at", [0, 1])
async def test_power_cut_during_replace_leaves_old_or_new_never_garbage(cut_at: int) -> None:
    rng = random.Random(cut_at)
    disk = SimDisk()
    store = TopologyStore(disk, "/data")
    await store.save(OLD)
    disk.power_cut_after = cut_at  # 0: before the temp file's fsync, 1: before the dir fsync
    with pytest.raises(PowerCut):
        await store.save(NEW)
    disk.crash(rng)
    assert TopologyStore(disk, "/data").load() == OLD
    # And once the replace completes, a crash keeps the new content.
    assert await TopologyStore(disk, "/data").save(NEW)
    disk.crash(rng)
    assert TopologyStore(disk, "/data").load() == NEW


async def test_every_crash_point_of_many_saves_reads_back_a_written_version() -> None:
    rng = random.Random(5)
    versions = [
        PersistedTopology("c", tuple((i, f"h{i}:1") for i in range(n))) for n in range(1, 8)
    ]
    for cut in range(2 * len(versions)):
        disk = SimDisk()
        disk.power_cut_after = cut
        written: list[PersistedTopology] = []
        try:
            for version in versions:
                await TopologyStore(disk, "/data").save(version)
                written.append(version)
        except PowerCut:
            pass
        disk.crash(rng)
        loaded = TopologyStore(disk, "/data").load()
        # The last completed save, or the one that was under way: never anything else.
        allowed = [written[-1] if written else None, *versions[len(written) :][:1]]
        assert loaded in allowed, (cut, loaded)


def _corrupt_variants() -> dict[str, bytes]:
    good = encode_topology(OLD)
    body = codec.packb({"cluster_name": "c", "members": "nope"})
    header = struct.Struct(">4sBI")
    return {
        "empty": b"",
        "short": good[:5],
        "wrong magic": b"XXXX" + good[4:],
        "future version": good[:4] + bytes([VERSION + 1]) + good[5:],
        "flipped bit": good[:-1] + bytes([good[-1] ^ 1]),
        "truncated body": good[:-2],
        "malformed body": header.pack(MAGIC, VERSION, zlib.crc32(body)) + body,
    }


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("empty", "too short"),
        ("short", "too short"),
        ("wrong magic", "not a topology file"),
        ("future version", "unsupported format version"),
        ("flipped bit", "checksum mismatch"),
        ("truncated body", "checksum mismatch"),
        ("malformed body", "malformed body"),
    ],
)
async def test_bad_file_is_reported_and_ignored(
    case: str, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    disk = SimDisk()
    disk.makedirs("/data")
    handle = disk.open_append("/data/topology.meta")
    handle.write(_corrupt_variants()[case])
    with caplog.at_level(logging.WARNING, logger="trio_zeebe.membership"):
        assert TopologyStore(disk, "/data").load() is None
    [record] = [r for r in caplog.records if r.name == "trio_zeebe.membership"]
    assert record.levelno == logging.WARNING
    assert expected in record.getMessage()
    assert "re-learned from peers" in record.getMessage()
    # The next save replaces the bad file.
    store = TopologyStore(disk, "/data")
    assert await store.save(OLD)
    assert store.load() == OLD


def test_decode_rejects_every_truncation_of_a_good_file() -> None:
    good = encode_topology(NEW)
    for n in range(len(good)):
        with pytest.raises(ValueError):
            decode_topology(good[:n])
