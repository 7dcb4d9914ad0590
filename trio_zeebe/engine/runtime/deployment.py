"""Deployment: DeployResource (and the deprecated DeployProcess) on partition 1, and its
distribution to the other partitions (reference §2).

Resources are classified by name (``.bpmn`` / ``.xml`` processes, ``.dmn`` decisions, see
:mod:`.dmn_deployment`); the deployment is all or nothing: any invalid resource rejects it with
every error in Zeebe's text. A process whose latest version has the same checksum and resource
name is a duplicate and keeps its key and version; the others get a key of partition 1 and the
next version of their bpmnProcessId. :class:`DeployHook` s (timer start events) see the new
process versions before anything is stored, and may still refuse the deployment.

Distribution: partition 1 keeps a pending send per other partition carrying the new
definitions and DRGs; a receiver stores them (idempotent by key -- a process is startable
there once it arrived) and acknowledges, which removes the pending send.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import attrs

from ... import codec
from ...codec import wire
from ...proto import gateway_pb2 as gw
from ..bpmn import BpmnDeploymentError, Process, checksum, parse_bpmn
from ..dmn import DecisionRequirementsGraph, DmnDeploymentError, parse_dmn
from ..statemachine import PendingSend
from .decision_state import DecisionDefinition, DecisionRequirements
from .dmn_deployment import (
    DMN_SUFFIX,
    DistributedDecision,
    DistributedDecisionRequirements,
    DmnPlan,
    commit_dmn,
    conflict,
    decision_metadata,
    drg_metadata,
    plan_dmn,
    receive_dmn,
)
from .expressions import check_syntax
from .refusal import DEFAULT_TENANT, check_tenant, invalid_argument, invalid_state
from .state import EngineState
from .values import Definition

__all__ = [
    "Acknowledge",
    "DeployHook",
    "Deployed",
    "Deployments",
    "DistributeDeployment",
    "parse_resource",
]

_BPMN_SUFFIXES = (".bpmn", ".xml")
_ERRORS = "Expected to deploy new resources, but encountered the following errors:"


@wire("e.dist.resource")
@attrs.frozen
class DistributedResource:
    name: str
    content: bytes


@wire("e.dist.process")
@attrs.frozen
class DistributedProcess:
    key: int
    bpmn_process_id: str
    version: int
    resource: int  # index into the command's resources


@wire("e.dist")
@attrs.frozen
class DistributeDeployment:
    """Partition 1 -> another partition: store these definitions, then acknowledge."""

    send_id: int
    source: int
    deployment_key: int
    resources: tuple[DistributedResource, ...]
    processes: tuple[DistributedProcess, ...]
    decision_requirements: tuple[DistributedDecisionRequirements, ...] = ()


@wire("e.ack")
@attrs.frozen
class Acknowledge:
    """The receiver -> the sender: the send ``send_id`` arrived and was applied."""

    send_id: int
    source: int


def parse_resource(name: str, content: bytes) -> tuple[Process, ...]:
    """A BPMN resource's executable processes (BpmnDeploymentError if invalid)."""
    return parse_bpmn(name, content, check_expression=check_syntax)


class DeployHook(Protocol):
    """Something that deploying new process versions starts (timer start events, ...)."""

    def prepare(self, processes: Sequence[Process]) -> Callable[[Sequence[Definition]], None]:
        """Check the new process versions before anything is stored (raise Refused to reject
        the deployment); return what to do once they are stored, given their definitions in
        the same order."""
        ...


@attrs.frozen
class Deployed:
    """What a deployment deployed (new or duplicates), in Zeebe's response order."""

    key: int
    processes: tuple[Definition, ...]
    decisions: tuple[DecisionDefinition, ...]
    decision_requirements: tuple[DecisionRequirements, ...]


@attrs.frozen
class _Bpmn:
    name: str
    content: bytes
    processes: tuple[Process, ...]


