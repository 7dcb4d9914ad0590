"""Timers keep the engine deterministic: equal record sequences give identical snapshots, and a
replica restored from a snapshot with timers pending fires them exactly as the original does."""

from __future__ import annotations

import json
import random

import pytest

from trio_zeebe import codec
from trio_zeebe.engine.commands import CommandType, command
from trio_zeebe.engine.engine import Engine
from trio_zeebe.engine.runtime.snapshot import SnapshotError
from trio_zeebe.engine.runtime.trace import TraceRecord
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.testing.bpmn import ProcessBuilder

from .support import START

C = CommandType


def resources() -> list[tuple[str, bytes]]:
    wait = (
        ProcessBuilder("wait")
        .start_event()
        .intermediate_catch_event("nap", timer_duration="=delay")
        .service_task("after", job_type="after")
        .end_event()
        .done()
    )
    b = ProcessBuilder("guarded").start_event().service_task("work", job_type="work").end_event()
    b.boundary_event("remind", attached_to="work", timer_cycle="R/PT7S", interrupting=False)
    b.end_event("reminded")
    b.boundary_event("give_up", attached_to="work", timer_duration="PT40S").end_event("late")
    scheduled = (
        ProcessBuilder("scheduled")
        .start_event("every", timer_cycle="R/PT13S")
        .service_task("job", job_type="after")
        .end_event()
        .done()
    )
    return [("wait.bpmn", wait), ("guarded.bpmn", b.done()), ("scheduled.bpmn", scheduled)]


def deploy_command() -> bytes:
    request = gw.DeployResourceRequest(
        resources=[gw.Resource(name=n, content=c) for n, c in resources()]
    )
    return command(C.DEPLOY_RESOURCE, request)


def operations(seed: int, length: int) -> list[tuple[str, bytes | float]]:
    rng = random.Random(seed)
    ops: list[tuple[str, bytes | float]] = [("apply", deploy_command())]
    for _ in range(length):
        roll = rng.random()
        if roll < 0.25:
            variables = json.dumps({"delay": f"PT{rng.randrange(0, 30)}S"})
            request = gw.CreateProcessInstanceRequest(
                bpmnProcessId="wait", version=-1, variables=variables
            )
            ops.append(("apply", command(C.CREATE_PROCESS_INSTANCE, request)))
        elif roll < 0.4:
            request = gw.CreateProcessInstanceRequest(bpmnProcessId="guarded", version=-1)
            ops.append(("apply", command(C.CREATE_PROCESS_INSTANCE, request)))
        elif roll < 0.55:
            activate = gw.ActivateJobsRequest(
                type=rng.choice(["work", "after"]), worker="w", timeout=60_000, maxJobsToActivate=3
            )
            ops.append(("apply", command(C.ACTIVATE_JOBS, activate)))
        else:
            ops.append(("tick", rng.choice([0.0, 0.5, 3.0, 7.0, 11.0])))
    return ops


class Replica:
    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine or Engine(1, 1, max_steps=40)
        self.engine.strict = True
        self.position = 0
        self.now = START
        self.answers: list[bytes] = []
        self.fired: list[tuple[int, str]] = []
        self.engine.set_trace(self._record)

    def _record(self, record: TraceRecord) -> None:
        if record.value_type == "TIMER" and record.intent == "TRIGGERED":
            self.fired.append((record.key, record.value["targetElementId"]))

    def run(self, op: tuple[str, bytes | float]) -> None:
        kind, argument = op
        self.position += 1
        if kind == "tick":
            assert isinstance(argument, float)
            self.now += argument
            self.answers.append(self.engine.tick(self.position, self.now))
        else:
            assert isinstance(argument, bytes)
            self.answers.append(self.engine.apply(argument, self.position, self.now))
        self.now += 0.01


@pytest.mark.parametrize("seed", range(6))
def test_equal_sequences_with_timers_give_identical_snapshots(seed: int) -> None:
    ops = operations(seed, 200)
    one, two = Replica(), Replica()
    for op in ops:
        one.run(op)
        two.run(op)
    assert one.fired and one.fired == two.fired
    assert one.answers == two.answers
    assert one.engine.snapshot() == two.engine.snapshot()


@pytest.mark.parametrize("seed", range(6))
def test_a_replica_restored_with_pending_timers_fires_them_like_the_original(seed: int) -> None:
    ops = operations(seed, 220)
    cut = random.Random(seed).randrange(20, len(ops) - 20)
    original = Replica()
    for op in ops[:cut]:
        original.run(op)
    assert original.engine.timers(), "the cut should leave timers pending"
    restored = Replica(Engine(1, 1, max_steps=40))
    restored.engine.restore(original.engine.snapshot())
    restored.position, restored.now = original.position, original.now
    assert restored.engine.timers() == original.engine.timers()
    assert restored.engine.next_deadline() == original.engine.next_deadline()
    original.fired.clear()
    for op in ops[cut:]:
        original.run(op)
        restored.run(op)
    assert original.fired == restored.fired
    assert original.answers[-(len(ops) - cut) :] == restored.answers
    assert original.engine.snapshot() == restored.engine.snapshot()


def test_a_snapshot_with_a_timer_of_an_unknown_element_instance_is_refused() -> None:
    replica = Replica()
    replica.run(("apply", deploy_command()))
    request = gw.CreateProcessInstanceRequest(
        bpmnProcessId="wait", version=-1, variables=json.dumps({"delay": "PT30S"})
    )
    replica.run(("apply", command(C.CREATE_PROCESS_INSTANCE, request)))
    data = codec.unpackb(replica.engine.snapshot())
    (timers,) = data[24]  # the timers family: one block, its row count then a column a field
    keys, instances, elements = timers[1], timers[2], timers[5]
    assert timers[0] == 2 and elements == ["every", "nap"]
    Engine(1, 1).restore(codec.packb(data))  # as taken, it restores
    timers[2] = [instances[0], 12345]  # the nap's element instance: one that does not exist
    with pytest.raises(SnapshotError, match="timer"):
        Engine(1, 1).restore(codec.packb(data))
    timers[2], timers[5] = instances, ["every", "nowhere"]
    with pytest.raises(SnapshotError, match="unknown element"):
        Engine(1, 1).restore(codec.packb(data))
    assert replica.engine.timers()[keys[1]][1] == instances[1]
