"""The command and answer framing, and rejections as the gateway will present them."""

from __future__ import annotations

import pytest

from trio_zeebe import codec
from trio_zeebe.engine.commands import (
    DEFERRED,
    SPECS,
    AnswerStatus,
    CommandType,
    command,
    decode_answer,
    ok,
    rejected,
)
from trio_zeebe.engine.rejection import Rejection, decode_rejection, grpc_code
from trio_zeebe.proto import gateway_pb2 as gw

from .driver import Driver

C = CommandType


def test_every_gateway_rpc_that_reaches_a_partition_has_a_command_type() -> None:
    names = {spec.request.DESCRIPTOR.name for spec in SPECS.values()}
    for rpc in (
        "ActivateJobs",
        "CancelProcessInstance",
        "CompleteJob",
        "CreateProcessInstance",
        "CreateProcessInstanceWithResult",
        "EvaluateDecision",
        "DeployProcess",
        "DeployResource",
        "FailJob",
        "ThrowError",
        "PublishMessage",
        "ResolveIncident",
        "SetVariables",
        "UpdateJobRetries",
        "ModifyProcessInstance",
        "MigrateProcessInstance",
        "UpdateJobTimeout",
        "DeleteResource",
        "BroadcastSignal",
        "CreateJob",
    ):
        assert f"{rpc}Request" in names
    assert all(0 < kind < 256 for kind in SPECS)


def test_answers_round_trip() -> None:
    response = gw.CreateProcessInstanceResponse(processInstanceKey=5, bpmnProcessId="p")
    answer = decode_answer(ok(response))
    assert answer.status is AnswerStatus.OK
    assert answer.response(C.CREATE_PROCESS_INSTANCE) == response
    rejection = Rejection("NOT_FOUND", "COMPLETE", "JOB", "Expected to ..., but ...")
    assert decode_answer(rejected(rejection)) == (AnswerStatus.REJECTED, rejection)
    assert decode_answer(DEFERRED) == (AnswerStatus.DEFERRED, None)
    for bad in (b"", b"\x07", b"\x02x", b"\x01garbage"):
        with pytest.raises((ValueError, codec.DecodeError)):
            decode_answer(bad)


def test_a_rejection_becomes_zeebe_grpc_status() -> None:
    rejection = Rejection(
        "INVALID_STATE",
        "COMPLETE",
        "JOB",
        "Expected to complete job with key '1', but it is in state 'FAILED'",
    )
    assert rejection.grpc_message() == (
        "Command 'COMPLETE' rejected with code 'INVALID_STATE': Expected to complete job with "
        "key '1', but it is in state 'FAILED'"
    )
    assert grpc_code(rejection) == "FAILED_PRECONDITION"
    codes = {t: grpc_code(Rejection(t, "X", "Y", "")) for t in ("INVALID_ARGUMENT", "NOT_FOUND")}
    assert codes == {"INVALID_ARGUMENT": "INVALID_ARGUMENT", "NOT_FOUND": "NOT_FOUND"}
    assert grpc_code(Rejection("PROCESSING_ERROR", "X", "Y", "")) == "INTERNAL"
    assert grpc_code(Rejection("EXCEEDED_BATCH_RECORD_SIZE", "X", "Y", "")) == "UNKNOWN"
    assert decode_rejection(rejection.encode()) == rejection


def test_unknown_types_and_unparsable_requests_are_rejected() -> None:
    d = Driver()
    unknown = decode_answer(d.apply(b"\xfe"))
    assert unknown.status is AnswerStatus.REJECTED and unknown.body.type == "INVALID_ARGUMENT"
    empty = decode_answer(d.apply(b""))
    assert empty.status is AnswerStatus.REJECTED
    garbled = decode_answer(d.apply(bytes([C.COMPLETE_JOB]) + b"\xff\xff\xff"))
    assert garbled.status is AnswerStatus.REJECTED
    assert (garbled.body.intent, garbled.body.value_type) == ("COMPLETE", "JOB")


def test_commands_of_later_issues_are_refused_for_now() -> None:
    d = Driver()
    rejection = d.reject(C.PUBLISH_MESSAGE, gw.PublishMessageRequest(name="m"))
    assert rejection.type == "PROCESSING_ERROR" and rejection.intent == "PUBLISH"
    assert rejection.reason == "Expected to process command 'PUBLISH', but it is not supported yet"


def test_a_record_at_or_below_the_last_position_is_not_applied_twice() -> None:
    d = Driver()
    payload = command(C.CREATE_JOB, gw.ActivateJobsRequest())  # any bytes
    d.engine.apply(payload, 10, 0.0)
    again = decode_answer(d.engine.apply(payload, 10, 0.0))
    assert again.status is AnswerStatus.REJECTED and again.body.type == "PROCESSING_ERROR"


def test_the_trace_listener_sees_zeebe_like_records_and_can_be_removed() -> None:
    d = Driver()
    d.create_job("t")
    assert [(r.value_type, r.intent) for r in d.records] == [("JOB", "CREATED")]
    d.engine.set_trace(None)
    d.create_job("t")
    assert len(d.records) == 1
