"""Reading DMN resources as the Camunda Modeler writes them into the precompiled model, and
refusing hostile or broken bytes with a DmnDeploymentError (never anything else)."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_zeebe.engine.dmn import (
    MAX_SIZE,
    Aggregation,
    DecisionTable,
    DecisionType,
    DmnDeploymentError,
    HitPolicy,
    LiteralExpression,
    evaluate_decision,
    parse_dmn,
)

from .support import NOW, RESOURCES, document, literal, load, rejection, resource, table


def test_a_modeler_decision_table_becomes_the_model() -> None:
    drg = load("dish.dmn")
    assert (drg.id, drg.name, drg.namespace) == (
        "dinnerDecisions",
        "Dinner Decisions",
        "http://camunda.org/schema/1.0/dmn",
    )
    assert drg.resource_name == "dish.dmn"
    assert drg.decision_ids == ("dish",)
    dish = drg.decision("dish")
    assert dish is not None
    assert (dish.name, dish.decision_type, dish.required_decisions) == (
        "Dish",
        DecisionType.DECISION_TABLE,
        (),
    )
    logic = dish.logic
    assert isinstance(logic, DecisionTable)
    assert logic.hit_policy is HitPolicy.UNIQUE  # the default: the Modeler omits the attribute
    assert logic.aggregation is None
    assert [(i.id, i.label, i.expression_text, i.type_ref) for i in logic.inputs] == [
        ("Input_1", "Season", "season", "string"),
        ("InputClause_0ofuq5y", "How many guests", "guestCount", "number"),
    ]
    assert [(o.id, o.name, o.label, o.type_ref) for o in logic.outputs] == [
        ("Output_1", "dish", "Dish", "string")
    ]
    assert [(r.id, r.index) for r in logic.rules][:2] == [
        ("DecisionRule_1fdpsbq", 1),
        ("DecisionRule_1ve5yai", 2),
    ]
    assert len(logic.rules) == 6
    assert all(len(r.input_entries) == 2 and len(r.output_entries) == 1 for r in logic.rules)


def test_the_checksum_is_the_md5_of_the_resource_bytes() -> None:
    data = resource("dish.dmn")
    assert parse_dmn("dish.dmn", data).checksum == hashlib.md5(data).digest()
    assert parse_dmn("dish.dmn", data + b"\n").checksum != hashlib.md5(data).digest()


def test_decisions_keep_document_order_and_their_requirements() -> None:
    drg = load("order_drg.dmn")
    assert drg.decision_ids == ("customerCategory", "adjustments", "shippingCost", "price")
    assert [d.required_decisions for d in drg.decisions] == [
        (),  # requiredInput (input data) is no decision requirement
        ("customerCategory",),
        ("adjustments", "customerCategory"),
        ("adjustments", "shippingCost"),
    ]
    assert drg.decision("nope") is None


def test_literal_expressions_and_their_variables() -> None:
    drg = load("literal_expressions.dmn")
    total = drg.decision("total")
    assert total is not None
    assert total.decision_type is DecisionType.LITERAL_EXPRESSION
    assert isinstance(total.logic, LiteralExpression)
    assert total.logic.text == "sum(for item in items return item.price * item.quantity)"
    assert (total.result_name, total.result_type_ref) == ("orderTotal", "number")


def test_every_hit_policy_and_aggregation_is_read() -> None:
    drg = load("hit_policies.dmn")
    policies = {
        d.id: (d.logic.hit_policy, d.logic.aggregation)
        for d in drg.decisions
        if isinstance(d.logic, DecisionTable)
    }
    assert policies == {
        "leave": (HitPolicy.ANY, None),
        "advertisement": (HitPolicy.FIRST, None),
        "advertisements": (HitPolicy.RULE_ORDER, None),
        "riskRating": (HitPolicy.PRIORITY, None),
        "holidays": (HitPolicy.OUTPUT_ORDER, None),
        "routingRules": (HitPolicy.OUTPUT_ORDER, None),
        "bonuses": (HitPolicy.COLLECT, None),
        "bonusTotal": (HitPolicy.COLLECT, Aggregation.SUM),
        "bonusCount": (HitPolicy.COLLECT, Aggregation.COUNT),
        "insuranceFee": (HitPolicy.COLLECT, Aggregation.MIN),
        "pocketMoney": (HitPolicy.COLLECT, Aggregation.MAX),
        "shipping": (HitPolicy.COLLECT, None),
    }


def test_output_values_are_read_as_the_priority_list() -> None:
    drg = load("hit_policies.dmn")
    risk = drg.decision("riskRating")
    holidays = drg.decision("holidays")
    assert risk is not None and isinstance(risk.logic, DecisionTable)
    assert holidays is not None and isinstance(holidays.logic, DecisionTable)
    assert risk.logic.outputs[0].output_values == ("High", "Medium", "Low")
    assert holidays.logic.outputs[0].output_values == tuple(Decimal(v) for v in (22, 5, 3, 2))


def test_quoted_commas_stay_inside_an_output_value() -> None:
    body = table(
        "d",
        ["x"],
        ["o"],
        [(["-"], ['"a, b"'])],
        hit_policy="PRIORITY",
        output_values={"o": '"a, b", "c\\"d", 7, other'},
    )
    decision = parse_dmn("t.dmn", document(body)).decision("d")
    assert decision is not None and isinstance(decision.logic, DecisionTable)
    assert decision.logic.outputs[0].output_values == ("a, b", 'c"d', Decimal(7), "other")


@pytest.mark.parametrize(
    ("name", "namespace_version"),
    [("dmn11_camunda7.dmn", "20151101"), ("dmn12_requirements.dmn", "20180521")],
)
def test_older_modeler_namespaces_are_accepted(name: str, namespace_version: str) -> None:
    assert namespace_version in resource(name).decode()
    drg = load(name)
    assert drg.decisions


def test_dmn_1_2_required_decisions_may_come_later_in_the_document() -> None:
    drg = load("dmn12_requirements.dmn")
    assert drg.decision_ids == ("beverages", "dish")
    beverages = drg.decision("beverages")
    assert beverages is not None and beverages.required_decisions == ("dish",)


def test_diagram_annotations_and_foreign_extensions_are_ignored() -> None:
    # dmndi shapes and edges, a text annotation, rule descriptions, biodi bounds, camunda: attrs
    for name in ("dish.dmn", "dmn12_requirements.dmn", "dmn11_camunda7.dmn"):
        assert "dmndi" in resource(name).decode() or "biodi" in resource(name).decode()
        load(name)


def test_the_zeebe_version_tag_is_read() -> None:
    body = (
        '<decision id="d" name="D" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0">'
        '<extensionElements><zeebe:versionTag value="v1.2" /></extensionElements>'
        "<literalExpression><text>1</text></literalExpression></decision>"
    )
    decision = parse_dmn("t.dmn", document(body)).decision("d")
    assert decision is not None and decision.version_tag == "v1.2"


def test_without_a_variable_the_result_is_named_by_the_decision_id() -> None:
    body = (
        '<decision id="d" name="D"><literalExpression><text>1</text></literalExpression></decision>'
    )
    decision = parse_dmn("t.dmn", document(body)).decision("d")
    assert decision is not None and decision.result_name == "d"


def test_the_model_is_frozen() -> None:
    drg = load("dish.dmn")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        drg.id = "other"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        drg.decisions[0].logic.hit_policy = HitPolicy.FIRST  # type: ignore[misc,union-attr]


def test_an_empty_output_entry_is_kept_as_null() -> None:
    drg = load("hit_policies.dmn")
    shipping = drg.decision("shipping")
    assert shipping is not None and isinstance(shipping.logic, DecisionTable)
    assert shipping.logic.rules[2].output_entries[1] is None


# --- hostile and broken input ------------------------------------------------------------

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="&xxe;" />"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d">&lol3;</definitions>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE definitions SYSTEM "http://example.com/dmn.dtd">
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" />"""


