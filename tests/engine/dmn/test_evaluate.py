"""Evaluating decisions: literal expressions, required decisions (also multi-output ones), the
forms of unary tests, dates and durations, the audit trail the gateway reports, and failures as
results with Zeebe's messages."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_zeebe.engine.dmn import (
    DecisionEvaluation,
    DecisionTable,
    DecisionType,
    evaluate_decision,
    parse_dmn,
)
from trio_zeebe.engine.feel import to_json

from .support import NOW, document, evaluate, literal, load, run, table

LITERALS = load("literal_expressions.dmn")
ORDER = load("order_drg.dmn")
DIAMOND = load("diamond_drg.dmn")
UNARY = load("unary_tests.dmn")


def trail(result: DecisionEvaluation) -> list[str]:
    return [d.decision_id for d in result.evaluated_decisions]


# --- literal expressions -------------------------------------------------------------------


def test_literal_expressions() -> None:
    assert evaluate(LITERALS, "greeting", name="Zeebe") == "Hello Zeebe!"
    items = [
        {"name": "pen", "price": 2.5, "quantity": 2},
        {"name": "ink", "price": 10, "quantity": 1},
    ]
    assert evaluate(LITERALS, "total", items=items) == 15
    assert evaluate(LITERALS, "untyped", items=items) == {"count": 2, "first": "pen"}
    assert evaluate(LITERALS, "dueDate", orderDate="2024-02-20") == "2024-03-05"


def test_a_literal_decision_reports_its_output_and_no_table_details() -> None:
    result = run(LITERALS, "greeting", name="Ann")
    (audit,) = result.evaluated_decisions
    assert (audit.decision_id, audit.decision_name, audit.decision_type) == (
        "greeting",
        "Greeting",
        DecisionType.LITERAL_EXPRESSION,
    )
    assert audit.decision_type == "LITERAL_EXPRESSION"
    assert (audit.output, audit.evaluated_inputs, audit.matched_rules) == ("Hello Ann!", (), ())
    assert (
        result.decision_id,
        result.failed,
        result.failed_decision_id,
        result.failure_message,
    ) == (
        "greeting",
        False,
        "",
        "",
    )


def test_the_clock_is_the_now_argument() -> None:
    assert evaluate(LITERALS, "today") == "2024-03-15"
    later = evaluate_decision(LITERALS, "today", {}, now=NOW + 86_400 * 30)
    assert to_json(later.output) == "2024-04-14"


def test_the_result_must_have_the_variables_type() -> None:
    result = run(LITERALS, "wrongType")
    assert result.failed_decision_id == "wrongType"
    assert result.failure_message == (
        "Expected to evaluate decision 'wrongType', but expected 'number' but found "
        "'\"not a number\"'"
    )
    # as in DMN-Scala the audit entry was written before the type check
    assert result.evaluated_decisions[0].output == "not a number"


def test_a_null_result_passes_the_type_check() -> None:
    assert evaluate(LITERALS, "greeting") is None  # "Hello " + null


def test_an_assertion_failure_is_zeebes_message() -> None:
    assert evaluate(LITERALS, "checked", amount=5) == 5
    result = run(LITERALS, "checked", amount=-1)
    assert result.failed and result.output is None
    assert result.failure_message == (
        "Expected to evaluate decision 'checked', but Assertion failure on evaluate the "
        "expression 'assert(amount, amount > 0)': The condition is not fulfilled"
    )
    (audit,) = result.evaluated_decisions
    assert (audit.decision_id, audit.output) == ("checked", None)


def test_an_unknown_decision_is_a_failed_evaluation() -> None:
    result = run(LITERALS, "nope")
    assert (result.failed_decision_id, result.evaluated_decisions, result.output) == (
        "nope",
        (),
        None,
    )
    assert result.failure_message == (
        "Expected to evaluate decision 'nope', but no decision found with id 'nope'"
    )


# --- required decisions --------------------------------------------------------------------


def test_required_decisions_are_evaluated_first_and_seen_by_their_ids() -> None:
    result = run(ORDER, "price", ordersLastYear=20, orderSize=12, amount=100)
    assert to_json(result.output) == 110  # 100 * (1 - 0.15) + 25
    assert trail(result) == ["customerCategory", "adjustments", "shippingCost", "price"]
    outputs = [to_json(d.output) for d in result.evaluated_decisions]
    assert outputs == ["Silver", {"discount": 0.15, "shipping": "Air"}, 25, 110]


def test_a_multi_output_decision_is_a_context_for_its_dependants() -> None:
    assert evaluate(ORDER, "adjustments", ordersLastYear=5, orderSize=3) == {
        "discount": 0,
        "shipping": "Ground",
    }
    # shippingCost's input expression is adjustments.shipping
    assert evaluate(ORDER, "shippingCost", ordersLastYear=1, orderSize=3) == 10
    assert evaluate(ORDER, "price", ordersLastYear=5, orderSize=3, amount=50) == 60


def test_a_failing_required_decision_fails_the_evaluation_naming_it() -> None:
    # a gold customer flying matches two rules of the UNIQUE table shippingCost
    result = run(ORDER, "price", ordersLastYear=60, orderSize=5, amount=200)
    assert result.failed_decision_id == "shippingCost"
    assert result.failure_message == (
        "Expected to evaluate decision 'price', but multiple values aren't allowed for UNIQUE "
        "hit policy. found: 'List(Map(shippingCost -> 0), Map(shippingCost -> 25))'"
    )
    assert trail(result) == ["customerCategory", "adjustments", "shippingCost"]
    failed = result.evaluated_decisions[-1]
    assert failed.output is None
    assert [to_json(i.value) for i in failed.evaluated_inputs] == ["Air", "Gold"]
    assert [r.rule_index for r in failed.matched_rules] == [1, 2]


def test_a_shared_requirement_is_evaluated_once() -> None:
    result = run(DIAMOND, "top", x=1)
    assert to_json(result.output) == 10  # base 2, left 4, right 6
    assert trail(result) == ["base", "left", "right", "top"]


def test_a_decision_result_shadows_a_variable_of_the_same_name() -> None:
    assert evaluate(DIAMOND, "top", x=1, left=1000, base=50) == 10


def test_a_decision_sees_only_its_own_required_decisions() -> None:
    body = (
        literal("base", "x + 1")
        + literal("left", "base * 2", requires=("base",))
        + literal("top", "[left, base]", requires=("left",))
    )
    drg = parse_dmn("t.dmn", document(body))
    assert evaluate(drg, "top", x=1) == [4, None]  # base is no requirement of top
    assert evaluate(drg, "top", x=1, base=100) == [4, 100]


def test_a_literal_result_is_seen_under_its_variable_name() -> None:
    body = literal("a", "21", variable="answer") + literal("b", "answer * 2", requires=("a",))
    assert evaluate(parse_dmn("t.dmn", document(body)), "b") == 42


def test_decision_tables_of_older_modelers_evaluate() -> None:
    discount = load("dmn11_camunda7.dmn")
    assert evaluate(discount, "discount", customer="Business", orderSize=5) == 0.1
    assert evaluate(discount, "discount", customer="Business", orderSize=15) == 0.15
    assert evaluate(discount, "discount", customer="Private", orderSize=99) == 0.05
    assert evaluate(discount, "discount", customer="Other", orderSize=1) is None
    dinner = load("dmn12_requirements.dmn")
    result = run(dinner, "beverages", season="Fall", guestsWithChildren=True)
    assert to_json(result.output) == ["Aecht Schlenkerla Rauchbier", "Apple Juice", "Water"]
    assert trail(result) == ["dish", "beverages"]


def test_a_long_requirement_chain_evaluates_without_recursion() -> None:
    body = literal("d0", "1") + "".join(
        literal(f"d{n}", f"d{n - 1} + 1", requires=(f"d{n - 1}",)) for n in range(1, 2000)
    )
    drg = parse_dmn("chain.dmn", document(body))
    result = run(drg, "d1999")
    assert to_json(result.output) == 2000
    assert len(result.evaluated_decisions) == 2000


# --- unary tests, dates and durations ------------------------------------------------------


def test_the_forms_of_unary_tests() -> None:
    assert evaluate(UNARY, "classify", color="green", count=5, minimum=5) == [
        "disjunction",  # "red","green"
        "comparison",  # < 10
        "closed interval",  # [1..5]
        "negation",  # not("blue")
        "question mark",  # ? > 3
        "function of the input",  # starts with(?, "gr")
        "variable",  # minimum
        "anything",  # empty entries
    ]
    assert evaluate(UNARY, "classify", color="blue", count=1, minimum=7) == [
        "comparison",
        "closed interval",
        "number list",  # 1, 2, 3
        "anything",
    ]
    assert evaluate(UNARY, "classify", color="red", count=3, minimum=0) == [
        "disjunction",
        "comparison",
        "closed interval",
        "open interval",  # ]1..5[
        "negation",
        "number list",
        "anything",
    ]


def test_a_required_decision_shadows_a_variable_even_when_null() -> None:
    # customerCategory has no rule for a missing ordersLastYear: its null result hides the
    # variable of the same name from adjustments, as in DMN-Scala
    assert evaluate(ORDER, "adjustments", customerCategory="Gold", orderSize=3) is None


def test_a_null_input_matches_the_null_test() -> None:
    matched = evaluate(UNARY, "classify", count=20)
    assert "null" in matched and "disjunction" not in matched


@pytest.mark.parametrize(
    ("variables", "result"),
    [
        (
            {"orderDate": "2024-12-24", "waiting": "PT1H", "placedAt": "2024-12-24T10:00:00Z"},
            {"lane": "christmas", "deliverBy": "2024-12-26"},
        ),
        (
            {"orderDate": "2024-03-01", "waiting": "P6D", "placedAt": "2024-03-01T10:00:00Z"},
            {"lane": "overdue", "deliverBy": "2024-03-15"},  # today() is the engine clock
        ),
        (
            {"orderDate": "2023-06-01", "waiting": "P1D", "placedAt": "2023-06-01T08:00:00Z"},
            {"lane": "legacy", "deliverBy": None},
        ),
        (
            {"orderDate": "2024-05-01", "waiting": "P1D", "placedAt": "2024-05-01T08:00:00+02:00"},
            {"lane": "standard", "deliverBy": "2024-05-08"},
        ),
    ],
)
def test_dates_and_durations_in_rules(variables: dict[str, str], result: dict[str, Any]) -> None:
    assert evaluate(UNARY, "delivery", **variables) == result


# --- the audit trail -----------------------------------------------------------------------


def test_the_audit_names_inputs_by_label_and_outputs_by_label() -> None:
    dish = load("dish.dmn")
    result = run(dish, "dish", season="Spring", guestCount=6)
    (audit,) = result.evaluated_decisions
    assert audit.decision_type is DecisionType.DECISION_TABLE
    assert [(i.input_id, i.input_name, to_json(i.value)) for i in audit.evaluated_inputs] == [
        ("Input_1", "Season", "Spring"),
        ("InputClause_0ofuq5y", "How many guests", 6),
    ]
    (rule,) = audit.matched_rules
    assert (rule.rule_id, rule.rule_index) == ("DecisionRule_1nflt6h", 4)
    assert [(o.output_id, o.output_name, o.value) for o in rule.evaluated_outputs] == [
        ("Output_1", "Dish", "Steak")
    ]


def test_an_input_without_label_is_named_by_its_expression_cut_to_30_characters() -> None:
    expression = "if customer.vip then customer.orders * 2 else customer.orders"
    body = table("d", ["x", expression], ["o"], [(["-", "-"], ["1"])])
    body = body.replace(f'label="{expression}"', "").replace('label="x"', "")
    audit = run(parse_dmn("t.dmn", document(body)), "d", x=1).evaluated_decisions[0]
    assert [i.input_name for i in audit.evaluated_inputs] == ["x", expression[:30]]


def test_outputs_without_label_are_named_by_their_name() -> None:
    body = table("d", ["x"], ["a", "b"], [(["-"], ["1", "2"])])
    audit = run(parse_dmn("t.dmn", document(body)), "d", x=1).evaluated_decisions[0]
    assert [o.output_name for o in audit.matched_rules[0].evaluated_outputs] == ["a", "b"]


# --- failures ------------------------------------------------------------------------------


def test_a_failing_input_expression_fails_before_any_rule() -> None:
    body = table("d", ["assert(x, x != null)"], ["o"], [(["-"], ["1"])])
    result = run(parse_dmn("t.dmn", document(body)), "d")
    assert result.failure_message == (
        "Expected to evaluate decision 'd', but Assertion failure on evaluate the expression "
        "'assert(x, x != null)': The condition is not fulfilled"
    )
    (audit,) = result.evaluated_decisions
    assert (audit.evaluated_inputs, audit.matched_rules, audit.output) == ((), (), None)


def test_a_failing_input_entry_fails_with_the_inputs_reported() -> None:
    body = table("d", ["x"], ["o"], [(["assert(?, ? > 0)"], ["1"])])
    result = run(parse_dmn("t.dmn", document(body)), "d", x=-3)
    assert result.failure_message == (
        "Expected to evaluate decision 'd', but Assertion failure on evaluate the expression "
        "'assert(?, ? > 0)': The condition is not fulfilled"
    )
    (audit,) = result.evaluated_decisions
    assert [to_json(i.value) for i in audit.evaluated_inputs] == [-3]
    assert audit.matched_rules == ()


def test_a_failing_output_entry_fails_the_decision() -> None:
    body = table("d", ["x"], ["o"], [(["-"], ['assert(x, x > 10, "x is too small")'])])
    result = run(parse_dmn("t.dmn", document(body)), "d", x=1)
    assert result.failed_decision_id == "d"
    assert result.failure_message == (
        "Expected to evaluate decision 'd', but Assertion failure on evaluate the expression "
        "'assert(x, x > 10, \"x is too small\")': x is too small"
    )


def test_evaluation_is_deterministic() -> None:
    variables = {"ordersLastYear": 60, "orderSize": 5, "amount": 200}
    assert run(ORDER, "price", **variables) == run(ORDER, "price", **variables)
    variables["ordersLastYear"] = 20
    assert run(ORDER, "price", **variables) == run(ORDER, "price", **variables)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["2024-12-24", "P6D", "PT1H", "2024-05-01T08:00:00Z", "green", "Gold"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
NAMES = st.sampled_from(
    ["x", "y", "age", "years", "season", "guestCount", "color", "count", "minimum", "orderDate",
     "waiting", "placedAt", "amount", "ordersLastYear", "orderSize", "items", "name", "weight",
     "vacationDays", "probation", "vip", "applicantAge", "medicalHistory", "left", "base"]
)  # fmt: skip
GRAPHS = [load(n) for n in ("hit_policies.dmn", "unary_tests.dmn", "order_drg.dmn",
                            "literal_expressions.dmn", "diamond_drg.dmn", "dish.dmn")]  # fmt: skip


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(GRAPHS), st.data(), st.dictionaries(NAMES, JSON, max_size=6))
def test_any_variables_give_a_result_or_a_failure_never_an_exception(
    drg: Any, data: st.DataObject, variables: dict[str, Any]
) -> None:
    decision_id = data.draw(st.sampled_from(drg.decision_ids))
    result = evaluate_decision(drg, decision_id, variables, now=NOW)
    to_json(result.output)
    if result.failed:
        assert result.output is None
        assert result.failure_message.startswith(f"Expected to evaluate decision '{decision_id}', ")
        assert result.evaluated_decisions[-1].decision_id == result.failed_decision_id
    else:
        assert result.evaluated_decisions[-1].decision_id == decision_id
    decision = drg.decision(decision_id)
    if isinstance(decision.logic, DecisionTable) and not result.failed:
        (audit,) = [d for d in result.evaluated_decisions if d.decision_id == decision_id]
        assert len(audit.evaluated_inputs) == len(decision.logic.inputs)
