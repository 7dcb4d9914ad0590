"""Deployment distribution between partitions: several engines wired together by a fake
transport that can lose, duplicate and re-send inter-partition commands (reference §2)."""

from __future__ import annotations

import random

from trio_zeebe.engine.commands import AnswerStatus, CommandType, command, decode_answer
from trio_zeebe.engine.engine import Engine
from trio_zeebe.engine.statemachine import (
    AnswersUnlogged,
    DeferredAnswers,
    InterPartition,
    StateMachine,
    TimeDriven,
)
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.testing.bpmn import ProcessBuilder

from .driver import START

C = CommandType


class Cluster:
    """One engine per partition; ``deliver`` plays the leaders' inter-partition sending."""

    def __init__(self, partitions: int) -> None:
        self.engines = {p: Engine(p, partitions) for p in range(1, partitions + 1)}
        for engine in self.engines.values():
            engine.strict = True
        self.positions = dict.fromkeys(self.engines, 0)
        self.acks: list[tuple[int, bytes]] = []  # fire-and-forget messages in flight

    def _position(self, partition: int) -> int:
        self.positions[partition] += 1
        return self.positions[partition]

    def apply(self, partition: int, kind: CommandType, request: object) -> bytes:
        engine = self.engines[partition]
        answer = engine.apply(command(kind, request), self._position(partition), START)  # type: ignore[arg-type]
        self.acks += engine.take_messages()
        return answer

    def receive(self, partition: int, payload: bytes) -> None:
        engine = self.engines[partition]
        answer = engine.receive(payload, self._position(partition), START)
        assert decode_answer(answer).status is AnswerStatus.OK
        self.acks += engine.take_messages()

    def resend_all(self, *, lose: float = 0.0, duplicate: float = 0.0, rng: random.Random) -> None:
        """Every leader (re-)sends its unacknowledged sends; acks travel too."""
        for engine in self.engines.values():
            for send in engine.outbox():
                if rng.random() < lose:
                    continue
                copies = 2 if rng.random() < duplicate else 1
                for _ in range(copies):
                    self.receive(send.target, send.payload)
        acks, self.acks = self.acks, []
        for target, payload in acks:
            if rng.random() >= lose:
                self.receive(target, payload)

    def create(self, partition: int, process_id: str) -> bytes:
        return self.apply(
            partition,
            C.CREATE_PROCESS_INSTANCE,
            gw.CreateProcessInstanceRequest(bpmnProcessId=process_id, version=-1),
        )


def deploy_request(job_type: str = "work") -> gw.DeployResourceRequest:
    xml = ProcessBuilder("p").start_event().service_task("t", job_type=job_type).end_event().done()
    return gw.DeployResourceRequest(resources=[gw.Resource(name="p.bpmn", content=xml)])


def test_the_engine_declares_its_capabilities() -> None:
    engine = Engine(1, 3)
    assert isinstance(engine, StateMachine)
    assert isinstance(engine, InterPartition)
    assert isinstance(engine, DeferredAnswers)
    assert isinstance(engine, TimeDriven)
    assert isinstance(engine, AnswersUnlogged)


def test_a_deployment_reaches_every_partition_and_is_acknowledged() -> None:
    cluster = Cluster(3)
    answer = decode_answer(cluster.apply(1, C.DEPLOY_RESOURCE, deploy_request()))
    deployed = answer.response(C.DEPLOY_RESOURCE).deployments[0].process
    sends = cluster.engines[1].outbox()
    assert sorted(s.target for s in sends) == [2, 3]
    # before distribution another partition does not know the process
    early = decode_answer(cluster.create(2, "p"))
    assert early.status is AnswerStatus.REJECTED and early.body.type == "NOT_FOUND"
    cluster.resend_all(rng=random.Random(0))
    assert cluster.engines[1].outbox() == []  # every send acknowledged
    for partition in (2, 3):
        definition = cluster.engines[partition].definitions()[deployed.processDefinitionKey]
        assert (definition.bpmn_process_id, definition.version) == ("p", 1)
        created = decode_answer(cluster.create(partition, "p"))
        response = created.response(C.CREATE_PROCESS_INSTANCE)
        assert response.processDefinitionKey == deployed.processDefinitionKey
        assert response.processInstanceKey >> 51 == partition


def test_lost_and_duplicated_sends_converge_to_the_same_definitions_everywhere() -> None:
    rng = random.Random(7)
    cluster = Cluster(4)
    for job_type in ("a", "b", "c"):
        cluster.apply(1, C.DEPLOY_RESOURCE, deploy_request(job_type))
        cluster.resend_all(lose=0.5, duplicate=0.5, rng=rng)
    for _ in range(50):
        if not cluster.engines[1].outbox():
            break
        cluster.resend_all(lose=0.3, duplicate=0.3, rng=rng)
    assert cluster.engines[1].outbox() == []
    expected = cluster.engines[1].definitions()
    assert [d.version for d in expected.values()] == [1, 2, 3]
    for partition in (2, 3, 4):
        assert cluster.engines[partition].definitions().keys() == expected.keys()
        # the latest version is the one started, whatever order the versions arrived in
        started = decode_answer(cluster.create(partition, "p")).response(C.CREATE_PROCESS_INSTANCE)
        assert started.version == 3


def test_a_duplicate_deployment_is_not_distributed_again() -> None:
    cluster = Cluster(2)
    cluster.apply(1, C.DEPLOY_RESOURCE, deploy_request())
    cluster.resend_all(rng=random.Random(1))
    cluster.apply(1, C.DEPLOY_RESOURCE, deploy_request())
    assert cluster.engines[1].outbox() == []


def test_pending_sends_survive_a_snapshot() -> None:
    cluster = Cluster(2)
    cluster.apply(1, C.DEPLOY_RESOURCE, deploy_request())
    sender = cluster.engines[1]
    pending = sender.outbox()
    restored = Engine(1, 2)
    restored.restore(sender.snapshot())
    assert restored.outbox() == pending
