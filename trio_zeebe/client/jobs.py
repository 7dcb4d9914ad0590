"""Job commands: building the gRPC requests and reading the answers into frozen results.

Times are seconds in the Python API and milliseconds on the wire (Zeebe's units); variables
and custom headers are dicts here and JSON strings on the wire.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ..proto import gateway_pb2 as gw
from ..proto import trio_zeebe_pb2 as tz
from .errors import InvalidArgument

GATEWAY = "/gateway_protocol.Gateway/"
EXTENSION = "/trio_zeebe.v1.TrioZeebe/"


@attrs.frozen
class Job:
    """An activated job, as ``ActivateJobs`` hands it out.

    ``deadline`` is when its lease ends (Unix seconds); ``state`` is ACTIVATED. The process
    fields are Zeebe's ActivatedJob's (a standalone job has -1 keys and empty ids).
    """

    key: int
    type: str
    state: str = "ACTIVATED"
    retries: int = 0
    worker: str = ""
    deadline: float | None = None
    variables: dict[str, Any] = attrs.field(factory=dict)
    custom_headers: dict[str, str] = attrs.field(factory=dict)
    error_code: str = ""
    error_message: str = ""
    process_instance_key: int = -1
    bpmn_process_id: str = ""
    process_definition_version: int = -1
    process_definition_key: int = -1
    element_id: str = ""
    element_instance_key: int = -1
    tenant_id: str = ""


def check(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidArgument(message)


def document(variables: Mapping[str, Any] | None, what: str = "variables") -> str:
    """A JSON object for the wire (Zeebe's JSON string fields); InvalidArgument if it is not."""
    if not variables:
        return ""
    check(isinstance(variables, Mapping), f"{what} must be a mapping")
    try:
        return json.dumps(dict(variables), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{what} are not JSON: {exc}") from None


def millis(seconds: float, what: str) -> int:
    check(math.isfinite(seconds), f"{what} must be a finite number of seconds, got {seconds}")
    return max(0, round(seconds * 1000))


def from_json(text: str) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def job_from(message: gw.ActivatedJob) -> Job:
    return Job(
        key=message.key,
        type=message.type,
        retries=message.retries,
        worker=message.worker,
        deadline=message.deadline / 1000 if message.deadline else None,
        variables=from_json(message.variables),
        custom_headers=from_json(message.customHeaders),
        process_instance_key=message.processInstanceKey,
        bpmn_process_id=message.bpmnProcessId,
        process_definition_version=message.processDefinitionVersion,
        process_definition_key=message.processDefinitionKey,
        element_id=message.elementId,
        element_instance_key=message.elementInstanceKey,
        tenant_id=message.tenantId,
    )


def create_job(
    type: str, retries: int, variables: Mapping[str, Any] | None, headers: Mapping[str, str] | None
) -> bytes:
    check(bool(type), "job type must not be empty")
    check(retries >= 0, f"retries must be >= 0, got {retries}")
    if headers:
        check(all(isinstance(v, str) for v in headers.values()), "custom headers must be strings")
    return tz.CreateJobRequest(
        type=type,
        retries=retries,
        variables=document(variables),
        customHeaders=document(headers, "custom headers"),
    ).SerializeToString()


def activate_jobs(
    type: str,
    worker: str,
    max_jobs: int,
    timeout: float,
    fetch_variables: Sequence[str],
    request_timeout: float,
) -> bytes:
    """``request_timeout`` 0 asks once without waiting (Zeebe's ``-1``); above 0 long-polls."""
    check(bool(type), "job type must not be empty")
    check(max_jobs >= 1, f"max_jobs must be >= 1, got {max_jobs}")
    check(timeout > 0 and math.isfinite(timeout), f"timeout must be > 0, got {timeout}")
    check(request_timeout >= 0, f"request_timeout must be >= 0, got {request_timeout}")
    poll = -1 if request_timeout == 0 else max(1, millis(request_timeout, "request_timeout"))
    return gw.ActivateJobsRequest(
        type=type,
        worker=worker,
        timeout=max(1, millis(timeout, "timeout")),
        maxJobsToActivate=max_jobs,
        fetchVariable=list(fetch_variables),
        requestTimeout=poll,
    ).SerializeToString()


def complete_job(key: int, variables: Mapping[str, Any] | None) -> bytes:
    return gw.CompleteJobRequest(jobKey=key, variables=document(variables)).SerializeToString()


def fail_job(
    key: int,
    retries: int,
    error_message: str,
    retry_backoff: float,
    variables: Mapping[str, Any] | None,
) -> bytes:
    check(retries >= 0, f"retries must be >= 0, got {retries}")
    check(retry_backoff >= 0, f"retry_backoff must be >= 0, got {retry_backoff}")
    return gw.FailJobRequest(
        jobKey=key,
        retries=retries,
        errorMessage=error_message,
        retryBackOff=millis(retry_backoff, "retry_backoff"),
        variables=document(variables),
    ).SerializeToString()


def throw_error(
    key: int, error_code: str, error_message: str, variables: Mapping[str, Any] | None
) -> bytes:
    return gw.ThrowErrorRequest(
        jobKey=key,
        errorCode=error_code,
        errorMessage=error_message,
        variables=document(variables),
    ).SerializeToString()


def update_job_retries(key: int, retries: int) -> bytes:
    check(retries >= 0, f"retries must be >= 0, got {retries}")
    return gw.UpdateJobRetriesRequest(jobKey=key, retries=retries).SerializeToString()


def update_job_timeout(key: int, timeout: float) -> bytes:
    check(timeout > 0 and math.isfinite(timeout), f"timeout must be > 0, got {timeout}")
    return gw.UpdateJobTimeoutRequest(
        jobKey=key, timeout=max(1, millis(timeout, "timeout"))
    ).SerializeToString()
