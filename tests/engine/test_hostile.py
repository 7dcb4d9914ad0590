"""Whatever a committed record holds, the job engine answers and every replica answers alike.

A record is applied on every replica; if ``apply`` raised, the partition would stop everywhere.
These properties feed the engine arbitrary bytes, mutated encodings of every job command and
typed commands with hostile field values, and check that it answers (never raises), that the
answer is encodable, that two replicas given the same records stay byte-identical, and that
``restore`` of garbage raises ValueError only and leaves the state as it was.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from trio_zeebe import codec
from trio_zeebe.engine import (
    ActivateJobs,
    CompleteJob,
    CreateJob,
    FailJob,
    JobEngine,
    JobResult,
    Rejection,
    ThrowError,
    TimeTick,
    UpdateJobRetries,
    UpdateJobTimeout,
)
from trio_zeebe.engine.jobs import encode_result

T0 = 1_700_000_000.0
COMMANDS = [CreateJob, ActivateJobs, CompleteJob, FailJob, ThrowError, UpdateJobRetries]
COMMANDS += [UpdateJobTimeout]


def engine_with_jobs() -> JobEngine:
    """A partition with a job in every state, so hostile commands meet real keys."""
    e = JobEngine(1)
    keys = []
    for i in range(6):
        answer = e.execute(CreateJob("t", 2, {"v": i}, {"h": "x"}), T0)
        keys.append(answer.key)  # type: ignore[union-attr]
    e.execute(ActivateJobs("t", "w", 3, 30.0), T0)
    e.execute(FailJob(keys[1], 1, "b", 5.0), T0)  # back-off
    e.execute(FailJob(keys[2], 0, "i"), T0)  # incident
    e.execute(ThrowError(keys[3], "E"), T0 + 1)
    return e


KEYS = [(1 << 51) | n for n in range(1, 8)]
VALID = [
    CreateJob("t", 3, {"a": [1, {"b": None}]}, {"h": "v"}),
    ActivateJobs("t", "w", 2, 10.0, ("v",)),
    CompleteJob(KEYS[0], {"done": True}),
    FailJob(KEYS[0], 1, "boom", 2.0, {"x": 1}),
    ThrowError(KEYS[4], "E1", "msg", {"y": 2}),
    UpdateJobRetries(KEYS[2], 4),
    UpdateJobTimeout(KEYS[0], 60.0),
]

hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, 2**64, -(2**63) - 1, 2**64 + 1, 10**30, 10**5000, -(10**5000)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -0.0, 5e-324]),
    st.text(max_size=20),
    st.just("x" * 100_000),
    st.binary(max_size=20),
    st.dictionaries(st.binary(max_size=3), st.integers(), min_size=1, max_size=2),
    st.dictionaries(st.integers(), st.text(max_size=2), min_size=1, max_size=2),
    st.dictionaries(st.text(max_size=3), st.floats(allow_nan=True), max_size=2),
    st.lists(st.integers() | st.text(max_size=2), max_size=3),
    st.just({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {"k": 1}}}}}}}}}}}),
    st.builds(lambda n: _deep_dict(n), st.integers(60, 300)),
    st.builds(lambda n: _deep_list(n), st.integers(60, 300)),
    st.sampled_from(KEYS),
    st.just(object()),
    st.just({1, 2}),
)


def _deep_dict(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"n": value}
    return value


def _deep_list(depth: int) -> list[Any]:
    value: list[Any] = [1]
    for _ in range(depth):
        value = [value]
    return value


def assert_answers(e: JobEngine, result: JobResult) -> None:
    encoded = encode_result(result)  # apply must be able to ship it
    assert codec.decode(encoded) == result or isinstance(result, Rejection)
    e.snapshot()  # and the state must still be snapshottable


def twins() -> tuple[JobEngine, JobEngine]:
    return engine_with_jobs(), engine_with_jobs()


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=200))
def test_apply_answers_arbitrary_bytes_alike_on_every_replica(data: bytes) -> None:
    a, b = twins()
    answer = a.apply(data, 10, T0 + 2)
    assert b.apply(data, 10, T0 + 2) == answer
    assert isinstance(codec.decode(answer), Rejection)
    assert a.snapshot() == b.snapshot()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(codec.encode(draw(st.sampled_from(VALID))))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "set"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=9))
        elif data:
            data[at] = draw(st.sampled_from([0xC0, 0xC2, 0xCB, 0xCF, 0xD3, 0xDB, 0xDF, 0xC4, 0x7F]))
    return bytes(data)


@settings(max_examples=600, deadline=None)
@given(data=mutated())
def test_apply_answers_mutated_encodings_of_every_command(data: bytes) -> None:
    a, b = twins()
    answer = a.apply(data, 10, T0 + 2)
    assert b.apply(data, 10, T0 + 2) == answer
    codec.decode(answer)
    assert a.snapshot() == b.snapshot()


@st.composite
def hostile_wire_command(draw: st.DrawFn) -> bytes:
    """A valid command's wire structure with some fields replaced by hostile values (those that
    msgpack can carry at all)."""
    tag, body = codec.to_wire(draw(st.sampled_from(VALID)))
    for name in draw(st.lists(st.sampled_from(sorted(body)), min_size=1, max_size=3)):
        body[name] = draw(hostile)
    if draw(st.booleans()):
        body[draw(st.text(max_size=4))] = draw(hostile)  # an unknown or duplicate field
    try:
        return codec.packb([tag, body])
    except (TypeError, ValueError, OverflowError):
        assume(False)
        raise


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=hostile_wire_command())
def test_apply_answers_commands_with_hostile_field_values(data: bytes) -> None:
    a, b = twins()
    answer = a.apply(data, 10, T0 + 2)
    assert b.apply(data, 10, T0 + 2) == answer
    codec.decode(answer)
    assert a.snapshot() == b.snapshot()


@st.composite
def hostile_typed_command(draw: st.DrawFn) -> Any:
    command = draw(st.sampled_from([*VALID, TimeTick()]))
    fields = [f.name for f in attrs.fields(type(command))]
    if not fields:
        return command
    changes = {n: draw(hostile) for n in draw(st.lists(st.sampled_from(fields), max_size=3))}
    return attrs.evolve(command, **changes)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command=hostile_typed_command(), stamp=st.floats(allow_nan=True) | st.just(T0 + 3))
def test_execute_answers_typed_commands_with_hostile_field_values(
    command: Any, stamp: float
) -> None:
    a, b = twins()
    result = a.execute(command, stamp)
    assert b.execute(command, stamp) == result
    assert_answers(a, result)
    assert a.snapshot() == b.snapshot()
    restored = JobEngine(1)
    restored.restore(a.snapshot())  # whatever was accepted survives a snapshot
    assert restored.snapshot() == a.snapshot()


def test_a_client_sent_time_tick_is_not_a_command() -> None:
    """The old ``e.tick`` command carried its own ``now``: a client could move the clock to 1e300
    and no lease would ever expire. Time now comes only from the leader's time records."""
    e = engine_with_jobs()
    before = e.snapshot()
    answer = codec.decode(e.apply(codec.packb(["e.tick", {"now": 1e300}]), 10, T0 + 2))
    assert isinstance(answer, Rejection) and answer.code == "INVALID_ARGUMENT"
    assert e.clock == T0 + 1  # no time from the payload
    assert e.next_deadline() == T0 + 5  # the back-off still ends when it should
    assert codec.unpackb(e.snapshot())[6] == codec.unpackb(before)[6]
    ticked = codec.decode(e.tick(11, T0 + 31))  # and the leases at the leader's T0 + 31
    assert len(ticked.timed_out) == 1 and len(ticked.backoff_ended) == 1


