"""Every built-in function, with the examples of Camunda's built-in function pages."""

from __future__ import annotations

import pytest

from .conftest import ev, run

CASES = [
    # string functions
    ('substring("foobar", 3)', "obar"),
    ('substring("foobar", -2)', "ar"),
    ('substring("foobar", 3, 3)', "oba"),
    ('substring("foobar", -3, 2)', "ba"),
    ('substring("foobar", 3, 10)', "obar"),
    ('string length("foo")', 3),
    ('upper case("aBc4")', "ABC4"),
    ('lower case("aBc4")', "abc4"),
    ('substring before("foobar", "bar")', "foo"),
    ('substring before("foobar", "x")', ""),
    ('substring after("foobar", "ob")', "ar"),
    ('contains("foobar", "of")', False),
    ('starts with("foobar", "fo")', True),
    ('ends with("foobar", "r")', True),
    ('matches("foobar", "^fo*bar")', True),
    ('matches("FooBar", "foo", "i")', True),
    ('replace("abcd", "(ab)|(a)", "[1=$1][2=$2]")', "[1=ab][2=]cd"),
    (r'replace("0123456789", "(\d{3})(\d{3})(\d{4})", "($1) $2-$3")', "(012) 345-6789"),
    ('replace("How do you feel?", "Feel", "FEEL", "i")', "How do you FEEL?"),
    (r'split("John Doe", "\s")', ["John", "Doe"]),
    ('split("a;b;c;;", ";")', ["a", "b", "c", "", ""]),
    ('extract("references are 1234, 1256, 1378", "12[0-9]*")', ["1234", "1256"]),
    ('trim("  hello world  ")', "hello world"),
    ('to base64("FEEL")', "RkVFTA=="),
    ('from base64("RkVFTA==")', "FEEL"),
    ('is blank(" ")', True),
    ('is blank("hello world")', False),
    # numeric functions
    ("decimal(1/3, 2)", 0.33),
    ("decimal(1.5, 0)", 2),
    ('decimal(2.5, 0, "half_up")', 3),
    ("floor(1.5)", 1),
    ("floor(-1.5)", -2),
    ("floor(-1.56, 1)", -1.6),
    ("ceiling(1.5)", 2),
    ("ceiling(-1.5)", -1),
    ("ceiling(-1.56, 1)", -1.5),
    ("round up(5.5)", 6),
    ("round up(-5.5)", -6),
    ("round up(1.121, 2)", 1.13),
    ("round down(5.5)", 5),
    ("round down (-1.126, 2)", -1.12),
    ("round half up(5.5)", 6),
    ("round half up(-1.126, 2)", -1.13),
    ("round half down(5.5)", 5),
    ("round half down(-5.5)", -5),
    ("abs(-10)", 10),
    ("modulo(12, 5)", 2),
    ("modulo(-12, 5)", 3),
    ("modulo(12, -5)", -3),
    ("sqrt(16)", 4),
    ("log(10)", 2.302585092994046),
    ("exp(5)", 148.4131591025766),
    ("odd(5)", True),
    ("even(5)", False),
    ("even(2)", True),
    # list functions
    ("list contains([1,2,3], 2)", True),
    ("count([1,2,3])", 3),
    ("min([1,2,3])", 1),
    ("min(1,2,3)", 1),
    ("max([1,2,3])", 3),
    ('max("a", "c", "b")', "c"),
    ("sum([1,2,3])", 6),
    ("sum(1,2,3)", 6),
    ("sum([])", None),
    ("product([2, 3, 4])", 24),
    ("mean([1,2,3])", 2),
    ("median(8, 2, 5, 3, 4)", 4),
    ("median([6, 1, 2, 3])", 2.5),
    ("stddev(2, 4, 7, 5)", 2.0816659994661326),  # sqrt as a double, like FEEL-Scala
    ("mode(6, 3, 9, 6, 6)", [6]),
    ("mode(6, 1, 9, 6, 1)", [1, 6]),
    ("and([true,false])", False),
    ("and(true, null, true)", None),
    ("all([true, true])", True),
    ("or([false,true])", True),
    ("any(false, null)", None),
    ("sublist([1,2,3], 2)", [2, 3]),
    ("sublist([1,2,3], 1, 2)", [1, 2]),
    ("append([1], 2, 3)", [1, 2, 3]),
    ("concatenate([1,2],[3])", [1, 2, 3]),
    ("insert before([1,3],1,2)", [2, 1, 3]),
    ("remove([1,2,3], 2)", [1, 3]),
    ("reverse([1,2,3])", [3, 2, 1]),
    ("index of([1,2,3,2],2)", [2, 4]),
    ("union([1,2],[2,3])", [1, 2, 3]),
    ("distinct values([1,2,3,2,1])", [1, 2, 3]),
    ("duplicate values([1,2,3,2,1])", [1, 2]),
    ("flatten([[1,2],[[3]], 4])", [1, 2, 3, 4]),
    ("sort(list: [3,1,4,5,2], precedes: function(x,y) x < y)", [1, 2, 3, 4, 5]),
    ('string join(["a","b","c"])', "abc"),
    ('string join(["a","b","c"], ", ")', "a, b, c"),
    ('string join(["a","b","c"], ", ", "[", "]")', "[a, b, c]"),
    ('string join(["a",null,"c"], "-")', "a-c"),
    ("is empty([])", True),
    ("partition([1,2,3,4,5], 2)", [[1, 2], [3, 4], [5]]),
    # context functions
    ('get value({foo: 123}, "foo")', 123),
    ('get value({a: {b: 1}}, ["a", "b"])', 1),
    ('get value({a: 1}, "x")', None),
    ("get entries({foo: 123})", [{"key": "foo", "value": 123}]),
    ('context put({x:1}, "y", 2)', {"x": 1, "y": 2}),
    ('context put({x:1, y: {z: 0}}, ["y", "z"], 2)', {"x": 1, "y": {"z": 2}}),
    ('put({x:1}, "x", 2)', {"x": 2}),
    ("context merge([{x:1}, {y:2}])", {"x": 1, "y": 2}),
    ("context merge({x:1}, {x:2})", {"x": 2}),
    ('context([{key:"a", value:1}, {key:"b", value:2}])', {"a": 1, "b": 2}),
    # conversion functions
    ("string(1.1)", "1.1"),
    ('string([1, "a"])', '[1, "a"]'),
    ("string({a: 1})", "{a:1}"),
    ("string(null)", None),
    ('number("1500.5")', 1500.5),
    ('number("1,500", ",")', 1500),
    ('number("1.500,5", ".", ",")', 1500.5),
    ('number("x")', None),
    ('from json("{\\"a\\": [1, 2.5, null]}")', {"a": [1, 2.5, None]}),
    ('to json({a: [1, "b"]})', '{"a":[1,"b"]}'),
    ('to json(date("2020-01-01"))', '"2020-01-01"'),
    # boolean functions
    ("not(true)", False),
    ("is defined(1)", True),
    ("is defined(null)", False),
    ("is defined(x)", False),
    ('get or else("this", "default")', "this"),
    ('get or else(null, "default")', "default"),
    ("assert(4, 4 >= 0)", 4),
    # range functions (DMN 1.3 §10.3.4.9)
    ("before(1, 10)", True),
    ("before(10, 1)", False),
    ("before([1..5], 10)", True),
    ("before([1..5], [6..10])", True),
    ("before([1..5), [5..10])", True),
    ("before([1..5], [5..10])", False),
    ("after(10, [1..5])", True),
    ("meets([1..5], [5..10])", True),
    ("meets([1..3), [3..5])", False),
    ("met by([5..10], [1..5])", True),
    ("overlaps([1..5], [3..8])", True),
    ("overlaps([1..5], [6..8])", False),
    ("overlaps before([1..5], [3..8])", True),
    ("overlaps after([3..8], [1..5])", True),
    ("finishes(5, [1..5])", True),
    ("finishes([3..5], [1..5])", True),
    ("finished by([1..5], [3..5])", True),
    ("includes([1..10], 5)", True),
    ("includes([1..10], [4..6])", True),
    ("during(5, [1..10])", True),
    ("during([4..6], [1..10])", True),
    ("starts(1, [1..5])", True),
    ("starts((1..5], [1..5])", False),
    ("started by([1..10], [1..5])", True),
    ("coincides([1..5], [1..5])", True),
    ("coincides(5, 5)", True),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_builtin(source: str, expected: object) -> None:
    assert ev(source) == expected


def test_assert_fails_the_evaluation() -> None:
    from trio_zeebe.engine.feel import FeelEvaluationError

    with pytest.raises(FeelEvaluationError) as failure:
        run("assert(x, x != null)")
    assert failure.value.kind == "ASSERT_FAILURE"
    assert failure.value.message == "The condition is not fulfilled"
    assert failure.value.warnings[-1] == "[ASSERT_FAILURE] The condition is not fulfilled"
    with pytest.raises(FeelEvaluationError, match="'x' should be positive"):
        run("assert(x, x >= 0, \"'x' should be positive\")", x=-1)


def test_named_arguments() -> None:
    assert ev('substring(string: "foobar", start position: 3)') == "obar"
    assert ev("get or else(default: 2, value: null)") == 2
    assert ev("round half up(n: 1.5)") == 2


def test_wrong_arguments_are_null_with_a_warning() -> None:
    result = run("string length(1)")
    assert result.value is None
    assert result.warnings == (
        "[FUNCTION_INVOCATION_FAILURE] Failed to invoke function 'string length': "
        "Illegal arguments: '1'",
    )
    assert ev("sublist([1,2], 0)") is None
    assert ev('matches("a", "(")') is None


def test_a_local_function_shadows_a_builtin() -> None:
    assert ev("{count: function(l) 42}.count([1])") == 42
    assert ev("{count: 5, r: count([1, 2])}.r") == 2  # a non-function value does not shadow


def test_catastrophic_regex_is_refused() -> None:
    result = run('matches("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", "(a+)+$")')
    assert result.value is None
    assert "catastrophic backtracking" in result.warnings[0]
    assert ev('matches("ab ab", "(ab ?)+")') is True  # a repeated group without repetition
