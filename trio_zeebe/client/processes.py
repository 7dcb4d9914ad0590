"""Process commands (deploy, create/cancel instances, variables, incidents) and the cluster's
views (Zeebe's topology, our cluster status, rebalancing), as requests and frozen results."""

from __future__ import annotations

import json
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

    def to_message(self) -> gw.ProcessMetadata:
        return gw.ProcessMetadata(
            bpmnProcessId=self.bpmn_process_id,
            version=self.version,
            processDefinitionKey=self.process_definition_key,
            resourceName=self.resource_name,
            tenantId=self.tenant_id,
        )


@attrs.frozen
class DecisionMetadata:
    decision_id: str
    decision_name: str
    version: int
    decision_key: int
    decision_requirements_id: str
    decision_requirements_key: int
    tenant_id: str = ""

    def to_message(self) -> gw.DecisionMetadata:
        return gw.DecisionMetadata(
            dmnDecisionId=self.decision_id,
            dmnDecisionName=self.decision_name,
            version=self.version,
            decisionKey=self.decision_key,
            dmnDecisionRequirementsId=self.decision_requirements_id,
            decisionRequirementsKey=self.decision_requirements_key,
            tenantId=self.tenant_id,
        )


@attrs.frozen
class DecisionRequirementsMetadata:
    decision_requirements_id: str
    decision_requirements_name: str
    version: int
    decision_requirements_key: int
    resource_name: str
    tenant_id: str = ""

    def to_message(self) -> gw.DecisionRequirementsMetadata:
        return gw.DecisionRequirementsMetadata(
            dmnDecisionRequirementsId=self.decision_requirements_id,
            dmnDecisionRequirementsName=self.decision_requirements_name,
            version=self.version,
            decisionRequirementsKey=self.decision_requirements_key,
            resourceName=self.resource_name,
            tenantId=self.tenant_id,
        )


@attrs.frozen
class Deployment:
    key: int
    processes: tuple[ProcessMetadata, ...] = ()
    decisions: tuple[DecisionMetadata, ...] = ()
    tenant_id: str = ""
    decision_requirements: tuple[DecisionRequirementsMetadata, ...] = ()

    def to_message(self) -> gw.DeployResourceResponse:
        """The gateway's answer this was read from (what zbctl prints)."""
        response = gw.DeployResourceResponse(key=self.key, tenantId=self.tenant_id)
        for p in self.processes:
            response.deployments.add(process=p.to_message())
        for d in self.decisions:
            response.deployments.add(decision=d.to_message())
        for r in self.decision_requirements:
            response.deployments.add(decisionRequirements=r.to_message())
        return response


@attrs.frozen
class ProcessInstance:
    process_instance_key: int
    bpmn_process_id: str
    version: int
    process_definition_key: int
    tenant_id: str = ""

    def to_message(self) -> gw.CreateProcessInstanceResponse:
        return gw.CreateProcessInstanceResponse(
            processDefinitionKey=self.process_definition_key,
            bpmnProcessId=self.bpmn_process_id,
            version=self.version,
            processInstanceKey=self.process_instance_key,
            tenantId=self.tenant_id,
        )


@attrs.frozen
class ProcessInstanceResult:
    """A completed instance (``create_process_instance_with_result``)."""

    process_instance_key: int
    bpmn_process_id: str
    version: int
    process_definition_key: int
    variables: dict[str, Any] = attrs.field(factory=dict)
    tenant_id: str = ""

    def to_message(self) -> gw.CreateProcessInstanceWithResultResponse:
        return gw.CreateProcessInstanceWithResultResponse(
            processDefinitionKey=self.process_definition_key,
            bpmnProcessId=self.bpmn_process_id,
            version=self.version,
            processInstanceKey=self.process_instance_key,
            variables=_dump(self.variables),
            tenantId=self.tenant_id,
        )


@attrs.frozen
class EvaluatedInput:
    input_id: str
    input_name: str
    value: Any


@attrs.frozen
class EvaluatedOutput:
    output_id: str
    output_name: str
    value: Any


@attrs.frozen
class MatchedRule:
    rule_id: str
    rule_index: int  # 1-based, as Zeebe counts
    outputs: tuple[EvaluatedOutput, ...] = ()


@attrs.frozen
class EvaluatedDecision:
    """One decision of the graph that was evaluated on the way (the required ones first)."""

    decision_key: int
    decision_id: str
    decision_name: str
    decision_version: int
    decision_type: str  # DECISION_TABLE | LITERAL_EXPRESSION
    output: Any
    matched_rules: tuple[MatchedRule, ...] = ()
    inputs: tuple[EvaluatedInput, ...] = ()
    tenant_id: str = ""


