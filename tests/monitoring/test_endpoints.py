"""Every endpoint of a real broker's monitoring port: status codes, bodies, metric names, types."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from trio_zeebe.broker import Broker
from trio_zeebe.client import Client, ClientError
from trio_zeebe.config import config_from_dict

from .http_client import Answer, Connection, get

PARTITIONS = 2


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    config = config_from_dict(
        {
            "cluster": {"partitions_count": PARTITIONS, "cluster_name": "monitored"},
            "network": {
                "host": "127.0.0.1",
                "internal_api": {"port": 0},
                "gateway": {"port": 0},
                "monitoring": {"port": 0},
            },
            "data": {"directory": str(tmp_path / "data")},
            "security": {"enabled": False, "gateway": {"enabled": False}},
        }
    )
    async with trio.open_nursery() as nursery:
        started: Broker = await nursery.start(Broker(config).run)
        assert started.monitoring is not None
        with trio.fail_after(10):
            while (await get(started.monitoring.port, "/ready")).status != 204:  # noqa: ASYNC110
                await trio.sleep(0.02)
        yield started
        nursery.cancel_scope.cancel()


def port_of(broker: Broker) -> int:
    assert broker.monitoring is not None
    return broker.monitoring.port


def families(answer: Answer) -> dict[str, tuple[str, list[Sample]]]:
    return {
        f.name: (f.type, f.samples) for f in text_string_to_metric_families(answer.body.decode())
    }


def value(samples: list[Sample], name: str, **labels: str) -> float:
    for s in samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError(f"no sample {name}{labels} in {samples}")


async def test_legacy_probes_answer_204_without_body(broker: Broker) -> None:
    async with Connection(port_of(broker)) as conn:
        for path in ("/startup", "/ready", "/health"):
            for method in ("GET", "HEAD"):
                answer = await conn.request(method, path)
                assert (answer.status, answer.body) == (204, b"")
                assert "content-length" not in answer.headers


async def test_actuator_health_answers_like_spring_boot(broker: Broker) -> None:
    answer = await get(port_of(broker), "/actuator/health")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    body = json.loads(answer.body)
    assert body["status"] == "UP"
    assert body["groups"] == ["liveness", "readiness", "startup", "status"]
    components = body["components"]
    assert {name: c["status"] for name, c in components.items()} == {
        "brokerReady": "UP",
        "brokerStartup": "UP",
        "brokerStatus": "UP",
        "livenessState": "UP",
    }
    assert components["brokerStatus"]["details"]["partitions"] == {"1": "healthy", "2": "healthy"}
    for group in ("liveness", "readiness", "startup", "status"):
        answer = await get(port_of(broker), f"/actuator/health/{group}")
        assert (answer.status, json.loads(answer.body)) == (200, {"status": "UP"})


async def test_an_unhealthy_partition_turns_health_down_but_not_readiness(broker: Broker) -> None:
    assert broker.partitions is not None
    broker.partitions.local[2].health = "unhealthy"
    port = port_of(broker)
    assert (await get(port, "/health")).status == 503
    assert (await get(port, "/ready")).status == 204
    status = await get(port, "/actuator/health/status")
    assert (status.status, json.loads(status.body)) == (503, {"status": "DOWN"})
    assert json.loads((await get(port, "/actuator/health/readiness")).body) == {"status": "UP"}
    assert json.loads((await get(port, "/actuator/health/liveness")).body) == {"status": "UP"}
    overall = await get(port, "/actuator/health")
    assert overall.status == 503
    body = json.loads(overall.body)
    assert body["status"] == "DOWN"
    assert body["components"]["brokerStatus"]["details"]["partitions"]["2"] == "unhealthy"
    metrics = families(await get(port, "/actuator/prometheus"))
    assert value(metrics["zeebe_health"][1], "zeebe_health", partition="2") == 0
    assert value(metrics["zeebe_health"][1], "zeebe_health", partition="1") == 1


async def test_prometheus_endpoints_serve_typed_metrics_with_zeebe_names(broker: Broker) -> None:
    port = port_of(broker)
    gateway = broker.gateway
    assert gateway is not None
    async with Client(f"127.0.0.1:{gateway.port}", insecure=True) as client:
        await client.topology()
        key = await client.create_job("monitored", variables={"n": 1})
        (job,) = await client.activate_jobs("monitored", worker="w", max_jobs=1)
        await client.complete_job(job.key)
        assert job.key == key
    answer = await get(port, "/actuator/prometheus")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    metrics = families(answer)
    assert set(metrics) == set(families(await get(port, "/metrics")))
    types = {name: kind for name, (kind, _) in metrics.items()}
    expected = {
        # Zeebe's
        "zeebe_health": "gauge",
        "atomix_role": "gauge",
        "atomix_partition_raft_commit_index": "gauge",
        "atomix_partition_raft_append_index": "gauge",
        "zeebe_stream_processor_records": "counter",
        "zeebe_gateway_total_requests": "counter",
        "zeebe_gateway_failed_requests": "counter",
        "zeebe_gateway_request_latency_seconds": "histogram",
        "zeebe_log_appender_commit_latency_seconds": "histogram",
        "zeebe_stream_processor_latency_seconds": "histogram",
        "atomix_journal_flush_time_seconds": "histogram",
        "zeebe_snapshot_duration_seconds": "histogram",
        # ours
        "trio_zeebe_broker_ready": "gauge",
        "trio_zeebe_members": "gauge",
        "trio_zeebe_raft_fsyncs": "counter",
        "trio_zeebe_build_info": "gauge",
        # standard process and Python metrics
        "process_cpu_seconds": "counter",
        "process_resident_memory_bytes": "gauge",
        "process_open_fds": "gauge",
        "python_info": "gauge",
        "python_gc_collections": "counter",
    }
    assert {name: types.get(name) for name in expected} == expected
    _, role = metrics["atomix_role"]
    assert value(role, "atomix_role", partition="1", partitionGroupName="raft-partition") == 3
    _, records = metrics["zeebe_stream_processor_records"]
    processed = sum(s.value for s in records if s.labels.get("action") == "processed")
    assert processed >= 3  # create, activate, complete
    _, latency = metrics["zeebe_gateway_request_latency_seconds"]
    for request_type in ("ClusterStatus", "CreateJob", "ActivateJobs", "CompleteJob"):
        count = value(
            latency, "zeebe_gateway_request_latency_seconds_count", requestType=request_type
        )
        assert count >= 1, request_type
    _, total = metrics["zeebe_gateway_total_requests"]
    assert value(total, "zeebe_gateway_total_requests_total", requestType="CreateJob") == 1
    _, jobs = metrics["zeebe_job_events"]
    partition = str(key >> 51)
    for action in ("created", "activated", "completed"):
        assert (
            value(
                jobs, "zeebe_job_events_total", action=action, partition=partition, type="monitored"
            )
            == 1
        )
    # Counters end in _total; histograms have buckets up to +Inf.
    assert "zeebe_stream_processor_records_total" in answer.text
    assert 'zeebe_gateway_request_latency_seconds_bucket{le="+Inf",requestType="CreateJob"}' in (
        answer.text
    )


async def test_latency_histograms_observe_the_work(broker: Broker) -> None:
    gateway = broker.gateway
    assert gateway is not None
    async with Client(f"127.0.0.1:{gateway.port}", insecure=True) as client:
        for i in range(5):
            await client.create_job("observed", variables={"i": i})
    metrics = families(await get(port_of(broker), "/actuator/prometheus"))
    for name in (
        "zeebe_log_appender_commit_latency_seconds",
        "zeebe_stream_processor_latency_seconds",
        "atomix_journal_flush_time_seconds",
    ):
        _, samples = metrics[name]
        counts = [s.value for s in samples if s.name == f"{name}_count"]
        assert sum(counts) >= 5, (name, samples)


async def test_failed_requests_are_counted_by_error(broker: Broker) -> None:
    gateway = broker.gateway
    assert gateway is not None
    async with Client(f"127.0.0.1:{gateway.port}", insecure=True) as client:
        with pytest.raises(ClientError):
            await client.append(99, [b"x"])  # no such partition here
        with pytest.raises(ClientError):
            await client.complete_job((1 << 51) + 12345)  # no such job: the engine rejects it
    metrics = families(await get(port_of(broker), "/metrics"))
    _, failed = metrics["zeebe_gateway_failed_requests"]
    total = "zeebe_gateway_failed_requests_total"
    assert value(failed, total, requestType="AppendRecords", error="UNAVAILABLE") == 1
    assert value(failed, total, requestType="CompleteJob", error="NOT_FOUND") == 1
    assert metrics["zeebe_job_events"][1] == []  # a rejected command is no job event


async def test_openmetrics_when_the_scraper_asks_for_it(broker: Broker) -> None:
    async with Connection(port_of(broker)) as conn:
        answer = await conn.request(
            "GET", "/actuator/prometheus", (("Accept", "application/openmetrics-text"),)
        )
        assert answer.headers["content-type"].startswith("application/openmetrics-text")
        assert answer.text.endswith("# EOF\n")
        head = await conn.request("HEAD", "/metrics")
        assert head.status == 200 and head.body == b""
        assert int(head.headers["content-length"]) > 1000


async def test_cluster_api_and_page(broker: Broker) -> None:
    port = port_of(broker)
    answer = await get(port, "/api/cluster")
    assert answer.status == 200 and answer.headers["content-type"] == "application/json"
    document = json.loads(answer.body)
    assert document["cluster"] == {
        "name": "monitored",
        "size": 1,
        "partitions_count": PARTITIONS,
        "replication_factor": 1,
    }
    assert document["served_by"] == 0
    (me,) = document["brokers"]
    assert (me["node_id"], me["state"], me["reachable"], me["healthy"]) == (0, "alive", True, True)
    assert [(p["partition_id"], p["leader"]) for p in document["partitions"]] == [(1, 0), (2, 0)]
    assert document["processes"] is None  # the process view's place, until the engine lands
    page = await get(port, "/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script src="/static/app.js"' in page.text and 'id="processes"' in page.text
    script = await get(port, "/static/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "/api/cluster/events" in script.text
    style = await get(port, "/static/style.css")
    assert style.headers["content-type"].startswith("text/css")


async def test_cluster_events_stream_documents(broker: Broker) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port_of(broker))
    async with stream:
        await stream.send_all(b"GET /api/cluster/events HTTP/1.1\r\nHost: t\r\n\r\n")
        received = b""
        with trio.fail_after(10):
            while received.count(b"\ndata: ") < 2:
                received += await stream.receive_some(65536)
    head = received.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 200 ")
    assert b"content-type: text/event-stream" in head
    first = received.split(b"\ndata: ", 2)[1].split(b"\n", 1)[0]
    assert json.loads(first)["served_by"] == 0


WAIT_BPMN = Path(__file__).parent.parent / "resources" / "wait_for_work.bpmn"
INSTANCES = 4


def total(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum over the partitions (and any other label not given)."""
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


