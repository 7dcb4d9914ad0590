"""Jobs: created by job-based elements (and standalone by the CreateJob extension), and the job
commands of Zeebe's gateway API, with Zeebe's semantics and texts (reference §9).

::

    created -> ACTIVATABLE --ActivateJobs--> ACTIVATED --CompleteJob--> (gone)
                   ^  ^  ^                    | |  |
                   |  |  +--- lease ends -----+ |  +--ThrowError--> ERROR_THROWN (caught: the
                   |  |                         |                    element is interrupted;
                   |  +--- back-off ends ----- FailJob               not caught: an incident)
                   |                             retries > 0, back-off -> FAILED (recur_at)
                   +-- ResolveIncident --------- retries <= 0 -> FAILED + JOB_NO_RETRIES incident

Complete, fail and throw are accepted for ACTIVATABLE and ACTIVATED jobs (a worker whose lease
ran out may still finish); UpdateJobRetries only sets the count (a FAILED job waits for its
incident to be resolved); UpdateJobTimeout needs an ACTIVATED job. Times are engine ms.
"""

from __future__ import annotations

from typing import Any

from ...proto import gateway_pb2 as gw
from ...proto import trio_zeebe_pb2 as tz
from ..bpmn import JOB_USER_TASK_TYPE, Element
from ..feel import to_json
from .events import UNHANDLED_ERROR_EVENT, can_trigger, describe, find_error_catch, trigger
from .expressions import Fail, evaluate, evaluate_integer, evaluate_string
from .machine import Machine
from .refusal import (
    DEFAULT_TENANT,
    check_tenant,
    invalid_argument,
    invalid_state,
    not_found,
)
from .values import (
    ACTIVATABLE,
    ACTIVATED,
    ACTIVATING,
    ERROR_THROWN,
    FAILED,
    JOB_ACTIVATED,
    Incident,
    Instance,
    Job,
    JobSpec,
)
from .variables import InvalidDocument, dumps, parse_document

__all__ = ["JOB_NO_RETRIES", "MESSAGE_SIZE_EXCEEDED", "Jobs"]

JOB_NO_RETRIES = "JOB_NO_RETRIES"
MESSAGE_SIZE_EXCEEDED = "MESSAGE_SIZE_EXCEEDED"
MAX_ERROR_MESSAGE = 10_000
MAX_BATCH_BYTES = 4 * 1024 * 1024 - 8 * 1024  # a gRPC message, less Zeebe's safety buffer
_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_WORKER_STATES = (ACTIVATABLE, JOB_ACTIVATED)
_USER_TASK_HEADERS = (
    ("assignee", "io.camunda.zeebe:assignee"),
    ("candidate_groups", "io.camunda.zeebe:candidateGroups"),
    ("candidate_users", "io.camunda.zeebe:candidateUsers"),
    ("due_date", "io.camunda.zeebe:dueDate"),
    ("follow_up_date", "io.camunda.zeebe:followUpDate"),
)


def _document(text: str) -> dict[str, Any]:
    try:
        return parse_document(text)
    except InvalidDocument as error:
        raise invalid_argument(str(error)) from None


def _list_header(value: Any) -> str:
    if isinstance(value, list):
        return dumps([str(v) for v in value])
    return dumps([part.strip() for part in str(value).split(",") if part.strip()])


