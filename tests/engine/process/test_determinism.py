"""The engine is a deterministic, total state machine: equal command sequences give
byte-identical snapshots, a replica restored from a snapshot continues exactly like the
original, ``apply`` never raises whatever the payload, and one apply does a bounded amount of
work (the rest continues in time records)."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_zeebe.engine.commands import AnswerStatus, CommandType, command, decode_answer
from trio_zeebe.engine.engine import Engine
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.testing.bpmn import MultiInstanceSpec, ProcessBuilder

from .driver import START
from .workload import deploy, next_operation

C = CommandType


class Replica:
    """An engine plus its record position and the leader's clock."""

    def __init__(self, engine: Engine | None = None, position: int = 0, now: float = START):
        self.engine = engine or Engine(1, 1, max_steps=50)
        self.engine.strict = True
        self.position = position
        self.now = now
        self.answers: list[bytes] = []

    def run(self, operation: tuple[str, bytes | float]) -> None:
        kind, argument = operation
        self.position += 1
        if kind == "tick":
            assert isinstance(argument, float)
            self.now += argument
            self.answers.append(self.engine.tick(self.position, self.now))
        else:
            assert isinstance(argument, bytes)
            self.answers.append(self.engine.apply(argument, self.position, self.now))
        self.answers.extend(data for _, data in self.engine.take_answers())
        # time passes a little with every record; continuations run when due
        self.now += 0.01


def workload(seed: int, length: int) -> list[tuple[str, bytes | float]]:
    """A sequence of operations chosen against a reference run (so the same list can be
    replayed on other engines)."""
    rng = random.Random(seed)
    reference = Replica()
    operations: list[tuple[str, bytes | float]] = [("apply", deploy())]
    reference.run(operations[0])
    for _ in range(length):
        operation = next_operation(rng, reference.engine)
        operations.append(operation)
        reference.run(operation)
    return operations


@pytest.mark.parametrize("seed", range(8))
def test_equal_command_sequences_give_byte_identical_snapshots(seed: int) -> None:
    operations = workload(seed, 120)
    one, two = Replica(), Replica()
    for operation in operations:
        one.run(operation)
        two.run(operation)
    assert one.answers == two.answers
    assert one.engine.snapshot() == two.engine.snapshot()


@pytest.mark.parametrize("seed", range(8))
def test_a_restored_replica_continues_exactly_like_the_original(seed: int) -> None:
    operations = workload(seed, 150)
    rng = random.Random(seed)
    cut = rng.randrange(1, len(operations))
    original = Replica()
    for operation in operations[:cut]:
        original.run(operation)
    restored = Replica(Engine(1, 1, max_steps=50), original.position, original.now)
    restored.engine.restore(original.engine.snapshot())
    assert restored.engine.snapshot() == original.engine.snapshot()
    original.answers.clear()
    for operation in operations[cut:]:
        original.run(operation)
        restored.run(operation)
    assert restored.answers == original.answers
    assert restored.engine.snapshot() == original.engine.snapshot()


def test_the_workload_exercises_the_engine() -> None:
    # a guard for the tests above: the random workload must reach instances, jobs, incidents
    replica = Replica()
    seen = {"jobs": 0, "incidents": 0, "completed": 0}
    for operation in workload(3, 300):
        replica.run(operation)
        seen["jobs"] = max(seen["jobs"], len(replica.engine.jobs()))
        seen["incidents"] = max(seen["incidents"], len(replica.engine.incidents()))
    statuses = [decode_answer(a).status for a in replica.answers if a]
    assert seen["jobs"] > 2 and seen["incidents"] > 0
    assert statuses.count(AnswerStatus.OK) > 50


def test_restore_refuses_garbage_and_leaves_the_state_alone() -> None:
    replica = Replica()
    for operation in workload(1, 40):
        replica.run(operation)
    before = replica.engine.snapshot()
    for garbage in (b"", b"\x00", b"not a snapshot", before[:-3], before[:40], b"\x93\x01\x02\x03"):
        with pytest.raises(ValueError):
            replica.engine.restore(garbage)
        assert replica.engine.snapshot() == before


def test_a_snapshot_of_another_partition_is_refused() -> None:
    other = Engine(2, 2)
    with pytest.raises(ValueError, match="partition 2"):
        Engine(1, 2).restore(other.snapshot())