async def test_process_job_and_incident_metrics_count_what_the_engine_did(
    broker: Broker,
) -> None:
    """Zeebe's process metrics, counted where the records are processed: the one-task process
    wait-for-work runs 4 times; 2 jobs complete, 1 fails without retries (an incident), and its
    instance and one more are cancelled."""
    gateway = broker.gateway
    assert gateway is not None
    async with Client(f"127.0.0.1:{gateway.port}", insecure=True) as client:
        await client.deploy_resource(WAIT_BPMN)  # wait-for-work and straight-through
        instances = [
            (await client.create_process_instance("wait-for-work")).process_instance_key
            for _ in range(INSTANCES)
        ]
        jobs = []
        with trio.fail_after(10):
            while len(jobs) < INSTANCES:
                jobs += await client.activate_jobs("work", worker="w", max_jobs=INSTANCES)
        by_instance = {job.process_instance_key: job.key for job in jobs}
        for key in instances[:2]:
            await client.complete_job(by_instance[key])
        await client.fail_job(by_instance[instances[2]], retries=0, error_message="no luck")
        pending = families(await get(port_of(broker), "/actuator/prometheus"))
        for key in instances[2:]:
            await client.cancel_process_instance(key)
    metrics = families(await get(port_of(broker), "/actuator/prometheus"))
    types = {name: kind for name, (kind, _) in metrics.items()}
    for name in (
        "zeebe_element_instance_events",
        "zeebe_executed_instances",
        "zeebe_process_instance_creations",
        "zeebe_job_events",
        "zeebe_incident_events",
    ):
        assert types[name] == "counter", name
    assert types["zeebe_pending_incidents_total"] == "gauge"

    _, elements = metrics["zeebe_element_instance_events"]
    name = "zeebe_element_instance_events_total"
    counted = {
        (s.labels["action"], s.labels["type"]): total(
            elements, name, action=s.labels["action"], type=s.labels["type"]
        )
        for s in elements
    }
    assert counted == {
        ("activated", "PROCESS"): 4,
        ("activated", "START_EVENT"): 4,
        ("completed", "START_EVENT"): 4,
        ("activated", "SERVICE_TASK"): 4,
        ("completed", "SERVICE_TASK"): 2,
        ("terminated", "SERVICE_TASK"): 2,
        ("activated", "END_EVENT"): 2,
        ("completed", "END_EVENT"): 2,
        ("completed", "PROCESS"): 2,
        ("terminated", "PROCESS"): 2,
    }
    assert {s.labels["partition"] for s in elements} <= {"1", "2"}
    _, executed = metrics["zeebe_executed_instances"]
    name = "zeebe_executed_instances_total"
    for action, count in (("activated", 4), ("completed", 2), ("terminated", 2)):
        assert total(executed, name, action=action, type="ROOT_PROCESS_INSTANCE") == count
    _, created = metrics["zeebe_process_instance_creations"]
    assert total(created, "zeebe_process_instance_creations_total") == INSTANCES

    _, job_events = metrics["zeebe_job_events"]
    name = "zeebe_job_events_total"
    for action, count in (
        ("created", 4),
        ("activated", 4),
        ("completed", 2),
        ("failed", 1),
        ("canceled", 2),  # the failed job too: it is cancelled with its instance
    ):
        assert total(job_events, name, action=action, type="work") == count, action
    assert total(job_events, name, action="timed out") == 0

    _, incident_events = metrics["zeebe_incident_events"]
    name = "zeebe_incident_events_total"
    assert total(incident_events, name, action="created") == 1
    assert total(incident_events, name, action="resolved") == 1  # with its instance
    _, open_before = pending["zeebe_pending_incidents_total"]
    assert total(open_before, "zeebe_pending_incidents_total") == 1
    _, open_after = metrics["zeebe_pending_incidents_total"]
    assert total(open_after, "zeebe_pending_incidents_total") == 0
    assert {s.labels["partition"] for s in open_after} == {"1", "2"}  # the leader reports
    _, deployed = metrics["trio_zeebe_process_definitions_deployed"]
    # both processes of the resource, on every partition (the deployment is distributed)
    assert [s.value for s in deployed] == [2] * PARTITIONS
