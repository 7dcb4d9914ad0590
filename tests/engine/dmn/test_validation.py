"""Deploy-time validation: every problem of a DMN resource is reported in one
DmnDeploymentError, one line each, naming the element it concerns."""

from __future__ import annotations

import pytest

from trio_zeebe.engine.dmn import deployment_conflicts, parse_dmn

from .support import document, errors, literal, rejection, table

ONE_RULE = [(["-"], ["1"])]


def test_all_errors_of_a_resource_come_in_one_message_in_zeebes_format() -> None:
    body = table("a", ["x +"], ["o"], ONE_RULE) + literal("b", "1 +")
    error = rejection(document(body), "order.dmn")
    assert error.resource_name == "order.dmn"
    assert error.message.split("\n") == [
        "decision 'a' > input 'a_in1': FEEL expression: failed to parse expression 'x +': "
        "unexpected end of input at line 1, column 4",
        "decision 'b': FEEL expression: failed to parse expression '1 +': unexpected end of "
        "input at line 1, column 4",
    ]
    assert str(error) == f"'order.dmn': {error.message}"


def test_an_unparsable_input_entry_names_decision_rule_and_entry() -> None:
    body = table("d", ["x"], ["o"], [(["-"], ["1"]), ([">> 3"], ["2"])])
    assert errors(document(body)) == [
        "decision 'd' > rule 'd_r2' > input entry 'd_r2_ie1': FEEL unary-tests: failed to parse "
        "expression '>> 3': unexpected '>' at line 1, column 2"
    ]


def test_an_unparsable_output_entry_names_its_rule() -> None:
    body = table("d", ["x"], ["o"], [(["-"], ["if x then"])])
    assert errors(document(body)) == [
        "decision 'd' > rule 'd_r1' > output entry 'd_r1_oe1': FEEL expression: failed to parse "
        "expression 'if x then': unexpected end of input at line 1, column 10"
    ]


def test_an_unparsable_default_output_entry_names_its_output() -> None:
    body = table("d", ["x"], ["o"], ONE_RULE).replace(
        '<output id="d_out1" name="o">',
        '<output id="d_out1" name="o"><defaultOutputEntry><text>1 +</text></defaultOutputEntry>',
    )
    assert errors(document(body)) == [
        "decision 'd' > output 'd_out1': FEEL expression: failed to parse expression '1 +': "
        "unexpected end of input at line 1, column 4"
    ]


def test_a_long_unparsable_text_is_shortened_in_the_message() -> None:
    text = "1 + " * 50 + "+"
    (line,) = errors(document(literal("d", text)))
    assert f"failed to parse expression '{text[:97]}...': " in line


def test_rules_need_one_entry_per_input_and_per_output() -> None:
    body = table("d", ["x", "y"], ["o"], [(["-"], ["1", "2"]), (["1", "2"], ["3"])])
    assert errors(document(body)) == [
        "decision 'd' > rule 'd_r1': expected 2 input entries (one per input), but found 1",
        "decision 'd' > rule 'd_r1': expected 1 output entries (one per output), but found 2",
    ]


def test_a_required_decision_must_exist() -> None:
    body = literal("a", "1", requires=("missing",))
    body += (
        '<decision id="b" name="B"><informationRequirement>'
        '<requiredDecision href="other.dmn#a"/></informationRequirement>'
        "<literalExpression><text>1</text></literalExpression></decision>"
    )
    assert errors(document(body)) == [
        "decision 'a': the required decision 'missing' is not a decision of this decision "
        "requirements graph",
        "decision 'b': the required decision 'other.dmn#a' is not a decision of this decision "
        "requirements graph",
    ]


def test_a_required_decision_needs_an_href() -> None:
    body = (
        '<decision id="a" name="A"><informationRequirement><requiredDecision/>'
        "</informationRequirement><literalExpression><text>1</text></literalExpression>"
        "</decision>"
    )
    assert errors(document(body)) == [
        "decision 'a': a requiredDecision has no 'href' naming the decision"
    ]


