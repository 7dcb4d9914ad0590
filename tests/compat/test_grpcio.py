"""grpcio (the reference gRPC implementation) with stubs generated from the vendored protos,
against a real three-broker cluster over TLS and over h2c: Zeebe's Gateway as a Zeebe client
sees it (shapes, units, codes and texts), health, long polling, deadlines, cancellation, large
messages."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest

from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.proto import health_pb2
from trio_zeebe.testing.processes import Brokers

from .conftest import PARTITIONS, order_bpmn

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

OPTIONS = [
    ("grpc.enable_http_proxy", 0),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    ("grpc.max_send_message_length", 8 * 1024 * 1024),
]


@contextmanager
def channel_to(brokers: Brokers, node: int = 0) -> Iterator[grpc.Channel]:
    address = brokers.gateways[node]
    if brokers.tls:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=open(brokers.ca, "rb").read()  # noqa: SIM115
        )
        with grpc.secure_channel(address, credentials, options=OPTIONS) as channel:
            yield channel
    else:
        with grpc.insecure_channel(address, options=OPTIONS) as channel:
            yield channel


@pytest.fixture(params=["tls", "h2c"])
def cluster(request: pytest.FixtureRequest) -> Brokers:
    return request.getfixturevalue(f"{request.param}_cluster")  # type: ignore[no-any-return]


def gateway(stubs: dict[str, ModuleType], channel: grpc.Channel) -> Any:
    return stubs["gateway"].GatewayStub(channel)


def rpc_error(fn: Any) -> grpc.RpcError:
    try:
        fn()
    except grpc.RpcError as exc:
        return exc
    raise AssertionError("the call succeeded")


def test_health_topology_and_a_process_round_trip(
    cluster: Brokers, grpc_stubs: dict[str, ModuleType]
) -> None:
    tag = "tls" if cluster.tls else "h2c"
    with channel_to(cluster, 1) as channel:
        health = grpc_stubs["health"].HealthStub(channel)
        for name in ("", "gateway_protocol.Gateway"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING

        stub = gateway(grpc_stubs, channel)
        topology = stub.Topology(gw.TopologyRequest(), timeout=10)
        assert (topology.clusterSize, topology.partitionsCount, topology.replicationFactor) == (
            3,
            PARTITIONS,
            3,
        )
        assert topology.gatewayVersion
        assert sorted(b.nodeId for b in topology.brokers) == [0, 1, 2]
        internal = {c.cluster.node_id: c.internal_address for c in cluster.loaded}
        for b in topology.brokers:
            assert f"{b.host}:{b.port}" == internal[b.nodeId]  # the command API, as Zeebe's
            assert b.version
            assert sorted(p.partitionId for p in b.partitions) == list(range(1, PARTITIONS + 1))
        leaders = [
            (p.partitionId, b.nodeId)
            for b in topology.brokers
            for p in b.partitions
            if p.role == gw.Partition.LEADER
        ]
        assert sorted(pid for pid, _ in leaders) == list(range(1, PARTITIONS + 1))
        assert all(p.health == gw.Partition.HEALTHY for b in topology.brokers for p in b.partitions)

        process = f"grpcio-{tag}"
        deployed = stub.DeployResource(
            gw.DeployResourceRequest(
                resources=[
                    gw.Resource(
                        name="order.bpmn", content=order_bpmn(process, f"{process}-w", "none")
                    )
                ]
            ),
            timeout=10,
        )
        [meta] = [d.process for d in deployed.deployments]
        assert (meta.bpmnProcessId, meta.version, meta.resourceName) == (process, 1, "order.bpmn")
        assert meta.processDefinitionKey >> 51 == 1  # made on partition 1
        created = [
            stub.CreateProcessInstance(
                gw.CreateProcessInstanceRequest(
                    bpmnProcessId=process, version=-1, variables=json.dumps({"n": n})
                ),
                timeout=10,
            )
            for n in range(PARTITIONS)
        ]
        # Round-robin: one instance on each partition (the deployment reached every one).
        assert sorted(c.processInstanceKey >> 51 for c in created) == [1, 2, 3]
        assert {c.processDefinitionKey for c in created} == {meta.processDefinitionKey}
        jobs = []
        deadline = time.monotonic() + 20
        while len(jobs) < PARTITIONS and time.monotonic() < deadline:
            for response in stub.ActivateJobs(
                gw.ActivateJobsRequest(
                    type=f"{process}-w",
                    worker="grpcio",
                    timeout=60_000,
                    maxJobsToActivate=10,
                    requestTimeout=5_000,
                ),
                timeout=30,
            ):
                jobs.extend(response.jobs)
        assert sorted(j.processInstanceKey for j in jobs) == sorted(
            c.processInstanceKey for c in created
        )
        for job in jobs:
            assert job.bpmnProcessId == process and job.elementId == "work"
            assert job.processDefinitionKey == meta.processDefinitionKey
            assert job.retries == 3 and job.worker == "grpcio" and job.customHeaders == "{}"
            assert abs(job.deadline - (time.time() * 1000 + 60_000)) < 15_000  # epoch ms
            assert json.loads(job.variables)["n"] in range(PARTITIONS)
            stub.CompleteJob(
                gw.CompleteJobRequest(jobKey=job.key, variables='{"done": true}'), timeout=10
            )


def test_with_result_answers_when_the_instance_completes(
    cluster: Brokers, grpc_stubs: dict[str, ModuleType]
) -> None:
    tag = "tls" if cluster.tls else "h2c"
    process = f"result-{tag}"
    with channel_to(cluster, 2) as channel:
        stub = gateway(grpc_stubs, channel)
        stub.DeployResource(
            gw.DeployResourceRequest(
                resources=[
                    gw.Resource(name="r.bpmn", content=order_bpmn(process, process, process))
                ]
            ),
            timeout=10,
        )
        results: list[Any] = []

        def wait_for_result() -> None:
            request = gw.CreateProcessInstanceWithResultRequest(
                request=gw.CreateProcessInstanceRequest(bpmnProcessId=process, version=-1),
                requestTimeout=30_000,
            )
            results.append(stub.CreateProcessInstanceWithResult(request, timeout=40))

        waiter = threading.Thread(target=wait_for_result)
        waiter.start()
        done = 0
        deadline = time.monotonic() + 30
        while done < 2 and time.monotonic() < deadline:  # both tasks use the same job type
            for response in stub.ActivateJobs(
                gw.ActivateJobsRequest(
                    type=process, worker="w", timeout=30_000, maxJobsToActivate=1
                ),
                timeout=20,
            ):
                for job in response.jobs:
                    stub.CompleteJob(
                        gw.CompleteJobRequest(jobKey=job.key, variables=json.dumps({"step": done})),
                        timeout=10,
                    )
                    done += 1
        waiter.join(30)
        [result] = results
        assert result.bpmnProcessId == process and json.loads(result.variables) == {"step": 1}

        # No completion in time: DEADLINE_EXCEEDED after the request's own timeout.
        started = time.monotonic()
        error = rpc_error(
            lambda: stub.CreateProcessInstanceWithResult(
                gw.CreateProcessInstanceWithResultRequest(
                    request=gw.CreateProcessInstanceRequest(bpmnProcessId=process, version=-1),
                    requestTimeout=1_000,
                ),
                timeout=20,
            )
        )
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert 0.9 <= time.monotonic() - started < 10


def test_zeebe_codes_and_texts(cluster: Brokers, grpc_stubs: dict[str, ModuleType]) -> None:
    with channel_to(cluster) as channel:
        stub = gateway(grpc_stubs, channel)
        missing = (1 << 51) + 99_999_999
        error = rpc_error(
            lambda: stub.CompleteJob(gw.CompleteJobRequest(jobKey=missing), timeout=10)
        )
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert error.details() == (
            f"Command 'COMPLETE' rejected with code 'NOT_FOUND': Expected to complete job with "
            f"key '{missing}', but no such job was found"
        )
        error = rpc_error(lambda: stub.FailJob(gw.FailJobRequest(jobKey=42 << 51), timeout=10))
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert error.details() == (
            "Expected to execute command on partition 42, but either it does not exist, or the "
            "gateway is not yet aware of it"
        )
        error = rpc_error(
            lambda: list(
                stub.ActivateJobs(
                    gw.ActivateJobsRequest(type="x", worker="w", timeout=1000), timeout=10
                )
            )
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "Expected to activate job batch with max jobs to activate to be greater than " in (
            error.details()
        )
        error = rpc_error(
            lambda: stub.CreateProcessInstance(
                gw.CreateProcessInstanceRequest(bpmnProcessId="no-such-process", version=-1),
                timeout=10,
            )
        )
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert "Expected to find process definition with process ID 'no-such-process'" in (
            error.details()
        )
        for rpc, request in (
            ("DeleteResource", gw.DeleteResourceRequest(resourceKey=1)),
            ("ModifyProcessInstance", gw.ModifyProcessInstanceRequest(processInstanceKey=1)),
        ):
            error = rpc_error(
                lambda rpc=rpc, request=request: getattr(stub, rpc)(request, timeout=10)
            )
            assert error.code() == grpc.StatusCode.UNIMPLEMENTED
            assert error.details() == f"{rpc} is not implemented yet"


def test_long_poll_deadline_cancellation_and_large_messages(
    cluster: Brokers, grpc_stubs: dict[str, ModuleType]
) -> None:
    tag = "tls" if cluster.tls else "h2c"
    with channel_to(cluster, 1) as channel, channel_to(cluster, 2) as other:
        stub, creator = gateway(grpc_stubs, channel), gateway(grpc_stubs, other)
        extension = "/trio_zeebe.v1.TrioZeebe/CreateJob"
        create = other.unary_unary(extension)

        def create_job(job_type: str, variables: str = "{}") -> int:
            from trio_zeebe.proto import trio_zeebe_pb2 as tz

            request = tz.CreateJobRequest(type=job_type, variables=variables)
            return int(
                tz.CreateJobResponse.FromString(create(request.SerializeToString(), timeout=10)).key
            )

        # A long poll is answered as soon as a job appears (the job is created meanwhile).
        job_type = f"late-{tag}"
        got: list[Any] = []

        def poll() -> None:
            for response in stub.ActivateJobs(
                gw.ActivateJobsRequest(
                    type=job_type,
                    worker="w",
                    timeout=30_000,
                    maxJobsToActivate=1,
                    requestTimeout=30_000,
                ),
                timeout=40,
            ):
                got.extend(response.jobs)

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(1.0)
        assert got == []
        started = time.monotonic()
        key = create_job(job_type)
        poller.join(20)
        assert [j.key for j in got] == [key] and time.monotonic() - started < 5

        # The client's deadline ends a long poll with DEADLINE_EXCEEDED.
        started = time.monotonic()
        error = rpc_error(
            lambda: list(
                stub.ActivateJobs(
                    gw.ActivateJobsRequest(
                        type=f"never-{tag}",
                        worker="w",
                        timeout=1000,
                        maxJobsToActivate=1,
                        requestTimeout=60_000,
                    ),
                    timeout=1.0,
                )
            )
        )
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 5

        # A client that cancels mid long poll activates nothing further: the job created after
        # the cancellation goes to the next poll, not to the cancelled one.
        job_type = f"cancelled-{tag}"
        call = stub.ActivateJobs(
            gw.ActivateJobsRequest(
                type=job_type,
                worker="gone",
                timeout=300_000,
                maxJobsToActivate=1,
                requestTimeout=60_000,
            ),
            timeout=90,
        )
        time.sleep(1.0)
        call.cancel()
        time.sleep(0.5)
        key = create_job(job_type)
        found = [
            j
            for r in stub.ActivateJobs(
                gw.ActivateJobsRequest(
                    type=job_type,
                    worker="next",
                    timeout=30_000,
                    maxJobsToActivate=5,
                    requestTimeout=10_000,
                ),
                timeout=20,
            )
            for j in r.jobs
        ]
        assert [(j.key, j.worker) for j in found] == [(key, "next")]

        # A large message (3 MiB of variables) both ways.
        blob = "x" * (3 * 1024 * 1024)
        big_type = f"big-{tag}"
        key = create_job(big_type, json.dumps({"blob": blob}))
        [job] = [
            j
            for r in stub.ActivateJobs(
                gw.ActivateJobsRequest(
                    type=big_type,
                    worker="w",
                    timeout=30_000,
                    maxJobsToActivate=1,
                    requestTimeout=10_000,
                ),
                timeout=20,
            )
            for j in r.jobs
        ]
        assert job.key == key and json.loads(job.variables)["blob"] == blob
        creator.CompleteJob(
            gw.CompleteJobRequest(jobKey=key, variables=json.dumps({"r": blob})), timeout=20
        )


def test_stream_activated_jobs_pushes_new_jobs(
    cluster: Brokers, grpc_stubs: dict[str, ModuleType]
) -> None:
    """Job push: a registered stream gets jobs of its type as they become activatable, on any
    partition, activated for the stream's worker with its timeout."""
    from trio_zeebe.proto import trio_zeebe_pb2 as tz

    tag = "tls" if cluster.tls else "h2c"
    job_type = f"pushed-{tag}"
    with channel_to(cluster, 0) as channel, channel_to(cluster, 1) as other:
        stub = gateway(grpc_stubs, channel)
        create = other.unary_unary("/trio_zeebe.v1.TrioZeebe/CreateJob")
        stream = stub.StreamActivatedJobs(
            gw.StreamActivatedJobsRequest(type=job_type, worker="pusher", timeout=60_000),
            timeout=60,
        )
        time.sleep(1.5)  # the registration reaches every broker
        keys = {
            tz.CreateJobResponse.FromString(
                create(tz.CreateJobRequest(type=job_type).SerializeToString(), timeout=10)
            ).key
            for _ in range(6)
        }
        assert {k >> 51 for k in keys} == {1, 2, 3}
        pushed = []
        for job in stream:
            pushed.append(job)
            if len(pushed) == len(keys):
                break
        stream.cancel()
        assert {j.key for j in pushed} == keys
        assert all(j.worker == "pusher" and j.type == job_type for j in pushed)
        assert all(abs(j.deadline - (time.time() * 1000 + 60_000)) < 15_000 for j in pushed)
        # Activated for the stream: polling finds none of them.
        polled = list(
            stub.ActivateJobs(
                gw.ActivateJobsRequest(
                    type=job_type,
                    worker="poller",
                    timeout=1000,
                    maxJobsToActivate=10,
                    requestTimeout=-1,
                ),
                timeout=10,
            )
        )
        assert [j for r in polled for j in r.jobs] == []


