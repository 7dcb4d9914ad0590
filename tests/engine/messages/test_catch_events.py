"""Message catch events element by element: intermediate catch events, receive tasks,
boundary events, event subprocesses, event-based gateways; correlation keys and variables
(reference §4.3, §5.2)."""

from __future__ import annotations

from trio_zeebe.testing.bpmn import MultiInstanceSpec, ProcessBuilder, ScopeBuilder

from ..process.driver import Driver
from .support import publish


def deployed(xml: bytes) -> Driver:
    d = Driver()
    d.deploy(xml)
    return d


def subscription_intents(d: Driver, side: str = "PROCESS_MESSAGE_SUBSCRIPTION") -> list[str]:
    return [r.intent for r in d.of(side)]


# --- intermediate catch events and receive tasks ------------------------------------------


def test_an_intermediate_catch_event_merges_the_message_variables() -> None:
    d = deployed(
        ProcessBuilder("p")
        .start_event()
        .intermediate_catch_event("wait", message="paid", correlation_key="=orderId")
        .service_task("ship", job_type="ship")
        .done()
    )
    pi = d.create("p", {"orderId": "o-1", "amount": 1})
    assert subscription_intents(d) == ["CREATING", "CREATED"]
    publish(d, "paid", "o-2")  # another key: nothing
    assert not d.completed("wait", pi)
    publish(d, "paid", "o-1", variables={"amount": 5, "paidBy": "card"})
    assert d.completed("wait", pi)
    assert d.variables(pi) == {"orderId": "o-1", "amount": 5, "paidBy": "card"}
    assert subscription_intents(d) == ["CREATING", "CREATED", "CORRELATED"]
    assert [r.intent for r in d.of("MESSAGE_SUBSCRIPTION")] == [
        "CREATED",
        "CORRELATING",
        "CORRELATED",
    ]
    assert d.job("ship").variables  # the instance went on


def test_output_mappings_take_the_place_of_the_message_variables() -> None:
    d = deployed(
        ProcessBuilder("p")
        .start_event()
        .intermediate_catch_event(
            "wait", message="paid", correlation_key="=id", outputs={"total": "=amount * 2"}
        )
        .service_task("t", job_type="t")
        .done()
    )
    pi = d.create("p", {"id": "1"})
    publish(d, "paid", "1", variables={"amount": 4, "noise": True})
    assert d.variables(pi) == {"id": "1", "total": 8}


def test_a_receive_task_waits_for_its_message_and_closes_its_boundary_events() -> None:
    b = ProcessBuilder("p").start_event()
    b.receive_task("recv", message="done", correlation_key="=id")
    b.service_task("t", job_type="t")
    b.boundary_event("cancel", attached_to="recv", message="stop", correlation_key="=id")
    b.end_event("stopped")
    d = deployed(b.done())
    pi = d.create("p", {"id": "x"})
    names = [r.value["messageName"] for r in d.of("PROCESS_MESSAGE_SUBSCRIPTION", "CREATING")]
    assert names == ["done", "stop"]
    publish(d, "done", "x", variables={"ok": True})
    assert d.completed("recv", pi) and d.variables(pi)["ok"] is True
    closed = [r.value["messageName"] for r in d.of("PROCESS_MESSAGE_SUBSCRIPTION", "DELETED")]
    assert closed == ["stop"]
    publish(d, "stop", "x")
    assert not d.completed("cancel", pi)  # the boundary event closed with its task


def test_the_correlation_key_is_evaluated_once_on_activation() -> None:
    d = deployed(
        ProcessBuilder("p")
        .start_event()
        .receive_task("recv", message="m", correlation_key="=id")
        .service_task("t", job_type="t")
        .done()
    )
    pi = d.create("p", {"id": "old"})
    d.set_variables(pi, id="new")
    publish(d, "m", "new")
    assert not d.completed("recv", pi)
    publish(d, "m", "old")
    assert d.completed("recv", pi)


def test_a_number_correlation_key_is_its_integer_text() -> None:
    d = deployed(
        ProcessBuilder("p")
        .start_event()
        .receive_task("recv", message="m", correlation_key="=n")
        .service_task("t", job_type="t")
        .done()
    )
    whole, fraction = d.create("p", {"n": 42}), d.create("p", {"n": 12.7})
    keys = [r.value["correlationKey"] for r in d.of("PROCESS_MESSAGE_SUBSCRIPTION", "CREATING")]
    assert keys == ["42", "12"]
    publish(d, "m", "12")
    publish(d, "m", "42")
    assert d.completed("recv", whole) and d.completed("recv", fraction)


def test_a_message_name_may_be_an_expression() -> None:
    d = deployed(
        ProcessBuilder("p")
        .start_event()
        .receive_task("recv", message='="paid-" + kind', correlation_key="=id")
        .service_task("t", job_type="t")
        .done()
    )
    pi = d.create("p", {"id": "1", "kind": "card"})
    publish(d, "paid-card", "1")
    assert d.completed("recv", pi)


