"""Tasks and events: the lifecycle Zeebe gives them (reference §4.1, §4.3)."""

from __future__ import annotations

import json

from trio_zeebe.testing.bpmn import ProcessBuilder

from .driver import Driver


def test_a_service_task_goes_through_zeebe_lifecycle() -> None:
    xml = ProcessBuilder("p").start_event("s").service_task("t", job_type="x").end_event("e")
    d = Driver()
    d.deploy(xml.done())
    pi = d.create("p")
    d.complete_type("x")
    assert d.path(pi) == [
        ("p", "ELEMENT_ACTIVATING"),
        ("p", "ELEMENT_ACTIVATED"),
        ("s", "ELEMENT_ACTIVATING"),
        ("s", "ELEMENT_ACTIVATED"),
        ("s", "ELEMENT_COMPLETING"),
        ("s", "ELEMENT_COMPLETED"),
        ("Flow_1", "SEQUENCE_FLOW_TAKEN"),
        ("t", "ELEMENT_ACTIVATING"),
        ("t", "ELEMENT_ACTIVATED"),
        ("t", "ELEMENT_COMPLETING"),
        ("t", "ELEMENT_COMPLETED"),
        ("Flow_2", "SEQUENCE_FLOW_TAKEN"),
        ("e", "ELEMENT_ACTIVATING"),
        ("e", "ELEMENT_ACTIVATED"),
        ("e", "ELEMENT_COMPLETING"),
        ("e", "ELEMENT_COMPLETED"),
        ("p", "ELEMENT_COMPLETING"),
        ("p", "ELEMENT_COMPLETED"),
    ]
    # every element instance and every taken flow has its own key from this partition
    keys = [
        r.key
        for r in d.of("PROCESS_INSTANCE")
        if r.intent in ("ELEMENT_ACTIVATING", "SEQUENCE_FLOW_TAKEN")
    ]
    assert len(set(keys)) == len(keys) and all(k >> 51 == 1 for k in keys)
    assert keys[0] == pi


def test_manual_and_undefined_tasks_pass_through() -> None:
    xml = ProcessBuilder("p").start_event().manual_task("m").task("u").end_event().done()
    d = Driver()
    d.deploy(xml)
    pi = d.create("p")
    assert d.completed("m") and d.completed("u") and d.is_done(pi)


def test_send_and_job_based_script_tasks_are_job_tasks() -> None:
    xml = ProcessBuilder("p").start_event().send_task("send", job_type="mail").end_event().done()
    d = Driver()
    d.deploy(xml)
    pi = d.create("p")
    d.complete_type("mail")
    assert d.is_done(pi)


def test_a_feel_script_task_stores_its_result() -> None:
    xml = (
        ProcessBuilder("p")
        .start_event()
        .script_task("calc", expression="=sum(prices) * 2", result_variable="total")
        .service_task("after", job_type="after")
        .end_event()
        .done()
    )
    d = Driver()
    d.deploy(xml)
    d.create("p", {"prices": [1, 2.5]})
    assert json.loads(d.job("after").variables)["total"] == 7


def test_a_business_rule_task_without_the_decision_is_an_incident() -> None:
    xml = (
        ProcessBuilder("p")
        .start_event()
        .business_rule_task("rule", decision_id="approve", result_variable="ok")
        .end_event()
        .done()
    )
    d = Driver()
    d.deploy(xml)
    d.create("p")
    incident = d.incident()
    assert incident.error_type == "CALLED_DECISION_ERROR"
    assert incident.message == (
        "Expected to evaluate decision 'approve', but no decision found for id 'approve'"
    )


def test_message_catch_events_and_receive_tasks_wait_and_can_be_cancelled() -> None:
    xml = (
        ProcessBuilder("p")
        .start_event()
        .intermediate_catch_event("wait", message="paid", correlation_key="=id")
        .end_event()
        .done()
    )
    d = Driver()
    d.deploy(xml)
    pi = d.create("p", {"id": "1"})
    assert d.activated("wait") and not d.is_done(pi)
    d.cancel(pi)
    assert ("wait", "ELEMENT_TERMINATED") in d.path(pi) and d.is_done(pi)


def test_a_native_user_task_waits() -> None:
    xml = ProcessBuilder("p").start_event().user_task("u", native=True).end_event().done()
    d = Driver()
    d.deploy(xml)
    pi = d.create("p")
    assert d.activated("u") and not d.engine.jobs() and not d.is_done(pi)


def test_a_link_throw_event_continues_at_its_catch_event() -> None:
    b = ProcessBuilder("p").start_event().intermediate_throw_event("go", link="next")
    b.intermediate_catch_event("arrive", link="next").service_task("t", job_type="t").end_event()
    d = Driver()
    d.deploy(b.done())
    pi = d.create("p")
    path = d.path(pi)
    assert path.index(("go", "ELEMENT_COMPLETED")) < path.index(("arrive", "ELEMENT_ACTIVATED"))
    d.complete_type("t")
    assert d.is_done(pi)


def test_end_event_output_mappings_apply() -> None:
    xml = ProcessBuilder("p").start_event().end_event("e", outputs={"done": "=true"}).done()
    d = Driver()
    d.deploy(xml)
    pi = d.create("p")
    assert d.completed_variables(pi) == {"done": True}


def test_a_process_with_several_end_paths_completes_after_the_last() -> None:
    b = ProcessBuilder("p").start_event().parallel_gateway("fork")
    b.service_task("a", job_type="a").end_event("ea")
    b.move_to("fork").service_task("b", job_type="b").end_event("eb")
    d = Driver()
    d.deploy(b.done())
    pi = d.create("p")
    d.complete_type("b")
    assert not d.is_done(pi)
    d.complete_type("a")
    assert d.is_done(pi)
