"""Whatever the text and the variables, compiling raises only FeelSyntaxError and evaluating
only FeelEvaluationError (never a crash of the broker, never an internal error)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_zeebe.engine.feel import (
    FeelEvaluationError,
    FeelSyntaxError,
    compile_expression,
    compile_unary_tests,
    to_json,
)

TOKENS = [
    "x",
    "y",
    "l",
    "c",
    "item",
    "?",
    "1",
    "0",
    "-1",
    "2.5",
    '"a"',
    '""',
    "true",
    "false",
    "null",
    "+",
    "-",
    "*",
    "/",
    "**",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "and",
    "or",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ".",
    "..",
    "if",
    "then",
    "else",
    "for",
    "in",
    "return",
    "some",
    "every",
    "satisfies",
    "between",
    "instance of",
    "function",
    "not(",
    "count(",
    "sum(",
    "string(",
    "date(",
    'date("2020-01-01")',
    'duration("P1D")',
    'duration("P1Y")',
    "now()",
    "today()",
    'date and time("2020-01-01T10:00:00@Europe/Berlin")',
    "substring(",
    "matches(",
    "replace(",
    "sort(",
    "string join(",
    "@",
    "`a b`",
    "a:",
    "[1..3]",
    "]1..3[",
    "1..3",
    "for i in",
    "sublist(",
    "get value(",
    "context put(",
    "flatten(",
    "is defined(",
    "abs(",
    "decimal(",
    "time offset",
    "year",
    "cycle(",
    "min(",
    "split(",
    "power",
    "partial",
    "**-",
]

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=20,
)

VARIABLES = st.fixed_dictionaries(
    {
        "x": JSON,
        "y": JSON,
        "l": st.lists(JSON, max_size=5),
        "c": st.dictionaries(st.text(max_size=3), JSON),
    }
)


def _check(source: str, variables: dict[str, Any]) -> None:
    try:
        expression = compile_expression(source)
    except FeelSyntaxError:
        return
    try:
        result = expression.evaluate(variables, now=1_700_000_000.0)
    except FeelEvaluationError as error:
        assert error.kind != "INTERNAL", error.message
        return
    to_json(result.value)
    assert all(isinstance(w, str) for w in result.warnings)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=14).map(" ".join), VARIABLES)
def test_token_soup(source: str, variables: dict[str, Any]) -> None:
    _check(source, variables)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40), VARIABLES)
def test_any_text(source: str, variables: dict[str, Any]) -> None:
    _check(source, variables)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=10).map(" ".join), JSON)
def test_unary_tests_soup(source: str, value: Any) -> None:
    try:
        tests = compile_unary_tests(source)
    except FeelSyntaxError:
        return
    try:
        assert tests.test(value, {"x": Decimal(1)}, now=0.0) in (True, False)
    except FeelEvaluationError as error:
        assert error.kind != "INTERNAL", error.message
