"""Gateways and sequence flows as Zeebe runs them (reference §4.3)."""

from __future__ import annotations

from trio_zeebe.testing.bpmn import ProcessBuilder

from .driver import Driver


def exclusive() -> bytes:
    return (
        ProcessBuilder("p")
        .start_event("start")
        .exclusive_gateway("split")
        .condition("=amount > 100")
        .service_task("big", job_type="big")
        .end_event("end_big")
        .move_to("split")
        .condition("=amount > 10")
        .service_task("medium", job_type="medium")
        .end_event("end_medium")
        .move_to("split")
        .default_flow()
        .service_task("small", job_type="small")
        .end_event("end_small")
        .done()
    )


def test_exclusive_gateway_takes_the_first_true_condition_in_xml_order() -> None:
    d = Driver()
    d.deploy(exclusive())
    d.create("p", {"amount": 500})  # both conditions hold: the first flow wins
    assert d.activated("big") and not d.activated("medium") and not d.activated("small")


def test_exclusive_gateway_takes_the_default_flow_when_nothing_holds() -> None:
    d = Driver()
    d.deploy(exclusive())
    d.create("p", {"amount": 1})
    assert d.activated("small") and not d.activated("big")


def test_exclusive_gateway_without_a_match_nor_default_raises_a_condition_incident() -> None:
    xml = (
        ProcessBuilder("p")
        .start_event("start")
        .exclusive_gateway("split")
        .condition("=x = 1")
        .end_event("one")
        .move_to("split")
        .condition("=x = 2")
        .end_event("two")
        .done()
    )
    d = Driver()
    d.deploy(xml)
    pi = d.create("p", {"x": 3})
    incident = d.incident()
    assert incident.error_type == "CONDITION_ERROR"
    assert incident.message == (
        "Expected at least one condition to evaluate to true, or to have a default flow"
    )
    assert incident.element_id == "split"
    gateway = d.engine.instances()[incident.element_instance_key]
    assert gateway.state == "ELEMENT_ACTIVATING"
    # fix the data and resolve: the gateway is evaluated again
    d.set_variables(pi, x=2)
    d.resolve(incident.key)
    assert d.completed("two") and d.is_done(pi)
    assert not d.incidents()


def test_a_condition_that_is_not_boolean_is_an_extract_value_incident() -> None:
    xml = (
        ProcessBuilder("p")
        .start_event("start")
        .exclusive_gateway("split")
        .condition("=approved")
        .end_event("yes")
        .move_to("split")
        .default_flow()
        .end_event("no")
        .done()
    )
    d = Driver()
    d.deploy(xml)
    d.create("p")
    incident = d.incident()
    assert incident.error_type == "EXTRACT_VALUE_ERROR"
    assert incident.message == (
        "Expected result of the expression 'approved' to be 'BOOLEAN', but was 'NULL'. "
        "The evaluation reported the following warnings:\n"
        "[NO_VARIABLE_FOUND] No variable found with name 'approved'"
    )


def test_parallel_gateway_forks_and_joins_once_every_incoming_flow_was_taken() -> None:
    xml = (
        ProcessBuilder("p")
        .start_event("start")
        .parallel_gateway("fork")
        .service_task("a", job_type="a")
        .parallel_gateway("join")
        .end_event("end")
        .move_to("fork")
        .service_task("b", job_type="b")
        .connect_to("join")
        .done()
    )
    d = Driver()
    d.deploy(xml)
    pi = d.create("p")
    d.complete_type("a")
    assert not d.activated("join")  # waits for b
    assert not d.is_done(pi)
    d.complete_type("b")
    assert len(d.activated("join")) == 1
    assert len(d.activated("end")) == 1
    assert d.is_done(pi)


def test_a_flow_node_without_a_gateway_forks_and_merges_implicitly() -> None:
    # two outgoing flows: both taken; two incoming flows: activated once per token
    xml = (
        ProcessBuilder("p")
        .start_event("start")
        .task("fork")
        .service_task("a", job_type="a")
        .task("merge")
        .end_event("end")
        .move_to("fork")
        .service_task("b", job_type="b")
        .connect_to("merge")
        .done()
    )
    d = Driver()
    d.deploy(xml)
    pi = d.create("p")
    d.complete_type("a")
    assert len(d.activated("merge")) == 1 and len(d.activated("end")) == 1
    assert not d.is_done(pi)  # b is still active
    d.complete_type("b")
    assert len(d.activated("merge")) == 2 and len(d.activated("end")) == 2
    assert d.is_done(pi)


def inclusive() -> bytes:
    return (
        ProcessBuilder("p")
        .start_event("start")
        .inclusive_gateway("fork")
        .condition('=list contains(items, "a")')
        .service_task("a", job_type="a")
        .inclusive_gateway("join")
        .end_event("end")
        .move_to("fork")
        .condition('=list contains(items, "b")')
        .service_task("b", job_type="b")
        .connect_to("join")
        .move_to("fork")
        .default_flow()
        .service_task("none", job_type="none")
        .connect_to("join")
        .done()
    )


def test_inclusive_gateway_takes_every_true_flow_and_joins_them() -> None:
    d = Driver()
    d.deploy(inclusive())
    pi = d.create("p", {"items": ["a", "b"]})
    assert d.activated("a") and d.activated("b") and not d.activated("none")
    d.complete_type("a")
    assert not d.activated("join")  # b can still reach the join
    d.complete_type("b")
    assert len(d.activated("join")) == 1
    assert d.is_done(pi)


def test_inclusive_join_fires_when_no_other_path_can_reach_it() -> None:
    d = Driver()
    d.deploy(inclusive())
    pi = d.create("p", {"items": ["b"]})
    assert d.activated("b") and not d.activated("a")
    d.complete_type("b")
    assert len(d.activated("join")) == 1  # only one flow taken, but no path left
    assert d.is_done(pi)


def test_inclusive_gateway_falls_back_to_the_default_flow() -> None:
    d = Driver()
    d.deploy(inclusive())
    pi = d.create("p", {"items": []})
    assert d.activated("none")
    d.complete_type("none")
    assert d.is_done(pi)


def test_inclusive_join_waits_for_a_path_that_ends_elsewhere_then_fires() -> None:
    # fork -> a -> join ; fork -> b -> x (an end event, not reaching the join)
    xml = (
        ProcessBuilder("p")
        .start_event("start")
        .parallel_gateway("fork")
        .service_task("a", job_type="a")
        .inclusive_gateway("join")
        .end_event("end")
        .move_to("fork")
        .service_task("b", job_type="b")
        .exclusive_gateway("decide")
        .condition("=go")
        .connect_to("join")
        .move_to("decide")
        .default_flow()
        .end_event("elsewhere")
        .done()
    )
    d = Driver()
    d.deploy(xml)
    pi = d.create("p", {"go": False})
    d.complete_type("a")
    assert not d.activated("join")  # b may still come
    d.complete_type("b")  # ... but it ends elsewhere: nothing can reach the join now
    assert len(d.activated("join")) == 1
    assert d.is_done(pi)
