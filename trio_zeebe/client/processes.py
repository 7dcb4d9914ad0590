"""Process commands (deploy, create/cancel instances, variables, incidents) and the cluster's
views (Zeebe's topology, our cluster status, rebalancing), as requests and frozen results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import attrs

from ..proto import gateway_pb2 as gw
from ..proto import trio_zeebe_pb2 as tz
from .errors import InvalidArgument
from .jobs import check, document, from_json

Resource = str | PathLike[str] | tuple[str, bytes]
"""A BPMN/DMN file's path, or ``(name, content)``."""


@attrs.frozen
class ProcessMetadata:
    bpmn_process_id: str
    version: int
    process_definition_key: int
    resource_name: str
    tenant_id: str = ""


@attrs.frozen
class DecisionMetadata:
    decision_id: str
    decision_name: str
    version: int
    decision_key: int
    decision_requirements_id: str
    decision_requirements_key: int
    tenant_id: str = ""


@attrs.frozen
class Deployment:
    key: int
    processes: tuple[ProcessMetadata, ...] = ()
    decisions: tuple[DecisionMetadata, ...] = ()
    tenant_id: str = ""


@attrs.frozen
class ProcessInstance:
    process_instance_key: int
    bpmn_process_id: str
    version: int
    process_definition_key: int
    tenant_id: str = ""


@attrs.frozen
class ProcessInstanceResult:
    """A completed instance (``create_process_instance_with_result``)."""

    process_instance_key: int
    bpmn_process_id: str
    version: int
    process_definition_key: int
    variables: dict[str, Any] = attrs.field(factory=dict)
    tenant_id: str = ""


def deploy_resources(resources: Sequence[Resource]) -> bytes:
    check(bool(resources), "deploy at least one resource")
    request = gw.DeployResourceRequest()
    for resource in resources:
        if isinstance(resource, tuple):
            name, content = resource
        else:
            path = Path(resource)
            try:
                content = path.read_bytes()
            except OSError as exc:
                raise InvalidArgument(f"{path}: {exc.strerror or exc}") from None
            name = path.name
        request.resources.add(name=name, content=content)
    return request.SerializeToString()


def deployment_from(data: bytes) -> Deployment:
    response = gw.DeployResourceResponse.FromString(data)
    processes = []
    decisions = []
    for d in response.deployments:
        if d.HasField("process"):
            p = d.process
            processes.append(
                ProcessMetadata(
                    p.bpmnProcessId, p.version, p.processDefinitionKey, p.resourceName, p.tenantId
                )
            )
        elif d.HasField("decision"):
            m = d.decision
            decisions.append(
                DecisionMetadata(
                    m.dmnDecisionId,
                    m.dmnDecisionName,
                    m.version,
                    m.decisionKey,
                    m.dmnDecisionRequirementsId,
                    m.decisionRequirementsKey,
                    m.tenantId,
                )
            )
    return Deployment(response.key, tuple(processes), tuple(decisions), response.tenantId)


def create_instance(
    bpmn_process_id: str | None,
    key: int | None,
    version: int,
    variables: Mapping[str, Any] | None,
) -> gw.CreateProcessInstanceRequest:
    check(
        bool(bpmn_process_id) or (key is not None and key > 0),
        "give a bpmn_process_id or a process definition key",
    )
    return gw.CreateProcessInstanceRequest(
        bpmnProcessId=bpmn_process_id or "",
        processDefinitionKey=key if key is not None and not bpmn_process_id else 0,
        version=version,
        variables=document(variables),
    )


def instance_from(data: bytes) -> ProcessInstance:
    r = gw.CreateProcessInstanceResponse.FromString(data)
    return ProcessInstance(
        r.processInstanceKey, r.bpmnProcessId, r.version, r.processDefinitionKey, r.tenantId
    )


def result_from(data: bytes) -> ProcessInstanceResult:
    r = gw.CreateProcessInstanceWithResultResponse.FromString(data)
    return ProcessInstanceResult(
        r.processInstanceKey,
        r.bpmnProcessId,
        r.version,
        r.processDefinitionKey,
        from_json(r.variables),
        r.tenantId,
    )


# --- the cluster ------------------------------------------------------------------------------


@attrs.frozen
class PartitionInfo:
    partition_id: int
    role: str  # leader | follower | inactive
    term: int
    health: str  # healthy | unhealthy | dead
    problem: str = ""


@attrs.frozen
class BrokerInfo:
    node_id: int
    address: str  # internal API (gossip, Raft)
    gateway: str  # client API
    state: str  # alive | suspect | dead, as seen by the answering broker
    partitions: tuple[PartitionInfo, ...] = ()


@attrs.frozen
class Topology:
    """The cluster as the answering broker sees it (``ClusterStatus``, more than Zeebe's
    Topology: membership states, both addresses, Raft terms, problems)."""

    cluster_size: int
    partitions_count: int
    replication_factor: int
    brokers: tuple[BrokerInfo, ...]
    version: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster_size": self.cluster_size,
            "partitions_count": self.partitions_count,
            "replication_factor": self.replication_factor,
            "version": self.version,
            "brokers": [
                {
                    "node_id": b.node_id,
                    "address": b.address,
                    "gateway": b.gateway,
                    "state": b.state,
                    "partitions": [attrs.asdict(p) for p in b.partitions],
                }
                for b in self.brokers
            ],
        }


_STATE = {0: "alive", 1: "suspect", 2: "dead"}
_ROLE = {0: "leader", 1: "follower", 2: "inactive"}
_HEALTH = {0: "healthy", 1: "unhealthy", 2: "dead"}


def topology_from(data: bytes) -> Topology:
    r = tz.ClusterStatusResponse.FromString(data)
    return Topology(
        r.clusterSize,
        r.partitionsCount,
        r.replicationFactor,
        tuple(
            BrokerInfo(
                b.nodeId,
                b.internalAddress,
                b.gatewayAddress,
                _STATE.get(b.state, "dead"),
                tuple(
                    PartitionInfo(
                        p.partitionId,
                        _ROLE.get(p.role, "inactive"),
                        p.term,
                        _HEALTH.get(p.health, "unhealthy"),
                        p.problem,
                    )
                    for p in b.partitions
                ),
            )
            for b in r.brokers
        ),
        r.version,
    )


@attrs.frozen
class LeaderMove:
    partition_id: int
    from_node: int
    to_node: int


@attrs.frozen
class RebalanceResponse:
    """The transfers that were requested (they complete asynchronously)."""

    moves: tuple[LeaderMove, ...]


def rebalance_from(data: bytes) -> RebalanceResponse:
    r = tz.RebalanceResponse.FromString(data)
    return RebalanceResponse(
        tuple(LeaderMove(m.partitionId, m.fromNode, m.toNode) for m in r.moves)
    )
