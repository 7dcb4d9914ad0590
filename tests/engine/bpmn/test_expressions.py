"""The expression hook: every place that takes an expression is checked, Zeebe's wording."""

from __future__ import annotations

from trio_zeebe.engine.bpmn import BpmnDeploymentError, parse_bpmn

from .support import START, document, errors, flow

# One process using an expression in every place Zeebe accepts one; each expression names its
# place, so the test can tell which element reported it.
BODY = (
    START
    + """
<bpmn:serviceTask id="task">
  <bpmn:extensionElements>
    <zeebe:taskDefinition type="=bad_type" retries="=bad_retries" />
    <zeebe:ioMapping>
      <zeebe:input source="=bad_input" target="i" />
      <zeebe:output source="=bad_output" target="o" />
    </zeebe:ioMapping>
    <zeebe:executionListeners>
      <zeebe:executionListener eventType="start" type="=bad_listener" />
    </zeebe:executionListeners>
  </bpmn:extensionElements>
  <bpmn:multiInstanceLoopCharacteristics>
    <bpmn:extensionElements>
      <zeebe:loopCharacteristics inputCollection="=bad_collection" outputCollection="out"
        outputElement="=bad_output_element" />
    </bpmn:extensionElements>
    <bpmn:completionCondition>=bad_completion</bpmn:completionCondition>
  </bpmn:multiInstanceLoopCharacteristics>
</bpmn:serviceTask>
<bpmn:exclusiveGateway id="gateway" />
<bpmn:endEvent id="end" />
<bpmn:callActivity id="call">
  <bpmn:extensionElements><zeebe:calledElement processId="=bad_process_id" />
  </bpmn:extensionElements>
</bpmn:callActivity>
<bpmn:businessRuleTask id="decide">
  <bpmn:extensionElements>
    <zeebe:calledDecision decisionId="=bad_decision" resultVariable="r" />
  </bpmn:extensionElements>
</bpmn:businessRuleTask>
<bpmn:scriptTask id="script">
  <bpmn:extensionElements><zeebe:script expression="=bad_script" resultVariable="r" />
  </bpmn:extensionElements>
</bpmn:scriptTask>
<bpmn:userTask id="user">
  <bpmn:extensionElements>
    <zeebe:assignmentDefinition assignee="=bad_assignee" candidateGroups="=bad_groups" />
    <zeebe:taskSchedule dueDate="=bad_due" />
  </bpmn:extensionElements>
</bpmn:userTask>
<bpmn:intermediateCatchEvent id="wait">
  <bpmn:messageEventDefinition messageRef="msg" />
</bpmn:intermediateCatchEvent>
<bpmn:intermediateCatchEvent id="sleep">
  <bpmn:timerEventDefinition id="timer"><bpmn:timeDuration>=bad_timer</bpmn:timeDuration>
  </bpmn:timerEventDefinition>
</bpmn:intermediateCatchEvent>
<bpmn:intermediateThrowEvent id="shout">
  <bpmn:signalEventDefinition signalRef="sig" />
</bpmn:intermediateThrowEvent>
<bpmn:endEvent id="fail"><bpmn:errorEventDefinition errorRef="err" /></bpmn:endEvent>
"""
    + flow("f0", "start", "task")
    + flow("f1", "task", "gateway")
    + flow("f2", "gateway", "end", "=bad_condition")
    + flow("f3", "gateway", "call", "=ok")
)
ROOTS = """
<bpmn:message id="msg" name="=bad_message_name">
  <bpmn:extensionElements><zeebe:subscription correlationKey="=bad_correlation" />
  </bpmn:extensionElements>
</bpmn:message>
<bpmn:signal id="sig" name="=bad_signal_name" />
<bpmn:error id="err" errorCode="=bad_error_code" />
"""

EXPECTED = {
    "bad_type": "task > extensionElements > taskDefinition",
    "bad_retries": "task > extensionElements > taskDefinition",
    "bad_input": "task > extensionElements > ioMapping > input",
    "bad_output": "task > extensionElements > ioMapping > output",
    "bad_listener": "task > extensionElements > executionListeners > executionListener",
    "bad_collection": "task > multiInstanceLoopCharacteristics > extensionElements > "
    "loopCharacteristics",
    "bad_output_element": "task > multiInstanceLoopCharacteristics > extensionElements > "
    "loopCharacteristics",
    "bad_completion": "task > multiInstanceLoopCharacteristics",
    "bad_condition": "f2 > conditionExpression",
    "bad_process_id": "call > extensionElements > calledElement",
    "bad_decision": "decide > extensionElements > calledDecision",
    "bad_script": "script > extensionElements > script",
    "bad_assignee": "user > extensionElements > assignmentDefinition",
    "bad_groups": "user > extensionElements > assignmentDefinition",
    "bad_due": "user > extensionElements > taskSchedule",
    "bad_timer": "timer",
    "bad_message_name": "msg",
    "bad_correlation": "msg > extensionElements > subscription",
    "bad_signal_name": "sig",
    "bad_error_code": "err",
}


def reject_bad(source: str) -> str | None:
    return "no variable may start with bad" if source.startswith("bad") else None


def test_every_expression_place_is_checked_on_its_element() -> None:
    found = errors(document(BODY, ROOTS), reject_bad)
    expected = {
        (element, f"failed to parse expression '{source}': no variable may start with bad")
        for source, element in EXPECTED.items()
    }
    assert expected <= set(found), sorted(expected - set(found))
    # and nothing else is wrong with the document
    assert set(found) == expected


def test_the_hook_gets_the_source_without_the_equals_sign_and_never_static_values() -> None:
    seen: list[str] = []

    def record(source: str) -> str | None:
        seen.append(source)
        return None

    parse_bpmn("x.bpmn", document(BODY, ROOTS), check_expression=record)
    assert set(EXPECTED) | {"ok"} == set(seen)
    assert all(not source.startswith("=") for source in seen)


def test_places_that_need_an_expression_refuse_static_values() -> None:
    body = (
        START
        + '<bpmn:exclusiveGateway id="g" /><bpmn:endEvent id="e" /><bpmn:endEvent id="e2" />'
        + flow("f0", "start", "g")
        + flow("f1", "g", "e", "x > 1")
        + flow("f2", "g", "e2", "=x &lt;= 1")
        + '<bpmn:task id="t"><bpmn:extensionElements><zeebe:ioMapping>'
        '<zeebe:output source="result" target="r" /></zeebe:ioMapping>'
        "</bpmn:extensionElements></bpmn:task>"
    )
    found = errors(document(body))
    assert (
        "f1 > conditionExpression",
        "Expected expression but found static value 'x > 1'. An expression must start with '=' "
        "(e.g. '=x > 1').",
    ) in found
    assert (
        "t > extensionElements > ioMapping > output",
        "Expected expression but found static value 'result'. An expression must start with "
        "'=' (e.g. '=result').",
    ) in found


def test_a_failing_hook_is_an_error_not_a_crash() -> None:
    def broken(source: str) -> str | None:
        raise ValueError("compiler bug")

    data = document(START + flow("f0", "start", "start", "=x"))
    try:
        parse_bpmn("x.bpmn", data, check_expression=broken)
    except BpmnDeploymentError as error:
        assert "failed to parse expression 'x': ValueError: compiler bug" in error.message
    else:
        raise AssertionError("expected a rejection")
