"""EvaluateDecision (reference §1.3, §7): by id (latest version) or by key, the response filled
field by field as Zeebe's gateway fills it; an evaluation failure is an OK answer with the
failure fields; unknown decisions are rejected with Zeebe's INVALID_ARGUMENT texts."""

from __future__ import annotations

import json

import pytest

from trio_zeebe import codec
from trio_zeebe.engine.commands import CommandType
from trio_zeebe.engine.engine import Engine
from trio_zeebe.engine.runtime.snapshot import SnapshotError
from trio_zeebe.proto import gateway_pb2 as gw

from ..dmn.support import document, literal, resource, table
from ..process.driver import Driver

C = CommandType
NONE_GIVEN = "Expected either a decision id or a valid decision key, but none provided"


def evaluate(d: Driver, **fields: object) -> gw.EvaluateDecisionResponse:
    response: gw.EvaluateDecisionResponse = d.ok(
        C.EVALUATE_DECISION, gw.EvaluateDecisionRequest(**fields)
    )
    return response


def deployed_order(d: Driver) -> dict[str, gw.DecisionMetadata]:
    response = d.deploy(("order.dmn", resource("order_drg.dmn")))
    return {x.decision.dmnDecisionId: x.decision for x in response.deployments[:-1]}


def test_a_decision_with_required_decisions_answers_every_evaluated_decision() -> None:
    d = Driver()
    decisions = deployed_order(d)
    response = evaluate(
        d, decisionId="shippingCost", variables=json.dumps({"ordersLastYear": 12, "orderSize": 100})
    )
    cost = decisions["shippingCost"]
    assert (response.decisionKey, response.decisionId, response.decisionName) == (
        cost.decisionKey,
        "shippingCost",
        "Shipping cost",
    )
    assert (response.decisionVersion, response.decisionRequirementsId) == (1, "orderDecisions")
    assert response.decisionRequirementsKey == cost.decisionRequirementsKey
    assert response.decisionOutput == "25"
    assert (response.failedDecisionId, response.failureMessage) == ("", "")
    assert response.tenantId == "<default>"
    evaluated = list(response.evaluatedDecisions)
    assert [e.decisionId for e in evaluated] == ["customerCategory", "adjustments", "shippingCost"]
    category, adjustments, _ = evaluated
    assert category.decisionKey == decisions["customerCategory"].decisionKey
    assert (category.decisionName, category.decisionVersion, category.decisionType) == (
        "Customer category",
        1,
        "DECISION_TABLE",
    )
    assert category.decisionOutput == '"Silver"' and category.tenantId == "<default>"
    (year,) = category.evaluatedInputs
    assert (year.inputId, year.inputName, year.inputValue) == (
        "Input_zro0lkh",
        "Orders last year",
        "12",
    )
    (rule,) = category.matchedRules
    assert (rule.ruleId, rule.ruleIndex) == ("DecisionRule_wqfv7i7", 2)
    (output,) = rule.evaluatedOutputs
    assert (output.outputId, output.outputName, output.outputValue) == (
        "Output_8h7gmmj",
        "Category",
        '"Silver"',
    )
    assert json.loads(adjustments.decisionOutput) == {"discount": 0.15, "shipping": "Air"}
    assert [o.outputName for o in adjustments.matchedRules[0].evaluatedOutputs] == [
        "Discount",
        "Shipping",
    ]


def test_by_id_means_the_latest_version_and_by_key_that_version() -> None:
    d = Driver()
    v1 = d.deploy(("g.dmn", document(literal("greet", '"v1"')))).deployments[0].decision
    v2 = d.deploy(("g.dmn", document(literal("greet", '"v2"')))).deployments[0].decision
    assert (v1.version, v2.version) == (1, 2)
    latest = evaluate(d, decisionId="greet")
    assert (latest.decisionOutput, latest.decisionVersion, latest.decisionKey) == (
        '"v2"',
        2,
        v2.decisionKey,
    )
    old = evaluate(d, decisionKey=v1.decisionKey)
    assert (old.decisionOutput, old.decisionVersion) == ('"v1"', 1)
    # both given: the id wins
    assert evaluate(d, decisionId="greet", decisionKey=v1.decisionKey).decisionOutput == '"v2"'


def test_an_evaluation_failure_is_an_ok_answer_with_the_failure() -> None:
    d = Driver()
    rules = [(["> 1"], ['"a"']), (["> 2"], ['"b"'])]
    body = table("check", ["x"], ["y"], rules) + literal("outer", "check", requires=("check",))
    d.deploy(("t.dmn", document(body)))
    response = evaluate(d, decisionId="outer", variables='{"x": 5}')
    assert response.decisionId == "outer" and response.decisionOutput == ""
    assert response.failedDecisionId == "check"
    assert response.failureMessage.startswith("Expected to evaluate decision 'outer', but ")
    assert "multiple" in response.failureMessage.lower()
    (check,) = response.evaluatedDecisions
    assert check.decisionId == "check" and check.decisionOutput == "null"
    assert [r.ruleIndex for r in check.matchedRules] == [1, 2]
    # the same decision without the clash evaluates fine
    assert evaluate(d, decisionId="outer", variables='{"x": 2}').decisionOutput == '"a"'


