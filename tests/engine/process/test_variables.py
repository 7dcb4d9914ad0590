"""Variables and mappings as Zeebe scopes and propagates them (reference §4.4), and the
incidents failing mappings raise (§4.5)."""

from __future__ import annotations

import json

from trio_zeebe.engine.commands import CommandType
from trio_zeebe.proto import gateway_pb2 as gw
from trio_zeebe.testing.bpmn import ProcessBuilder

from .driver import Driver


def task(inputs: dict[str, str] | None = None, outputs: dict[str, str] | None = None) -> bytes:
    return (
        ProcessBuilder("p")
        .start_event()
        .service_task("task", job_type="work", inputs=inputs, outputs=outputs)
        .service_task("next", job_type="next")
        .end_event()
        .done()
    )


def test_input_mappings_are_locals_of_the_task_evaluated_in_order() -> None:
    d = Driver()
    d.deploy(task(inputs={"a": "=x + 1", "b": "=a * 10", "c.d": "=a", "s": "static"}))
    pi = d.create("p", {"x": 1, "c": {"keep": True}})
    job = d.job("work")
    local = d.variables(job.elementInstanceKey)
    # a later mapping sees an earlier one; a nested target updates a copy of the visible
    # object; a static source is a string
    assert local == {"a": 2, "b": 20, "c": {"keep": True, "d": 2}, "s": "static"}
    assert d.variables(pi) == {"x": 1, "c": {"keep": True}}  # the root is untouched


def test_a_missing_source_variable_maps_to_null() -> None:
    d = Driver()
    d.deploy(task(inputs={"a": "=missing"}))
    d.create("p")
    job = d.job("work")
    assert d.variables(job.elementInstanceKey) == {"a": None}


def test_job_variables_propagate_without_output_mappings() -> None:
    d = Driver()
    d.deploy(task(inputs={"local": "=1"}))
    pi = d.create("p", {"existing": 0})
    d.complete_type("work", {"existing": 5, "fresh": 6, "local": 7})
    # each variable goes to the nearest scope that has it; unknown ones to the root; the one
    # the task has locally (an input target) is updated there and leaves with the task
    assert d.variables(pi) == {"existing": 5, "fresh": 6}


def test_with_output_mappings_only_the_mapped_variables_leave_the_task() -> None:
    d = Driver()
    d.deploy(task(outputs={"total": "=price * count", "order.status": '="done"'}))
    pi = d.create("p", {"count": 3, "order": {"id": 1}})
    d.complete_type("work", {"price": 2, "noise": True})
    assert d.variables(pi) == {"count": 3, "order": {"id": 1, "status": "done"}, "total": 6}


def test_fail_job_variables_are_set_locally_on_the_task() -> None:
    d = Driver()
    d.deploy(task())
    pi = d.create("p")
    job = d.job("work")
    d.fail(job.key, retries=2, attempt=1)
    assert d.variables(job.elementInstanceKey) == {"attempt": 1}
    assert d.variables(pi) == {}
    again = d.job("work")
    assert json.loads(again.variables) == {"attempt": 1}


def test_set_variables_local_or_propagated() -> None:
    d = Driver()
    d.deploy(task(inputs={"shadow": "=0"}))
    pi = d.create("p", {"shadow": 100})
    job = d.job("work")
    d.set_variables(job.elementInstanceKey, shadow=1, fresh=2)  # propagate
    assert d.variables(job.elementInstanceKey) == {"shadow": 1}
    assert d.variables(pi) == {"shadow": 100, "fresh": 2}
    d.set_variables(job.elementInstanceKey, local=True, mine=3)
    assert d.variables(job.elementInstanceKey) == {"shadow": 1, "mine": 3}


def test_set_variables_on_an_unknown_element_is_not_found() -> None:
    d = Driver()
    rejection = d.reject(
        CommandType.SET_VARIABLES, gw.SetVariablesRequest(elementInstanceKey=123, variables="{}")
    )
    assert rejection.type == "NOT_FOUND" and rejection.intent == "UPDATE"
    assert rejection.value_type == "VARIABLE_DOCUMENT"
    assert rejection.reason == (
        "Expected to update variables for element with key '123', but no such element was found"
    )


def test_invalid_variables_documents_are_rejected_with_the_gateway_texts() -> None:
    d = Driver()
    d.deploy(task())
    bad = d.reject(
        CommandType.CREATE_PROCESS_INSTANCE,
        gw.CreateProcessInstanceRequest(bpmnProcessId="p", version=-1, variables="{nope"),
    )
    assert bad.type == "INVALID_ARGUMENT" and bad.reason == "Invalid JSON value: {nope"
    array = d.reject(
        CommandType.CREATE_PROCESS_INSTANCE,
        gw.CreateProcessInstanceRequest(bpmnProcessId="p", version=-1, variables="[1]"),
    )
    assert array.reason == "Expected document to be a root level object, but was 'ARRAY'"


def test_a_failing_input_mapping_is_an_io_mapping_incident_then_resolving_retries_it() -> None:
    d = Driver()
    d.deploy(task(inputs={"a": "=assert(x, x != null)"}))
    pi = d.create("p")
    incident = d.incident()
    assert incident.error_type == "IO_MAPPING_ERROR"
    assert incident.message.startswith("failed to evaluate expression 'assert(x, x != null)'")
    assert d.engine.instances()[incident.element_instance_key].state == "ELEMENT_ACTIVATING"
    assert not d.engine.jobs()  # nothing was created
    d.set_variables(pi, x=1)
    d.resolve(incident.key)
    job = d.job("work")
    assert d.variables(job.elementInstanceKey) == {"a": 1}


def test_a_failing_output_mapping_leaves_the_task_completing() -> None:
    d = Driver()
    d.deploy(task(outputs={"r": "=assert(ok, ok)"}))
    pi = d.create("p")
    d.complete_type("work", {"ok": False})
    incident = d.incident()
    assert incident.error_type == "IO_MAPPING_ERROR"
    assert d.engine.instances()[incident.element_instance_key].state == "ELEMENT_COMPLETING"
    d.set_variables(incident.element_instance_key, local=True, ok=True)
    d.resolve(incident.key)
    assert d.activated("next")
    assert d.variables(pi)["r"] is True


def test_job_type_and_retries_may_be_expressions() -> None:
    xml = (
        ProcessBuilder("p")
        .start_event()
        .service_task("task", job_type='=kind + "-worker"', retries="=tries")
        .end_event()
        .done()
    )
    d = Driver()
    d.deploy(xml)
    d.create("p", {"kind": "pay", "tries": 7})
    job = d.job("pay-worker")
    assert job.retries == 7


def test_a_job_type_expression_of_the_wrong_type_is_an_extract_value_incident() -> None:
    xml = ProcessBuilder("p").start_event().service_task("task", job_type="=kind").end_event()
    d = Driver()
    d.deploy(xml.done())
    d.create("p", {"kind": 42})
    incident = d.incident()
    assert incident.error_type == "EXTRACT_VALUE_ERROR"
    assert incident.message == (
        "Expected result of the expression 'kind' to be 'STRING', but was 'NUMBER'."
    )
