"""Keys carry their partition and are never reused; snapshots restore the exact state."""

from __future__ import annotations

import subprocess
import sys

import pytest

from trio_zeebe import codec
from trio_zeebe.engine import (
    KEY_BITS,
    ActivatedJobs,
    ActivateJobs,
    CompleteJob,
    CreateJob,
    FailJob,
    JobEngine,
    JobKey,
    SnapshotError,
    StateMachine,
    ThrowError,
    TimeTick,
)

T0 = 5_000.0


def new_key(e: JobEngine, now: float = T0) -> int:
    result = e.execute(CreateJob("t"), now)
    assert isinstance(result, JobKey)
    return result.key


@pytest.mark.parametrize("partition", [0, 1, 7, 8191])
def test_the_partition_is_in_the_top_bits(partition: int) -> None:
    e = JobEngine(partition)
    keys = [new_key(e) for _ in range(3)]
    assert [k >> KEY_BITS for k in keys] == [partition] * 3
    assert [k & ((1 << KEY_BITS) - 1) for k in keys] == [1, 2, 3]
    assert KEY_BITS == 51


@pytest.mark.parametrize("partition", [-1, 8192])
def test_partition_ids_outside_13_bits_are_refused(partition: int) -> None:
    with pytest.raises(ValueError, match="partition_id"):
        JobEngine(partition)


def test_keys_are_never_reused_after_completion_snapshot_and_restore() -> None:
    e = JobEngine(3)
    seen: set[int] = set()
    for _round in range(5):
        for _ in range(200):
            key = new_key(e)
            assert key not in seen
            seen.add(key)
        # Complete everything: the state is empty but the sequence must survive.
        result = e.execute(ActivateJobs("t", "w", 1000, 1.0), T0)
        assert isinstance(result, ActivatedJobs)
        for job in result.jobs:
            e.execute(CompleteJob(job.key), T0)
        assert e.job_count == 0
        restored = JobEngine(3)
        restored.restore(e.snapshot())
        e = restored
    assert len(seen) == 1000


def test_a_refused_create_does_not_use_a_key() -> None:
    e = JobEngine()
    first = new_key(e)
    e.execute(CreateJob(""), T0)
    assert new_key(e) == first + 1


def test_restore_rebuilds_queues_timers_and_clock() -> None:
    e = JobEngine(2)
    keys = [new_key(e) for _ in range(6)]
    e.execute(ActivateJobs("t", "w", 2, 10.0), T0)  # keys 0,1 leased until T0+10
    e.execute(FailJob(keys[2], 1, retry_backoff=3.0), T0)  # back-off until T0+3
    e.execute(FailJob(keys[3], 0, "x"), T0)  # incident
    e.execute(ThrowError(keys[4], "E"), T0)
    r = JobEngine(2)
    r.restore(e.snapshot())
    assert r.snapshot() == e.snapshot()
    assert (r.clock, r.position, r.job_count) == (e.clock, e.position, e.job_count)
    assert r.next_deadline() == e.next_deadline() == T0 + 3
    assert r.activatable_types() == ["t"] and r.activatable_count("t") == 1
    assert r.take_newly_activatable() == {"t"}  # a restored replica wakes its waiters
    for engine in (e, r):
        engine.execute(TimeTick(), T0 + 20)
    assert r.snapshot() == e.snapshot()
    a = r.execute(ActivateJobs("t", "w", 10, 1.0), T0 + 20)
    b = e.execute(ActivateJobs("t", "w", 10, 1.0), T0 + 20)
    assert a == b and isinstance(a, ActivatedJobs)
    assert [j.key for j in a.jobs] == [keys[0], keys[1], keys[2], keys[5]]


def test_restore_refuses_another_partition_and_garbage_and_keeps_its_state() -> None:
    e = JobEngine(1)
    new_key(e)
    before = e.snapshot()
    other = JobEngine(2)
    with pytest.raises(ValueError, match="partition 2"):
        e.restore(other.snapshot())
    good = codec.unpackb(before)
    bad_rows = [
        b"",
        b"\xc1",
        codec.packb(["tz.jobs"]),
        codec.packb([*good[:1], 99, *good[2:]]),  # version
        codec.packb([*good[:6], [[1, "t"]]]),  # short row
        codec.packb([*good[:6], [[*good[6][0][:2], "BOGUS", *good[6][0][3:]]]]),
        codec.packb([*good[:6], [[*good[6][0][:5], 1.0, *good[6][0][6:]]]]),  # deadline
        codec.packb([*good[:6], [[(5 << 51) | 1, *good[6][0][1:]]]]),  # partition
        codec.packb([*good[:6], [[(1 << 51) | 9, *good[6][0][1:]]]]),  # beyond sequence
        codec.packb([*good[:6], good[6] * 2]),  # duplicate key
    ]
    for data in bad_rows:
        with pytest.raises(SnapshotError):
            e.restore(data)
    assert e.snapshot() == before


def test_engines_are_state_machines() -> None:
    from trio_zeebe.engine import KVStore

    assert isinstance(JobEngine(), StateMachine)
    assert isinstance(KVStore(), StateMachine)


def test_the_engine_imports_no_trio_and_no_clock() -> None:
    code = (
        "import sys, trio_zeebe.engine; "
        "bad = [m for m in ('trio', 'anyio', 'time', 'random', 'socket') if m in sys.modules "
        "and m not in BEFORE]; print(bad)"
    )
    # Python itself may import some of these at start-up: compare with a bare interpreter.
    before = "BEFORE = set(__import__('sys').modules); "
    out = subprocess.run(
        [sys.executable, "-c", before + code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
