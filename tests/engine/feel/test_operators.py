"""Arithmetic, comparison, boolean logic, if/for/some/every, in, instance of (language guide:
numeric, boolean, control flow and list expressions)."""

from __future__ import annotations

import pytest

from .conftest import ev, run


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ** 3", 8),
        ("2 ** 3 ** 2", 64),  # left-associative like FEEL-Scala
        ("-2 ** 2", 4),  # the negation binds tighter (FEEL-Scala)
        ("- 3 + 1", -2),
        ("7 / 2", 3.5),
        ("2 ** -1", 0.5),
        ("4 ** 0.5", 2),
        ('"foo" + "bar"', "foobar"),
    ],
)
def test_arithmetic(source: str, expected: object) -> None:
    assert ev(source) == expected


@pytest.mark.parametrize(
    ("source", "warning"),
    [
        ('1 + "a"', "[INVALID_TYPE] Can't add '\"a\"' to '1'"),
        ("null + 1", "[INVALID_TYPE] Can't add '1' to 'null'"),
        ("1 / 0", "[INVALID_TYPE] Can't divide '1' by '0'"),
        ('"a" - 1', "[INVALID_TYPE] Can't subtract '1' from '\"a\"'"),
        ("true * 2", "[INVALID_TYPE] Can't multiply 'true' by '2'"),
        ('-"a"', "[INVALID_TYPE] Expected number but found '\"a\"'"),
    ],
)
def test_invalid_arithmetic_is_null_with_a_warning(source: str, warning: str) -> None:
    result = run(source)
    assert result.value is None
    assert result.warnings == (warning,)


def test_huge_results_are_null_not_infinite() -> None:
    result = run("2 ** 1000000")
    assert result.value is None and result.warnings
    assert run("10 ** 6000 * 10 ** 6000").value is None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 = 1", True),
        ("1 != 1", False),
        ("1 < 2", True),
        ("2 <= 2", True),
        ("3 > 4", False),
        ('"a" < "b"', True),
        ("[1, 2] = [1, 2]", True),
        ("{a: 1} = {a: 1}", True),
        ("{a: 1} = {a: 2}", False),
        ("null = null", True),
        ("1 = null", False),
        ("x = null", True),
        ("5 between 1 and 10", True),
        ("11 between 1 and 10", False),
        ('date("2020-01-02") > date("2020-01-01")', True),
        ('duration("P1D") > duration("PT23H")', True),
    ],
)
def test_comparison(source: str, expected: object) -> None:
    assert ev(source) is expected


def test_comparing_different_types_is_null_with_a_warning() -> None:
    # the example from Camunda's incident guide
    result = run("orderValue >= 100", orderValue="99")
    assert result.value is None
    assert result.warnings == ("[NOT_COMPARABLE] Can't compare '\"99\"' with '100'",)
    assert ev('1 = "1"') is None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("true and true", True),
        ("true and false", False),
        ("false and null", False),
        ("null and false", False),
        ("true and null", None),
        ("true or null", True),
        ("null or true", True),
        ("false or null", None),
        ("false or false", False),
        ("not(true)", False),
        ("not(null)", None),
        ("1 and true", None),
    ],
)
def test_three_valued_logic(source: str, expected: object) -> None:
    assert ev(source) is expected


def test_if_then_else() -> None:
    assert ev('if x > 5 then "big" else "small"', x=7) == "big"
    assert ev('if x > 5 then "big" else "small"', x=1) == "small"
    # a condition that is not true takes the else branch (FEEL-Scala)
    assert ev('if x then "yes" else "no"') == "no"


def test_for_loops() -> None:
    assert ev("for x in [1,2,3] return x * 2") == [2, 4, 6]
    assert ev("for x in 1..3 return x") == [1, 2, 3]
    assert ev("for x in 3..1 return x") == [3, 2, 1]
    assert ev("for x in [1,2], y in [10, 20] return x + y") == [11, 21, 12, 22]
    assert ev("for x in 1..4 return if x = 1 then 1 else x * partial[-1]") == [1, 2, 6, 24]
    assert ev("for x in [] return x") == []
    assert ev("for x in y return x") is None


def test_quantifiers() -> None:
    # language guide, list expressions: some / every
    assert ev("some x in [1,2,3] satisfies x > 2") is True
    assert ev("some x in [1,2,3] satisfies x > 5") is False
    assert ev("some x in [1,2], y in [2,3] satisfies x < y") is True
    assert ev("every x in [1,2,3] satisfies x >= 1") is True
    assert ev("every x in [1,2,3] satisfies x >= 2") is False
    assert ev("every x in [1,2], y in [2,3] satisfies x < y") is False
    assert ev("every x in [] satisfies false") is True


def test_in() -> None:
    assert ev("5 in [1..10]") is True
    assert ev("5 in (1..5)") is False
    assert ev("5 in ]1..5]") is True
    assert ev("5 in [1..5[") is False
    assert ev("5 in (1, 5, 7)") is True
    assert ev("5 in (< 3, > 4)") is True
    assert ev("5 in < 3") is False
    assert ev('"b" in ["a", "b"]') is True
    assert ev("x in [1..10] and x > 2", x=5) is True
    assert ev('day of week(date("2024-01-06")) in ("Saturday","Sunday")') is True


def test_instance_of() -> None:
    assert ev("1 instance of number") is True
    assert ev('"a" instance of string') is True
    assert ev('date("2020-01-01") instance of date') is True
    assert ev('@"2020-01-01T10:00:00" instance of date and time') is True
    assert ev('duration("P1M") instance of years and months duration') is True
    assert ev('duration("P1D") instance of days and time duration') is True
    assert ev("[1] instance of list") is True
    assert ev("{} instance of context") is True
    assert ev("null instance of Any") is False
    assert ev("1 instance of string") is False


def test_user_defined_functions() -> None:
    assert ev("{f: function(a, b) a + b}.f(1, 2)") == 3
    assert ev("{f: function(a, b) a + b, r: f(b: 2, a: 5)}.r") == 7
    assert ev("sort([3, 1, 2], function(x, y) x > y)") == [3, 2, 1]
    merge = """{
      ids: union(x.files.id, y.files.id),
      getById: function (files, fileId) get or else(files[id=fileId][1], {}),
      merge: for id in ids return context merge(getById(x.files, id), getById(y.files, id))
    }.merge"""
    # language guide, list expressions: "Merge two lists"
    x = {"files": [{"id": 1, "content": "a"}, {"id": 2, "content": "b"}]}
    y = {"files": [{"id": 1, "content": "a2"}, {"id": 3, "content": "c"}]}
    assert ev(merge, x=x, y=y) == [
        {"id": 1, "content": "a2"},
        {"id": 2, "content": "b"},
        {"id": 3, "content": "c"},
    ]


def test_group_by_example() -> None:
    # language guide, list expressions: "Group list"
    invoices = [
        {"id": 1, "person": "A"},
        {"id": 2, "person": "B"},
        {"id": 3, "person": "A"},
    ]
    assert ev(
        "for p in distinct values(invoices.person) return invoices[person = p].id",
        invoices=invoices,
    ) == [[1, 3], [2]]


def test_unknown_function_is_null_with_a_warning() -> None:
    result = run("foo(1)")
    assert result.value is None
    assert result.warnings == (
        "[NO_FUNCTION_FOUND] No function found with name 'foo' and 1 parameters",
    )
    failure = run('substring(1, "a")')
    assert failure.value is None
    assert failure.warnings == (
        "[FUNCTION_INVOCATION_FAILURE] Failed to invoke function 'substring': "
        "Illegal arguments: '1', '\"a\"'",
    )