@pytest.mark.parametrize("data", [XXE, BILLION_LAUGHS, EXTERNAL_DTD], ids=["xxe", "laughs", "dtd"])
def test_dtds_and_entities_are_refused(data: bytes) -> None:
    error = rejection(data, "evil.dmn")
    message = (
        "DOCTYPE declarations are not allowed: DTDs, entity declarations and external "
        "references are refused"
    )
    assert error.message == message
    assert str(error) == f"'evil.dmn': {message}"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "Expected a DMN XML document, but it is empty"),
        (b" \n", "Expected a DMN XML document, but it is empty"),
        (b"<a><b></a>", "XML is not well-formed: mismatched tag: line 1, column 8"),
        (b"<dmn:definitions>", "XML is not well-formed: unbound prefix: line 1, column 0"),
    ],
)
def test_broken_xml_gives_the_parsers_message(data: bytes, message: str) -> None:
    assert rejection(data).message == message


def test_a_bpmn_document_is_not_a_dmn_document() -> None:
    data = b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="x" />'
    message = rejection(data).message
    assert message.startswith("Expected the root element 'definitions' of a DMN model namespace")
    assert message.endswith(
        "but found 'definitions' of namespace 'http://www.omg.org/spec/BPMN/20100524/MODEL'"
    )
    assert rejection(b"<decision/>").message.endswith("but found 'decision'")


def test_oversized_and_deeply_nested_documents_are_refused() -> None:
    big = document(literal("d", "1") + "<!--" + "x" * MAX_SIZE + "-->")
    assert rejection(big).message.startswith(f"Resource of {len(big)} bytes exceeds the maximum")
    deep = document("<extensionElements>" * 300 + "</extensionElements>" * 300)
    assert rejection(deep).message == "XML elements are nested deeper than 200 levels"


def test_non_bytes_content_is_refused() -> None:
    with pytest.raises(DmnDeploymentError, match="Expected the resource content as bytes"):
        parse_dmn("t.dmn", "text")  # type: ignore[arg-type]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_give_a_deployment_error_or_a_graph(data: bytes) -> None:
    try:
        parse_dmn("fuzz.dmn", data)
    except DmnDeploymentError as error:
        assert error.resource_name == "fuzz.dmn" and error.message


_SEEDS = [resource(name) for name in sorted(p.name for p in RESOURCES.glob("*.dmn"))]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "splice"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[position] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[position : position + draw(st.integers(1, 200))]
        elif kind == "insert":
            data[position:position] = draw(
                st.sampled_from(
                    [b"<", b">", b'"', b"&", b"]]>", b"<rule>", b"</inputEntry>", b"..", b"?",
                     b"<text>", b"not(", b"#", b'href="#dish"', b"<decisionTable>", b"\x00"]
                )
            )  # fmt: skip
        else:
            other = draw(st.sampled_from(_SEEDS))
            start = draw(st.integers(0, len(other) - 1))
            data[position:position] = other[start : start + draw(st.integers(1, 400))]
    return bytes(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(mutated())
def test_mutated_modeler_files_give_a_deployment_error_or_a_graph(data: bytes) -> None:
    try:
        drg = parse_dmn("mutated.dmn", data)
    except DmnDeploymentError as error:
        assert error.message
    else:
        assert drg.decisions
        for decision_id in drg.decision_ids:
            result = evaluate_decision(drg, decision_id, {"season": "Fall", "x": 1}, now=NOW)
            assert result.failed == bool(result.failure_message)
