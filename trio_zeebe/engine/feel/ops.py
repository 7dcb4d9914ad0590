"""FEEL's operators on values, null-friendly: an operation that is not defined for its operands
yields None and a warning worded like FEEL-Scala's (``Can't add '"a"' to '1'``)."""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from . import temporal
from .runtime import Env, check_string, show
from .values import CTX, T_NUM, T_STR, compare, equals, tag

_ARITH_ERRORS = (decimal.DecimalException, OverflowError, ValueError, ArithmeticError)


def add(env: Env, x: Any, y: Any) -> Any:
    if type(x) is str and type(y) is str:
        return check_string(x + y)
    return _arithmetic(env, x, y, CTX.add, temporal.add, "add", "Can't add {y} to {x}")


def subtract(env: Env, x: Any, y: Any) -> Any:
    return _arithmetic(
        env, x, y, CTX.subtract, temporal.subtract, "subtract", "Can't subtract {y} from {x}"
    )


def multiply(env: Env, x: Any, y: Any) -> Any:
    return _arithmetic(
        env, x, y, CTX.multiply, temporal.multiply, "multiply", "Can't multiply {x} by {y}"
    )


def divide(env: Env, x: Any, y: Any) -> Any:
    if type(x) is Decimal and type(y) is Decimal and not y:
        env.warn("INVALID_TYPE", f"Can't divide {_q(x)} by {_q(y)}")
        return None
    return _arithmetic(env, x, y, CTX.divide, temporal.divide, "divide", "Can't divide {x} by {y}")


def _arithmetic(
    env: Env,
    x: Any,
    y: Any,
    on_numbers: Callable[[Decimal, Decimal], Decimal],
    on_temporal: Callable[[Any, Any], Any],
    verb: str,
    refusal: str,
) -> Any:
    """``on_numbers`` for two numbers, else ``on_temporal`` (NotImplemented when it does not
    apply); None with the ``refusal`` warning (``{x}``/``{y}`` are the quoted operands) or the
    overflow warning when neither gives a value."""
    if type(x) is Decimal and type(y) is Decimal:
        try:
            return on_numbers(x, y)
        except _ARITH_ERRORS:
            return _overflow(env, x, y, verb)
    try:
        result = on_temporal(x, y)
    except _ARITH_ERRORS:
        result = NotImplemented
    if result is NotImplemented:
        env.warn("INVALID_TYPE", refusal.format(x=_q(x), y=_q(y)))
        return None
    return result


def power(env: Env, x: Any, y: Any) -> Any:
    if type(x) is not Decimal or type(y) is not Decimal:
        bad = x if type(x) is not Decimal else y
        env.warn("INVALID_TYPE", f"Expected number but found {_q(bad)}")
        return None
    try:
        if y == y.to_integral_value():
            if abs(y) > 999_999_999:  # FEEL-Scala takes the exponent as a 32-bit int
                raise OverflowError
            return CTX.power(x, y)
        result = math.pow(float(x), float(y))
        if not math.isfinite(result):
            raise OverflowError
        return CTX.create_decimal(repr(result))
    except _ARITH_ERRORS:
        return _overflow(env, x, y, "raise to the power of")


def negate(env: Env, x: Any) -> Any:
    if type(x) is Decimal:
        return CTX.minus(x)
    env.warn("INVALID_TYPE", f"Expected number but found {_q(x)}")
    return None


def _overflow(env: Env, x: Any, y: Any, verb: str) -> None:
    env.warn("INVALID_TYPE", f"Can't {verb} {_q(x)} and {_q(y)}: the result is not a number")
    return None


def _q(value: Any) -> str:
    return f"'{show(value)}'"


def eq(env: Env, x: Any, y: Any) -> bool | None:
    # the common cases first: same scalar type
    kx = type(x)
    if kx is type(y) and (kx is Decimal or kx is str or kx is bool):
        return bool(x == y)
    result = equals(x, y)
    if result is None:
        env.warn("NOT_COMPARABLE", f"Can't compare {_q(x)} with {_q(y)}")
    return result


def order(env: Env, x: Any, y: Any) -> int | None:
    """-1/0/1, or None (with a warning) when the values cannot be ordered."""
    kx = type(x)
    if kx is type(y) and (kx is Decimal or kx is str):
        return -1 if x < y else (1 if x > y else 0)
    result = compare(x, y)
    if result is None:
        env.warn("NOT_COMPARABLE", f"Can't compare {_q(x)} with {_q(y)}")
    return result


def as_bool(env: Env, value: Any) -> bool | None:
    """A condition's value: a boolean, or None (with a warning unless it was null)."""
    if value is True or value is False:
        return value
    env.warn("INVALID_TYPE", f"Expected boolean but found {_q(value)}")
    return None


def is_number(value: Any) -> bool:
    return tag(value) == T_NUM


def is_string(value: Any) -> bool:
    return tag(value) == T_STR
