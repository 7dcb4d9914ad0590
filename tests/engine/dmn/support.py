"""Helpers for the DMN tests: the Modeler-written resources, small hand-built documents and the
evaluation clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

from trio_zeebe.engine.dmn import (
    DecisionEvaluation,
    DecisionRequirementsGraph,
    DmnDeploymentError,
    evaluate_decision,
    parse_dmn,
)
from trio_zeebe.engine.feel import to_json

RESOURCES = Path(__file__).parent / "resources"

DMN13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"

#: The engine clock for every evaluation: 2024-03-15T12:00:00Z.
NOW = dt.datetime(2024, 3, 15, 12, 0, tzinfo=dt.UTC).timestamp()


def resource(name: str) -> bytes:
    return (RESOURCES / name).read_bytes()


def load(name: str) -> DecisionRequirementsGraph:
    return parse_dmn(name, resource(name))


def evaluate(drg: DecisionRequirementsGraph, decision_id: str, **variables: Any) -> Any:
    """The JSON output of a decision that must not fail."""
    result = evaluate_decision(drg, decision_id, variables, now=NOW)
    assert not result.failed, result.failure_message
    return to_json(result.output)


def run(drg: DecisionRequirementsGraph, decision_id: str, **variables: Any) -> DecisionEvaluation:
    return evaluate_decision(drg, decision_id, variables, now=NOW)


def document(body: str, *, namespace: str = DMN13, graph_id: str = "drg") -> bytes:
    """A ``definitions`` element around ``body``."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<definitions xmlns="{namespace}" '
        f'id="{graph_id}" name="DRG" namespace="http://camunda.org/schema/1.0/dmn">\n'
        f"{body}\n</definitions>\n"
    ).encode()


def literal(decision_id: str, text: str, *, requires: tuple[str, ...] = (), variable: str = "",
            type_ref: str = "") -> str:  # fmt: skip
    """A literal-expression decision."""
    requirements = "".join(
        f'<informationRequirement><requiredDecision href="#{r}"/></informationRequirement>'
        for r in requires
    )
    typed = f' typeRef="{type_ref}"' if type_ref else ""
    var = f'<variable name="{variable or decision_id}"{typed}/>'
    return (
        f'<decision id="{decision_id}" name="{decision_id.title()}">{requirements}{var}'
        f"<literalExpression><text>{escape(text)}</text></literalExpression></decision>"
    )


def table(
    decision_id: str,
    inputs: list[str],
    outputs: list[str],
    rules: list[tuple[list[str], list[str]]],
    *,
    hit_policy: str = "",
    aggregation: str = "",
    requires: tuple[str, ...] = (),
    output_values: dict[str, str] | None = None,
) -> str:
    """A decision table: input expressions, output names and rules (input entry texts, output
    entry texts); ids are ``<decision>_in1``, ``<decision>_r1`` ... ``<decision>_r1_ie1``."""
    values = output_values or {}
    attributes = (f' hitPolicy="{hit_policy}"' if hit_policy else "") + (
        f' aggregation="{aggregation}"' if aggregation else ""
    )
    parts = [f'<decision id="{decision_id}" name="{decision_id.title()}">']
    parts += [
        f'<informationRequirement><requiredDecision href="#{r}"/></informationRequirement>'
        for r in requires
    ]
    parts.append(f'<decisionTable id="{decision_id}_table"{attributes}>')
    for n, expression in enumerate(inputs, start=1):
        parts.append(
            f'<input id="{decision_id}_in{n}" label="{escape(expression, {chr(34): "&quot;"})}">'
            "<inputExpression "
            f'id="{decision_id}_in{n}_expr"><text>{escape(expression)}</text></inputExpression>'
            "</input>"
        )
    for n, name in enumerate(outputs, start=1):
        priority = (
            f"<outputValues><text>{values[name]}</text></outputValues>" if name in values else ""
        )
        parts.append(f'<output id="{decision_id}_out{n}" name="{name}">{priority}</output>')
    for r, (entries, results) in enumerate(rules, start=1):
        parts.append(f'<rule id="{decision_id}_r{r}">')
        parts += [
            f'<inputEntry id="{decision_id}_r{r}_ie{n}"><text>{escape(text)}</text></inputEntry>'
            for n, text in enumerate(entries, start=1)
        ]
        parts += [
            f'<outputEntry id="{decision_id}_r{r}_oe{n}"><text>{escape(text)}</text></outputEntry>'
            for n, text in enumerate(results, start=1)
        ]
        parts.append("</rule>")
    parts.append("</decisionTable></decision>")
    return "".join(parts)


def rejection(data: bytes, name: str = "test.dmn") -> DmnDeploymentError:
    with pytest.raises(DmnDeploymentError) as raised:
        parse_dmn(name, data)
    return raised.value


def errors(data: bytes) -> list[str]:
    """The lines of the deployment error for ``data``."""
    return rejection(data).message.split("\n")