@pytest.mark.parametrize(
    ("requirements", "cycle"),
    [
        ({"a": ("a",)}, "'a' -> 'a'"),
        ({"a": ("b",), "b": ("a",)}, "'a' -> 'b' -> 'a'"),
        ({"a": ("b",), "b": ("c",), "c": ("a",), "d": ("a",)}, "'a' -> 'b' -> 'c' -> 'a'"),
    ],
)
def test_cycles_between_decisions_are_refused(
    requirements: dict[str, tuple[str, ...]], cycle: str
) -> None:
    body = "".join(literal(d, "1", requires=r) for d, r in requirements.items())
    assert errors(document(body)) == [
        f"Invalid DMN model: Cyclic dependencies between decisions detected: {cycle}"
    ]


def test_a_long_acyclic_chain_is_fine() -> None:
    body = literal("d0", "1") + "".join(
        literal(f"d{n}", f"d{n - 1} + 1", requires=(f"d{n - 1}",)) for n in range(1, 3000)
    )
    drg = parse_dmn("chain.dmn", document(body))
    assert len(drg.decisions) == 3000


def test_duplicate_ids_are_refused() -> None:
    body = (
        literal("d", "1")
        + literal("d", "2")
        + table("t", ["x"], ["o"], ONE_RULE).replace('id="t_r1"', 'id="t_in1"')
    )
    assert errors(document(body)) == [
        "the id 'd' is used by 2 elements (decision, decision); ids must be unique",
        "the id 't_in1' is used by 2 elements (input, rule); ids must be unique",
    ]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('<decision id="d"', "<decision", "decision #1: the attribute 'id' is missing"),
        ('<input id="d_in1"', "<input", "decision 'd' > input #1: the attribute 'id' is missing"),
        (
            '<output id="d_out1"',
            "<output",
            "decision 'd' > output #1: the attribute 'id' is missing",
        ),
        ('<rule id="d_r1"', "<rule", "decision 'd' > rule #1: the attribute 'id' is missing"),
    ],
)
def test_ids_are_required(old: str, new: str, message: str) -> None:
    body = table("d", ["x"], ["o"], ONE_RULE).replace(old, new)
    assert errors(document(body)) == [message]


def test_the_definitions_need_an_id() -> None:
    data = document(literal("d", "1")).replace(b'id="drg" ', b"")
    assert errors(data) == ["definitions: the attribute 'id' is missing"]


def test_collect_with_an_aggregation_needs_a_single_output() -> None:
    body = table(
        "d", ["x"], ["a", "b"], [(["-"], ["1", "2"])], hit_policy="COLLECT", aggregation="SUM"
    )
    assert errors(document(body)) == [
        "decision 'd': hit policy 'COLLECT' with aggregator is not defined for compound output"
    ]


@pytest.mark.parametrize("hit_policy", ["PRIORITY", "OUTPUT ORDER"])
def test_priority_orders_need_output_values(hit_policy: str) -> None:
    body = table("d", ["x"], ["o"], ONE_RULE, hit_policy=hit_policy)
    assert errors(document(body)) == [
        f"decision 'd': hit policy '{hit_policy}' orders the results by the output values, but "
        "no output has output values"
    ]


@pytest.mark.parametrize(
    ("element", "kind"),
    [
        ("<context/>", "context"),
        ("<invocation/>", "invocation"),
        ("<list/>", "list"),
        ("<relation/>", "relation"),
        ("<functionDefinition/>", "function definition"),
    ],
)
def test_unsupported_decision_logic_is_refused_naming_the_decision(element: str, kind: str) -> None:
    body = f'<decision id="d" name="D"><variable name="d"/>{element}</decision>'
    assert errors(document(body)) == [
        f"decision 'd': the decision logic '{kind}' is not supported; a decision must be a "
        "decision table or a literal expression"
    ]


def test_a_decision_needs_exactly_one_decision_logic() -> None:
    body = '<decision id="empty" name="Empty"><variable name="x"/></decision>' + (
        '<decision id="two" name="Two"><literalExpression><text>1</text></literalExpression>'
        "<literalExpression><text>2</text></literalExpression></decision>"
    )
    assert errors(document(body)) == [
        "decision 'empty': the decision has no decision logic (a decision table or literal "
        "expression)",
        "decision 'two': the decision has more than one decision logic element",
    ]


