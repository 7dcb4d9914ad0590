"""The package's public helpers: expression vs static value, result types, JSON mapping."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from trio_zeebe.engine.feel import from_json, is_expression, static_value, to_json, type_name

from .conftest import feel


def test_is_expression() -> None:
    assert is_expression("=x")
    assert is_expression("= order.total > 100")
    assert not is_expression("=")
    assert not is_expression(" =x")
    assert not is_expression("PT2H")
    assert not is_expression("")


def test_static_value() -> None:
    assert static_value("3") == Decimal(3)
    assert static_value("-2.5") == Decimal("-2.5")
    assert static_value("PT2H") == "PT2H"
    assert static_value("my-job") == "my-job"
    assert static_value("") == ""


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("null", "NULL"),
        ("true", "BOOLEAN"),
        ("1", "NUMBER"),
        ('"a"', "STRING"),
        ('duration("PT1H")', "DURATION"),
        ('duration("P1M")', "PERIOD"),
        ('date("2020-01-01")', "DATE"),
        ('time("10:00:00")', "TIME"),
        ('date and time("2020-01-01T10:00:00Z")', "DATE_TIME"),
        ('date and time("2020-01-01T10:00:00")', "DATE_TIME"),
        ("[1]", "ARRAY"),
        ("{}", "OBJECT"),
        ("function(a) a", "UNKNOWN"),
    ],
)
def test_type_name(source: str, name: str) -> None:
    assert type_name(feel(source)) == name


def test_from_json_and_back() -> None:
    document = {"a": 1, "b": 2.5, "c": [True, None, "x"], "d": {"e": -3}}
    value = from_json(document)
    assert value == {
        "a": Decimal(1),
        "b": Decimal("2.5"),
        "c": [True, None, "x"],
        "d": {"e": Decimal(-3)},
    }
    assert to_json(value) == document
    assert from_json(float("nan")) is None
    assert from_json(value) == value  # FEEL values pass through


def test_to_json_numbers() -> None:
    assert to_json(Decimal("2.0")) == 2 and type(to_json(Decimal("2.0"))) is int
    assert to_json(Decimal("0.1")) == 0.1
    assert to_json(Decimal("1E+30")) == 1e30  # beyond 64 bits: a float, as Zeebe's double
    assert to_json(True) is True


def test_to_json_temporals() -> None:
    assert to_json(dt.date(2020, 1, 2)) == "2020-01-02"
    assert to_json(dt.timedelta(days=1, seconds=1)) == "PT24H1S"
