"""Replay equivalence: the same committed records give the same results and the same snapshot
bytes, whether a replica applied them all or restored a snapshot half-way and went on."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trio_zeebe import codec
from trio_zeebe.engine import (
    ActivatedJobs,
    ActivateJobs,
    CompleteJob,
    CreateJob,
    FailJob,
    JobEngine,
    JobKey,
    JobState,
    StateMachine,
    ThrowError,
    TimeTick,
    UpdateJobRetries,
    UpdateJobTimeout,
)
from trio_zeebe.engine.kv import CompareAndSet, Delete, Get, KVStore, Put

TYPES = ["a", "b", "c"]
json_leaf = st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["x", "y", ""])
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("pqr"), inner),
    max_leaves=6,
)
variables = st.dictionaries(st.sampled_from(["v1", "v2", "v3", "v4"]), json_value, max_size=3)
seconds = st.sampled_from([0.0, 0.5, 1.0, 5.0, 30.0, -1.0])
key_ref = st.integers(0, 40)  # picks one of the keys created so far; 40: a missing key
create_op = st.tuples(st.just("create"), st.sampled_from(TYPES), st.integers(0, 3), variables)

job_ops = st.one_of(
    create_op,
    create_op,
    st.tuples(
        st.just("activate"),
        st.sampled_from(TYPES),
        st.integers(0, 4),
        st.sampled_from([1.0, 5.0, 30.0, 0.0]),
        st.lists(st.sampled_from(["v1", "v2", "zz"]), max_size=2),
    ),
    st.tuples(st.just("complete"), key_ref, variables),
    st.tuples(st.just("fail"), key_ref, st.integers(-1, 2), seconds, variables),
    st.tuples(st.just("throw"), key_ref, st.sampled_from(["", "E1"])),
    st.tuples(st.just("retries"), key_ref, st.integers(-1, 3)),
    st.tuples(st.just("timeout"), key_ref, seconds),
    st.tuples(st.just("tick"), st.sampled_from(["next", "now", "later"])),
)
# Mostly increasing time; sometimes a little backwards (a new leader whose clock is behind).
step = st.tuples(st.floats(-3.0, 20.0, allow_nan=False), job_ops)
# Every run starts with a few jobs, so most generated commands meet a job that exists.
PROLOGUE = [(0.0, ("create", TYPES[i % 3], 2, {"v1": i})) for i in range(6)]


def build(op: tuple[Any, ...], keys: list[int], engine: JobEngine, now: float) -> Any:
    def key(ref: int) -> int:
        return keys[ref % len(keys)] if keys and ref < 40 else (1 << 51) | 999_999

    match op:
        case ("create", type_, retries, vs):
            return CreateJob(type_, retries, vs, {"h": type_})
        case ("activate", type_, n, timeout, fetch):
            return ActivateJobs(type_, "w", n, timeout, tuple(fetch))
        case ("complete", ref, vs):
            return CompleteJob(key(ref), vs)
        case ("fail", ref, retries, backoff, vs):
            return FailJob(key(ref), retries, "err", backoff, vs)
        case ("throw", ref, code):
            return ThrowError(key(ref), code, "msg")
        case ("retries", ref, retries):
            return UpdateJobRetries(key(ref), retries)
        case ("timeout", ref, timeout):
            return UpdateJobTimeout(key(ref), timeout)
        case ("tick", when):
            # A leader time record: only its stamp says what time it is.
            deadline = engine.next_deadline()
            if when == "next" and deadline is not None:
                return (TimeTick(), max(now, deadline))
            return (TimeTick(), now + (100.0 if when == "later" else 0.0))
    raise AssertionError(op)


def check_indexes(engine: JobEngine) -> None:
    # The queues agree with the job states (what a snapshot does not show directly).
    snapshot = codec.unpackb(engine.snapshot())
    ready: dict[str, int] = {}
    deadlines = []
    for _key, type_, state, _retries, _w, deadline, *_ in snapshot[6]:
        if state == JobState.ACTIVATABLE:
            ready[type_] = ready.get(type_, 0) + 1
        if deadline is not None:
            deadlines.append(deadline)
    assert {t: engine.activatable_count(t) for t in engine.activatable_types()} == ready
    assert engine.next_deadline() == (min(deadlines) if deadlines else None)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(step, max_size=80), split=st.integers(0, 86), partition=st.integers(1, 4))
def test_job_engine_replay_with_a_snapshot_anywhere_is_byte_identical(
    steps: list[tuple[float, tuple[Any, ...]]], split: int, partition: int
) -> None:
    straight = JobEngine(partition)
    replica = JobEngine(partition)
    keys: list[int] = []
    now = 1_700_000_000.0
    for position, (dt, op) in enumerate(PROLOGUE + steps):
        if position == split:
            fresh = JobEngine(partition)
            fresh.restore(replica.snapshot())
            replica = fresh
        now += dt
        command = build(op, keys, straight, now)
        if isinstance(command, tuple):  # a time record, stamped by the leader
            stamp = command[1]
            answer = straight.tick(position, stamp)
            assert replica.tick(position, stamp) == answer
        else:
            record = codec.encode(command)
            answer = straight.apply(record, position, now)
            assert replica.apply(record, position, now) == answer
        assert replica.next_deadline() == straight.next_deadline()
        result = codec.decode(answer)
        assert codec.encode(result) == answer  # the engine's fast encoder is the codec's format
        if isinstance(result, JobKey):
            keys.append(result.key)
        if isinstance(result, ActivatedJobs):
            assert len({j.key for j in result.jobs}) == len(result.jobs)
    assert replica.snapshot() == straight.snapshot()
    assert len(set(keys)) == len(keys)
    check_indexes(straight)
    check_indexes(replica)


kv_ops = st.one_of(
    st.builds(Put, st.sampled_from("kmn"), st.binary(max_size=3)),
    st.builds(Get, st.sampled_from("kmn")),
    st.builds(Delete, st.sampled_from("kmn")),
    st.builds(
        CompareAndSet,
        st.sampled_from("kmn"),
        st.none() | st.binary(max_size=1),
        st.none() | st.binary(max_size=1),
    ),
    st.builds(Put, st.just(""), st.just(b"x")),
)


@settings(max_examples=100, deadline=None)
@given(ops=st.lists(kv_ops, max_size=60), split=st.integers(0, 60))
def test_kv_replay_with_a_snapshot_anywhere_is_byte_identical(ops: list[Any], split: int) -> None:
    straight: StateMachine = KVStore()
    replica: StateMachine = KVStore()
    for position, op in enumerate(ops):
        if position == split:
            fresh = KVStore()
            fresh.restore(replica.snapshot())
            replica = fresh
        record = codec.encode(op)
        assert replica.apply(record, position, 0.0) == straight.apply(record, position, 0.0)
    assert replica.snapshot() == straight.snapshot()
