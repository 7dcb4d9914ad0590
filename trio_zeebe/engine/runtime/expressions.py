"""Evaluating a model's expressions the way Zeebe does, failures as incidents.

An attribute is an expression when it is ``=`` followed by at least one character; otherwise it
is a static value (a number if it is one, else the text). Every evaluation here either returns
a value of the expected type or raises :class:`Fail` with Zeebe's incident type and message,
e.g. ``Expected result of the expression 'approved' to be 'BOOLEAN', but was 'NULL'.``, with the
FEEL warnings appended as Zeebe appends them. Nothing here raises anything else: a failing
expression is an incident, never a crash.

Results are JSON-compatible Python values (``feel.to_json``), ready to be stored as variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .. import feel

__all__ = [
    "EXTRACT_VALUE_ERROR",
    "IO_MAPPING_ERROR",
    "Fail",
    "check_syntax",
    "evaluate",
    "evaluate_with_warnings",
    "with_warnings",
]

EXTRACT_VALUE_ERROR = "EXTRACT_VALUE_ERROR"
IO_MAPPING_ERROR = "IO_MAPPING_ERROR"


class Fail(Exception):
    """A step cannot go on: raise an incident of ``error_type`` with ``message`` (Zeebe's
    ErrorType name and text). The element stays where it is until the incident is resolved."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def check_syntax(source: str) -> str | None:
    """Why a FEEL source does not compile, or None (the deployment validator's hook)."""
    try:
        feel.compile_expression(source)
    except feel.FeelSyntaxError as error:
        return error.message
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


def with_warnings(message: str, warnings: tuple[str, ...]) -> str:
    """A failure message with the FEEL warnings appended, as Zeebe appends them."""
    if not warnings:
        return message
    return message + " The evaluation reported the following warnings:\n" + "\n".join(warnings)


def source_of(text: str) -> str:
    """What Zeebe's messages quote of an attribute: an expression's source (after its ``=``),
    or a static value as it is."""
    return text[1:] if feel.is_expression(text) else text


def _feel(
    text: str, source: str, variables: Mapping[str, Any], now_ms: int, error_type: str
) -> tuple[Any, tuple[str, ...]]:
    try:
        expression = feel.compile_expression(source)
    except feel.FeelSyntaxError as error:  # deployment rejects these; a restored model may not
        raise Fail(error_type, f"failed to parse expression '{source}': {error.message}") from None
    try:
        result = expression.evaluate(variables, now=now_ms / 1000)
    except feel.FeelEvaluationError as error:
        message = f"failed to evaluate expression '{source}': {error.message}"
        raise Fail(error_type, with_warnings(message, error.warnings)) from None
    except Exception as error:
        raise Fail(error_type, f"failed to evaluate expression '{source}': {error}") from None
    return result.value, result.warnings


def evaluate(
    text: str,
    variables: Mapping[str, Any],
    now_ms: int,
    expected: tuple[str, ...] = (),
    *,
    error_type: str = EXTRACT_VALUE_ERROR,
) -> Any:
    """Evaluate an attribute (expression or static value) against ``variables``.

    ``expected``: the Zeebe result types accepted (``("BOOLEAN",)``; empty: any). Returns the
    FEEL value for NUMBER/temporal checks made by the caller, converted to JSON otherwise --
    see :func:`evaluate_json`.
    """
    value, warnings = evaluate_with_warnings(text, variables, now_ms, error_type=error_type)
    if expected:
        kind = feel.type_name(value)
        if kind not in expected:
            source = source_of(text)
            if len(expected) == 1:
                message = (
                    f"Expected result of the expression '{source}' to be '{expected[0]}', "
                    f"but was '{kind}'."
                )
            else:
                shown = ", ".join(expected)
                message = (
                    f"Expected result of the expression '{source}' to be one of '[{shown}]', "
                    f"but was '{kind}'."
                )
            raise Fail(error_type, with_warnings(message, warnings))
    return value


def evaluate_with_warnings(
    text: str, variables: Mapping[str, Any], now_ms: int, *, error_type: str = EXTRACT_VALUE_ERROR
) -> tuple[Any, tuple[str, ...]]:
    """An attribute's FEEL value and the warnings of its evaluation, for callers that check
    the result themselves (a correlation key); raises Fail if the evaluation fails."""
    if feel.is_expression(text):
        return _feel(text, source_of(text), variables, now_ms, error_type)
    return feel.static_value(text), ()


def evaluate_json(
    text: str,
    variables: Mapping[str, Any],
    now_ms: int,
    expected: tuple[str, ...] = (),
    *,
    error_type: str = EXTRACT_VALUE_ERROR,
) -> Any:
    """:func:`evaluate`, the result as a JSON-compatible value."""
    return feel.to_json(evaluate(text, variables, now_ms, expected, error_type=error_type))


def evaluate_string(text: str, variables: Mapping[str, Any], now_ms: int) -> str:
    value = evaluate(text, variables, now_ms, ("STRING",))
    return str(value)


def evaluate_boolean(text: str, variables: Mapping[str, Any], now_ms: int) -> bool:
    return bool(evaluate(text, variables, now_ms, ("BOOLEAN",)))


def evaluate_integer(text: str, variables: Mapping[str, Any], now_ms: int) -> int:
    """A NUMBER result as an integer (Zeebe's ``longValue``: the fraction is dropped)."""
    value = evaluate(text, variables, now_ms, ("NUMBER",))
    try:
        number = Decimal(value)
        return int(number.to_integral_value(rounding="ROUND_DOWN"))
    except (ArithmeticError, ValueError, TypeError, OverflowError):
        raise Fail(
            EXTRACT_VALUE_ERROR,
            f"Expected result of the expression '{source_of(text)}' to be a number.",
        ) from None


def evaluate_array(text: str, variables: Mapping[str, Any], now_ms: int) -> list[Any]:
    """An ARRAY result, its items as JSON-compatible values."""
    value = evaluate(text, variables, now_ms, ("ARRAY",))
    return [feel.to_json(item) for item in value]
