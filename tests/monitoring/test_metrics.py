"""Metrics and health from a broker's typed status: one registry per broker, Zeebe's conventions."""

from __future__ import annotations

import json

import attrs
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from trio_zeebe.gateway.grpc_call import ServerCall
from trio_zeebe.gateway.grpc_services import Service, ServiceRegistry
from trio_zeebe.grpc.status import GrpcError, StatusCode
from trio_zeebe.monitoring.health import actuator_group, actuator_health, legacy_probe
from trio_zeebe.monitoring.metrics import BrokerMetrics, instrument_registry
from trio_zeebe.monitoring.sample import BrokerSample, PartitionSample


def partition(pid: int, **changes: object) -> PartitionSample:
    base = PartitionSample(
        partition_id=pid,
        role="follower",
        term=3,
        health="healthy",
        leader=1,
        commit_index=40,
        last_index=41,
        durable_index=41,
        snapshot_index=10,
        applied_index=39,
        applied_records=77,
        skipped_records=2,
        fsyncs=12,
        dropped_inbound=0,
        restarts=0,
    )
    return attrs.evolve(base, **changes)  # type: ignore[arg-type]


def sample(**changes: object) -> BrokerSample:
    base = BrokerSample(
        node_id=0,
        started=True,
        ready=True,
        healthy=True,
        members={"alive": 3, "suspect": 0, "dead": 0},
        transport={"frames_in": 5, "connections": 2},
        partitions=(partition(1, role="leader", leader=0), partition(2), partition(3)),
        at=100.0,
    )
    return attrs.evolve(base, **changes)  # type: ignore[arg-type]


def scrape(metrics: BrokerMetrics) -> dict[str, prometheus_client.Metric]:
    body, _ = metrics.exposition(None)
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


def new_metrics(node_id: int, s: BrokerSample | None = None) -> BrokerMetrics:
    current = s or sample(node_id=node_id)
    return BrokerMetrics(node_id=node_id, cluster_name="c", version="9.9", sample=lambda: current)


def test_each_broker_has_its_own_registry_and_the_global_one_is_untouched() -> None:
    before = {m.name for m in prometheus_client.REGISTRY.collect()}
    a, b = new_metrics(0), new_metrics(1)  # two in one process: no duplicate-name error
    a.partition(1).commit_latency(0.01)
    a.partition(1).commit_latency(0.02)
    b.partition(1).commit_latency(0.5)
    after = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert after == before
    assert not any(name.startswith(("zeebe", "atomix", "trio_zeebe")) for name in after)
    commit_a = scrape(a)["zeebe_log_appender_commit_latency_seconds"]
    commit_b = scrape(b)["zeebe_log_appender_commit_latency_seconds"]

    def count(family: prometheus_client.Metric) -> float:
        return next(s.value for s in family.samples if s.name.endswith("_count"))

    assert (count(commit_a), count(commit_b)) == (2, 1)
    info = scrape(b)["trio_zeebe_build_info"].samples[0]
    assert info.labels == {"version": "9.9", "node_id": "1", "cluster": "c"}


def test_state_metrics_follow_zeebe_conventions() -> None:
    s = sample(
        partitions=(
            partition(1, role="leader"),
            partition(2, role="candidate", health="unhealthy"),
            partition(3, role="inactive", health="dead"),
        )
    )
    got = scrape(new_metrics(0, s))
    role = {x.labels["partition"]: x.value for x in got["atomix_role"].samples}
    assert role == {"1": 3, "2": 2, "3": 0}
    assert {x.labels["partitionGroupName"] for x in got["atomix_role"].samples} == {
        "raft-partition"
    }
    health = {x.labels["partition"]: x.value for x in got["zeebe_health"].samples}
    assert health == {"1": 1, "2": 0, "3": -1}
    records = got["zeebe_stream_processor_records"]
    assert records.type == "counter"
    assert {(x.labels["partition"], x.labels["action"], x.value) for x in records.samples} == {
        (pid, action, n) for pid in "123" for action, n in (("processed", 77), ("skipped", 2))
    }
    assert {x.name for x in records.samples} == {"zeebe_stream_processor_records_total"}
    assert got["trio_zeebe_transport_frames_in"].type == "counter"
    assert got["trio_zeebe_transport_connections"].type == "gauge"
    members = {x.labels["state"]: x.value for x in got["trio_zeebe_members"].samples}
    assert members == {"alive": 3, "suspect": 0, "dead": 0}
    commit = {
        x.labels["partition"]: x.value for x in got["atomix_partition_raft_commit_index"].samples
    }
    assert commit == {"1": 40, "2": 40, "3": 40}


