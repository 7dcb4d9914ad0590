"""Real broker process clusters for the compatibility tests (real Zeebe clients): three
brokers, three partitions, replication factor 3, over TLS and over h2c; one of each per
session, shared by the modules (each test uses its own job types and process ids)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import anyio
import pytest

from trio_zeebe.client import Client, ClientError, Topology
from trio_zeebe.testing.processes import FAST_RAFT, Brokers

from ..grpc.support import generate_grpc_stubs

PARTITIONS = 3
ROOT = Path(__file__).resolve().parents[2]
ZBCTL = (
    shutil.which("zbctl-cli.linux")
    or shutil.which("zbctl")
    or next((str(p) for p in ROOT.glob(".nox/zbctl/node_modules/.bin/zbctl") if p.exists()), None)
)

ORDER_BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs" targetNamespace="http://x">
  <bpmn:process id="{pid}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:serviceTask id="work">
      <bpmn:extensionElements><zeebe:taskDefinition type="{work}"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="confirm"/>
    <bpmn:serviceTask id="confirm">
      <bpmn:extensionElements><zeebe:taskDefinition type="{confirm}"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f3" sourceRef="confirm" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def order_bpmn(pid: str, work: str, confirm: str) -> bytes:
    """A process ``pid``: start -> task ``work`` -> task ``confirm`` -> end."""
    return (
        ORDER_BPMN.replace(b"{pid}", pid.encode())
        .replace(b"{work}", work.encode())
        .replace(b"{confirm}", confirm.encode())
    )


def client_for(brokers: Brokers, first: int = 0, **kw: object) -> Client:
    order = brokers.gateways[first:] + brokers.gateways[:first]
    kw.setdefault("request_timeout", 10.0)
    if brokers.tls:
        return Client(order, ca=brokers.ca, connect_timeout=1.0, **kw)  # type: ignore[arg-type]
    return Client(order, insecure=True, connect_timeout=1.0, **kw)  # type: ignore[arg-type]


async def leaders(brokers: Brokers, asking: int = 0) -> dict[int, int]:
    """partition -> leader node as broker ``asking`` sees it (alive brokers only)."""
    try:
        async with client_for(brokers, asking, request_timeout=1) as c:
            topology = await c.topology()
    except ClientError:
        return {}
    found: dict[int, tuple[int, int]] = {}
    for b in topology.brokers:
        if b.state != "alive":
            continue
        for p in b.partitions:
            if p.role == "leader" and (p.term, -b.node_id) > found.get(p.partition_id, (-1, 0)):
                found[p.partition_id] = (p.term, -b.node_id)
    return {pid: -node for pid, (_, node) in found.items()}


def complete(topology: Topology | None) -> bool:
    """Every broker alive, every partition with one leader and two followers, all healthy."""
    if topology is None or sorted(b.state for b in topology.brokers) != ["alive"] * 3:
        return False
    roles = sorted(
        (p.partition_id, p.role, p.health) for b in topology.brokers for p in b.partitions
    )
    want = [
        (pid, role, "healthy")
        for pid in range(1, PARTITIONS + 1)
        for role in ("follower", "follower", "leader")
    ]
    return roles == want


async def wait_ready(brokers: Brokers, limit: float = 60.0) -> None:
    """Every gateway sees the whole cluster healthy, and every partition serves: a standalone
    job created on each of them."""
    with anyio.fail_after(limit):
        while not all([complete(await brokers.topology(i)) for i in range(3)]):
            brokers.check_running()
            await anyio.sleep(0.1)
        async with client_for(brokers) as c:
            seen: set[int] = set()
            while len(seen) < PARTITIONS:
                try:
                    seen.add(await c.create_job("warm-up") >> 51)
                except ClientError:
                    await anyio.sleep(0.1)


def _cluster(tmp: Path, tls: bool) -> Iterator[Brokers]:
    brokers = Brokers(
        tmp / "dc", partitions=PARTITIONS, replication_factor=3, env=FAST_RAFT, tls=tls
    )
    try:
        for i in range(3):
            brokers.start(i)
        anyio.run(wait_ready, brokers, backend="trio")
        yield brokers
    finally:
        brokers.stop_all()


@pytest.fixture(scope="session")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Brokers]:
    yield from _cluster(tmp_path_factory.mktemp("tls"), tls=True)


@pytest.fixture(scope="session")
def h2c_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Brokers]:
    yield from _cluster(tmp_path_factory.mktemp("h2c"), tls=False)


@pytest.fixture(scope="session")
def grpc_stubs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    return generate_grpc_stubs(Path(tmp_path_factory.mktemp("stubs")))
