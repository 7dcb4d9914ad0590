"""The registry of built-in functions and the calling convention shared with user-defined ones.

A built-in is a :class:`~trio_zeebe.engine.feel.values.Function` whose ``invoke(env, args)``
raises :class:`Illegal` when the arguments do not fit (FEEL-Scala's "Illegal arguments") or
:class:`Fail` with its own message; both become a ``FUNCTION_INVOCATION_FAILURE`` warning and a
null result, as in FEEL-Scala.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from .runtime import Env, show
from .values import Function

REGISTRY: dict[str, list[Function]] = {}

Impl = Callable[[Env, list[Any]], Any]


class Illegal(Exception):
    """The arguments do not fit the function."""


class Fail(Exception):
    """The function failed with a message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def builtin(name: str, *params: str, varargs: bool = False) -> Callable[[Impl], Impl]:
    """Register ``impl`` as the built-in ``name`` with these parameter names."""

    def register(impl: Impl) -> Impl:
        REGISTRY.setdefault(name, []).append(
            Function(params=params, invoke=impl, varargs=varargs, name=name)
        )
        return impl

    return register


def resolve_positional(candidates: Iterable[Function], count: int) -> Function | None:
    varargs = None
    for fn in candidates:
        if len(fn.params) == count:
            return fn
        if fn.varargs and len(fn.params) < count and varargs is None:
            varargs = fn
    return varargs


def resolve_named(candidates: Iterable[Function], names: frozenset[str]) -> Function | None:
    for fn in candidates:
        if names <= frozenset(fn.params):
            return fn
    return None


def pack_varargs(fn: Function, args: list[Any]) -> list[Any]:
    if not fn.varargs or not fn.params:
        return args
    size = len(fn.params) - 1
    rest = args[size:]
    if len(rest) == 1 and size == 0 and type(rest[0]) is list:
        return [rest[0]]
    return [*args[:size], rest]


def call(env: Env, fn: Function, args: list[Any]) -> Any:
    """Invoke ``fn``; a failure is a warning and None."""
    env.tick()
    try:
        return fn.invoke(env, args)
    except Illegal:
        listed = ", ".join(f"'{show(a)}'" for a in args)
        env.warn(
            "FUNCTION_INVOCATION_FAILURE",
            f"Failed to invoke function '{fn.name}': Illegal arguments: {listed}",
        )
    except Fail as failure:
        env.warn(
            "FUNCTION_INVOCATION_FAILURE",
            f"Failed to invoke function '{fn.name}': {failure.message}",
        )
    return None


# --- argument helpers for built-ins --------------------------------------------------------


def num(value: Any) -> Decimal:
    if type(value) is not Decimal:
        raise Illegal
    return value


def integer(value: Any) -> int:
    """A number argument as an int (truncated, like BigDecimal.intValue), bounded."""
    n = num(value)
    if abs(n) > 2**31:
        raise Illegal
    return int(n)


def text(value: Any) -> str:
    if type(value) is not str:
        raise Illegal
    return value


def items(value: Any) -> list[Any]:
    if type(value) is not list:
        raise Illegal
    return value


def context(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise Illegal
    return value