def test_one_apply_does_a_bounded_amount_of_work_and_continues_in_time_records() -> None:
    spec = MultiInstanceSpec("=items")
    xml = ProcessBuilder("p").start_event().task("t").end_event().done()
    xml = ProcessBuilder("p").start_event().manual_task("t").end_event().done()
    many = (
        ProcessBuilder("many")
        .start_event()
        .sub_process("loop", lambda s: s.start_event().task("t").end_event(), multi_instance=spec)
        .end_event("end")
        .done()
    )
    engine = Engine(1, 1, max_steps=100)
    engine.strict = True
    request = gw.DeployResourceRequest(
        resources=[
            gw.Resource(name="p.bpmn", content=xml),
            gw.Resource(name="m.bpmn", content=many),
        ]
    )
    assert decode_answer(engine.apply(command(C.DEPLOY_RESOURCE, request), 1, START)).status is (
        AnswerStatus.OK
    )
    create = gw.CreateProcessInstanceWithResultRequest(
        request=gw.CreateProcessInstanceRequest(
            bpmnProcessId="many", version=-1, variables=json.dumps({"items": list(range(500))})
        )
    )
    answer = engine.apply(command(C.CREATE_PROCESS_INSTANCE_WITH_RESULT, create), 2, START + 1)
    assert decode_answer(answer).status is AnswerStatus.DEFERRED
    assert engine.pending_steps > 0
    assert engine.next_deadline() == START + 1  # "now": the leader appends a continuation
    position, ticks = 2, 0
    while engine.pending_steps:
        position += 1
        ticks += 1
        engine.tick(position, START + 1 + ticks / 1000)
    assert ticks > 20  # 500 iterations of 6+ steps each cannot fit a few applies
    ((_, data),) = engine.take_answers()
    assert decode_answer(data).status is AnswerStatus.OK
    assert engine.instances() == {}


payloads = st.binary(max_size=200)
command_bytes = st.sampled_from(list(CommandType)).map(lambda c: bytes([c]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(payloads, st.tuples(command_bytes, payloads).map(lambda t: t[0] + t[1])))
def test_apply_never_raises_on_arbitrary_payloads(payload: bytes) -> None:
    engine = Engine(1, 1)
    engine.strict = True  # an internal error would raise here instead of being swallowed
    answer = engine.apply(payload, 1, START)
    assert decode_answer(answer).status in (
        AnswerStatus.OK,
        AnswerStatus.REJECTED,
        AnswerStatus.DEFERRED,
    )


_BASE: list[tuple[str, bytes | float]] = []


def _base() -> list[tuple[str, bytes | float]]:
    if not _BASE:
        _BASE.extend(workload(11, 60))
    return _BASE


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.data(),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_apply_never_raises_on_mutated_valid_commands(
    data: st.DataObject, flips: list[tuple[int, int]]
) -> None:
    operations = [op for op in _base() if op[0] == "apply"]
    index = data.draw(st.integers(0, len(operations) - 1))
    replica = Replica()
    for operation in _base()[:20]:
        replica.run(operation)
    payload = bytearray(operations[index][1])  # type: ignore[arg-type]
    for offset, value in flips:
        payload[offset % len(payload)] = value
    if data.draw(st.booleans()):
        payload = payload[: data.draw(st.integers(0, len(payload)))]
    replica.run(("apply", bytes(payload)))
    for operation in _base()[20:30]:  # and the engine goes on working
        replica.run(operation)


@settings(max_examples=200, deadline=None)
@given(payloads)
def test_receive_never_raises_on_arbitrary_inter_partition_payloads(payload: bytes) -> None:
    engine = Engine(2, 3)
    engine.strict = True
    answer = engine.receive(payload, 1, START)
    assert decode_answer(answer).status in (AnswerStatus.OK, AnswerStatus.REJECTED)


_SNAPSHOT: list[bytes] = []


def _snapshot() -> bytes:
    if not _SNAPSHOT:
        replica = Replica()
        for operation in workload(5, 60):
            replica.run(operation)
        _SNAPSHOT.append(replica.engine.snapshot())
    return _SNAPSHOT[0]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 255)), min_size=1, max_size=3))
def test_a_corrupted_snapshot_is_refused_or_restores_a_working_engine(
    flips: list[tuple[int, int]],
) -> None:
    data = bytearray(_snapshot())
    for offset, value in flips:
        data[offset % len(data)] = value
    engine = Engine(1, 1, max_steps=50)
    before = engine.snapshot()
    try:
        engine.restore(bytes(data))
    except ValueError:
        assert engine.snapshot() == before
        return
    replica = Replica(engine, position=10**6)
    replica.engine.strict = False  # a well-formed but inconsistent state meets the safety net
    for operation in workload(6, 20)[1:]:
        replica.run(operation)


def test_a_continuation_moves_the_deadline_even_if_the_leader_clock_does_not() -> None:
    spec = MultiInstanceSpec("=items")
    many = (
        ProcessBuilder("many")
        .start_event()
        .sub_process("loop", lambda s: s.start_event().end_event(), multi_instance=spec)
        .end_event()
        .done()
    )
    engine = Engine(1, 1, max_steps=10)
    request = gw.DeployResourceRequest(resources=[gw.Resource(name="m.bpmn", content=many)])
    engine.apply(command(C.DEPLOY_RESOURCE, request), 1, START)
    create = gw.CreateProcessInstanceRequest(
        bpmnProcessId="many", version=-1, variables=json.dumps({"items": list(range(20))})
    )
    engine.apply(command(C.CREATE_PROCESS_INSTANCE, create), 2, START)
    deadline = engine.next_deadline()
    assert deadline is not None and engine.pending_steps
    engine.tick(3, START - 5.0)  # a new leader whose clock is behind
    assert engine.next_deadline() != deadline