@attrs.frozen
class DecisionResult:
    """``evaluate_decision``'s answer. A failed evaluation is an answer too: then
    ``failed_decision_id`` names the decision that failed and ``failure_message`` says why
    (``output`` is None)."""

    decision_key: int
    decision_id: str
    decision_name: str
    decision_version: int
    decision_requirements_id: str
    decision_requirements_key: int
    output: Any
    evaluated_decisions: tuple[EvaluatedDecision, ...] = ()
    failed_decision_id: str = ""
    failure_message: str = ""
    tenant_id: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.failed_decision_id or self.failure_message)

    def to_message(self) -> gw.EvaluateDecisionResponse:
        response = gw.EvaluateDecisionResponse(
            decisionKey=self.decision_key,
            decisionId=self.decision_id,
            decisionName=self.decision_name,
            decisionVersion=self.decision_version,
            decisionRequirementsId=self.decision_requirements_id,
            decisionRequirementsKey=self.decision_requirements_key,
            decisionOutput="" if self.failed else _dump(self.output),
            failedDecisionId=self.failed_decision_id,
            failureMessage=self.failure_message,
            tenantId=self.tenant_id,
        )
        for d in self.evaluated_decisions:
            entry = response.evaluatedDecisions.add(
                decisionKey=d.decision_key,
                decisionId=d.decision_id,
                decisionName=d.decision_name,
                decisionVersion=d.decision_version,
                decisionType=d.decision_type,
                decisionOutput=_dump(d.output),
                tenantId=d.tenant_id,
            )
            for rule in d.matched_rules:
                matched = entry.matchedRules.add(ruleId=rule.rule_id, ruleIndex=rule.rule_index)
                for o in rule.outputs:
                    matched.evaluatedOutputs.add(
                        outputId=o.output_id, outputName=o.output_name, outputValue=_dump(o.value)
                    )
            for i in d.inputs:
                entry.evaluatedInputs.add(
                    inputId=i.input_id, inputName=i.input_name, inputValue=_dump(i.value)
                )
        return response


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _load(text: str) -> Any:
    """A JSON value from the wire ("" is null: a failed evaluation has no output)."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def evaluate_decision(
    decision_id: str | None, key: int | None, variables: Mapping[str, Any] | None
) -> bytes:
    check(
        bool(decision_id) or (key is not None and key > 0),
        "give a decision id or a decision key",
    )
    return gw.EvaluateDecisionRequest(
        decisionId=decision_id or "",
        decisionKey=key if key is not None and not decision_id else 0,
        variables=document(variables),
    ).SerializeToString()


def decision_result_from(data: bytes) -> DecisionResult:
    r = gw.EvaluateDecisionResponse.FromString(data)
    return DecisionResult(
        r.decisionKey,
        r.decisionId,
        r.decisionName,
        r.decisionVersion,
        r.decisionRequirementsId,
        r.decisionRequirementsKey,
        _load(r.decisionOutput),
        tuple(
            EvaluatedDecision(
                d.decisionKey,
                d.decisionId,
                d.decisionName,
                d.decisionVersion,
                d.decisionType,
                _load(d.decisionOutput),
                tuple(
                    MatchedRule(
                        m.ruleId,
                        m.ruleIndex,
                        tuple(
                            EvaluatedOutput(o.outputId, o.outputName, _load(o.outputValue))
                            for o in m.evaluatedOutputs
                        ),
                    )
                    for m in d.matchedRules
                ),
                tuple(
                    EvaluatedInput(i.inputId, i.inputName, _load(i.inputValue))
                    for i in d.evaluatedInputs
                ),
                d.tenantId,
            )
            for d in r.evaluatedDecisions
        ),
        r.failedDecisionId,
        r.failureMessage,
        r.tenantId,
    )


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
    requirements = []
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
        elif d.HasField("decisionRequirements"):
            r = d.decisionRequirements
            requirements.append(
                DecisionRequirementsMetadata(
                    r.dmnDecisionRequirementsId,
                    r.dmnDecisionRequirementsName,
                    r.version,
                    r.decisionRequirementsKey,
                    r.resourceName,
                    r.tenantId,
                )
            )
    return Deployment(
        response.key,
        tuple(processes),
        tuple(decisions),
        response.tenantId,
        tuple(requirements),
    )


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
