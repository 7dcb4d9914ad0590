"""Creating, awaiting, cancelling process instances (reference §1.3, §4.3)."""

from __future__ import annotations

import json

from trio_zeebe.engine.commands import AnswerStatus, CommandType, command, decode_answer
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.testing.bpmn import ProcessBuilder

from .driver import Driver

C = CommandType


def simple(process_id: str = "p", job_type: str = "work") -> bytes:
    b = ProcessBuilder(process_id).start_event("start")
    return b.service_task("task", job_type=job_type).end_event("end").done()


def test_create_by_id_latest_version_by_version_and_by_key() -> None:
    d = Driver()
    v1 = d.deploy(("a.bpmn", simple(job_type="one"))).deployments[0].process
    v2 = d.deploy(("a.bpmn", simple(job_type="two"))).deployments[0].process
    assert (v1.version, v2.version) == (1, 2)
    latest = d.ok(
        C.CREATE_PROCESS_INSTANCE, gw.CreateProcessInstanceRequest(bpmnProcessId="p", version=-1)
    )
    assert latest.version == 2 and latest.processDefinitionKey == v2.processDefinitionKey
    assert latest.bpmnProcessId == "p" and latest.tenantId == "<default>"
    first = d.ok(
        C.CREATE_PROCESS_INSTANCE, gw.CreateProcessInstanceRequest(bpmnProcessId="p", version=1)
    )
    assert first.version == 1
    by_key = d.ok(
        C.CREATE_PROCESS_INSTANCE,
        gw.CreateProcessInstanceRequest(processDefinitionKey=v1.processDefinitionKey),
    )
    assert by_key.version == 1
    # two instances of version 1 (by version and by key), one of version 2 (latest)
    assert len(d.activate("one")) == 2 and len(d.activate("two")) == 1
    assert latest.processInstanceKey >> 51 == 1


def test_create_rejections_carry_zeebe_texts() -> None:
    d = Driver()
    d.deploy(simple())

    def reject(**fields: object) -> tuple[str, str]:
        rejection = d.reject(C.CREATE_PROCESS_INSTANCE, gw.CreateProcessInstanceRequest(**fields))
        assert rejection.intent == "CREATE"
        assert rejection.value_type == "PROCESS_INSTANCE_CREATION"
        return rejection.type, rejection.reason

    assert reject(bpmnProcessId="nope", version=-1) == (
        "NOT_FOUND",
        "Expected to find process definition with process ID 'nope', but none found",
    )
    assert reject(bpmnProcessId="p", version=9) == (
        "NOT_FOUND",
        "Expected to find process definition with process ID 'p' and version '9', but none found",
    )
    assert reject(processDefinitionKey=42) == (
        "NOT_FOUND",
        "Expected to find process definition with key '42', but none found",
    )
    assert reject(processDefinitionKey=-1) == (
        "INVALID_ARGUMENT",
        "Expected at least a bpmnProcessId or a key greater than -1, but none given",
    )


def test_only_a_process_with_a_none_start_event_can_be_created() -> None:
    xml = ProcessBuilder("m").start_event(message="go", correlation_key="=k").end_event().done()
    d = Driver()
    d.deploy(xml)
    rejection = d.reject(
        C.CREATE_PROCESS_INSTANCE, gw.CreateProcessInstanceRequest(bpmnProcessId="m", version=-1)
    )
    assert rejection.type == "INVALID_STATE"
    assert rejection.reason == (
        "Expected to create instance of process with none start event, but there is no such event"
    )


def with_result_request(
    fetch: list[str] | None = None,
) -> gw.CreateProcessInstanceWithResultRequest:
    return gw.CreateProcessInstanceWithResultRequest(
        request=gw.CreateProcessInstanceRequest(
            bpmnProcessId="p", version=-1, variables=json.dumps({"a": 1, "b": 2})
        ),
        fetchVariables=fetch or [],
    )


def test_create_with_result_answers_once_the_instance_completes() -> None:
    d = Driver()
    d.deploy(simple())
    answer = d.send(C.CREATE_PROCESS_INSTANCE_WITH_RESULT, with_result_request())
    assert answer.status is AnswerStatus.DEFERRED
    position = d.position
    assert d.engine.take_answers() == []
    d.complete_type("work", {"c": 3})
    ((answered, data),) = d.engine.take_answers()
    assert answered == position  # the position of the command it answers
    response = decode_answer(data).response(C.CREATE_PROCESS_INSTANCE_WITH_RESULT)
    assert response.bpmnProcessId == "p" and response.version == 1
    assert json.loads(response.variables) == {"a": 1, "b": 2, "c": 3}
    assert d.engine.take_answers() == []


