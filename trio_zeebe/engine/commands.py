"""The process engine's command and answer framing (the fast path: no re-encoding).

A client command payload is one byte of :class:`CommandType` followed by the gRPC request
message bytes exactly as the client sent them (``gateway_protocol.*Request``, or the
``trio_zeebe.v1`` extension's ``CreateJobRequest``). The gateway prefixes the byte and forwards;
it parses only what routing needs.

An answer is one byte of :class:`AnswerStatus` followed by:

* ``OK``: the gRPC response message bytes, to be sent to the client as they are;
* ``REJECTED``: an encoded :class:`~.rejection.Rejection`;
* ``DEFERRED``: nothing. The answer comes later (CreateProcessInstanceWithResult): the engine
  hands ``(position of the command, answer bytes)`` to the processor through
  :meth:`~trio_zeebe.engine.statemachine.DeferredAnswers.take_answers`.

:data:`SPECS` says, per command type, which request and response messages it carries and the
intent / value type a rejection names (Zeebe's, e.g. ``COMPLETE`` / ``JOB``).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, NamedTuple

from google.protobuf.message import Message

from ..proto import gateway_pb2 as gw
from ..proto import trio_zeebe_pb2 as tz
from .rejection import Rejection, decode_rejection

__all__ = [
    "DEFERRED",
    "SPECS",
    "Answer",
    "AnswerStatus",
    "CommandSpec",
    "CommandType",
    "command",
    "decode_answer",
    "ok",
    "rejected",
]


class CommandType(IntEnum):
    """The first byte of a command payload: which request follows."""

    ACTIVATE_JOBS = 1
    CANCEL_PROCESS_INSTANCE = 2
    COMPLETE_JOB = 3
    CREATE_PROCESS_INSTANCE = 4
    CREATE_PROCESS_INSTANCE_WITH_RESULT = 5
    EVALUATE_DECISION = 6
    DEPLOY_PROCESS = 7
    DEPLOY_RESOURCE = 8
    FAIL_JOB = 9
    THROW_ERROR = 10
    PUBLISH_MESSAGE = 11
    RESOLVE_INCIDENT = 12
    SET_VARIABLES = 13
    UPDATE_JOB_RETRIES = 14
    MODIFY_PROCESS_INSTANCE = 15
    MIGRATE_PROCESS_INSTANCE = 16
    UPDATE_JOB_TIMEOUT = 17
    DELETE_RESOURCE = 18
    BROADCAST_SIGNAL = 19
    # the trio_zeebe.v1 extension
    CREATE_JOB = 64


class AnswerStatus(IntEnum):
    OK = 0
    REJECTED = 1
    DEFERRED = 2


class CommandSpec(NamedTuple):
    request: type[Message]
    response: type[Message]
    value_type: str  # Zeebe's value type, named in rejections
    intent: str  # Zeebe's command intent, named in rejections


_C = CommandType
SPECS: dict[CommandType, CommandSpec] = {
    _C.ACTIVATE_JOBS: CommandSpec(
        gw.ActivateJobsRequest, gw.ActivateJobsResponse, "JOB_BATCH", "ACTIVATE"
    ),
    _C.CANCEL_PROCESS_INSTANCE: CommandSpec(
        gw.CancelProcessInstanceRequest,
        gw.CancelProcessInstanceResponse,
        "PROCESS_INSTANCE",
        "CANCEL",
    ),
    _C.COMPLETE_JOB: CommandSpec(gw.CompleteJobRequest, gw.CompleteJobResponse, "JOB", "COMPLETE"),
    _C.CREATE_PROCESS_INSTANCE: CommandSpec(
        gw.CreateProcessInstanceRequest,
        gw.CreateProcessInstanceResponse,
        "PROCESS_INSTANCE_CREATION",
        "CREATE",
    ),
    _C.CREATE_PROCESS_INSTANCE_WITH_RESULT: CommandSpec(
        gw.CreateProcessInstanceWithResultRequest,
        gw.CreateProcessInstanceWithResultResponse,
        "PROCESS_INSTANCE_CREATION",
        "CREATE_WITH_AWAITING_RESULT",
    ),
    _C.EVALUATE_DECISION: CommandSpec(
        gw.EvaluateDecisionRequest,
        gw.EvaluateDecisionResponse,
        "DECISION_EVALUATION",
        "EVALUATE",
    ),
    _C.DEPLOY_PROCESS: CommandSpec(
        gw.DeployProcessRequest, gw.DeployProcessResponse, "DEPLOYMENT", "CREATE"
    ),
    _C.DEPLOY_RESOURCE: CommandSpec(
        gw.DeployResourceRequest, gw.DeployResourceResponse, "DEPLOYMENT", "CREATE"
    ),
    _C.FAIL_JOB: CommandSpec(gw.FailJobRequest, gw.FailJobResponse, "JOB", "FAIL"),
    _C.THROW_ERROR: CommandSpec(gw.ThrowErrorRequest, gw.ThrowErrorResponse, "JOB", "THROW_ERROR"),
    _C.PUBLISH_MESSAGE: CommandSpec(
        gw.PublishMessageRequest, gw.PublishMessageResponse, "MESSAGE", "PUBLISH"
    ),
    _C.RESOLVE_INCIDENT: CommandSpec(
        gw.ResolveIncidentRequest, gw.ResolveIncidentResponse, "INCIDENT", "RESOLVE"
    ),
    _C.SET_VARIABLES: CommandSpec(
        gw.SetVariablesRequest, gw.SetVariablesResponse, "VARIABLE_DOCUMENT", "UPDATE"
    ),
    _C.UPDATE_JOB_RETRIES: CommandSpec(
        gw.UpdateJobRetriesRequest, gw.UpdateJobRetriesResponse, "JOB", "UPDATE_RETRIES"
    ),
    _C.MODIFY_PROCESS_INSTANCE: CommandSpec(
        gw.ModifyProcessInstanceRequest,
        gw.ModifyProcessInstanceResponse,
        "PROCESS_INSTANCE_MODIFICATION",
        "MODIFY",
    ),
    _C.MIGRATE_PROCESS_INSTANCE: CommandSpec(
        gw.MigrateProcessInstanceRequest,
        gw.MigrateProcessInstanceResponse,
        "PROCESS_INSTANCE_MIGRATION",
        "MIGRATE",
    ),
    _C.UPDATE_JOB_TIMEOUT: CommandSpec(
        gw.UpdateJobTimeoutRequest, gw.UpdateJobTimeoutResponse, "JOB", "UPDATE_TIMEOUT"
    ),
    _C.DELETE_RESOURCE: CommandSpec(
        gw.DeleteResourceRequest, gw.DeleteResourceResponse, "RESOURCE_DELETION", "DELETE"
    ),
    _C.BROADCAST_SIGNAL: CommandSpec(
        gw.BroadcastSignalRequest, gw.BroadcastSignalResponse, "SIGNAL", "BROADCAST"
    ),
    _C.CREATE_JOB: CommandSpec(tz.CreateJobRequest, tz.CreateJobResponse, "JOB", "CREATE"),
}

DEFERRED = bytes([AnswerStatus.DEFERRED])
_OK = bytes([AnswerStatus.OK])
_REJECTED = bytes([AnswerStatus.REJECTED])


def command(kind: CommandType, request: Message) -> bytes:
    """A command payload: the type byte and the serialized request."""
    return bytes([kind]) + request.SerializeToString()


def ok(response: Message) -> bytes:
    return _OK + response.SerializeToString()


def rejected(rejection: Rejection) -> bytes:
    return _REJECTED + rejection.encode()


class Answer(NamedTuple):
    """A decoded answer: ``body`` is the response bytes (OK), the Rejection (REJECTED), or
    None (DEFERRED)."""

    status: AnswerStatus
    body: Any

    def response(self, kind: CommandType) -> Message:
        """The OK answer's response message for a command of ``kind``."""
        if self.status is not AnswerStatus.OK:
            raise ValueError(f"not an OK answer: {self.status.name}")
        message = SPECS[kind].response()
        message.ParseFromString(self.body)
        return message


def decode_answer(data: bytes) -> Answer:
    """Split an answer; raises ValueError for bytes that are not one."""
    if not data:
        raise ValueError("an answer has at least its status byte")
    try:
        status = AnswerStatus(data[0])
    except ValueError:
        raise ValueError(f"unknown answer status {data[0]}") from None
    if status is AnswerStatus.OK:
        return Answer(status, data[1:])
    if status is AnswerStatus.REJECTED:
        return Answer(status, decode_rejection(data[1:]))
    if len(data) != 1:
        raise ValueError("a deferred answer carries no body")
    return Answer(status, None)