MESSAGE_BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs" targetNamespace="http://x">
  <bpmn:message id="msg" name="{name}">
    <bpmn:extensionElements><zeebe:subscription correlationKey="=orderId"/></bpmn:extensionElements>
  </bpmn:message>
  <bpmn:process id="{pid}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:messageEventDefinition messageRef="msg"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_published_messages_reach_instances_on_every_partition(
    cluster: Brokers, grpc_stubs: dict[str, ModuleType]
) -> None:
    """PublishMessage goes to its correlation key's partition; the subscriptions of instances
    on the other partitions meet it there and the instances complete."""
    tag = "tls" if cluster.tls else "h2c"
    process, name = f"msg-{tag}", f"paid-{tag}"
    bpmn = MESSAGE_BPMN.replace(b"{pid}", process.encode()).replace(b"{name}", name.encode())
    with channel_to(cluster, 0) as channel:
        stub = gateway(grpc_stubs, channel)
        stub.DeployResource(
            gw.DeployResourceRequest(resources=[gw.Resource(name="m.bpmn", content=bpmn)]),
            timeout=10,
        )
        results: dict[str, Any] = {}

        def wait_for(order: str) -> None:
            request = gw.CreateProcessInstanceWithResultRequest(
                request=gw.CreateProcessInstanceRequest(
                    bpmnProcessId=process, version=-1, variables=json.dumps({"orderId": order})
                ),
                requestTimeout=30_000,
            )
            deadline = time.monotonic() + 30
            while True:
                try:
                    results[order] = stub.CreateProcessInstanceWithResult(request, timeout=40)
                    return
                except grpc.RpcError as exc:
                    # The deployment reaches the other partitions asynchronously (Zeebe's
                    # distribution): NOT_FOUND until it arrived on the one tried.
                    if exc.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

        orders = [f"order-{tag}-{i}" for i in range(PARTITIONS)]
        waiters = [threading.Thread(target=wait_for, args=(o,)) for o in orders]
        for w in waiters:
            w.start()
        # No waiting for the instances to reach their catch events: a message with a time to
        # live is buffered and correlates when the subscription opens (Zeebe's semantics).
        for order in orders:
            published = stub.PublishMessage(
                gw.PublishMessageRequest(
                    name=name, correlationKey=order, timeToLive=60_000, variables='{"paid": 1}'
                ),
                timeout=10,
            )
            assert published.key > 0
        for w in waiters:
            w.join(40)
        assert sorted(results) == sorted(orders)
        assert {r.processInstanceKey >> 51 for r in results.values()} == {1, 2, 3}
        assert all(json.loads(r.variables)["paid"] == 1 for r in results.values())
        signal = stub.BroadcastSignal(gw.BroadcastSignalRequest(signalName=f"s-{tag}"), timeout=10)
        assert signal.key > 0