def test_a_tick_expires_leases_by_the_leaders_stamp() -> None:
    e = engine_with_jobs()
    assert e.next_deadline() == T0 + 5
    ticked = codec.decode(e.tick(10, T0 + 31))
    assert ticked.timed_out and ticked.backoff_ended  # the leases (T0+30) and the back-off
    assert e.next_deadline() is None
    again = codec.decode(e.tick(10, T0 + 40))  # a replayed position changes nothing
    assert isinstance(again, Rejection) and again.code == "FAILED_PRECONDITION"


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_restore_of_garbage_raises_value_error_and_keeps_the_state(data: bytes) -> None:
    e = engine_with_jobs()
    before = e.snapshot()
    try:
        e.restore(data)
    except ValueError:
        assert e.snapshot() == before
    else:
        raise AssertionError("garbage restored")


@st.composite
def mutated_snapshot(draw: st.DrawFn) -> bytes:
    obj = codec.unpackb(engine_with_jobs().snapshot())
    rows = obj[6]
    where = draw(st.sampled_from(["header", "row"]))
    if where == "header":
        obj[draw(st.integers(0, 6))] = draw(hostile)
    else:
        row = rows[draw(st.integers(0, len(rows) - 1))]
        row[draw(st.integers(0, 9))] = draw(hostile)
    try:
        return codec.packb(obj)
    except (TypeError, ValueError, OverflowError):
        assume(False)
        raise


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated_snapshot(), command=st.sampled_from(VALID))
def test_restore_of_a_mutated_snapshot_refuses_or_yields_a_working_engine(
    data: bytes, command: Any
) -> None:
    e = engine_with_jobs()
    before = e.snapshot()
    try:
        e.restore(data)
    except ValueError:
        assert e.snapshot() == before
        return
    # Accepted: it must then be an engine that answers and snapshots like any other.
    codec.unpackb(e.apply(codec.encode(command), 2**40, T0 + 100))
    codec.unpackb(e.tick(2**41, T0 + 1000))
    again = JobEngine(1)
    again.restore(e.snapshot())
    assert again.snapshot() == e.snapshot()
