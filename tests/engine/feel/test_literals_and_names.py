"""Literals, names, paths, contexts and lists (Camunda FEEL language guide: data types,
variables, context and list expressions)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trio_zeebe.engine.feel import compile_expression

from .conftest import ev, feel, run


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('"valid"', "valid"),
        (r'"a\"b"', 'a"b'),
        (r'"tab\there"', "tab\there"),
        (r'"line\nbreak"', "line\nbreak"),
        (r'"\u269D"', "\u269d"),
        (r'"\d+"', "\\d+"),  # unknown escapes stay (FEEL-Scala keeps them for regexes)
        ("1", 1),
        ("2.3", 2.3),
        (".5", 0.5),
        ("0.4 - 5", -4.6),
        ("true", True),
        ("false", False),
        ("null", None),
        ("[]", []),
        ("[1, 2, 3]", [1, 2, 3]),
        ('[["list"], "of", [["lists"]]]', [["list"], "of", [["lists"]]]),
        ("{}", {}),
        ('{a: 1, "b c": "valid", nested: {d: 3}}', {"a": 1, "b c": "valid", "nested": {"d": 3}}),
    ],
)
def test_literals(source: str, expected: object) -> None:
    assert ev(source) == expected


def test_numbers_are_decimals_with_34_digits() -> None:
    assert ev("0.1 + 0.2 = 0.3") is True
    assert feel("1 / 3") == Decimal("0.3333333333333333333333333333333333")
    assert feel("10 / 4") == Decimal("2.5")
    assert ev("1.1 * 3") == 3.3


def test_context_entries_see_earlier_entries() -> None:
    # language guide, context expressions: "the previous entries can be accessed"
    assert ev("{a: 2, b: a * 2}") == {"a": 2, "b": 4}
    assert ev("{a: 1, b: {c: a + 1}}.b.c") == 2


def test_context_keys_with_spaces_and_symbols() -> None:
    assert ev("{first name: 1, tracking-id: 2}") == {"first name": 1, "tracking-id": 2}


def test_variables_and_paths() -> None:
    order = {"customer": {"name": "Ann"}, "total price": 10}
    assert ev("order.customer.name", order=order) == "Ann"
    assert ev("order.`total price`", order=order) == 10
    assert ev("`total price`", **{"total price": 3}) == 3
    assert ev("x + y", x=1, y=2.5) == 3.5


def test_projection_over_a_list_of_contexts() -> None:
    assert ev('[{a: "p1", b: 5}, {a: "p2", b: 10}].a') == ["p1", "p2"]
    assert ev("[{a: 1}, {b: 2}].a") == [1, None]


def test_missing_variable_is_null_with_a_warning() -> None:
    result = run("x")
    assert result.value is None
    assert result.warnings == ("[NO_VARIABLE_FOUND] No variable found with name 'x'",)


def test_missing_context_entry_names_the_available_keys() -> None:
    result = run("{a: 1, b: 2}.c")
    assert result.value is None
    assert result.warnings == (
        "[NO_CONTEXT_ENTRY_FOUND] No context entry found with key 'c'. Available keys: 'a', 'b'",
    )
    assert run("x.y", x=None).warnings[-1].endswith("The context is null")


def test_variables_may_be_feel_values_or_json() -> None:
    assert ev("x * 2", x=Decimal("1.5")) == 3
    assert ev("x.y[2]", x={"y": [1, 2.5]}) == 2.5


def test_list_index_is_one_based_negative_from_the_end() -> None:
    # language guide, list expressions: get element
    assert ev("[1,2,3,4][1]") == 1
    assert ev("[1,2,3,4][4]") == 4
    assert ev("[1,2,3,4][5]") is None
    assert ev("[1,2,3,4][0]") is None
    assert ev("[1,2,3,4][-1]") == 4
    assert ev("[1,2,3,4][-5]") is None
    assert ev("l[i]", l=[5, 6], i=2) == 6


def test_filters() -> None:
    assert ev("[1,2,3,4][item > 2]") == [3, 4]
    assert ev("[1,2,3,4][item > 10]") == []
    assert ev("[1,2,3,4][even(item)]") == [2, 4]
    assert ev('[{a: "p1", b: 5}, {a: "p2", b: 10}][b > 7]') == [{"a": "p2", "b": 10}]
    assert ev("[{a: 1}, {b: 2}][a < 10]") == [{"a": 1}]
    packaging = [{"unit": "Box"}, {"unit": "Palette", "n": 2}]
    assert ev('p[unit = "Palette"][1].n', p=packaging) == 2


def test_compile_is_cached_by_text() -> None:
    assert compile_expression("a + 1") is compile_expression("a + 1")
    assert compile_expression("a + 1").source == "a + 1"


def test_comments_are_ignored() -> None:
    assert ev("1 + // one\n 2") == 3
    assert ev("/* a */ 3") == 3
