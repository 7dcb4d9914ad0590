"""Built-in list and context functions (Camunda docs: feel-built-in-functions-list, -context)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .errors import LimitExceeded
from .functions import Fail, Illegal, builtin, context, integer, items, text
from .runtime import MAX_STRING, Env, check_list, show
from .values import CTX, Function, compare, equals, tag

# --- lists ---------------------------------------------------------------------------------


@builtin("list contains", "list", "element")
def list_contains(env: Env, args: list[Any]) -> Any:
    element = args[1]
    return any(equals(x, element) is True for x in items(args[0]))


@builtin("count", "list")
def count(env: Env, args: list[Any]) -> Any:
    return Decimal(len(items(args[0])))


def _comparable(values: list[Any]) -> bool:
    first = tag(values[0])
    return all(tag(v) == first for v in values) and compare(values[0], values[0]) is not None


def _extreme(values: list[Any], sign: int) -> Any:
    if not values:
        return None
    if not _comparable(values):
        raise Fail(f"{show(values)} is not comparable")
    best = values[0]
    for v in values[1:]:
        if compare(v, best) == sign:
            best = v
    return best


@builtin("min", "list", varargs=True)
def min_(env: Env, args: list[Any]) -> Any:
    return _extreme(items(args[0]), -1)


@builtin("max", "list", varargs=True)
def max_(env: Env, args: list[Any]) -> Any:
    return _extreme(items(args[0]), 1)


def _numbers(values: list[Any]) -> list[Decimal]:
    for v in values:
        if type(v) is not Decimal:
            raise Fail(f"expected number but found '{show(v)}'")
    return values


def _sum(values: list[Decimal]) -> Decimal:
    total = Decimal(0)
    for v in values:
        total = CTX.add(total, v)
    return total


@builtin("sum", "list", varargs=True)
def sum_(env: Env, args: list[Any]) -> Any:
    values = items(args[0])
    return _sum(_numbers(values)) if values else None


@builtin("product", "list", varargs=True)
def product(env: Env, args: list[Any]) -> Any:
    values = items(args[0])
    if not values:
        return None
    result = Decimal(1)
    for v in _numbers(values):
        result = CTX.multiply(result, v)
    return result


@builtin("mean", "list", varargs=True)
def mean(env: Env, args: list[Any]) -> Any:
    values = items(args[0])
    if not values:
        return None
    return CTX.divide(_sum(_numbers(values)), Decimal(len(values)))


@builtin("median", "list", varargs=True)
def median(env: Env, args: list[Any]) -> Any:
    values = sorted(_numbers(items(args[0])))
    if not values:
        return None
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    return CTX.divide(CTX.add(values[middle - 1], values[middle]), Decimal(2))


@builtin("stddev", "list", varargs=True)
def stddev(env: Env, args: list[Any]) -> Any:
    values = _numbers(items(args[0]))
    if len(values) < 2:
        return None
    average = CTX.divide(_sum(values), Decimal(len(values)))
    squares = _sum([CTX.power(CTX.subtract(v, average), 2) for v in values])
    variance = CTX.divide(squares, Decimal(len(values) - 1))
    return CTX.create_decimal(repr(math.sqrt(float(variance))))


@builtin("mode", "list", varargs=True)
def mode(env: Env, args: list[Any]) -> Any:
    values = _numbers(items(args[0]))
    if not values:
        return []
    counts: dict[Decimal, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    top = max(counts.values())
    return sorted(v for v, c in counts.items() if c == top)


def _three_valued(values: list[Any], deciding: bool) -> Any:
    """FEEL's ``all`` (``deciding=False``) or ``any`` (``deciding=True``) of a list: the first
    ``deciding`` boolean decides; else null if any item is not a boolean, else ``not deciding``."""
    result: Any = not deciding
    for v in values:
        if v is deciding:
            return deciding
        if v is not (not deciding):
            result = None
    return result


def _three_valued_builtin(deciding: bool) -> Callable[[Env, list[Any]], Any]:
    return lambda env, args: _three_valued(items(args[0]), deciding)


for _name, _deciding in (("and", False), ("all", False), ("or", True), ("any", True)):
    builtin(_name, "list", varargs=True)(_three_valued_builtin(_deciding))


def _position(values: list[Any], position: int) -> int:
    return position - 1 if position > 0 else len(values) + position


@builtin("sublist", "list", "start")
def sublist(env: Env, args: list[Any]) -> Any:
    values, start = items(args[0]), integer(args[1])
    if start == 0:
        raise Fail("start position must be a non-zero number")
    return values[max(0, _position(values, start)) :]


@builtin("sublist", "list", "start", "length")
def sublist3(env: Env, args: list[Any]) -> Any:
    values, start, length = items(args[0]), integer(args[1]), integer(args[2])
    if start == 0:
        raise Fail("start position must be a non-zero number")
    i = max(0, _position(values, start))
    return values[i : i + max(0, length)]


@builtin("append", "list", "items", varargs=True)
def append(env: Env, args: list[Any]) -> Any:
    return check_list(items(args[0]) + items(args[1]))


@builtin("concatenate", "lists", varargs=True)
def concatenate(env: Env, args: list[Any]) -> Any:
    result: list[Any] = []
    for value in items(args[0]):
        if type(value) is list:
            result.extend(value)
        else:
            result.append(value)
        check_list(result)
    return result


@builtin("insert before", "list", "position", "newItem")
def insert_before(env: Env, args: list[Any]) -> Any:
    values, position = items(args[0]), integer(args[1])
    if position == 0:
        raise Fail("position must be a non-zero number")
    i = max(0, _position(values, position))
    return check_list([*values[:i], args[2], *values[i:]])


@builtin("remove", "list", "position")
def remove(env: Env, args: list[Any]) -> Any:
    values, position = items(args[0]), integer(args[1])
    if position == 0:
        raise Fail("position must be a non-zero number")
    i = _position(values, position)
    return values[: max(0, i)] + values[max(0, i + 1) :]


@builtin("reverse", "list")
def reverse(env: Env, args: list[Any]) -> Any:
    return items(args[0])[::-1]


@builtin("index of", "list", "match")
def index_of(env: Env, args: list[Any]) -> Any:
    match = args[1]
    return [Decimal(i) for i, v in enumerate(items(args[0]), 1) if equals(v, match) is True]


def _distinct(env: Env, values: list[Any]) -> list[Any]:
    result: list[Any] = []
    env.tick(len(values) * max(1, len(values)) // 1000)
    for v in values:
        if not any(equals(v, seen) is True for seen in result):
            result.append(v)
    return result


@builtin("union", "lists", varargs=True)
def union(env: Env, args: list[Any]) -> Any:
    return _distinct(env, concatenate(env, args))


@builtin("distinct values", "list")
def distinct_values(env: Env, args: list[Any]) -> Any:
    return _distinct(env, items(args[0]))


@builtin("duplicate values", "list")
def duplicate_values(env: Env, args: list[Any]) -> Any:
    values = items(args[0])
    env.tick(len(values) * max(1, len(values)) // 1000)
    return [v for v in _distinct(env, values) if sum(1 for x in values if equals(x, v) is True) > 1]


@builtin("flatten", "list")
def flatten(env: Env, args: list[Any]) -> Any:
    result: list[Any] = []
    stack = [iter(items(args[0]))]
    while stack:
        for value in stack[-1]:
            if type(value) is list:
                stack.append(iter(value))
                break
            result.append(value)
        else:
            stack.pop()
        check_list(result)
    return result


@builtin("sort", "list", "precedes")
def sort(env: Env, args: list[Any]) -> Any:
    values, precedes = items(args[0]), args[1]
    if type(precedes) is not Function:
        raise Illegal
    if len(precedes.params) != 2:
        raise Fail(f"expect boolean function with 2 arguments, but found '{len(precedes.params)}'")

    def order(x: Any, y: Any) -> int:
        env.tick()
        result = precedes.invoke(env, [x, y])
        if type(result) is not bool:
            raise Fail(
                "fail to sort list by given precedes function: expected boolean but found "
                f"'{show(result)}'"
            )
        return -1 if result else 1

    return sorted(values, key=functools.cmp_to_key(order))


def _join(values: list[Any], delimiter: str, prefix: str, suffix: str) -> str:
    if not all(type(v) is str or v is None for v in values):
        raise Fail(f"expected a list of strings but found '{show(values)}'")
    strings = [v for v in values if v is not None]
    size = sum(len(s) for s in strings) + len(delimiter) * len(strings) + len(prefix + suffix)
    if size > MAX_STRING:
        raise LimitExceeded(f"a string would have more than {MAX_STRING} characters")
    return prefix + delimiter.join(strings) + suffix


def _optional_text(value: Any) -> str:
    return "" if value is None else text(value)


@builtin("string join", "list")
def string_join(env: Env, args: list[Any]) -> Any:
    return _join(items(args[0]), "", "", "")


@builtin("string join", "list", "delimiter")
def string_join2(env: Env, args: list[Any]) -> Any:
    return _join(items(args[0]), _optional_text(args[1]), "", "")


@builtin("string join", "list", "delimiter", "prefix", "suffix")
def string_join4(env: Env, args: list[Any]) -> Any:
    return _join(
        items(args[0]), _optional_text(args[1]), _optional_text(args[2]), _optional_text(args[3])
    )


@builtin("is empty", "list")
def is_empty(env: Env, args: list[Any]) -> Any:
    return not items(args[0])


@builtin("partition", "list", "size")
def partition(env: Env, args: list[Any]) -> Any:
    values, size = items(args[0]), integer(args[1])
    if size <= 0:
        raise Fail(f"'size' should be greater than zero but was '{size}'")
    return [values[i : i + size] for i in range(0, len(values), size)]


# --- contexts --------------------------------------------------------------------------------


def _entries(env: Env, args: list[Any]) -> Any:
    return [{"key": k, "value": v} for k, v in context(args[0]).items()]


builtin("get entries", "context")(_entries)
builtin("get entries", "m")(_entries)


def _get_value(env: Env, args: list[Any]) -> Any:
    ctx, key = context(args[0]), args[1]
    if type(key) is str:
        return ctx.get(key)
    keys = items(key)
    if not all(type(k) is str for k in keys):
        return None
    value: Any = ctx
    for k in keys:
        if type(value) is not dict:
            return None
        value = value.get(k)
    return value if keys else None


builtin("get value", "context", "key")(_get_value)
builtin("get value", "m", "key")(_get_value)
builtin("get value", "context", "keys")(_get_value)


def _put(ctx: dict[str, Any], keys: list[str], value: Any) -> dict[str, Any]:
    result = dict(ctx)
    if len(keys) == 1:
        result[keys[0]] = value
        return result
    nested = result.get(keys[0])
    result[keys[0]] = _put(nested if type(nested) is dict else {}, keys[1:], value)
    return result


def _context_put(env: Env, args: list[Any]) -> Any:
    ctx, key, value = context(args[0]), args[1], args[2]
    if type(key) is str:
        return _put(ctx, [key], value)
    keys = items(key)
    if not keys:
        return None
    if not all(type(k) is str for k in keys):
        raise Illegal
    return _put(ctx, keys, value)


builtin("context put", "context", "key", "value")(_context_put)
builtin("context put", "context", "keys", "value")(_context_put)
builtin("put", "context", "key", "value")(_context_put)


def _merge(env: Env, args: list[Any]) -> Any:
    contexts = items(args[0])
    if not all(type(c) is dict for c in contexts):
        return None
    result: dict[str, Any] = {}
    for c in contexts:
        result.update(c)
    return result


builtin("context merge", "contexts", varargs=True)(_merge)
builtin("put all", "contexts", varargs=True)(_merge)


@builtin("context", "entries")
def context_(env: Env, args: list[Any]) -> Any:
    entries = items(args[0])
    result: dict[str, Any] = {}
    for entry in entries:
        if type(entry) is not dict or type(entry.get("key")) is not str or "value" not in entry:
            return None
        result[entry["key"]] = entry["value"]
    return result
