"""The evaluation environment shared by compiled expressions and built-in functions: variable
scopes, the collected warnings, the engine's clock value and the budgets that keep a crafted
expression from exhausting the broker (list and string sizes, iteration steps, call depth)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import LimitExceeded
from .values import from_json, needs_conversion, to_string

MAX_LIST = 100_000  # items in one list (literals, ranges, for results, built-in results)
MAX_STRING = 1_000_000  # characters in one string
MAX_STEPS = 300_000  # loop iterations, filter tests and function calls in one evaluation
MAX_CALL_DEPTH = 64  # nested user-defined function calls
MAX_WARNINGS = 100

MISSING: Any = object()


class Scope:
    """One level of local names (an iteration variable, a context being built, a filter item,
    function parameters); ``names`` may be a FEEL context dict used as is."""

    __slots__ = ("names", "parent")

    def __init__(self, parent: Scope | None, names: Mapping[str, Any]) -> None:
        self.parent = parent
        self.names = names


class Env:
    """The state of one evaluation."""

    __slots__ = (
        "cache",
        "depth",
        "has_input",
        "input",
        "now",
        "root",
        "scope",
        "steps",
        "warnings",
    )

    def __init__(self, root: Mapping[str, Any], now: float) -> None:
        self.root = root
        self.now = now
        self.scope: Scope | None = None
        self.warnings: list[str] = []
        self.steps = 0
        self.depth = 0
        self.input: Any = None
        self.has_input = False
        self.cache: dict[str, Any] = {}

    def warn(self, kind: str, message: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            if len(message) > 1000:
                message = message[:997] + "..."
            self.warnings.append(f"[{kind}] {message}")

    def tick(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > MAX_STEPS:
            raise LimitExceeded(
                f"the evaluation took more than {MAX_STEPS} steps (iterations and calls)"
            )

    def root_value(self, name: str) -> Any:
        """A top-level variable as a FEEL value (converted once per evaluation), or MISSING."""
        value = self.root.get(name, MISSING)
        if value is MISSING or not needs_conversion(value):
            return value
        cached = self.cache.get(name, MISSING)
        if cached is MISSING:
            cached = self.cache[name] = from_json(value)
        return cached

    def lookup(self, name: str) -> Any:
        """A name from the innermost scope outwards, then the variables; MISSING if none."""
        scope = self.scope
        while scope is not None:
            value = scope.names.get(name, MISSING)
            if value is not MISSING:
                return value
            scope = scope.parent
        return self.root_value(name)


def check_list(items: list[Any]) -> list[Any]:
    if len(items) > MAX_LIST:
        raise LimitExceeded(f"a list would have more than {MAX_LIST} items")
    return items


def check_string(text: str) -> str:
    if len(text) > MAX_STRING:
        raise LimitExceeded(f"a string would have more than {MAX_STRING} characters")
    return text


def show(value: Any) -> str:
    """A value as FEEL-Scala shows it in warnings (strings quoted), shortened."""
    if type(value) is list and len(value) > 20:
        text = to_string(value[:20], quote=True)[:-1] + ", ...]"
    elif type(value) is dict and len(value) > 20:
        text = to_string(dict(list(value.items())[:20]), quote=True)[:-1] + ", ...}"
    else:
        text = to_string(value, quote=True)
    return text if len(text) <= 200 else text[:197] + "..."