def test_a_unique_table_with_two_matches_fails_naming_the_decision() -> None:
    d = Driver()
    rules = [(["> 1"], ['"a"']), (["> 2"], ['"b"'])]
    d.deploy(("t.dmn", document(table("t", ["x"], ["y"], rules))))
    response = evaluate(d, decisionId="t", variables='{"x": 5}')
    assert response.failedDecisionId == "t"
    assert "Expected to evaluate decision 't', but" in response.failureMessage
    (evaluated,) = response.evaluatedDecisions
    assert [r.ruleIndex for r in evaluated.matchedRules] == [1, 2]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {"decisionId": "nope"},
            "Expected to evaluate decision 'nope', but no decision found for id 'nope'",
        ),
        (
            {"decisionKey": 2251799813685999},
            "Expected to evaluate decision '2251799813685999', but no decision found for key "
            "'2251799813685999'",
        ),
        ({}, NONE_GIVEN),
        ({"decisionKey": -1}, NONE_GIVEN),
        (
            {"decisionId": "greet", "variables": "[1]"},
            "Expected document to be a root level object, but was 'ARRAY'",
        ),
        ({"decisionId": "greet", "variables": "{"}, "Invalid JSON value: {"),
        (
            {"decisionId": "greet", "tenantId": "other"},
            "Expected to handle gRPC request EvaluateDecision with tenant identifier 'other', "
            "but multi-tenancy is disabled",
        ),
    ],
)  # fmt: skip
def test_bad_requests_are_rejected_with_zeebe_texts(fields: dict[str, object], reason: str) -> None:
    d = Driver()
    d.deploy(("g.dmn", document(literal("greet", '"hi"'))))
    rejection = d.reject(C.EVALUATE_DECISION, gw.EvaluateDecisionRequest(**fields))
    assert (rejection.type, rejection.intent, rejection.value_type) == (
        "INVALID_ARGUMENT",
        "EVALUATE",
        "DECISION_EVALUATION",
    )
    assert rejection.reason == reason


def test_evaluating_uses_the_leader_clock_for_now() -> None:
    d = Driver()
    d.deploy(("t.dmn", document(literal("today", "string(today())"))))
    assert evaluate(d, decisionId="today").decisionOutput == '"2023-11-14"'
    d.now += 86400
    assert evaluate(d, decisionId="today").decisionOutput == '"2023-11-15"'


def test_every_evaluation_is_a_decision_evaluation_record_with_its_own_key() -> None:
    d = Driver()
    d.deploy(("g.dmn", document(literal("greet", '"hi"'))))
    evaluate(d, decisionId="greet")
    evaluate(d, decisionId="greet")
    records = d.of("DECISION_EVALUATION", "EVALUATED")
    assert len(records) == 2 and records[0].key != records[1].key
    assert records[0].value["decisionOutput"] == "hi"


def test_a_restored_replica_keeps_its_decisions_and_evaluates_them_alike() -> None:
    d = Driver()
    deployed_order(d)
    d.deploy(("g.dmn", document(literal("greet", '"v1"'))))
    d.deploy(("g.dmn", document(literal("greet", '"v2"'))))
    restored = Driver(engine=Engine(1, 1))
    restored.engine.restore(d.engine.snapshot())
    restored.position, restored.now = d.position, d.now
    assert restored.engine.decisions() == d.engine.decisions()
    assert restored.engine.snapshot() == d.engine.snapshot()
    variables = json.dumps({"ordersLastYear": 3, "orderSize": 40})
    ours = evaluate(d, decisionId="price", variables=variables)
    theirs = evaluate(restored, decisionId="price", variables=variables)
    assert ours == theirs and evaluate(restored, decisionId="greet").decisionOutput == '"v2"'


def test_a_snapshot_whose_dmn_resource_does_not_parse_is_refused() -> None:
    d = Driver()
    d.deploy(("g.dmn", document(literal("greet", '"hi"'))))
    data = codec.unpackb(d.engine.snapshot())
    (drgs,) = data[25]  # the decision requirements family: one block of columns
    drgs[7] = [b"<definitions"]  # the resource column (after the row count)
    with pytest.raises(SnapshotError, match="decision requirements"):
        Engine(1, 1).restore(codec.packb(data))