class Deployments:
    def __init__(self, state: EngineState) -> None:
        self.state = state
        self.hooks: list[DeployHook] = []

    # --- DeployResource / DeployProcess -----------------------------------------------------

    def deploy_resource(self, request: gw.DeployResourceRequest) -> gw.DeployResourceResponse:
        check_tenant("DeployResource", request.tenantId)
        deployed = self._deploy([(r.name, r.content) for r in request.resources])
        response = gw.DeployResourceResponse(key=deployed.key, tenantId=DEFAULT_TENANT)
        for definition in deployed.processes:
            response.deployments.append(gw.Deployment(process=_metadata(definition)))
        for decision in deployed.decisions:
            response.deployments.append(gw.Deployment(decision=decision_metadata(decision)))
        for drg in deployed.decision_requirements:
            response.deployments.append(gw.Deployment(decisionRequirements=drg_metadata(drg)))
        return response

    def deploy_process(self, request: gw.DeployProcessRequest) -> gw.DeployProcessResponse:
        deployed = self._deploy([(p.name, p.definition) for p in request.processes])
        return gw.DeployProcessResponse(
            key=deployed.key, processes=[_metadata(d) for d in deployed.processes]
        )

    def _deploy(self, resources: Sequence[tuple[str, bytes]]) -> Deployed:
        state = self.state
        if state.partition_id != 1:
            raise invalid_state(
                f"Expected to deploy resources on partition 1, but this is partition "
                f"{state.partition_id}"
            )
        if not resources:
            raise invalid_argument("Expected to deploy at least one resource, but none given")
        errors: list[str] = []
        parsed: list[_Bpmn | DmnPlan] = []
        graphs: list[DecisionRequirementsGraph] = []
        for name, content in resources:
            if name.endswith(_BPMN_SUFFIXES):
                try:
                    parsed.append(_Bpmn(name, content, parse_resource(name, content)))
                except BpmnDeploymentError as error:
                    errors.append(str(error))
            elif name.endswith(DMN_SUFFIX):
                try:
                    graph = parse_dmn(name, content)
                except DmnDeploymentError as error:
                    errors.append(str(error))
                    continue
                clash = conflict(graphs, graph)
                if clash is not None:
                    errors.append(f"'{name}': {clash}")
                    continue
                graphs.append(graph)
                parsed.append(plan_dmn(state, name, content, graph))
            else:
                errors.append(f"'{name}': unknown resource type")
        seen: dict[str, str] = {}
        for resource in parsed:
            if not isinstance(resource, _Bpmn):
                continue
            for process in resource.processes:
                other = seen.get(process.id)
                if other is not None:
                    errors.append(
                        f"Duplicated process id in resources '{other}' and '{resource.name}'"
                    )
                else:
                    seen[process.id] = resource.name
        if errors:
            raise invalid_argument(_ERRORS + "".join(f"\n{e}" for e in errors))
        # which processes are new versions (nothing is stored yet)
        fresh: list[tuple[_Bpmn, Process, bytes]] = []
        duplicates: dict[str, Definition] = {}
        for resource in parsed:
            if not isinstance(resource, _Bpmn):
                continue
            digest = checksum(resource.content)
            for process in resource.processes:
                latest_key = state.latest.get(process.id)
                latest = state.definitions[latest_key] if latest_key is not None else None
                if (
                    latest is not None
                    and latest.checksum == digest
                    and latest.resource_name == resource.name
                ):
                    duplicates[process.id] = latest
                else:
                    fresh.append((resource, process, digest))
        started = [hook.prepare([process for _, process, _ in fresh]) for hook in self.hooks]
        # store
        deployment_key = state.next_key()
        processes: list[Definition] = []
        new: list[Definition] = []
        decisions: list[DecisionDefinition] = []
        drgs: list[DecisionRequirements] = []
        new_drgs: list[tuple[DecisionRequirements, list[DecisionDefinition]]] = []
        fresh_ids = {process.id for _, process, _ in fresh}
        for resource in parsed:
            if isinstance(resource, DmnPlan):
                drg, drg_decisions, is_new = commit_dmn(state, resource, deployment_key)
                drgs.append(drg)
                decisions.extend(drg_decisions)
                if is_new:
                    new_drgs.append((drg, drg_decisions))
                continue
            digest = checksum(resource.content)
            for process in resource.processes:
                if process.id not in fresh_ids:
                    processes.append(duplicates[process.id])
                    continue
                latest_key = state.latest.get(process.id)
                latest = state.definitions[latest_key] if latest_key is not None else None
                definition = Definition(
                    state.next_key(),
                    process.id,
                    latest.version + 1 if latest is not None else 1,
                    resource.name,
                    digest,
                    resource.content,
                    deployment_key,
                )
                state.add_definition(definition, process)
                self._trace(definition)
                processes.append(definition)
                new.append(definition)
        state.emit(
            "DEPLOYMENT", "CREATED", deployment_key, {"resources": [n for n, _ in resources]}
        )
        for start in started:
            start(new)
        if new or new_drgs:
            self._distribute(deployment_key, new, new_drgs)
        return Deployed(deployment_key, tuple(processes), tuple(decisions), tuple(drgs))

    def _trace(self, definition: Definition) -> None:
        if self.state.trace is not None:
            value = definition._asdict()
            del value["resource"]
            self.state.emit("PROCESS", "CREATED", definition.key, value)

    # --- distribution -----------------------------------------------------------------------

    def _distribute(
        self,
        deployment_key: int,
        definitions: list[Definition],
        drgs: list[tuple[DecisionRequirements, list[DecisionDefinition]]],
    ) -> None:
        state = self.state
        resources: dict[str, int] = {}
        shipped: list[DistributedResource] = []

        def ship(name: str, content: bytes) -> int:
            index = resources.get(name)
            if index is None:
                index = resources[name] = len(shipped)
                shipped.append(DistributedResource(name, content))
            return index

        processes = [
            DistributedProcess(
                definition.key,
                definition.bpmn_process_id,
                definition.version,
                ship(definition.resource_name, definition.resource),
            )
            for definition in definitions
        ]
        graphs = tuple(
            DistributedDecisionRequirements(
                drg.key,
                drg.drg_id,
                drg.version,
                ship(drg.resource_name, drg.resource),
                tuple(DistributedDecision(d.key, d.decision_id, d.version) for d in decisions),
            )
            for drg, decisions in drgs
        )
        for target in range(1, state.partition_count + 1):
            if target == state.partition_id:
                continue
            send_id = state.next_key()
            command = DistributeDeployment(
                send_id,
                state.partition_id,
                deployment_key,
                tuple(shipped),
                tuple(processes),
                graphs,
            )
            state.outbox[send_id] = PendingSend(send_id, target, codec.encode(command))

    def receive_distribution(self, command: DistributeDeployment) -> None:
        """Store distributed definitions (skipping those already here), then acknowledge."""
        state = self.state
        for process in command.processes:
            if process.key in state.definitions:
                continue
            resource = _shipped(command, process.resource)
            try:
                models = parse_resource(resource.name, resource.content)
            except BpmnDeploymentError as error:
                raise invalid_argument(str(error)) from None
            model = next((p for p in models if p.id == process.bpmn_process_id), None)
            if model is None:
                raise invalid_argument(f"no process '{process.bpmn_process_id}' in the resource")
            definition = Definition(
                process.key,
                process.bpmn_process_id,
                process.version,
                resource.name,
                checksum(resource.content),
                resource.content,
                command.deployment_key,
            )
            state.add_definition(definition, model)
            self._trace(definition)
        for drg in command.decision_requirements:
            resource = _shipped(command, drg.resource)
            receive_dmn(state, drg, resource.name, resource.content, command.deployment_key)
        state.messages.append(
            (command.source, codec.encode(Acknowledge(command.send_id, state.partition_id)))
        )

    def receive_acknowledgement(self, command: Acknowledge) -> None:
        self.state.outbox.pop(command.send_id, None)


def _shipped(command: DistributeDeployment, index: int) -> DistributedResource:
    """The resource a distributed definition names by its index in the command."""
    if not 0 <= index < len(command.resources):
        raise invalid_argument("resource index out of range")
    return command.resources[index]


def _metadata(definition: Definition) -> gw.ProcessMetadata:
    return gw.ProcessMetadata(
        bpmnProcessId=definition.bpmn_process_id,
        version=definition.version,
        processDefinitionKey=definition.key,
        resourceName=definition.resource_name,
        tenantId=DEFAULT_TENANT,
    )
