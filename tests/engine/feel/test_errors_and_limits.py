"""Syntax errors with positions, hard failures, and the limits that protect the broker."""

from __future__ import annotations

import time

import pytest

from trio_zeebe.engine.feel import FeelEvaluationError, FeelSyntaxError, compile_expression

from .conftest import run


@pytest.mark.parametrize(
    ("source", "position", "line", "column"),
    [
        ("1 +", 3, 1, 4),
        ("a b", 2, 1, 3),
        ('"abc', 0, 1, 1),
        ("{a: }", 4, 1, 5),
        ("x in", 4, 1, 5),
        ("if x then 1", 11, 1, 12),
        ("1 +\n  * 2", 6, 2, 3),
        ("(1, 2)", 0, 1, 1),  # a list of tests only after `in`
    ],
)
def test_syntax_errors_say_where(source: str, position: int, line: int, column: int) -> None:
    with pytest.raises(FeelSyntaxError) as error:
        compile_expression(source)
    assert (error.value.position, error.value.line, error.value.column) == (position, line, column)
    assert f"line {line}, column {column}" in error.value.message


def test_syntax_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unexpected"):
        compile_expression("1 + + ")


def test_too_long_and_too_deep() -> None:
    with pytest.raises(FeelSyntaxError, match="too long"):
        compile_expression("1" * 100_001)
    with pytest.raises(FeelSyntaxError, match="nested more than"):
        compile_expression("[" * 200 + "]" * 200)
    with pytest.raises(FeelSyntaxError, match="nested more than"):
        compile_expression("1" + " + 1" * 500)
    assert run("(" * 2000 + "1" + ")" * 2000).value == 1


def test_question_mark_outside_unary_tests_fails() -> None:
    with pytest.raises(FeelEvaluationError, match="can only be used inside an unary-test"):
        run("? > 1")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("for i in 1..1000000 return i", "more than 100000 items"),
        ("count([1..100000000])", None),
        ("for a in 1..1000, b in 1..1000 return 1", "more than 100000 items"),
        ("for i in 1..50000, j in 1..1 return [i]", None),
        ('string join(for i in 1..100000 return "0123456789abcdefghij")', "characters"),
        (
            "{f: function(g, n) if n = 0 then 0 else g(g, n - 1), r: f(f, 100000)}.r",
            "nested function calls",
        ),
        ("for i in 1..100000 return for j in 1..100 return 1", "steps"),
        ('matches(x, ".*.*.*.*x")', "longer than"),
    ],
)
def test_limits_fail_fast(source: str, message: str | None) -> None:
    x = "a" * 5000
    start = time.perf_counter()
    if message is None:
        run(source, x=x)  # within the limits: must simply finish
    else:
        with pytest.raises(FeelEvaluationError) as error:
            run(source, x=x)
        assert message in error.value.message
        assert error.value.kind == "LIMIT_EXCEEDED"
    assert time.perf_counter() - start < 10


def test_exponent_and_number_size() -> None:
    assert run("2 ** 1000000").value is None
    assert run("2 ** 100000000000").value is None
    assert run("9" * 5000 + " * 2").value is not None  # long literals are rounded to 34 digits
