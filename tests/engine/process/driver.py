"""A test driver for the process engine: builds command payloads from gateway requests,
applies them with increasing positions and a controlled clock, decodes the answers, and
records the engine's trace (Zeebe-like records) for assertions."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf.message import Message

from trio_zeebe.engine.commands import Answer, AnswerStatus, CommandType, command, decode_answer
from trio_zeebe.engine.engine import Engine
from trio_zeebe.engine.rejection import Rejection
from trio_zeebe.engine.runtime.trace import TraceRecord
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.proto import trio_zeebe_pb2 as tz

C = CommandType
START = 1_700_000_000.0  # the leader's clock at the start of each test (seconds)


class Driver:
    def __init__(
        self,
        partition_id: int = 1,
        partition_count: int = 1,
        *,
        max_steps: int = 10_000,
        engine: Engine | None = None,
    ) -> None:
        self.engine = engine or Engine(partition_id, partition_count, max_steps=max_steps)
        self.engine.strict = True
        self.records: list[TraceRecord] = []
        self.engine.set_trace(self.records.append)
        self.position = 0
        self.now = START

    # --- raw --------------------------------------------------------------------------------

    def apply(self, payload: bytes) -> bytes:
        self.position += 1
        return self.engine.apply(payload, self.position, self.now)

    def send(self, kind: CommandType, request: Message) -> Answer:
        return decode_answer(self.apply(command(kind, request)))

    def ok(self, kind: CommandType, request: Message) -> Any:
        answer = self.send(kind, request)
        if answer.status is not AnswerStatus.OK:
            raise AssertionError(f"expected OK, got {answer.status.name}: {answer.body}")
        return answer.response(kind)

    def reject(self, kind: CommandType, request: Message) -> Rejection:
        answer = self.send(kind, request)
        if answer.status is not AnswerStatus.REJECTED:
            raise AssertionError(f"expected a rejection, got {answer.status.name}")
        rejection: Rejection = answer.body
        return rejection

    def tick(self, seconds: float = 0.0) -> None:
        self.now += seconds
        self.position += 1
        self.engine.tick(self.position, self.now)

    def drain(self, limit: int = 1000) -> None:
        """Apply continuation time records until no follow-up step waits."""
        for _ in range(limit):
            if not self.engine.pending_steps:
                return
            self.tick()
        raise AssertionError("steps still pending")

    # --- commands ---------------------------------------------------------------------------

    def deploy(self, *resources: bytes | tuple[str, bytes]) -> gw.DeployResourceResponse:
        request = gw.DeployResourceRequest()
        for i, resource in enumerate(resources):
            name, content = resource if isinstance(resource, tuple) else (f"r{i}.bpmn", resource)
            request.resources.append(gw.Resource(name=name, content=content))
        response: gw.DeployResourceResponse = self.ok(C.DEPLOY_RESOURCE, request)
        return response

    def create(self, process_id: str, variables: Mapping[str, Any] | None = None) -> int:
        response = self.ok(
            C.CREATE_PROCESS_INSTANCE,
            gw.CreateProcessInstanceRequest(
                bpmnProcessId=process_id, version=-1, variables=json.dumps(variables or {})
            ),
        )
        key: int = response.processInstanceKey
        return key

    def activate(
        self,
        job_type: str,
        max_jobs: int = 100,
        *,
        timeout: int = 60_000,
        fetch: Iterable[str] = (),
        worker: str = "w",
    ) -> list[gw.ActivatedJob]:
        response = self.ok(
            C.ACTIVATE_JOBS,
            gw.ActivateJobsRequest(
                type=job_type,
                worker=worker,
                timeout=timeout,
                maxJobsToActivate=max_jobs,
                fetchVariable=list(fetch),
            ),
        )
        return list(response.jobs)

    def job(self, job_type: str, **kwargs: Any) -> gw.ActivatedJob:
        jobs = self.activate(job_type, 1, **kwargs)
        assert len(jobs) == 1, f"expected one activatable job of type {job_type!r}, got {jobs}"
        return jobs[0]

    def complete(self, job_key: int, variables: Mapping[str, Any] | None = None) -> None:
        self.ok(
            C.COMPLETE_JOB,
            gw.CompleteJobRequest(jobKey=job_key, variables=json.dumps(variables or {})),
        )

    def complete_type(self, job_type: str, variables: Mapping[str, Any] | None = None) -> None:
        self.complete(self.job(job_type).key, variables)

    def fail(
        self, job_key: int, retries: int, message: str = "", backoff: int = 0, **variables: Any
    ) -> None:
        self.ok(
            C.FAIL_JOB,
            gw.FailJobRequest(
                jobKey=job_key,
                retries=retries,
                errorMessage=message,
                retryBackOff=backoff,
                variables=json.dumps(variables),
            ),
        )

    def throw(self, job_key: int, code: str, message: str = "", **variables: Any) -> None:
        self.ok(
            C.THROW_ERROR,
            gw.ThrowErrorRequest(
                jobKey=job_key,
                errorCode=code,
                errorMessage=message,
                variables=json.dumps(variables),
            ),
        )

    def resolve(self, incident_key: int) -> None:
        self.ok(C.RESOLVE_INCIDENT, gw.ResolveIncidentRequest(incidentKey=incident_key))

    def set_variables(self, scope_key: int, local: bool = False, **variables: Any) -> None:
        self.ok(
            C.SET_VARIABLES,
            gw.SetVariablesRequest(
                elementInstanceKey=scope_key, variables=json.dumps(variables), local=local
            ),
        )

    def cancel(self, process_instance_key: int) -> None:
        self.ok(
            C.CANCEL_PROCESS_INSTANCE,
            gw.CancelProcessInstanceRequest(processInstanceKey=process_instance_key),
        )

    def create_job(self, job_type: str, retries: int = 3, **variables: Any) -> int:
        response = self.ok(
            C.CREATE_JOB,
            tz.CreateJobRequest(type=job_type, retries=retries, variables=json.dumps(variables)),
        )
        key: int = response.key
        return key

    # --- observing --------------------------------------------------------------------------

    def of(self, value_type: str, intent: str | None = None) -> list[TraceRecord]:
        return [
            r
            for r in self.records
            if r.value_type == value_type and (intent is None or r.intent == intent)
        ]

    def path(self, process_instance_key: int | None = None) -> list[tuple[str, str]]:
        """(elementId, intent) of every process instance record, in order."""
        return [
            (r.value["elementId"], r.intent)
            for r in self.records
            if r.value_type == "PROCESS_INSTANCE"
            and (
                process_instance_key is None
                or r.value["processInstanceKey"] == process_instance_key
            )
        ]

    def completed(self, element_id: str, process_instance_key: int | None = None) -> bool:
        return (element_id, "ELEMENT_COMPLETED") in self.path(process_instance_key)

    def activated(self, element_id: str) -> list[TraceRecord]:
        return [
            r
            for r in self.of("PROCESS_INSTANCE", "ELEMENT_ACTIVATED")
            if r.value["elementId"] == element_id
        ]

    def is_done(self, process_instance_key: int) -> bool:
        """The instance completed (or was terminated) and left the state."""
        return process_instance_key not in self.engine.instances()

    def incidents(self) -> list[Any]:
        return list(self.engine.incidents().values())

    def incident(self) -> Any:
        incidents = self.incidents()
        assert len(incidents) == 1, incidents
        return incidents[0]

    def variables(self, scope_key: int) -> dict[str, Any]:
        return dict(self.engine.variables(scope_key))

    def completed_variables(self, process_instance_key: int) -> dict[str, Any]:
        """The root scope's variables as last written (the scope is gone once completed)."""
        values: dict[str, Any] = {}
        for r in self.of("VARIABLE"):
            if r.value["scopeKey"] == process_instance_key:
                values[r.value["name"]] = r.value["value"]
        return values