DRG = Path(__file__).parent.parent / "engine" / "dmn" / "resources" / "order_drg.dmn"


def test_evaluate_decision_on_every_partition(
    tls_cluster: Brokers, grpc_stubs: dict[str, ModuleType]
) -> None:
    """A DRG deployed once is evaluable through every gateway; EvaluateDecision goes round-robin,
    so successive calls land on every partition (each has the distributed decisions)."""
    with channel_to(tls_cluster, 2) as channel:
        stub = gateway(grpc_stubs, channel)
        deployed = stub.DeployResource(
            gw.DeployResourceRequest(
                resources=[gw.Resource(name="order.dmn", content=DRG.read_bytes())]
            ),
            timeout=20,
        )
        keys = {
            d.decision.dmnDecisionId: d.decision.decisionKey
            for d in deployed.deployments
            if d.HasField("decision")
        }
        assert "shippingCost" in keys
        variables = json.dumps({"ordersLastYear": 12, "orderSize": 100})
        outputs = []
        deadline = time.monotonic() + 30
        while len(outputs) < 2 * PARTITIONS:
            assert time.monotonic() < deadline, f"only {len(outputs)} evaluations"
            try:
                answer = stub.EvaluateDecision(
                    gw.EvaluateDecisionRequest(decisionId="shippingCost", variables=variables),
                    timeout=10,
                )
            except grpc.RpcError as exc:  # distribution still under way on that partition
                assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, exc
                continue
            outputs.append((answer.decisionKey, answer.decisionOutput))
        assert outputs[-PARTITIONS:] == [(keys["shippingCost"], "25")] * PARTITIONS
        error = rpc_error(
            lambda: stub.EvaluateDecision(gw.EvaluateDecisionRequest(decisionId="nope"), timeout=10)
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "nope" in error.details()