def test_a_broker_not_started_yet_exports_only_what_it_has() -> None:
    metrics = BrokerMetrics(node_id=0, cluster_name="c", version="1", sample=None)
    got = scrape(metrics)
    assert "process_cpu_seconds" in got and "zeebe_health" not in got


async def test_instrumented_requests_are_timed_and_errors_counted() -> None:
    metrics = new_metrics(0)
    service = Service("test.Service")

    async def topology(request: bytes, call: ServerCall) -> bytes:
        return b"ok"

    async def append(request: bytes, call: ServerCall) -> bytes:
        raise GrpcError(StatusCode.UNAVAILABLE, "no leader")

    service.unary_raw("Topology", topology)
    service.unary_raw("AppendRecords", append)
    registry = ServiceRegistry()
    registry.add(service)
    instrument_registry(registry, metrics)
    call = ServerCall(method="x", peer="test", metadata=(), deadline=None)
    topology_method = registry.lookup("/test.Service/Topology")
    append_method = registry.lookup("/test.Service/AppendRecords")
    assert topology_method is not None and topology_method.unary is not None
    assert append_method is not None and append_method.unary is not None
    assert await topology_method.unary(b"", call) == b"ok"
    with pytest.raises(GrpcError):
        await append_method.unary(b"", call)
    got = scrape(metrics)
    counts = {
        x.labels["requestType"]: x.value
        for x in got["zeebe_gateway_request_latency_seconds"].samples
        if x.name.endswith("_count")
    }
    assert counts == {"Topology": 1, "AppendRecords": 1}
    (failed,) = [
        x for x in got["zeebe_gateway_failed_requests"].samples if x.name.endswith("total")
    ]
    assert (failed.labels, failed.value) == (
        {"requestType": "AppendRecords", "error": "UNAVAILABLE"},
        1,
    )


@pytest.mark.parametrize(
    ("started", "ready", "healthy", "up"),
    [
        (False, False, False, set()),
        (True, False, False, {"brokerStartup"}),
        (True, True, False, {"brokerStartup", "brokerReady"}),
        (True, True, True, {"brokerStartup", "brokerReady", "brokerStatus"}),
    ],
)
def test_health_follows_startup_readiness_and_status(
    started: bool, ready: bool, healthy: bool, up: set[str]
) -> None:
    s = sample(started=started, ready=ready, healthy=healthy)
    answer = actuator_health(s)
    body = json.loads(answer.body)
    everything = {"brokerStartup", "brokerReady", "brokerStatus"}
    assert {n for n, c in body["components"].items() if c["status"] == "UP"} == up | {
        "livenessState"
    }
    assert (answer.status, body["status"]) == ((200, "UP") if up == everything else (503, "DOWN"))
    for group, component, fact in (
        ("startup", "brokerStartup", started),
        ("readiness", "brokerReady", ready),
        ("status", "brokerStatus", healthy),
    ):
        g = actuator_group(s, group)
        assert (g.status, json.loads(g.body)) == (
            (200, {"status": "UP"}) if fact else (503, {"status": "DOWN"})
        ), component
        assert legacy_probe(fact).status == (204 if fact else 503)
    assert actuator_group(s, "liveness").status == 200  # answering at all: live
