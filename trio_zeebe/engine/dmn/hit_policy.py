"""How the outputs of a decision table's matched rules become its result, per hit policy, as
DMN-Scala (Zeebe's DMN engine) computes it; plus the value texts its failure messages show.

A row is one matched rule's outputs in output order. One output -> the value itself, several ->
a context keyed by output name; single-hit policies give one such result, multi-hit policies a
list of them (in rule order, or by output-value priority for OUTPUT ORDER); COLLECT with an
aggregation gives a number.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from trio_zeebe.engine.feel import to_json, type_name

from .model import Aggregation, DecisionTable, HitPolicy, Output

__all__ = ["HitPolicyFailure", "Row", "apply_hit_policy", "result_of", "show"]

#: One matched rule's evaluated outputs, in the table's output order.
Row = tuple[tuple[Output, Any], ...]

# FEEL numbers are DECIMAL128 (34 digits), as FEEL-Scala's BigDecimal arithmetic.
_DECIMAL128 = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN)


class HitPolicyFailure(Exception):
    """The matched rules violate the hit policy (or cannot be aggregated); ``message`` is
    DMN-Scala's text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


#: Failure messages show at most this many characters of a value and this many matched rules:
#: the message goes into records and responses, whatever the outputs hold.
SHOWN_VALUE = 200
SHOWN_ROWS = 20


def show(value: Any) -> str:
    """A FEEL value as failure messages show it: FEEL's text, strings in quotes, shortened to
    :data:`SHOWN_VALUE` characters."""
    text = _text(value)
    return text if len(text) <= SHOWN_VALUE else text[: SHOWN_VALUE - 3] + "..."


def _text(value: Any) -> str:
    kind = type_name(value)
    if kind == "NULL":
        return "null"
    if kind == "BOOLEAN":
        return "true" if value else "false"
    if kind == "NUMBER":
        return str(value)
    if kind == "STRING":
        return f'"{value}"'
    if kind == "ARRAY":
        return "[" + ", ".join(_text(item) for item in value) + "]"
    if kind == "OBJECT":
        return "{" + ", ".join(f"{key}:{_text(item)}" for key, item in value.items()) + "}"
    text = to_json(value)
    return text if isinstance(text, str) else repr(value)


def _show_rows(rows: Sequence[Row]) -> str:
    # DMN-Scala prints its List[Map[String, Val]] with Scala's toString
    shown = [
        "Map(" + ", ".join(f"{o.name or 'null'} -> {show(v)}" for o, v in row) + ")"
        for row in rows[:SHOWN_ROWS]
    ]
    if len(rows) > SHOWN_ROWS:
        shown.append(f"... ({len(rows) - SHOWN_ROWS} more)")
    return "List(" + ", ".join(shown) + ")"


def same_value(a: Any, b: Any) -> bool:
    """Equality of FEEL values that, unlike Python's ``==``, never equates different types
    (``true`` is not ``1``)."""
    kind = type_name(a)
    if kind != type_name(b):
        return False
    if kind == "ARRAY":
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if kind == "OBJECT":
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:  # values of exotic types: treat as different
        return False


def _same_row(a: Row, b: Row) -> bool:
    return all(same_value(x, y) for (_, x), (_, y) in zip(a, b, strict=True))


def result_of(row: Row) -> Any:
    """One rule's result: the value of a single output, else a context of all outputs."""
    if len(row) == 1:
        return row[0][1]
    return {output.name: value for output, value in row}


def _priority(output: Output, value: Any) -> int:
    """The position of ``value`` in the output's output values; unknown values come last."""
    kind = type_name(value)
    for position, item in enumerate(output.output_values):
        if kind == "STRING" and isinstance(item, str) and item == value:
            return position
        if kind == "NUMBER" and isinstance(item, Decimal) and item == value:
            return position
    return len(output.output_values)


def _by_priority(rows: Sequence[Row]) -> list[Row]:
    # stable: rules of equal priority keep rule order
    return sorted(
        rows,
        key=lambda row: tuple(
            _priority(output, value) for output, value in row if output.output_values
        ),
    )


def _numbers(rows: Sequence[Row]) -> list[Decimal]:
    numbers: list[Decimal] = []
    for row in rows:
        if len(row) != 1:
            raise HitPolicyFailure(f"multiple values aren't allowed. found: {_show_rows(rows)}")
        value = row[0][1]
        if type_name(value) != "NUMBER":
            raise HitPolicyFailure(f"expected number but found '{show(value)}'")
        numbers.append(value)
    return numbers


def apply_hit_policy(table: DecisionTable, rows: Sequence[Row]) -> Any:
    """The decision table's result from the rows of its matched rules (at least one row).

    Raises :class:`HitPolicyFailure` for a UNIQUE table with several matches, an ANY table whose
    matches differ, or an aggregation over something other than numbers.
    """
    policy = table.hit_policy
    if policy is HitPolicy.FIRST:
        return result_of(rows[0])
    if policy is HitPolicy.UNIQUE:
        if len(rows) > 1:
            raise HitPolicyFailure(
                f"multiple values aren't allowed for UNIQUE hit policy. found: '{_show_rows(rows)}'"
            )
        return result_of(rows[0])
    if policy is HitPolicy.ANY:
        distinct: list[Row] = []
        for row in rows:
            if not any(_same_row(row, seen) for seen in distinct):
                distinct.append(row)
        if len(distinct) > 1:
            raise HitPolicyFailure(
                "different values aren't allowed for ANY hit policy. found: "
                f"'{_show_rows(distinct)}'"
            )
        return result_of(rows[0])
    if policy is HitPolicy.PRIORITY:
        return result_of(_by_priority(rows)[0])
    if policy is HitPolicy.OUTPUT_ORDER:
        return [result_of(row) for row in _by_priority(rows)]
    if policy is HitPolicy.COLLECT and table.aggregation is not None:
        if table.aggregation is Aggregation.COUNT:
            return Decimal(len(rows))
        numbers = _numbers(rows)
        if table.aggregation is Aggregation.SUM:
            total = Decimal(0)
            for number in numbers:
                total = _DECIMAL128.add(total, number)
            return total
        if table.aggregation is Aggregation.MIN:
            return min(numbers)
        return max(numbers)
    # RULE ORDER, COLLECT without aggregation: all results in rule order
    return [result_of(row) for row in rows]
