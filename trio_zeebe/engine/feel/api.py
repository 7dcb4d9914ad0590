"""Compiling and evaluating FEEL expressions and unary tests: the package's public entry points.

Both compile functions cache by text (the same text gives the same object), evaluation is pure:
no clock (``now`` comes from the caller), no I/O, no randomness. An evaluation raises nothing but
:class:`FeelEvaluationError`; compiling raises nothing but :class:`FeelSyntaxError`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import attrs

from . import builtins as _builtins  # noqa: F401  (registers the built-in functions)
from .compiler import Compiler, Fn, Test
from .errors import AssertFailure, FeelEvaluationError, FeelSyntaxError, LimitExceeded
from .grammar import parse
from .runtime import Env
from .values import CTX, from_json

_STATIC_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
_CACHE_SIZE = 4096


def is_expression(attribute: str) -> bool:
    """Zeebe: an attribute is an expression iff it is ``=`` followed by at least one character."""
    return len(attribute) > 1 and attribute[0] == "="


def static_value(attribute: str) -> object:
    """Zeebe's static value: a decimal number (as a FEEL number) or else the text as it is."""
    if _STATIC_NUMBER.fullmatch(attribute):
        return CTX.create_decimal(attribute)
    return attribute


@attrs.frozen
class Evaluation:
    """A result and the warnings collected on the way, each ``[TYPE] message`` as Zeebe prints
    them after "The evaluation reported the following warnings:"."""

    value: Any
    warnings: tuple[str, ...]


def _run(fn: Any, env: Env) -> Any:
    try:
        return fn(env)
    except FeelEvaluationError as error:
        raise FeelEvaluationError(error.message, error.kind, tuple(env.warnings)) from None
    except LimitExceeded as error:
        raise FeelEvaluationError(error.message, "LIMIT_EXCEEDED", tuple(env.warnings)) from None
    except AssertFailure as error:
        env.warnings.append(f"[ASSERT_FAILURE] {error.message}")
        raise FeelEvaluationError(error.message, "ASSERT_FAILURE", tuple(env.warnings)) from None
    except RecursionError:
        raise FeelEvaluationError(
            "the evaluation is nested too deeply", "LIMIT_EXCEEDED", tuple(env.warnings)
        ) from None
    except MemoryError:
        raise FeelEvaluationError(
            "the evaluation ran out of memory", "LIMIT_EXCEEDED", tuple(env.warnings)
        ) from None
    except Exception as error:  # a bug must not take the broker down: fail this expression
        raise FeelEvaluationError(
            f"internal error: {type(error).__name__}: {error}", "INTERNAL", tuple(env.warnings)
        ) from None


class Expression:
    """A compiled FEEL expression (the text without Zeebe's leading ``=``)."""

    __slots__ = ("_fn", "source")

    def __init__(self, source: str, fn: Fn) -> None:
        self.source = source
        self._fn = fn

    def evaluate(self, variables: Mapping[str, Any], *, now: float) -> Evaluation:
        """Evaluate against ``variables`` (JSON values or FEEL values); ``now`` is the engine's
        clock, epoch seconds UTC, used by ``now()`` and ``today()``."""
        env = Env(variables, now)
        value = _run(self._fn, env)
        return Evaluation(value, tuple(env.warnings))

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


class UnaryTests:
    """Compiled DMN unary tests (a decision-table input entry)."""

    __slots__ = ("_test", "source")

    def __init__(self, source: str, test: Test) -> None:
        self.source = source
        self._test = test

    def test(self, input_value: Any, variables: Mapping[str, Any], *, now: float) -> bool:
        """Whether ``input_value`` satisfies the tests (null results do not match)."""
        return self.evaluate(input_value, variables, now=now).value is True

    def evaluate(self, input_value: Any, variables: Mapping[str, Any], *, now: float) -> Evaluation:
        """Like :meth:`test` but with the three-valued result and the warnings."""
        env = Env(variables, now)
        value = from_json(input_value)
        env.input, env.has_input = value, True
        result = _run(lambda e: self._test(e, value), env)
        return Evaluation(result, tuple(env.warnings))

    def __repr__(self) -> str:
        return f"UnaryTests({self.source!r})"


def _compile(source: str, start: str) -> Any:
    if not isinstance(source, str):
        raise FeelSyntaxError("expression must be a string")
    tree = parse(source, start)
    compiler = Compiler()
    try:
        if start == "expression":
            return compiler.expression(tree)
        return compiler.unary_tests(tree)
    except RecursionError:
        raise FeelSyntaxError("failed to parse expression: nested too deeply") from None


@functools.lru_cache(maxsize=_CACHE_SIZE)
def compile_expression(source: str) -> Expression:
    """Compile a FEEL expression (without the leading ``=``); cached by text."""
    return Expression(source, _compile(source, "expression"))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def compile_unary_tests(source: str) -> UnaryTests:
    """Compile DMN unary tests (``-``, ``< 10``, ``"a","b"``, ``not(...)``, ``? > 5``)."""
    if source.strip() == "":
        return UnaryTests(source, lambda env, value: True)  # an empty input entry matches all
    return UnaryTests(source, _compile(source, "unary_tests"))