def test_unknown_hit_policies_and_aggregations_are_refused() -> None:
    body = table("a", ["x"], ["o"], ONE_RULE, hit_policy="SOMETIMES") + table(
        "b", ["x"], ["o"], ONE_RULE, hit_policy="COLLECT", aggregation="AVERAGE"
    )
    assert errors(document(body)) == [
        "decision 'a': unknown hit policy 'SOMETIMES' (expected one of UNIQUE, FIRST, PRIORITY, "
        "ANY, COLLECT, RULE ORDER, OUTPUT ORDER)",
        "decision 'b': unknown aggregation 'AVERAGE' (expected one of SUM, MIN, MAX, COUNT)",
    ]


def test_a_decision_table_needs_an_output() -> None:
    body = table("d", ["x"], [], [(["-"], [])])
    assert errors(document(body)) == ["decision 'd': the decision table has no output"]


def test_several_outputs_need_distinct_names() -> None:
    body = table("d", ["x"], ["a", "a", ""], [(["-"], ["1", "2", "3"])])
    assert errors(document(body)) == [
        "decision 'd' > output 'd_out2': the output name 'a' is used by more than one output",
        "decision 'd' > output 'd_out3': the output has no name; every output of a decision "
        "table with several outputs needs one",
    ]


def test_a_single_output_may_go_without_a_name() -> None:
    parse_dmn("t.dmn", document(table("d", ["x"], [""], ONE_RULE)))


def test_input_expressions_and_literal_expressions_must_not_be_empty() -> None:
    body = (
        table("a", [" "], ["o"], ONE_RULE)
        + table("b", ["x"], ["o"], ONE_RULE).replace(
            '<inputExpression id="b_in1_expr"><text>x</text></inputExpression>', ""
        )
        + '<decision id="c" name="C"><literalExpression/></decision>'
    )
    assert errors(document(body)) == [
        "decision 'a' > input 'a_in1': the input expression is empty",
        "decision 'b' > input 'b_in1': the input has no input expression",
        "decision 'c': the literal expression is empty",
    ]


def test_only_feel_is_an_expression_language() -> None:
    body = table("d", ["x"], ["o"], ONE_RULE).replace(
        '<inputEntry id="d_r1_ie1">', '<inputEntry id="d_r1_ie1" expressionLanguage="juel">'
    ) + (
        '<decision id="e" name="E"><literalExpression expressionLanguage="javascript">'
        "<text>1</text></literalExpression></decision>"
        '<decision id="f" name="F"><literalExpression '
        'expressionLanguage="https://www.omg.org/spec/DMN/20191111/FEEL/">'
        "<text>1</text></literalExpression></decision>"
    )
    assert errors(document(body)) == [
        "decision 'd' > rule 'd_r1' > input entry 'd_r1_ie1': Expression language 'juel' is not "
        "supported",
        "decision 'e': Expression language 'javascript' is not supported",
    ]


def test_a_graph_needs_a_decision() -> None:
    assert errors(document('<inputData id="i" name="I"/>')) == [
        "definitions: the decision requirements graph has no decision"
    ]


def test_errors_of_one_decision_do_not_hide_those_of_another() -> None:
    body = (
        table("a", ["x"], ["o"], [(["(("], ["1"])])
        + literal("b", "1", requires=("a", "ghost"))
        + literal("b", "2")
    )
    lines = errors(document(body))
    assert lines[0].startswith("decision 'a' > rule 'a_r1' > input entry 'a_r1_ie1': ")
    assert lines[1:] == [
        "the id 'b' is used by 2 elements (decision, decision); ids must be unique",
        "decision 'b': the required decision 'ghost' is not a decision of this decision "
        "requirements graph",
    ]


def test_resources_of_one_deployment_must_not_share_graph_or_decision_ids() -> None:
    first = parse_dmn("a.dmn", document(literal("x", "1") + literal("y", "2"), graph_id="g1"))
    same_graph = parse_dmn("b.dmn", document(literal("z", "1"), graph_id="g1"))
    same_decision = parse_dmn(
        "c.dmn", document(literal("q", "1") + literal("y", "3"), graph_id="g2")
    )
    fine = parse_dmn("d.dmn", document(literal("z", "1"), graph_id="g3"))
    assert deployment_conflicts([first, same_graph, same_decision, fine]) == [
        "Expected the decision requirements ids to be unique within a deployment but found a "
        "duplicated id 'g1' in the resources 'a.dmn' and 'b.dmn'.",
        "Expected the decision ids to be unique within a deployment but found a duplicated id "
        "'y' in the resources 'a.dmn' and 'c.dmn'.",
    ]
    assert deployment_conflicts([first, fine]) == []
