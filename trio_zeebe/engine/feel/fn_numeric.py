"""Built-in numeric functions (Camunda docs: feel-built-in-functions-numeric)."""

from __future__ import annotations

import decimal
import math
from decimal import Decimal
from typing import Any

from .functions import Fail, Illegal, builtin, integer, num
from .runtime import Env
from .values import CTX

_MODES = {
    "UP": decimal.ROUND_UP,
    "DOWN": decimal.ROUND_DOWN,
    "CEILING": decimal.ROUND_CEILING,
    "FLOOR": decimal.ROUND_FLOOR,
    "HALF_UP": decimal.ROUND_HALF_UP,
    "HALF_DOWN": decimal.ROUND_HALF_DOWN,
    "HALF_EVEN": decimal.ROUND_HALF_EVEN,
}
_MAX_SCALE = 1000


def set_scale(n: Decimal, scale: int, rounding: str | None) -> Decimal:
    """``BigDecimal.setScale``: ``rounding`` None means UNNECESSARY (fail if digits are lost)."""
    if abs(scale) > _MAX_SCALE:
        raise Fail(f"scale {scale} is out of range")
    digits = max(CTX.prec, n.adjusted() + scale + 2)
    context = decimal.Context(prec=digits, rounding=rounding or decimal.ROUND_HALF_EVEN)
    try:
        result = n.quantize(Decimal(1).scaleb(-scale), context=context)
    except decimal.DecimalException:
        raise Fail("the number cannot be rounded at that scale") from None
    if rounding is None and result != n:
        raise Fail("rounding necessary")
    return result


@builtin("decimal", "n", "scale")
def decimal_(env: Env, args: list[Any]) -> Any:
    return set_scale(num(args[0]), integer(args[1]), decimal.ROUND_HALF_EVEN)


@builtin("decimal", "n", "scale", "mode")
def decimal3(env: Env, args: list[Any]) -> Any:
    mode = args[2]
    if type(mode) is not str:
        raise Illegal
    key = mode.upper()
    if key == "UNNECESSARY":
        return set_scale(num(args[0]), integer(args[1]), None)
    if key not in _MODES:
        raise Fail(f"unknown rounding mode '{mode}'")
    return set_scale(num(args[0]), integer(args[1]), _MODES[key])


def _rounding(name: str, mode: str) -> None:
    @builtin(name, "n")
    def one(env: Env, args: list[Any]) -> Any:
        return set_scale(num(args[0]), 0, mode)

    @builtin(name, "n", "scale")
    def two(env: Env, args: list[Any]) -> Any:
        return set_scale(num(args[0]), integer(args[1]), mode)


_rounding("floor", decimal.ROUND_FLOOR)
_rounding("ceiling", decimal.ROUND_CEILING)
_rounding("round up", decimal.ROUND_UP)
_rounding("round down", decimal.ROUND_DOWN)
_rounding("round half up", decimal.ROUND_HALF_UP)
_rounding("round half down", decimal.ROUND_HALF_DOWN)


@builtin("abs", "number")
def abs_number(env: Env, args: list[Any]) -> Any:
    return CTX.abs(num(args[0]))


@builtin("abs", "n")
def abs_n(env: Env, args: list[Any]) -> Any:
    return CTX.abs(num(args[0]))


@builtin("modulo", "dividend", "divisor")
def modulo(env: Env, args: list[Any]) -> Any:
    dividend, divisor = num(args[0]), num(args[1])
    if not divisor:
        raise Fail("division by zero")
    try:
        # the result has the sign of the divisor (DMN 1.3: dividend - divisor * floor(d / s))
        quotient = CTX.divide(dividend, divisor).to_integral_value(rounding=decimal.ROUND_FLOOR)
        return CTX.subtract(dividend, CTX.multiply(divisor, quotient))
    except decimal.DecimalException:
        raise Fail("the result is not a number") from None


@builtin("sqrt", "number")
def sqrt(env: Env, args: list[Any]) -> Any:
    n = num(args[0])
    if n < 0:
        raise Fail(f"square root of a negative number {n}")
    return CTX.sqrt(n)


def _double(value: float) -> Decimal:
    if not math.isfinite(value):
        raise Fail("the result is not a number")
    return CTX.create_decimal(repr(value))


@builtin("log", "number")
def log(env: Env, args: list[Any]) -> Any:
    n = num(args[0])
    if n <= 0:
        raise Fail(f"logarithm of a non-positive number {n}")
    try:
        return _double(math.log(n))
    except (OverflowError, ValueError):
        raise Fail("the result is not a number") from None


@builtin("exp", "number")
def exp(env: Env, args: list[Any]) -> Any:
    try:
        return _double(math.exp(float(num(args[0]))))
    except OverflowError:
        raise Fail("the result is not a number") from None


def _whole(n: Decimal) -> bool:
    return n == n.to_integral_value()


@builtin("odd", "number")
def odd(env: Env, args: list[Any]) -> Any:
    n = num(args[0])
    return _whole(n) and n % 2 != 0


@builtin("even", "number")
def even(env: Env, args: list[Any]) -> Any:
    n = num(args[0])
    return _whole(n) and n % 2 == 0