def test_create_with_result_fetches_only_the_named_variables() -> None:
    d = Driver()
    d.deploy(ProcessBuilder("p").start_event().end_event().done())
    d.send(C.CREATE_PROCESS_INSTANCE_WITH_RESULT, with_result_request(["b", "zz"]))
    ((_, data),) = d.engine.take_answers()  # a process without wait states: in the same apply
    response = decode_answer(data).response(C.CREATE_PROCESS_INSTANCE_WITH_RESULT)
    assert json.loads(response.variables) == {"b": 2}


def test_a_cancelled_instance_sends_no_result() -> None:
    d = Driver()
    d.deploy(simple())
    d.send(C.CREATE_PROCESS_INSTANCE_WITH_RESULT, with_result_request())
    (pi,) = [i.key for i in d.engine.instances().values() if i.element_type == "PROCESS"]
    d.cancel(pi)
    assert d.engine.take_answers() == []
    assert d.engine.instances() == {}


def test_a_result_request_for_a_missing_process_is_rejected_at_once() -> None:
    d = Driver()
    rejection = d.reject(C.CREATE_PROCESS_INSTANCE_WITH_RESULT, with_result_request())
    assert rejection.type == "NOT_FOUND" and rejection.intent == "CREATE_WITH_AWAITING_RESULT"


def test_cancel_terminates_children_first_and_then_the_instance() -> None:
    d = Driver()
    d.deploy(simple())
    pi = d.create("p")
    d.cancel(pi)
    path = d.path(pi)
    assert path[-4:] == [
        ("p", "ELEMENT_TERMINATING"),
        ("task", "ELEMENT_TERMINATING"),
        ("task", "ELEMENT_TERMINATED"),
        ("p", "ELEMENT_TERMINATED"),
    ]
    rejection = d.reject(
        C.CANCEL_PROCESS_INSTANCE, gw.CancelProcessInstanceRequest(processInstanceKey=pi)
    )
    assert rejection.type == "NOT_FOUND" and rejection.intent == "CANCEL"
    assert rejection.reason == (
        f"Expected to cancel a process instance with key '{pi}', but no such process was found"
    )


def test_a_called_child_instance_cannot_be_cancelled_directly() -> None:
    parent = ProcessBuilder("parent").start_event().call_activity("c", process_id="p").end_event()
    d = Driver()
    d.deploy(simple(), parent.done())
    root = d.create("parent")
    child = d.job("work").processInstanceKey
    rejection = d.reject(
        C.CANCEL_PROCESS_INSTANCE, gw.CancelProcessInstanceRequest(processInstanceKey=child)
    )
    assert rejection.type == "INVALID_STATE"
    assert rejection.reason == (
        f"Expected to cancel a process instance with key '{child}', but it is created by a "
        f"parent process instance. Cancel the root process instance '{root}' instead."
    )


def test_an_element_key_is_not_a_process_instance_to_cancel() -> None:
    d = Driver()
    d.deploy(simple())
    d.create("p")
    task = d.job("work").elementInstanceKey
    rejection = d.reject(
        C.CANCEL_PROCESS_INSTANCE, gw.CancelProcessInstanceRequest(processInstanceKey=task)
    )
    assert rejection.type == "NOT_FOUND"


def test_resolving_an_unknown_incident_is_not_found() -> None:
    d = Driver()
    rejection = d.reject(C.RESOLVE_INCIDENT, gw.ResolveIncidentRequest(incidentKey=5))
    assert rejection.type == "NOT_FOUND" and rejection.intent == "RESOLVE"
    assert rejection.reason == (
        "Expected to resolve incident with key '5', but no such incident was found"
    )


def test_start_instructions_are_refused_for_now() -> None:
    d = Driver()
    d.deploy(simple())
    request = gw.CreateProcessInstanceRequest(bpmnProcessId="p", version=-1)
    request.startInstructions.append(gw.ProcessInstanceCreationStartInstruction(elementId="task"))
    assert d.reject(C.CREATE_PROCESS_INSTANCE, request).type == "INVALID_ARGUMENT"


def test_payload_bytes_are_the_request_as_the_client_sent_it() -> None:
    d = Driver()
    d.deploy(simple())
    request = gw.CreateProcessInstanceRequest(bpmnProcessId="p", version=-1)
    payload = command(C.CREATE_PROCESS_INSTANCE, request)
    assert payload == bytes([C.CREATE_PROCESS_INSTANCE]) + request.SerializeToString()
    assert decode_answer(d.apply(payload)).status is AnswerStatus.OK
