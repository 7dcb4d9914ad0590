"""Deployment: DeployResource (and the deprecated DeployProcess) on partition 1, and its
distribution to the other partitions (reference §2).

Resources are classified by name (``.bpmn`` / ``.xml``); the deployment is all or nothing: any
invalid resource rejects it with every error in Zeebe's text. A process whose latest version
has the same checksum and resource name is a duplicate and keeps its key and version; the
others get a key of partition 1 and the next version of their bpmnProcessId.

Distribution: partition 1 keeps a pending send per other partition carrying the new
definitions; a receiver stores them (idempotent by key -- a process is startable there once it
arrived) and acknowledges, which removes the pending send.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ... import codec
from ...codec import wire
from ...proto import gateway_pb2 as gw
from ..bpmn import BpmnDeploymentError, Process, checksum, parse_bpmn
from ..statemachine import PendingSend
from .expressions import check_syntax
from .refusal import DEFAULT_TENANT, check_tenant, invalid_argument, invalid_state
from .state import EngineState
from .values import Definition

__all__ = ["Acknowledge", "Deployments", "DistributeDeployment", "parse_resource"]

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


@wire("e.ack")
@attrs.frozen
class Acknowledge:
    """The receiver -> the sender: the send ``send_id`` arrived and was applied."""

    send_id: int
    source: int


def parse_resource(name: str, content: bytes) -> tuple[Process, ...]:
    """A BPMN resource's executable processes (BpmnDeploymentError if invalid)."""
    return parse_bpmn(name, content, check_expression=check_syntax)


class Deployments:
    def __init__(self, state: EngineState) -> None:
        self.state = state

    # --- DeployResource / DeployProcess -----------------------------------------------------

    def deploy_resource(self, request: gw.DeployResourceRequest) -> gw.DeployResourceResponse:
        check_tenant("DeployResource", request.tenantId)
        key, deployed = self._deploy([(r.name, r.content) for r in request.resources])
        response = gw.DeployResourceResponse(key=key, tenantId=DEFAULT_TENANT)
        for definition in deployed:
            response.deployments.append(gw.Deployment(process=_metadata(definition)))
        return response

    def deploy_process(self, request: gw.DeployProcessRequest) -> gw.DeployProcessResponse:
        key, deployed = self._deploy([(p.name, p.definition) for p in request.processes])
        return gw.DeployProcessResponse(key=key, processes=[_metadata(d) for d in deployed])

    def _deploy(self, resources: Sequence[tuple[str, bytes]]) -> tuple[int, list[Definition]]:
        state = self.state
        if state.partition_id != 1:
            raise invalid_state(
                f"Expected to deploy resources on partition 1, but this is partition "
                f"{state.partition_id}"
            )
        if not resources:
            raise invalid_argument("Expected to deploy at least one resource, but none given")
        errors: list[str] = []
        parsed: list[tuple[str, bytes, tuple[Process, ...]]] = []
        for name, content in resources:
            if not name.endswith(_BPMN_SUFFIXES):
                errors.append(f"'{name}': unknown resource type")
                continue
            try:
                parsed.append((name, content, parse_resource(name, content)))
            except BpmnDeploymentError as error:
                errors.append(str(error))
        seen: dict[str, str] = {}
        for name, _, processes in parsed:
            for process in processes:
                other = seen.get(process.id)
                if other is not None:
                    errors.append(f"Duplicated process id in resources '{other}' and '{name}'")
                else:
                    seen[process.id] = name
        if errors:
            raise invalid_argument(_ERRORS + "".join(f"\n{e}" for e in errors))
        deployment_key = state.next_key()
        deployed: list[Definition] = []
        new: list[Definition] = []
        for name, content, processes in parsed:
            digest = checksum(content)
            for process in processes:
                latest_key = state.latest.get(process.id)
                latest = state.definitions[latest_key] if latest_key is not None else None
                if (
                    latest is not None
                    and latest.checksum == digest
                    and latest.resource_name == name
                ):
                    deployed.append(latest)
                    continue
                definition = Definition(
                    state.next_key(),
                    process.id,
                    latest.version + 1 if latest is not None else 1,
                    name,
                    digest,
                    content,
                    deployment_key,
                )
                state.add_definition(definition, process)
                self._trace(definition)
                deployed.append(definition)
                new.append(definition)
        state.emit(
            "DEPLOYMENT", "CREATED", deployment_key, {"resources": [n for n, _ in resources]}
        )
        if new:
            self._distribute(deployment_key, new)
        return deployment_key, deployed

    def _trace(self, definition: Definition) -> None:
        if self.state.trace is not None:
            value = definition._asdict()
            del value["resource"]
            self.state.emit("PROCESS", "CREATED", definition.key, value)

    # --- distribution -----------------------------------------------------------------------

    def _distribute(self, deployment_key: int, definitions: list[Definition]) -> None:
        state = self.state
        resources: dict[str, int] = {}
        shipped: list[DistributedResource] = []
        processes: list[DistributedProcess] = []
        for definition in definitions:
            index = resources.get(definition.resource_name)
            if index is None:
                index = resources[definition.resource_name] = len(shipped)
                shipped.append(DistributedResource(definition.resource_name, definition.resource))
            processes.append(
                DistributedProcess(
                    definition.key, definition.bpmn_process_id, definition.version, index
                )
            )
        for target in range(1, state.partition_count + 1):
            if target == state.partition_id:
                continue
            send_id = state.next_key()
            command = DistributeDeployment(
                send_id, state.partition_id, deployment_key, tuple(shipped), tuple(processes)
            )
            state.outbox[send_id] = PendingSend(send_id, target, codec.encode(command))

    def receive_distribution(self, command: DistributeDeployment) -> None:
        """Store distributed definitions (skipping those already here), then acknowledge."""
        state = self.state
        for process in command.processes:
            if process.key in state.definitions:
                continue
            if not 0 <= process.resource < len(command.resources):
                raise invalid_argument("resource index out of range")
            resource = command.resources[process.resource]
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
        state.messages.append(
            (command.source, codec.encode(Acknowledge(command.send_id, state.partition_id)))
        )

    def receive_acknowledgement(self, command: Acknowledge) -> None:
        self.state.outbox.pop(command.send_id, None)


def _metadata(definition: Definition) -> gw.ProcessMetadata:
    return gw.ProcessMetadata(
        bpmnProcessId=definition.bpmn_process_id,
        version=definition.version,
        processDefinitionKey=definition.key,
        resourceName=definition.resource_name,
        tenantId=DEFAULT_TENANT,
    )
