"""DMN unary tests, the input entries of decision tables (Camunda docs: feel-unary-tests)."""

from __future__ import annotations

import pytest

from trio_zeebe.engine.feel import compile_unary_tests

from .conftest import NOW, matches


@pytest.mark.parametrize(
    ("tests", "value", "expected"),
    [
        ("-", 5, True),
        ("-", None, True),
        ("", 5, True),
        ('"valid"', "valid", True),
        ('"valid"', "invalid", False),
        ("5", 5, True),
        ("5", 5.0, True),
        ("true", True, True),
        ("true", False, False),
        ("false", False, True),
        ("null", None, True),
        ("null", 1, False),
        ("< 10", 5, True),
        ("< 10", 10, False),
        ("<= 10", 10, True),
        ("> 10", 11, True),
        (">= 10", 9, False),
        ('>= duration("P5D")', "x", False),
        ("(2..5)", 2, False),
        ("(2..5)", 3, True),
        ("]2..5[", 5, False),
        ("[2..5]", 5, True),
        ("[2..5[", 5, False),
        ("2, 3, 4", 3, True),
        ("2, 3, 4", 5, False),
        ('"gold", "silver"', "silver", True),
        ('not("gold")', "silver", True),
        ('not("gold", "silver")', "silver", False),
        ("not(< 5)", 7, True),
        ("[1, 2, 3]", 2, True),
        ("[1, 2, 3]", 4, False),
        ('contains(?, "x")', "axb", True),
        ('contains(?, "x")', "ab", False),
        ("? > 5", 7, True),
        ("? > 5 and ? < 10", 12, False),
        ('starts with(?, "a"), ends with(?, "z")', "xyz", True),
        ("limit", 3, True),  # compared with a variable
        ("< limit", 2, True),
        ("[limit..10]", 3, True),
    ],
)
def test_unary_tests(tests: str, value: object, expected: bool) -> None:
    assert matches(tests, value, limit=3) is expected


def test_dates_and_durations() -> None:
    from trio_zeebe.engine.feel import from_json
    from trio_zeebe.engine.feel.temporal import parse_date, parse_duration

    assert matches('>= duration("P5D")', from_json(parse_duration("P6D")))
    assert matches('[date("2020-01-01")..date("2020-12-31")]', parse_date("2020-06-01"))


def test_null_results_do_not_match_but_are_reported() -> None:
    tests = compile_unary_tests("< 10")
    result = tests.evaluate("a", {}, now=NOW)
    assert result.value is None
    assert result.warnings == ("[NOT_COMPARABLE] Can't compare '\"a\"' with '10'",)
    assert tests.test("a", {}, now=NOW) is False


def test_cached_by_text() -> None:
    assert compile_unary_tests("< 10") is compile_unary_tests("< 10")
