"""Process engine commands and answers for tests that drive processors or gateways directly:
payloads as the gateway builds them (type byte + request bytes), answers decoded."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.message import Message

from trio_zeebe.engine.commands import SPECS, AnswerStatus, CommandType, command, decode_answer
from trio_zeebe.engine.rejection import Rejection
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.proto import trio_zeebe_pb2 as tz

C = CommandType


def create_job(job_type: str, retries: int = 3, variables: dict[str, Any] | None = None) -> bytes:
    request = tz.CreateJobRequest(
        type=job_type, retries=retries, variables=json.dumps(variables or {})
    )
    return command(C.CREATE_JOB, request)


def activate(job_type: str, worker: str, max_jobs: int, timeout: float) -> bytes:
    request = gw.ActivateJobsRequest(
        type=job_type, worker=worker, maxJobsToActivate=max_jobs, timeout=int(timeout * 1000)
    )
    return command(C.ACTIVATE_JOBS, request)


def complete(key: int, variables: dict[str, Any] | None = None) -> bytes:
    return command(
        C.COMPLETE_JOB, gw.CompleteJobRequest(jobKey=key, variables=json.dumps(variables or {}))
    )


def fail(key: int, retries: int, message: str = "", backoff: float = 0.0) -> bytes:
    request = gw.FailJobRequest(
        jobKey=key, retries=retries, errorMessage=message, retryBackOff=int(backoff * 1000)
    )
    return command(C.FAIL_JOB, request)


def answer(payload: bytes, data: bytes | None) -> Message | Rejection | None:
    """The response message (OK) or the Rejection for the answer to ``payload``."""
    if data is None:
        return None
    decoded = decode_answer(data)
    if decoded.status is AnswerStatus.OK:
        return decoded.response(CommandType(payload[0]))
    if decoded.status is AnswerStatus.REJECTED:
        assert isinstance(decoded.body, Rejection)
        return decoded.body
    return None


def job_keys(response: object) -> list[int]:
    assert isinstance(response, gw.ActivateJobsResponse), response
    return [j.key for j in response.jobs]


def workers(response: object) -> list[str]:
    assert isinstance(response, gw.ActivateJobsResponse), response
    return [j.worker for j in response.jobs]


__all__ = [
    "SPECS",
    "Rejection",
    "activate",
    "answer",
    "complete",
    "create_job",
    "fail",
    "job_keys",
    "workers",
]
