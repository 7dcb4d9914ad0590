"""The example key-value state machine: put/get/delete/compare-and-set, refusals, snapshots."""

from __future__ import annotations

import pytest

from trio_zeebe import codec
from trio_zeebe.engine import KVStore
from trio_zeebe.engine.kv import CompareAndSet, Delete, Get, Put, Rejection, Value


def run(kv: KVStore, command: object, position: int) -> object:
    return codec.decode(kv.apply(codec.encode(command), position, 0.0))


def test_put_get_delete_with_revisions() -> None:
    kv = KVStore()
    assert run(kv, Get("k"), 1) == Value("k", None, -1)
    assert run(kv, Put("k", b"v1"), 2) == Value("k", b"v1", 2)
    assert run(kv, Put("k", b"v2"), 3) == Value("k", b"v2", 3)
    assert run(kv, Get("k"), 4) == Value("k", b"v2", 3)
    assert run(kv, Delete("k"), 5) == Value("k", b"v2", 3)  # what was deleted
    assert kv.get("k") is None and len(kv) == 0


@pytest.mark.parametrize(
    ("start", "command", "answer", "after"),
    [
        (None, CompareAndSet("k", None, b"a"), Value("k", b"a", 9), b"a"),
        (None, CompareAndSet("k", b"x", b"a"), Value("k", None, -1, ok=False), None),
        (b"x", CompareAndSet("k", b"x", b"a"), Value("k", b"a", 9), b"a"),
        (b"x", CompareAndSet("k", None, b"a"), Value("k", b"x", 1, ok=False), b"x"),
        (b"x", CompareAndSet("k", b"y", b"a"), Value("k", b"x", 1, ok=False), b"x"),
        (b"x", CompareAndSet("k", b"x", None), Value("k", None, -1), None),
    ],
)
def test_compare_and_set(
    start: bytes | None, command: CompareAndSet, answer: Value, after: bytes | None
) -> None:
    kv = KVStore()
    if start is not None:
        run(kv, Put("k", start), 1)
    assert run(kv, command, 9) == answer
    assert kv.get("k") == after


@pytest.mark.parametrize(
    "record",
    [
        b"\xc1",
        codec.encode(Put("", b"x")),
        codec.encode(Put("k" * 1025, b"x")),
        codec.packb(["e.kv.put", {"key": "k", "value": "not bytes"}]),
        codec.encode(Rejection("X", "y")),
    ],
)
def test_bad_records_are_refused_and_change_nothing(record: bytes) -> None:
    kv = KVStore()
    run(kv, Put("k", b"v"), 1)
    answer = codec.decode(kv.apply(record, 2, 0.0))
    assert isinstance(answer, Rejection) and answer.code == "INVALID_ARGUMENT"
    assert kv.get("k") == b"v" and len(kv) == 1


def test_replayed_positions_are_skipped() -> None:
    kv = KVStore()
    run(kv, Put("k", b"1"), 5)
    answer = run(kv, Put("k", b"2"), 5)
    assert isinstance(answer, Rejection) and answer.code == "FAILED_PRECONDITION"
    assert kv.get("k") == b"1"


def test_snapshot_restore_and_bad_snapshots() -> None:
    kv = KVStore()
    for i, key in enumerate("zyx"):
        run(kv, Put(key, key.encode()), i)
    other = KVStore()
    other.restore(kv.snapshot())
    assert other.snapshot() == kv.snapshot()
    assert other.get("y") == b"y"
    before = other.snapshot()
    for bad in [
        b"",
        b"\xc1",
        codec.packb(["tz.kv", 1, 0, [["k", "str", 1]]]),
        codec.packb(["tz.kv", 1, 0, [["k", b"a", 1], ["k", b"b", 2]]]),
        codec.packb(["tz.kv", 2, 0, []]),
        codec.packb(["tz.jobs", 1, 0, []]),
    ]:
        with pytest.raises(ValueError):
            other.restore(bad)
    assert other.snapshot() == before
