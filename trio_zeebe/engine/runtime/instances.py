"""Process instance commands: CreateProcessInstance (with or without awaiting the result),
CancelProcessInstance, SetVariables and ResolveIncident, with Zeebe's rules and texts.

Creating an instance writes its variables in the new root scope and queues the PROCESS
element's activation; the answer goes out at once (the instance runs on in the same and later
applies). With a result, the answer is deferred until the instance completes.
"""

from __future__ import annotations

from typing import Any

from ...proto import gateway_pb2 as gw
from .jobs import Jobs
from .machine import Machine
from .refusal import DEFAULT_TENANT, check_tenant, invalid_argument, invalid_state, not_found
from .values import ACTIVATED, ACTIVATING, COMPLETING, Deferred, Definition, Instance
from .variables import InvalidDocument, dumps, parse_document

__all__ = ["Instances"]

_CANCELABLE = (ACTIVATING, ACTIVATED, COMPLETING)


def _document(text: str) -> dict[str, Any]:
    try:
        return parse_document(text)
    except InvalidDocument as error:
        raise invalid_argument(str(error)) from None


class Instances:
    def __init__(self, machine: Machine, jobs: Jobs) -> None:
        self.machine = machine
        self.state = machine.state
        self.jobs = jobs
        machine.on_process_completed = self._send_result

    # --- CreateProcessInstance --------------------------------------------------------------

    def _definition(self, request: gw.CreateProcessInstanceRequest) -> Definition:
        state = self.state
        process_id = request.bpmnProcessId
        if process_id:
            if request.version >= 0:
                key = state.by_version.get((process_id, request.version))
                if key is None:
                    raise not_found(
                        f"Expected to find process definition with process ID '{process_id}' "
                        f"and version '{request.version}', but none found"
                    )
            else:
                key = state.latest.get(process_id)
                if key is None:
                    raise not_found(
                        f"Expected to find process definition with process ID '{process_id}', "
                        "but none found"
                    )
            return state.definitions[key]
        if request.processDefinitionKey < 0:
            raise invalid_argument(
                "Expected at least a bpmnProcessId or a key greater than -1, but none given"
            )
        definition = state.definitions.get(request.processDefinitionKey)
        if definition is None:
            raise not_found(
                f"Expected to find process definition with key "
                f"'{request.processDefinitionKey}', but none found"
            )
        return definition

    def _create(self, request: gw.CreateProcessInstanceRequest, rpc: str) -> tuple[Definition, int]:
        check_tenant(rpc, request.tenantId)
        definition = self._definition(request)
        model = self.state.models[definition.key]
        if model.none_start_event is None:
            raise invalid_state(
                "Expected to create instance of process with none start event, but there is "
                "no such event"
            )
        if len(request.startInstructions):
            raise invalid_argument(
                "Expected to create instance of process with start instructions, but start "
                "instructions are not supported yet"
            )
        variables = _document(request.variables)
        key = self.state.next_key()
        self.machine.variables.set_local(key, variables)
        self.machine.queue_process(definition.key, definition.bpmn_process_id, key, None)
        self.state.emit(
            "PROCESS_INSTANCE_CREATION",
            "CREATED",
            key,
            {"processDefinitionKey": definition.key, "bpmnProcessId": definition.bpmn_process_id},
        )
        return definition, key

    def create(self, request: gw.CreateProcessInstanceRequest) -> gw.CreateProcessInstanceResponse:
        definition, key = self._create(request, "CreateProcessInstance")
        return gw.CreateProcessInstanceResponse(
            processDefinitionKey=definition.key,
            bpmnProcessId=definition.bpmn_process_id,
            version=definition.version,
            processInstanceKey=key,
            tenantId=DEFAULT_TENANT,
        )

    def create_with_result(
        self, request: gw.CreateProcessInstanceWithResultRequest, position: int
    ) -> None:
        """Create the instance; its answer comes when it completes (see take_answers)."""
        _, key = self._create(request.request, "CreateProcessInstanceWithResult")
        fetch = tuple(dict.fromkeys(request.fetchVariables))
        self.state.deferred[key] = Deferred(position, fetch)

    def _send_result(self, instance: Instance) -> None:
        state = self.state
        waiting = state.deferred.pop(instance.key, None)
        if waiting is None or instance.flow_scope_key >= 0:
            return
        definition = state.definitions[instance.definition_key]
        local = self.machine.variables.local(instance.key)
        if waiting.fetch_variables:
            variables = {n: local[n] for n in waiting.fetch_variables if n in local}
        else:
            variables = dict(local)
        response = gw.CreateProcessInstanceWithResultResponse(
            processDefinitionKey=definition.key,
            bpmnProcessId=definition.bpmn_process_id,
            version=definition.version,
            processInstanceKey=instance.key,
            variables=dumps(variables),
            tenantId=DEFAULT_TENANT,
        )
        state.answers.append((waiting.position, b"\x00" + response.SerializeToString()))

    # --- CancelProcessInstance --------------------------------------------------------------

    def cancel(self, request: gw.CancelProcessInstanceRequest) -> gw.CancelProcessInstanceResponse:
        key = request.processInstanceKey
        instance = self.state.instances.get(key)
        if instance is None or instance.flow_scope_key >= 0 or instance.state not in _CANCELABLE:
            raise not_found(
                f"Expected to cancel a process instance with key '{key}', but no such process "
                "was found"
            )
        if instance.parent_element_key >= 0:
            root = instance
            while root.parent_instance_key >= 0:
                parent = self.state.instances.get(root.parent_instance_key)
                if parent is None:
                    break
                root = parent
            raise invalid_state(
                f"Expected to cancel a process instance with key '{key}', but it is created by "
                f"a parent process instance. Cancel the root process instance '{root.key}' "
                "instead."
            )
        self.machine.terminate_element(instance)
        return gw.CancelProcessInstanceResponse()

    # --- SetVariables -----------------------------------------------------------------------

    def set_variables(self, request: gw.SetVariablesRequest) -> gw.SetVariablesResponse:
        key = request.elementInstanceKey
        instance = self.state.instances.get(key)
        if instance is None or instance.state not in _CANCELABLE:
            raise not_found(
                f"Expected to update variables for element with key '{key}', but no such "
                "element was found"
            )
        variables = _document(request.variables)
        if request.local:
            self.machine.variables.set_local(key, variables)
        else:
            self.machine.variables.merge(key, variables)
        return gw.SetVariablesResponse(key=self.state.next_key())

    # --- ResolveIncident --------------------------------------------------------------------

    def resolve_incident(self, request: gw.ResolveIncidentRequest) -> gw.ResolveIncidentResponse:
        key = request.incidentKey
        state = self.state
        incident = state.incidents.get(key)
        if incident is None:
            raise not_found(
                f"Expected to resolve incident with key '{key}', but no such incident was found"
            )
        if incident.job_key >= 0:
            job = state.jobs.get(incident.job_key)
            if job is not None and job.retries <= 0:
                # logged as INVALID_STATE by Zeebe, but its client response says NOT_FOUND
                raise not_found(
                    f"Expected to resolve incident with key '{key}', but job with key "
                    f"'{incident.job_key}' has no retries left. Please update the job retries "
                    "and retry resolving the incident"
                )
            self.machine.resolve_incident(key)
            self.jobs.resolve(incident)
            return gw.ResolveIncidentResponse()
        instance = state.instances.get(incident.element_instance_key)
        if instance is not None and instance.state not in (ACTIVATING, COMPLETING):
            raise invalid_state(
                "Expected incident to refer to element in state ELEMENT_ACTIVATING or "
                f"ELEMENT_COMPLETING, but element is in state {instance.state}"
            )
        self.machine.resolve_incident(key)
        if instance is not None:
            if instance.state == ACTIVATING:
                self.machine.reactivate(instance)
            else:
                self.machine.complete_element(instance)
        return gw.ResolveIncidentResponse()
