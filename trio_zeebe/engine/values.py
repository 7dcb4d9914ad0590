"""Validation and canonical form of JSON values (job variables and custom headers).

The canonical form is what the engine stores: objects with their keys sorted (recursively),
arrays as lists, only JSON types, finite floats, integers msgpack can carry. Because every
replica stores the same canonical value, results and snapshots are byte-identical no matter
which key order a client used or whether the state went through a snapshot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 64
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


class InvalidValue(ValueError):
    """Not a JSON object / value; the message says where."""


def canonical_object(value: Any, what: str) -> dict[str, Any]:
    """``value`` as a canonical JSON object, or :class:`InvalidValue`."""
    if not isinstance(value, Mapping):
        raise InvalidValue(f"{what} must be a JSON object, got {type(value).__name__}")
    if not value:
        return {}
    try:
        result = _canonical(value, 0)
    except _Bad as bad:
        raise InvalidValue(f"{what}{''.join(reversed(bad.path))}: {bad.reason}") from None
    assert isinstance(result, dict)
    return result


def canonical_headers(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidValue(f"custom_headers must be an object, got {type(value).__name__}")
    for k, v in value.items():
        if type(k) is not str or type(v) is not str:
            raise InvalidValue(f"custom_headers must map strings to strings (at {_key_text(k)})")
    return {k: value[k] for k in sorted(value)}


class _Bad(Exception):
    # The path is collected only while the error unwinds: valid values cost no string work.
    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.path: list[str] = []


def _canonical(value: Any, depth: int) -> Any:
    kind = type(value)
    if value is None or kind is str or kind is bool:
        return value
    if kind is int:
        if not _INT_MIN <= value <= _INT_MAX:
            raise _Bad("integer out of range")
        return value
    if kind is float:
        if not math.isfinite(value):
            raise _Bad(f"{value} is not a JSON number")
        return value
    if depth >= MAX_DEPTH:
        raise _Bad(f"nested deeper than {MAX_DEPTH}")
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for k in sorted(value, key=_key_or_fail):
            try:
                result[k] = _canonical(value[k], depth + 1)
            except _Bad as bad:
                bad.path.append(f".{k[:40]}")
                raise
        return result
    if isinstance(value, list | tuple):
        items: list[Any] = []
        for i, v in enumerate(value):
            try:
                items.append(_canonical(v, depth + 1))
            except _Bad as bad:
                bad.path.append(f"[{i}]")
                raise
        return items
    raise _Bad(f"{kind.__name__} is not a JSON value")


def _key_or_fail(key: Any) -> str:
    if type(key) is not str:
        raise _Bad(f"object key {_key_text(key)} is not a string")
    return key


def _key_text(key: Any) -> str:
    # Bounded, and safe for any key: str() of a huge int raises, a huge bytes key is cut.
    if type(key) is int and key.bit_length() > 64:
        return f"(an integer of {key.bit_length()} bits)"
    if type(key) in (str, bytes):
        key = key[:40]
    elif not (type(key) in (int, float, bool) or key is None):
        return f"(a {type(key).__name__})"
    return repr(str(key)[:40])
