"""Hostile snapshots in format 4 (families in blocks of columns): every malformed block, column
or value is a SnapshotError, never a crash, and a well-formed snapshot restores exactly."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from trio_zeebe import codec
from trio_zeebe.engine.commands import CommandType, command
from trio_zeebe.engine.engine import Engine
from trio_zeebe.engine.runtime.snapshot import BLOCK_ROWS, SnapshotError
from trio_zeebe.proto import trio_zeebe_pb2 as tz
from trio_zeebe.testing.bpmn import ProcessBuilder

from .process.driver import Driver

INSTANCES = 8  # the element instances family's place in the snapshot array
JOBS = 11  # the jobs family's place in the snapshot array


def _engine(jobs: int) -> Engine:
    engine = Engine(1, 1)
    for i in range(jobs):
        variables = json.dumps({"n": i, "nested": {"list": [i, "x", None]}} if i % 3 else {})
        request = tz.CreateJobRequest(type="t" if i % 2 else "u", variables=variables)
        engine.apply(command(CommandType.CREATE_JOB, request), i + 1, 1_700_000_000.0)
    return engine


def _snapshot(jobs: int = 5) -> list[Any]:
    return codec.unpackb(_engine(jobs).snapshot())  # type: ignore[no-any-return]


def test_a_family_spans_blocks_and_restores_in_order() -> None:
    engine = _engine(BLOCK_ROWS + 7)
    data = engine.snapshot()
    blocks = codec.unpackb(data)[JOBS]
    assert [block[0] for block in blocks] == [BLOCK_ROWS, 7]
    restored = Engine(1, 1)
    restored.restore(data)
    assert list(restored.jobs().items()) == list(engine.jobs().items())
    assert restored.snapshot() == data


def test_a_column_of_one_value_stands_for_every_row() -> None:
    data = _snapshot()
    (block,) = data[JOBS]
    assert block[0] == 5 and block[3] == ["ACTIVATABLE"]  # the state column: one value
    restored = Engine(1, 1)
    restored.restore(codec.packb(data))
    assert {job.state for job in restored.jobs().values()} == {"ACTIVATABLE"}


def _mutations() -> list[tuple[str, Any]]:
    return [
        ("not blocks", lambda b: "x"),
        ("a block too short", lambda b: b[:-1]),
        ("row count zero", lambda b: [0, *b[1:]]),
        ("row count too big", lambda b: [BLOCK_ROWS + 1, *b[1:]]),
        ("row count not an int", lambda b: [True, *b[1:]]),
        ("a column too long", lambda b: [b[0], b[1] + [99], *b[2:]]),
        ("a column not a list", lambda b: [b[0], 5, *b[2:]]),
        ("a key that is a string", lambda b: [b[0], ["k"] * b[0], *b[2:]]),
        ("a key that is a bool", lambda b: [b[0], [True], *b[2:]]),
        ("a key that is a float", lambda b: [b[0], [1.0] * b[0], *b[2:]]),
        ("an unknown state", lambda b: [*b[:3], ["DONE"], *b[4:]]),
        ("variables not an object", lambda b: [*b[:8], [[1]], *b[9:]]),
        ("variables with bytes", lambda b: [*b[:8], [{"a": b"x"}], *b[9:]]),
        ("nested bytes", lambda b: [*b[:8], [{"a": [{"b": b"x"}]}], *b[9:]]),
        ("headers with ints", lambda b: [*b[:9], [{"h": 1}], *b[10:]]),
        ("duplicate keys", lambda b: [b[0], [b[1][0]] * b[0], *b[2:]]),
        ("a dangling element instance", lambda b: [*b[:12], [42], *b[13:]]),
    ]


@pytest.mark.parametrize(("what", "mutate"), _mutations(), ids=[m[0] for m in _mutations()])
def test_a_malformed_jobs_block_is_refused(what: str, mutate: Any) -> None:
    data = _snapshot()
    original = codec.packb(data)
    hostile = copy.deepcopy(data)
    hostile[JOBS] = [mutate(hostile[JOBS][0])] if what != "not blocks" else "x"
    engine = Engine(1, 1)
    before = engine.snapshot()
    with pytest.raises(SnapshotError):
        engine.restore(codec.packb(hostile))
    assert engine.snapshot() == before
    Engine(1, 1).restore(original)  # the untouched snapshot still restores


def test_an_older_format_is_refused() -> None:
    data = _snapshot()
    data[1] = 3
    with pytest.raises(SnapshotError, match="unsupported version 3"):
        Engine(1, 1).restore(codec.packb(data))


def _waiting_join() -> Driver:
    """Instances of fork -> (a, b) -> join, with ``a`` completed: each process instance keeps
    the taken flow into the join among its active flows while ``b`` waits."""
    xml = (
        ProcessBuilder("p")
        .start_event("start")
        .parallel_gateway("fork")
        .service_task("a", job_type="a")
        .parallel_gateway("join")
        .end_event("end")
        .move_to("fork")
        .service_task("b", job_type="b")
        .connect_to("join")
        .done()
    )
    d = Driver()
    d.deploy(xml)
    for _ in range(3):
        d.create("p", {"n": 1})
        d.complete_type("a")
    return d


def test_instances_restore_with_their_active_flows() -> None:
    engine = _waiting_join().engine
    data = engine.snapshot()
    waiting = [i for i in engine.instances().values() if i.active_flows]
    assert len(waiting) == 3
    restored = Engine(1, 1)
    restored.restore(data)
    assert list(restored.instances().items()) == list(engine.instances().items())
    assert all(type(i.active_flows) is tuple for i in restored.instances().values())
    assert restored.snapshot() == data


def _instance_mutations() -> list[tuple[str, Any]]:
    # columns: 1 key, 2 element id, 4 flow scope, 9 state, 14 active flows
    return [
        ("an unknown element", lambda b: [*b[:2], ["nowhere"], *b[3:]]),
        ("an unknown state", lambda b: [*b[:9], ["DONE"], *b[10:]]),
        ("a dangling flow scope", lambda b: [*b[:4], [12345], *b[5:]]),
        ("active flows not a list", lambda b: [*b[:14], ["f"], *b[15:]]),
        ("an active flow that is an int", lambda b: [*b[:14], [["f", 1]], *b[15:]]),
        ("active flows of bytes", lambda b: [*b[:14], [[b"f"]] * b[0], *b[15:]]),
        ("duplicate keys", lambda b: [b[0], [b[1][0]] * b[0], *b[2:]]),
    ]


@pytest.mark.parametrize(
    ("what", "mutate"), _instance_mutations(), ids=[m[0] for m in _instance_mutations()]
)
def test_a_malformed_instances_block_is_refused(what: str, mutate: Any) -> None:
    data = codec.unpackb(_waiting_join().engine.snapshot())
    original = codec.packb(data)
    hostile = copy.deepcopy(data)
    hostile[INSTANCES] = [mutate(hostile[INSTANCES][0])]
    engine = Engine(1, 1)
    before = engine.snapshot()
    with pytest.raises(SnapshotError):
        engine.restore(codec.packb(hostile))
    assert engine.snapshot() == before
    Engine(1, 1).restore(original)  # the untouched snapshot still restores


def test_a_restore_in_pieces_changes_the_engine_only_with_its_last_piece() -> None:
    data = _engine(2 * BLOCK_ROWS + 5).snapshot()
    engine = _engine(3)
    before = engine.snapshot()
    pieces = 0
    for _ in engine.restore_pieces(data):
        pieces += 1
        assert engine.snapshot() == before  # whatever runs between the pieces sees the old state
    assert pieces >= 3  # a piece per block of jobs at least
    assert engine.snapshot() == data
    at_once = Engine(1, 1)
    at_once.restore(data)
    assert list(engine.jobs().items()) == list(at_once.jobs().items())


def test_a_restore_in_pieces_closed_early_leaves_the_engine_as_it_was() -> None:
    engine = _engine(3)
    before = engine.snapshot()
    pieces = engine.restore_pieces(_engine(BLOCK_ROWS + 1).snapshot())
    next(pieces)
    next(pieces)
    pieces.close()
    assert engine.snapshot() == before


def test_a_fault_in_a_later_block_fails_the_restore_in_pieces_and_changes_nothing() -> None:
    data = _snapshot(BLOCK_ROWS + 3)
    first, second = data[JOBS]
    second[1] = [first[1][0], *second[1][1:]]  # a key of the first block again
    engine = _engine(3)
    before = engine.snapshot()
    pieces = engine.restore_pieces(codec.packb(data))
    with pytest.raises(SnapshotError, match="job keys repeat"):
        for _ in pieces:
            pass
    assert engine.snapshot() == before


def test_bytes_after_the_snapshot_are_refused() -> None:
    data = _engine(3).snapshot()
    with pytest.raises(SnapshotError, match="bytes after the last family"):
        Engine(1, 1).restore(data + codec.packb(0))
    with pytest.raises(SnapshotError):
        Engine(1, 1).restore(data[:-1])