def test_a_correlation_key_that_is_no_string_or_number_is_an_incident() -> None:
    d = deployed(
        ProcessBuilder("p")
        .start_event()
        .intermediate_catch_event("catch", message="m", correlation_key="=orderId")
        .service_task("t", job_type="t")
        .done()
    )
    pi = d.create("p", {"orderId": True})
    incident = d.incident()
    assert incident.error_type == "EXTRACT_VALUE_ERROR"
    assert incident.message == (
        "Failed to extract the correlation key for 'orderId': The value must be either a "
        "string or a number, but was 'BOOLEAN'."
    )
    assert incident.element_id == "catch" and not d.of("PROCESS_MESSAGE_SUBSCRIPTION")
    missing = d.create("p")
    second = next(i for i in d.incidents() if i.process_instance_key == missing)
    assert second.message == (
        "Failed to extract the correlation key for 'orderId': The value must be either a "
        "string or a number, but was 'NULL'. The evaluation reported the following warnings:\n"
        "[NO_VARIABLE_FOUND] No variable found with name 'orderId'"
    )
    # fixed and resolved: the subscription opens and the message correlates
    d.set_variables(pi, orderId="o-9")
    d.resolve(incident.key)
    publish(d, "m", "o-9")
    assert d.completed("catch", pi)


# --- boundary events ----------------------------------------------------------------------


def with_boundary(interrupting: bool) -> bytes:
    b = ProcessBuilder("p").start_event().service_task("task", job_type="work")
    b.end_event("done")
    b.boundary_event(
        "extra",
        attached_to="task",
        message="poke",
        correlation_key="=id",
        interrupting=interrupting,
    )
    b.service_task("handle", job_type="handle")
    return b.done()


def test_an_interrupting_message_boundary_event_terminates_its_activity() -> None:
    d = deployed(with_boundary(True))
    pi = d.create("p", {"id": "1"})
    assert d.engine.jobs()
    publish(d, "poke", "1", variables={"why": "late"})
    assert ("task", "ELEMENT_TERMINATED") in d.path(pi)
    assert d.completed("extra", pi)
    assert [j.type for j in d.engine.jobs().values()] == ["handle"]
    assert d.variables(pi)["why"] == "late"


def test_a_non_interrupting_message_boundary_event_triggers_per_message() -> None:
    d = deployed(with_boundary(False))
    pi = d.create("p", {"id": "1"})
    publish(d, "poke", "1", variables={"n": 1})
    publish(d, "poke", "1", variables={"n": 2})
    assert len([r for r in d.path(pi) if r == ("extra", "ELEMENT_COMPLETED")]) == 2
    assert sorted(j.type for j in d.engine.jobs().values()) == ["handle", "handle", "work"]
    # the activity completes: its subscription closes; later messages stay buffered
    d.complete_type("work")
    publish(d, "poke", "1")
    assert len([r for r in d.path(pi) if r == ("extra", "ELEMENT_COMPLETED")]) == 2
    assert subscription_intents(d)[-2:] == ["DELETING", "DELETED"]


def test_a_message_boundary_event_of_a_multi_instance_activity_belongs_to_the_body() -> None:
    b = ProcessBuilder("p").start_event()
    b.service_task("task", job_type="work", multi_instance=MultiInstanceSpec("=[1, 2, 3]"))
    b.end_event("done")
    b.boundary_event("stop", attached_to="task", message="stop", correlation_key="=id")
    b.end_event("stopped")
    d = deployed(b.done())
    pi = d.create("p", {"id": "1"})
    assert len(d.of("PROCESS_MESSAGE_SUBSCRIPTION", "CREATING")) == 1
    publish(d, "stop", "1")
    assert d.completed("stopped", pi) and not d.engine.jobs() and d.is_done(pi)


def test_a_message_boundary_event_on_a_call_activity_terminates_the_child() -> None:
    child = ProcessBuilder("child").start_event().service_task("c", job_type="c").done()
    b = ProcessBuilder("p").start_event().call_activity("call", process_id="child")
    b.end_event()
    b.boundary_event("stop", attached_to="call", message="stop", correlation_key="=id")
    b.end_event("stopped")
    d = Driver()
    d.deploy(child, b.done())
    pi = d.create("p", {"id": "1"})
    assert d.engine.jobs()
    publish(d, "stop", "1")
    assert d.completed("stopped", pi) and not d.engine.jobs() and d.is_done(pi)


# --- event subprocesses -------------------------------------------------------------------