class Jobs:
    """The job side of the engine, over the machine's state."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.state = machine.state

    # --- jobs of elements -------------------------------------------------------------------

    def evaluate(self, instance: Instance, element: Element) -> JobSpec:
        """The element's job type, retries and headers; raises Fail if an expression fails
        (nothing is created then)."""
        definition = element.job
        assert definition is not None
        m = self.machine
        view = m.variables.view(instance.key)
        job_type = evaluate_string(definition.type, view, m.now)
        retries = evaluate_integer(definition.retries, view, m.now)
        headers = dict(definition.headers)
        if definition.type == JOB_USER_TASK_TYPE and element.user_task is not None:
            task = element.user_task
            for attribute, header in _USER_TASK_HEADERS:
                text = getattr(task, attribute)
                if text is None:
                    continue
                value = evaluate(text, view, m.now)
                if attribute in ("candidate_groups", "candidate_users"):
                    headers[header] = _list_header(value)
                else:
                    headers[header] = value if isinstance(value, str) else str(to_json(value))
        return JobSpec(job_type, max(min(retries, _INT32_MAX), -_INT32_MAX - 1), headers)

    def create(self, instance: Instance, spec: JobSpec) -> Instance:
        """Create the element's job (ACTIVATABLE); returns the instance that now holds it."""
        state = self.state
        process = state.definitions[instance.definition_key]
        job = Job(
            state.next_key(),
            spec.type,
            ACTIVATABLE,
            spec.retries,
            "",
            -1,
            -1,
            {},
            spec.headers,
            "",
            "",
            instance.key,
            instance.process_instance_key,
            process.bpmn_process_id,
            instance.definition_key,
            process.version,
            instance.element_id,
        )
        state.put_job(job)
        self._trace(job, "CREATED")
        instance = self.machine.refresh(instance)._replace(job_key=job.key)
        state.put_instance(instance)
        return instance

    def cancel_for_element(self, instance: Instance) -> None:
        """The element left (terminated): its job goes, with its incident."""
        if instance.job_key < 0:
            return
        job = self.state.drop_job(instance.job_key)
        if job is None:
            return
        incident = self.state.job_incidents.get(job.key)
        if incident is not None:
            self.machine.resolve_incident(incident)
        self._trace(job, "CANCELED")

    def _trace(self, job: Job, intent: str) -> None:
        if self.state.trace is not None:
            value = job._asdict()
            value["variables"] = dict(job.variables)
            value["headers"] = dict(job.headers)
            self.state.emit("JOB", intent, job.key, value)

    def _raise_job_incident(self, job: Job, error_type: str, message: str) -> None:
        state = self.state
        incident = Incident(
            state.next_key(),
            error_type,
            message,
            job.bpmn_process_id,
            job.definition_key,
            job.process_instance_key,
            job.element_id,
            job.element_instance_key,
            job.key,
            job.element_instance_key,
        )
        state.put_incident(incident)
        self.machine.trace_incident(incident, "CREATED")

    # --- lookups ----------------------------------------------------------------------------

    def _held(self, key: int, action: str) -> Job:
        job = self.state.jobs.get(key)
        if job is None:
            raise not_found(f"Expected to {action} job with key '{key}', but no such job was found")
        if job.state not in _WORKER_STATES:
            raise invalid_state(
                f"Expected to {action} job with key '{key}', but it is in state '{job.state}'"
            )
        return job

    # --- standalone jobs (trio_zeebe.v1 CreateJob) ------------------------------------------

    def create_standalone(self, request: tz.CreateJobRequest) -> tz.CreateJobResponse:
        if not request.type:
            raise invalid_argument("Expected to create a job with a type, but it was blank")
        retries = request.retries or 3
        if retries < 1:
            raise invalid_argument(
                f"Expected to create a job with a positive amount of retries, "
                f"but the amount given was '{request.retries}'"
            )
        variables = _document(request.variables)
        raw_headers = _document(request.customHeaders)
        if any(type(v) is not str for v in raw_headers.values()):
            raise invalid_argument("Expected custom headers to map strings to strings")
        state = self.state
        job = Job(
            state.next_key(), request.type, ACTIVATABLE, retries, "", -1, -1, variables,
            raw_headers, "", "",
        )  # fmt: skip
        state.put_job(job)
        self._trace(job, "CREATED")
        return tz.CreateJobResponse(key=job.key)

    # --- ActivateJobs -----------------------------------------------------------------------

    @staticmethod
    def check_activation(request: gw.ActivateJobsRequest) -> None:
        text = "Expected to activate job batch with {} to be {}, but it was {}"
        if request.maxJobsToActivate < 1:
            raise invalid_argument(
                text.format(
                    "max jobs to activate", "greater than zero", f"'{request.maxJobsToActivate}'"
                )
            )
        if request.timeout < 1:
            raise invalid_argument(
                text.format("timeout", "greater than zero", f"'{request.timeout}'")
            )
        if not request.type:
            raise invalid_argument(text.format("type", "present", "blank"))
        for tenant in request.tenantIds:
            check_tenant("ActivateJobs", tenant)

    def activate(self, request: gw.ActivateJobsRequest) -> gw.ActivateJobsResponse:
        self.check_activation(request)
        state = self.state
        index = state.job_index
        deadline = min(state.clock + request.timeout, _INT64_MAX)
        fetch = tuple(dict.fromkeys(request.fetchVariable))
        response = gw.ActivateJobsResponse()
        size = 0
        while len(response.jobs) < request.maxJobsToActivate:
            job = index.pop_activatable(request.type)
            if job is None:
                break
            activated = job._replace(state=JOB_ACTIVATED, deadline=deadline, worker=request.worker)
            message = self._activated_job(activated, fetch)
            job_size = message.ByteSize() + 8
            if size + job_size > MAX_BATCH_BYTES:
                if not response.jobs:
                    self._too_large(job)
                else:
                    index.give_back(job)
                break
            size += job_size
            response.jobs.append(message)
            state.put_job(activated)
            self._trace(activated, "ACTIVATED")
        return response

    def _activated_job(self, job: Job, fetch: tuple[str, ...]) -> gw.ActivatedJob:
        if job.element_instance_key >= 0:
            variables = self.machine.variables.document(job.element_instance_key, fetch)
        elif fetch:
            variables = {n: job.variables[n] for n in fetch if n in job.variables}
        else:
            variables = dict(job.variables)
        return gw.ActivatedJob(
            key=job.key,
            type=job.type,
            processInstanceKey=job.process_instance_key,
            bpmnProcessId=job.bpmn_process_id,
            processDefinitionVersion=job.version,
            processDefinitionKey=job.definition_key,
            elementId=job.element_id,
            elementInstanceKey=job.element_instance_key,
            customHeaders=dumps(dict(job.headers)),
            worker=job.worker,
            retries=job.retries,
            deadline=job.deadline,
            variables=dumps(variables),
            tenantId=DEFAULT_TENANT,
        )

    def _too_large(self, job: Job) -> None:
        self.state.put_job(job._replace(state=FAILED, recur_at=-1))
        self._raise_job_incident(
            job,
            MESSAGE_SIZE_EXCEEDED,
            f"The job with key '{job.key}' can not be activated because it is larger than the "
            f"configured message size ({MAX_BATCH_BYTES // 1024} KB). Try to reduce the size by "
            "reducing the number of fetched variables or modifying the variable values.",
        )

    # --- CompleteJob ------------------------------------------------------------------------

    def complete(self, request: gw.CompleteJobRequest) -> gw.CompleteJobResponse:
        job = self._held(request.jobKey, "complete")
        variables = _document(request.variables)
        state = self.state
        state.drop_job(job.key)
        self._trace(job._replace(variables=variables), "COMPLETED")
        m = self.machine
        instance = m.get(job.element_instance_key) if job.element_instance_key >= 0 else None
        if instance is not None:
            scope = m.container(instance)
            active = scope is None or scope.state in (ACTIVATING, ACTIVATED)
            if active:
                instance = instance._replace(job_key=-1, payload=variables or None)
                state.put_instance(instance)
                m.complete_element(instance)
        return gw.CompleteJobResponse()

    # --- FailJob ----------------------------------------------------------------------------

    def fail(self, request: gw.FailJobRequest) -> gw.FailJobResponse:
        job = self._held(request.jobKey, "fail")
        variables = _document(request.variables)
        state = self.state
        retries = request.retries
        backoff = request.retryBackOff
        message = request.errorMessage[:MAX_ERROR_MESSAGE]
        failed = job._replace(
            state=FAILED, retries=retries, error_message=message, worker="", deadline=-1
        )
        if retries > 0 and backoff > 0:
            failed = failed._replace(recur_at=min(state.clock + backoff, _INT64_MAX))
        elif retries > 0:
            failed = failed._replace(state=ACTIVATABLE)
        if job.element_instance_key >= 0:
            if variables and job.element_instance_key in state.instances:
                self.machine.variables.set_local(job.element_instance_key, variables)
        elif variables:
            failed = failed._replace(variables={**job.variables, **variables})
        state.put_job(failed)
        self._trace(failed, "FAILED")
        if retries <= 0:
            self._raise_job_incident(failed, JOB_NO_RETRIES, message or "No more retries left.")
        return gw.FailJobResponse()

    # --- ThrowError -------------------------------------------------------------------------

    def throw_error(self, request: gw.ThrowErrorRequest) -> gw.ThrowErrorResponse:
        job = self._held(request.jobKey, "throw an error for")
        variables = _document(request.variables)
        m = self.machine
        message = request.errorMessage[:MAX_ERROR_MESSAGE]
        instance = m.get(job.element_instance_key) if job.element_instance_key >= 0 else None
        thrown = job._replace(
            state=ERROR_THROWN, error_code=request.errorCode, error_message=message, worker=""
        )
        thrown = thrown._replace(deadline=-1, recur_at=-1)
        try:
            scope, catch = find_error_catch(m, instance, request.errorCode, message)
        except Fail as failure:
            self.state.put_job(thrown)
            self._trace(thrown, "ERROR_THROWN")
            self._raise_job_incident(thrown, UNHANDLED_ERROR_EVENT, failure.message)
            return gw.ThrowErrorResponse()
        if instance is None or instance.state not in (ACTIVATING, ACTIVATED):
            raise invalid_state(
                f"Expected to find active service task, but was {describe(instance)}"
            )
        if not can_trigger(scope, catch):
            raise invalid_state(
                "Expected to find event scope that is accepting events, but was " + describe(scope)
            )
        self.state.put_job(thrown)
        self._trace(thrown, "ERROR_THROWN")
        trigger(m, scope, catch, variables)
        return gw.ThrowErrorResponse()

    # --- UpdateJobRetries / UpdateJobTimeout ------------------------------------------------

    def update_retries(self, request: gw.UpdateJobRetriesRequest) -> gw.UpdateJobRetriesResponse:
        key, retries = request.jobKey, request.retries
        if retries <= 0:
            raise invalid_argument(
                f"Expected to update retries for job with key '{key}' with a positive amount of "
                f"retries, but the amount given was '{retries}'"
            )
        job = self.state.jobs.get(key)
        if job is None:
            raise not_found(
                f"Expected to update retries for job with key '{key}', but no such job was found"
            )
        updated = job._replace(retries=retries)
        self.state.put_job(updated)
        self._trace(updated, "RETRIES_UPDATED")
        return gw.UpdateJobRetriesResponse()

    def update_timeout(self, request: gw.UpdateJobTimeoutRequest) -> gw.UpdateJobTimeoutResponse:
        key = request.jobKey
        job = self.state.jobs.get(key)
        if job is None:
            raise not_found(
                f"Expected to update job deadline with key '{key}', but no such job was found"
            )
        if job.state != JOB_ACTIVATED:
            raise invalid_state(
                f"Expected to update the timeout of job with key '{key}', but it is not active"
            )
        deadline = max(min(self.state.clock + request.timeout, _INT64_MAX), -1)
        updated = job._replace(deadline=deadline)
        self.state.put_job(updated)
        self._trace(updated, "TIMEOUT_UPDATED")
        return gw.UpdateJobTimeoutResponse()

    # --- incidents of jobs ------------------------------------------------------------------

    def resolve(self, incident: Incident) -> None:
        """ResolveIncident of a job incident (checked by the caller): the job is activatable
        again."""
        job = self.state.jobs.get(incident.job_key)
        if job is not None and job.state in (FAILED, ERROR_THROWN):
            resumed = job._replace(state=ACTIVATABLE, recur_at=-1, deadline=-1)
            self.state.put_job(resumed)  # Zeebe writes no job record for this

    # --- time -------------------------------------------------------------------------------

    def tick(self) -> None:
        """Leases and back-offs that ended by the engine's clock."""
        state = self.state
        for job in state.job_index.due(state.clock):
            if job.state == JOB_ACTIVATED:
                back = job._replace(state=ACTIVATABLE, deadline=-1, worker="")
                state.put_job(back)
                self._trace(back, "TIMED_OUT")
            elif job.state == FAILED:
                back = job._replace(state=ACTIVATABLE, recur_at=-1)
                state.put_job(back)
                self._trace(back, "RECURRED_AFTER_BACKOFF")
