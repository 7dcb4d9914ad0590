"""Random runs of the correlation protocol over a bad network with leader changes (seeded,
so a failure replays): no message correlated twice to a process, none lost while instances
wait for it and its time to live lasts, and the same run gives the same state."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from trio_zeebe.keys import message_partition
from trio_zeebe.testing.bpmn import ProcessBuilder

from .net import Net, Replicated

KEYS = "abcd"
PARTITIONS = 3


def catching(process_id: str) -> bytes:
    return (
        ProcessBuilder(process_id)
        .start_event()
        .intermediate_catch_event("wait", message="m", correlation_key="=id")
        .service_task("after", job_type="after")
        .done()
    )


def boundary(process_id: str) -> bytes:
    b = ProcessBuilder(process_id).start_event().service_task("task", job_type="work")
    b.end_event()
    b.boundary_event(
        "poke", attached_to="task", message="m", correlation_key="=id", interrupting=False
    )
    b.end_event("poked")
    return b.done()


class Run:
    """One random run: instances of three processes created, cancelled, messages published,
    leaders changing, the network misbehaving; then a perfect network until it settles."""

    def __init__(self, seed: int, steps: int = 160) -> None:
        self.net = net = Net(PARTITIONS, seed=seed)
        ops = random.Random(seed * 7919 + 1)
        net.deploy(catching("p"), catching("q"), boundary("r"))
        self.instances: dict[int, tuple[int, str, str]] = {}  # key -> partition, process, key
        self.cancelled: set[int] = set()
        self.published: Counter[str] = Counter()
        follow_at = ops.randrange(steps)
        for step in range(steps):
            if step == follow_at:  # a replica joins from a snapshot, mid-protocol
                for driver in net.parts.values():
                    assert isinstance(driver.engine, Replicated)
                    driver.engine.follow()
            roll = ops.random()
            if roll < 0.2:
                partition, process = ops.randint(1, PARTITIONS), ops.choice("pqr")
                key = ops.choice(KEYS)
                self.instances[net.create(partition, process, id=key)] = (
                    partition,
                    process,
                    key,
                )
            elif roll < 0.4:
                key = ops.choice(KEYS)
                net.publish(None, "m", key, ttl=3_600_000)
                self.published[key] += 1
            elif roll < 0.45:
                self.cancel(ops)
            elif roll < 0.5:
                net.change_leader(ops.randint(1, PARTITIONS))
            elif roll < 0.55:
                net.advance(1)
            else:
                net.round(lose=0.25, duplicate=0.25, delay=0.25)
        # the end: messages whose first offers go to instances that leave at once, so their
        # rejections must send them on to the instances still waiting
        net.settle()
        for key in KEYS:
            net.publish(None, "m", key, ttl=3_600_000)
            self.published[key] += 1
        for _ in range(3):
            self.cancel(ops)
        for _ in range(5):
            net.round(lose=0.25, duplicate=0.25, delay=0.25)
        net.settle()

    def cancel(self, ops: random.Random) -> None:
        waiting = [
            key
            for key, (partition, _, _) in sorted(self.instances.items())
            if key not in self.cancelled and key in self.net.parts[partition].engine.instances()
        ]
        if waiting:
            victim = ops.choice(waiting)
            self.net.parts[self.instances[victim][0]].cancel(victim)
            self.cancelled.add(victim)

    def correlations(self) -> Counter[tuple[int, str]]:
        """(message key, process) of every correlation an instance took."""
        return Counter(
            (r.value["messageKey"], r.value["bpmnProcessId"])
            for r in self.net.records("PROCESS_MESSAGE_SUBSCRIPTION", "CORRELATED")
        )

    def taken(self, process: str, key: str) -> int:
        return sum(
            1
            for r in self.net.records("PROCESS_MESSAGE_SUBSCRIPTION", "CORRELATED")
            if r.value["bpmnProcessId"] == process and r.value["correlationKey"] == key
        )

    def still_waiting(self, process: str, key: str) -> int:
        count = 0
        for instance_key, (partition, name, k) in self.instances.items():
            if name != process or k != key:
                continue
            engine = self.net.parts[partition].engine
            for element in engine.instances().values():
                waits = element.element_id in ("wait", "task")
                if element.process_instance_key == instance_key and waits:
                    count += 1
        return count


SEEDS = range(12)


@pytest.mark.parametrize("seed", SEEDS)
def test_no_message_correlates_twice_to_a_process_and_none_is_lost(seed: int) -> None:
    run = Run(seed)
    assert run.instances and sum(run.published.values())
    for taken in run.correlations().values():
        assert taken == 1  # at most once per message and process
    for process in "pqr":
        for key in KEYS:
            taken, published = run.taken(process, key), run.published[key]
            assert taken <= published
            if run.still_waiting(process, key):
                # an instance waits: every message of its key went to the process
                assert taken == published, (process, key, taken, published)
    assert run.net.pending() == 0
    for driver in run.net.parts.values():
        engine = driver.engine
        assert isinstance(engine, Replicated) and engine.follower is not None
        assert engine.follower.snapshot() == engine.snapshot()  # the replica kept up


def test_the_runs_exercise_the_protocol() -> None:
    rejected = correlated = remote = local = 0
    for seed in SEEDS:
        run = Run(seed)
        rejected += len(run.net.records("MESSAGE_SUBSCRIPTION", "REJECTED"))
        correlated += len(run.net.records("MESSAGE_SUBSCRIPTION", "CORRELATED"))
        for partition, _, key in run.instances.values():
            if message_partition(key, PARTITIONS) == partition:
                local += 1
            else:
                remote += 1
    assert rejected > 0 and correlated > 50 and local > 10 and remote > 10


def test_the_same_run_gives_the_same_state() -> None:
    first, second = Run(5), Run(5)
    for partition in range(1, PARTITIONS + 1):
        assert first.net.parts[partition].engine.snapshot() == (
            second.net.parts[partition].engine.snapshot()
        )
