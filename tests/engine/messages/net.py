"""Several process engines, one per partition, wired by a fake inter-partition link.

Each partition is a test :class:`~tests.engine.process.driver.Driver` (its own positions and
trace, one clock for all). :class:`Net` plays the leaders' side effects: the reliable sends of
every outbox are (re-)sent, the fire-and-forget acknowledgements travel once, and the link in
between can lose, duplicate, delay (hold back for later rounds) and reorder them as a seeded
random generator decides. ``settle()`` runs a perfect network until nothing is pending.
A partition can also "change leader": its engine is replaced by one restored from its
snapshot, which must go on exactly where the old one was (the outbox is state, the in-flight
acknowledgements and hints are not). Every engine can carry a follower replica restored from
its snapshot at some moment, which applies the same records and must answer the same.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

from trio_zeebe.engine.commands import AnswerStatus, decode_answer
from trio_zeebe.engine.engine import Engine
from trio_zeebe.proto import gateway_pb2 as gw

from ..process.driver import C, Driver


class Replicated(Engine):
    """An engine with a follower: a replica that applies every record the engine applies
    (from the moment it was restored from the engine's snapshot) and must stay identical."""

    follower: Engine | None = None

    def follow(self) -> None:
        follower = Engine(self.partition_id, self._state.partition_count)
        follower.restore(self.snapshot())
        self.follower = follower

    def apply(self, command: bytes, position: int, timestamp: float) -> bytes:
        answer = super().apply(command, position, timestamp)
        if self.follower is not None:
            assert self.follower.apply(command, position, timestamp) == answer
        return answer

    def tick(self, position: int, timestamp: float) -> bytes:
        answer = super().tick(position, timestamp)
        if self.follower is not None:
            assert self.follower.tick(position, timestamp) == answer
        return answer

    def receive(self, payload: bytes, position: int, timestamp: float) -> bytes:
        answer = super().receive(payload, position, timestamp)
        if self.follower is not None:
            assert self.follower.receive(payload, position, timestamp) == answer
        return answer


class Net:
    def __init__(self, partitions: int, *, seed: int = 0) -> None:
        self.count = partitions
        self.parts = {p: Driver(engine=Replicated(p, partitions)) for p in range(1, partitions + 1)}
        self.rng = random.Random(seed)
        self.flight: list[tuple[int, bytes]] = []  # (target partition, payload) on the wire
        self.delivered = 0

    # --- time -------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.parts[1].now

    def advance(self, seconds: float) -> None:
        """Move every leader's clock; each partition whose deadline passed ticks."""
        for driver in self.parts.values():
            driver.now += seconds
        for driver in self.parts.values():
            deadline = driver.engine.next_deadline()
            while deadline is not None and deadline <= driver.now:
                driver.tick()
                self._collect(driver)
                nxt = driver.engine.next_deadline()
                if nxt == deadline and not driver.engine.pending_steps:
                    break
                deadline = nxt

    # --- the link ---------------------------------------------------------------------------

    def _collect(self, driver: Driver) -> None:
        self.flight += driver.engine.take_messages()

    def receive(self, partition: int, payload: bytes) -> None:
        driver = self.parts[partition]
        driver.position += 1
        answer = driver.engine.receive(payload, driver.position, driver.now)
        assert decode_answer(answer).status is AnswerStatus.OK, decode_answer(answer)
        self.delivered += 1
        self._collect(driver)

    def round(self, *, lose: float = 0.0, duplicate: float = 0.0, delay: float = 0.0) -> None:
        """One round of the leaders: every pending send goes out again, the
        acknowledgements in flight with it; what arrives, arrives in random order."""
        for driver in self.parts.values():
            self._collect(driver)
            for send in driver.engine.outbox():
                self.flight.append((send.target, send.payload))
        wire, self.flight = self.flight, []
        self.rng.shuffle(wire)
        for target, payload in wire:
            roll = self.rng.random()
            if roll < lose:
                continue
            if roll < lose + delay:
                self.flight.append((target, payload))  # arrives in a later round
                continue
            self.receive(target, payload)
            if self.rng.random() < duplicate:
                self.flight.append((target, payload))

    def pending(self) -> int:
        return sum(len(d.engine.outbox()) for d in self.parts.values()) + len(self.flight)

    def settle(self, rounds: int = 100) -> None:
        """A perfect network until every send is acknowledged and nothing is in flight."""
        for _ in range(rounds):
            for driver in self.parts.values():
                driver.drain()
                self._collect(driver)
            if not self.pending():
                return
            self.round()
        raise AssertionError(f"still pending after {rounds} rounds: {self.pending()}")

    def change_leader(self, partition: int) -> None:
        """A new leader takes over from the replicated state (its last snapshot + log)."""
        old = self.parts[partition]
        engine = Replicated(partition, self.count)
        engine.restore(old.engine.snapshot())
        old.engine.take_messages()  # acknowledgements the old leader did not send are lost
        engine.strict = True
        engine.set_trace(old.records.append)
        if isinstance(old.engine, Replicated):
            engine.follower = old.engine.follower
        old.engine = engine

    # --- commands ---------------------------------------------------------------------------

    def deploy(self, *resources: bytes) -> gw.DeployResourceResponse:
        response = self.parts[1].deploy(*resources)
        self.settle()
        return response

    def publish(
        self,
        partition: int | None,
        name: str,
        key: str = "",
        *,
        ttl: int = 60_000,
        message_id: str = "",
        variables: Mapping[str, Any] | None = None,
    ) -> int:
        """Publish on ``partition`` (None: where the gateway routes it)."""
        from trio_zeebe.keys import message_partition

        target = partition if partition is not None else message_partition(key, self.count)
        response = self.parts[target].ok(
            C.PUBLISH_MESSAGE,
            gw.PublishMessageRequest(
                name=name,
                correlationKey=key,
                timeToLive=ttl,
                messageId=message_id,
                variables=json.dumps(variables or {}),
            ),
        )
        self._collect(self.parts[target])
        result: int = response.key
        return result

    def create(self, partition: int, process_id: str, **variables: Any) -> int:
        key = self.parts[partition].create(process_id, variables)
        self._collect(self.parts[partition])
        return key

    def records(self, value_type: str, intent: str | None = None) -> list[Any]:
        return [r for d in self.parts.values() for r in d.of(value_type, intent)]