def with_event_subprocess(interrupting: bool) -> bytes:
    def sub(s: ScopeBuilder) -> None:
        s.start_event(
            "on-poke", message="poke", correlation_key="=id", interrupting=interrupting
        ).service_task("handle", job_type="handle").end_event()

    def other(s: ScopeBuilder) -> None:
        s.start_event("on-other", message="other", correlation_key="=id").end_event()

    b = ProcessBuilder("p").start_event().service_task("task", job_type="work").end_event()
    b.event_sub_process("esp", sub)
    b.event_sub_process("esp2", other)
    return b.done()


def test_an_interrupting_message_event_subprocess_takes_over_its_scope() -> None:
    d = deployed(with_event_subprocess(True))
    pi = d.create("p", {"id": "1"})
    publish(d, "poke", "1", variables={"v": 1})
    assert ("task", "ELEMENT_TERMINATED") in d.path(pi)
    assert [j.type for j in d.engine.jobs().values()] == ["handle"]
    assert d.variables(pi)["v"] == 1
    # the scope's other event subprocess subscription closed with the interruption
    closed = [r.value["messageName"] for r in d.of("PROCESS_MESSAGE_SUBSCRIPTION", "DELETED")]
    assert closed == ["other"]
    d.complete_type("handle")
    assert d.is_done(pi)


def test_a_non_interrupting_message_event_subprocess_runs_beside_the_scope() -> None:
    d = deployed(with_event_subprocess(False))
    pi = d.create("p", {"id": "1"})
    publish(d, "poke", "1")
    publish(d, "poke", "1")
    assert sorted(j.type for j in d.engine.jobs().values()) == ["handle", "handle", "work"]
    for _ in range(2):
        d.complete_type("handle")
    assert not d.is_done(pi)
    d.complete_type("work")
    assert d.is_done(pi)
    assert not d.engine.instances()
    assert subscription_intents(d).count("DELETED") == 2  # both closed with the process


# --- event-based gateways -----------------------------------------------------------------


def gateway_process() -> bytes:
    b = ProcessBuilder("p").start_event().event_based_gateway("gw")
    b.intermediate_catch_event("paid", message="paid", correlation_key="=id")
    b.service_task("ship", job_type="ship")
    b.move_to("gw").intermediate_catch_event("cancelled", message="cancel", correlation_key="=id")
    b.end_event("gone")
    return b.done()


def test_the_first_message_at_an_event_based_gateway_wins() -> None:
    d = deployed(gateway_process())
    pi = d.create("p", {"id": "1"})
    assert len(d.of("PROCESS_MESSAGE_SUBSCRIPTION", "CREATING")) == 2
    assert not d.activated("paid")  # the events wait through the gateway
    publish(d, "paid", "1", variables={"amount": 7})
    publish(d, "cancel", "1")
    assert d.completed("gw", pi) and d.completed("paid", pi)
    assert not d.activated("cancelled")
    assert d.variables(pi)["amount"] == 7
    closed = [r.value["messageName"] for r in d.of("PROCESS_MESSAGE_SUBSCRIPTION", "DELETED")]
    assert closed == ["cancel"]
    assert [j.type for j in d.engine.jobs().values()] == ["ship"]
    # the second message stays buffered for whoever comes next
    other = d.create("p", {"id": "1"})
    assert d.completed("cancelled", other) and d.is_done(other)


def test_a_multi_instance_receive_task_waits_per_inner_instance() -> None:
    spec = MultiInstanceSpec("=ids", input_element="id")
    d = deployed(
        ProcessBuilder("p")
        .start_event()
        .receive_task("recv", message="m", correlation_key="=id", multi_instance=spec)
        .service_task("t", job_type="t")
        .done()
    )
    pi = d.create("p", {"ids": ["a", "b"]})
    keys = [r.value["correlationKey"] for r in d.of("PROCESS_MESSAGE_SUBSCRIPTION", "CREATING")]
    assert keys == ["a", "b"]
    publish(d, "m", "b")
    assert d.path(pi).count(("recv", "ELEMENT_COMPLETED")) == 1 and not d.engine.jobs()
    publish(d, "m", "a")
    assert d.path(pi).count(("recv", "ELEMENT_COMPLETED")) == 3  # both inner, the body
    assert d.engine.jobs()


def test_cancelling_an_instance_closes_its_subscriptions_and_keeps_the_message() -> None:
    d = deployed(gateway_process())
    pi = d.create("p", {"id": "1"})
    d.cancel(pi)
    intents = [r.intent for r in d.of("MESSAGE_SUBSCRIPTION")]
    assert intents == ["CREATED", "CREATED", "DELETED", "DELETED"]
    assert not d.engine.instances()
    publish(d, "paid", "1")
    assert not d.of("MESSAGE_SUBSCRIPTION", "CORRELATING")
    nxt = d.create("p", {"id": "1"})
    assert d.completed("paid", nxt)
