"""Canonical JSON values: key order and tuples never make replicas differ."""

from __future__ import annotations

from typing import Any

import pytest

from trio_zeebe import codec
from trio_zeebe.engine.values import InvalidValue, canonical_headers, canonical_object


def test_canonical_form_sorts_keys_recursively_and_lists_tuples() -> None:
    a = canonical_object({"b": 1, "a": {"d": (1, {"f": 0, "e": 1}), "c": None}}, "v")
    b = canonical_object({"a": {"c": None, "d": [1, {"e": 1, "f": 0}]}, "b": 1}, "v")
    assert codec.packb(a) == codec.packb(b)
    assert list(a) == ["a", "b"] and a["a"]["d"] == [1, {"e": 1, "f": 0}]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ([], "must be a JSON object"),
        ({"a": float("inf")}, "v.a: inf"),
        ({"a": [0, {1: 2}]}, "v.a[1]: object key '1'"),
        ({"a": 2**64}, "v.a: integer out of range"),
        ({"a": {1, 2}}, "v.a: set is not a JSON value"),
    ],
)
def test_invalid_values_name_the_place(value: Any, fragment: str) -> None:
    with pytest.raises(InvalidValue, match=None) as info:
        canonical_object(value, "v")
    assert fragment in str(info.value)


def test_nesting_is_bounded() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(200):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(InvalidValue, match="nested deeper"):
        canonical_object(deep, "v")


def test_headers_are_strings_only() -> None:
    assert list(canonical_headers({"b": "1", "a": "2"})) == ["a", "b"]
    with pytest.raises(InvalidValue):
        canonical_headers({"a": 1})
    with pytest.raises(InvalidValue):
        canonical_headers(["a"])
