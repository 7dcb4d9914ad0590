"""Business rule tasks calling a decision (``zeebe:calledDecision``, reference §7, §4.5): the
decision id static or an expression, its latest version, evaluated after the input mappings
with every visible variable; the result in ``resultVariable`` merged (or seen by the output
mappings); a missing decision or a failing evaluation is an incident that resolving retries."""

from __future__ import annotations

import json

from trio_zeebe.testing.bpmn import ProcessBuilder

from ..dmn.support import document, literal, resource, table
from ..process.driver import Driver


def rule_task(
    decision_id: str = "dish",
    result: str = "meal",
    *,
    inputs: dict[str, str] | None = None,
    outputs: dict[str, str] | None = None,
) -> bytes:
    return (
        ProcessBuilder("p")
        .start_event()
        .business_rule_task(
            "decide",
            decision_id=decision_id,
            result_variable=result,
            inputs=inputs,
            outputs=outputs,
        )
        .service_task("after", job_type="after")
        .end_event()
        .done()
    )


def after_variables(d: Driver) -> dict[str, object]:
    variables: dict[str, object] = json.loads(d.job("after").variables)
    return variables


def test_the_decision_result_goes_into_the_result_variable() -> None:
    d = Driver()
    d.deploy(("dish.dmn", resource("dish.dmn")), ("p.bpmn", rule_task()))
    pi = d.create("p", {"season": "Winter", "guestCount": 4})
    assert d.completed("decide", pi)
    assert after_variables(d) == {"season": "Winter", "guestCount": 4, "meal": "Roastbeef"}
    (record,) = d.of("DECISION_EVALUATION", "EVALUATED")
    assert record.value["decisionId"] == "dish" and record.value["decisionOutput"] == "Roastbeef"


def test_a_decision_id_expression_and_input_mappings_are_evaluated_first() -> None:
    d = Driver()
    d.deploy(
        ("dish.dmn", resource("dish.dmn")),
        ("p.bpmn", rule_task("=which", inputs={"guestCount": "=guests * 2"})),
    )
    d.create("p", {"which": "dish", "season": "Winter", "guests": 6})
    # 12 guests in winter: the input mapping (a local of the task) was visible to the decision
    assert after_variables(d)["meal"] == "Stew"


def test_output_mappings_see_the_result_and_decide_what_is_merged() -> None:
    d = Driver()
    xml = rule_task(outputs={"dinner": '=meal + "!"'})
    d.deploy(("dish.dmn", resource("dish.dmn")), ("p.bpmn", xml))
    d.create("p", {"season": "Fall", "guestCount": 2})
    variables = after_variables(d)
    assert variables["dinner"] == "Spareribs!" and "meal" not in variables


def test_the_latest_version_of_the_decision_is_called() -> None:
    d = Driver()
    d.deploy(("g.dmn", document(literal("greet", '"v1"'))), ("p.bpmn", rule_task("greet", "g")))
    d.create("p")
    d.deploy(("g.dmn", document(literal("greet", '"v2"'))))
    d.create("p")
    jobs = d.activate("after")
    assert [json.loads(j.variables)["g"] for j in jobs] == ["v1", "v2"]


def test_a_decision_that_is_not_deployed_is_a_called_decision_error_until_it_is() -> None:
    d = Driver()
    d.deploy(("p.bpmn", rule_task("greet", "g")))
    pi = d.create("p")
    incident = d.incident()
    assert (incident.error_type, incident.element_id) == ("CALLED_DECISION_ERROR", "decide")
    assert incident.message == (
        "Expected to evaluate decision 'greet', but no decision found for id 'greet'"
    )
    assert d.engine.instances()[incident.element_instance_key].state == "ELEMENT_ACTIVATING"
    d.deploy(("g.dmn", document(literal("greet", '"hello"'))))
    d.resolve(incident.key)
    assert d.incidents() == [] and d.completed("decide", pi)
    assert after_variables(d)["g"] == "hello"


def test_a_failing_evaluation_is_a_decision_evaluation_error_and_resolving_evaluates_again() -> (
    None
):
    d = Driver()
    rules = [(["> 1"], ['"a"']), (["> 2"], ['"b"'])]
    d.deploy(("t.dmn", document(table("t", ["x"], ["y"], rules))), ("p.bpmn", rule_task("t", "y")))
    pi = d.create("p", {"x": 5})
    incident = d.incident()
    assert incident.error_type == "DECISION_EVALUATION_ERROR"
    assert incident.message.startswith("Expected to evaluate decision 't', but ")
    (failed,) = d.of("DECISION_EVALUATION", "FAILED")
    assert failed.value["failedDecisionId"] == "t"
    d.resolve(incident.key)  # nothing changed: it fails again, with a new incident
    again = d.incident()
    assert again.key != incident.key and again.error_type == "DECISION_EVALUATION_ERROR"
    d.set_variables(pi, x=2)
    d.resolve(again.key)
    assert d.incidents() == [] and after_variables(d)["y"] == "a"


def test_a_failing_decision_id_expression_is_an_extract_value_incident() -> None:
    d = Driver()
    d.deploy(("p.bpmn", rule_task("=which", "r")))
    d.create("p", {"which": 5})
    incident = d.incident()
    assert incident.error_type == "EXTRACT_VALUE_ERROR"
    assert incident.message == (
        "Expected result of the expression 'which' to be 'STRING', but was 'NUMBER'."
    )


def test_a_business_rule_task_can_carry_a_timer_boundary_event() -> None:
    b = ProcessBuilder("p").start_event()
    b.business_rule_task("decide", decision_id="greet", result_variable="g").end_event("done")
    b.boundary_event("slow", attached_to="decide", timer_duration="PT1M").end_event("late")
    d = Driver()
    d.deploy(("g.dmn", document(literal("greet", '"hi"'))), ("p.bpmn", b.done()))
    pi = d.create("p")
    assert d.is_done(pi) and d.completed("done")
    assert d.engine.timers() == {}  # opened and closed with the task
