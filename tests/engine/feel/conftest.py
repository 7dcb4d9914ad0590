"""Helpers for the FEEL tests: evaluate a text and get its value as Zeebe stores it."""

from __future__ import annotations

from typing import Any

from trio_zeebe.engine.feel import Evaluation, compile_expression, compile_unary_tests, to_json

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def run(source: str, **variables: Any) -> Evaluation:
    return compile_expression(source).evaluate(variables, now=NOW)


def ev(source: str, **variables: Any) -> Any:
    """The JSON form of the result (ints for integral numbers, ISO texts for temporals)."""
    return to_json(run(source, **variables).value)


def feel(source: str, **variables: Any) -> Any:
    """The FEEL value itself."""
    return run(source, **variables).value


def matches(tests: str, value: Any, **variables: Any) -> bool:
    return compile_unary_tests(tests).test(value, variables, now=NOW)
