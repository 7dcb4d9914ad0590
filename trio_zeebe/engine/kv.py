"""A small replicated key-value store: an example :class:`.StateMachine` for embedders.

Keys are strings, values bytes. Every value carries the position of the record that wrote it
(its ``revision``), so clients can tell writes apart and compare-and-set on a revision as well
as on a value. Commands and results are wire messages (tags ``"e.kv.*"``); bad commands answer
a :class:`Rejection` (a code and a message).
"""

from __future__ import annotations

from typing import Any

import attrs

from .. import codec
from ..codec import wire
from ..errors import ErrorCode

MAX_KEY = 1024

_SNAPSHOT_MAGIC = "tz.kv"
_SNAPSHOT_VERSION = 1


@wire("e.reject")
@attrs.frozen
class Rejection:
    """The command was refused and changed nothing. ``code`` is an :class:`ErrorCode` value
    (FAILED_PRECONDITION: a compare-and-set that did not match; INVALID_ARGUMENT)."""

    code: str
    message: str


@wire("e.kv.put")
@attrs.frozen
class Put:
    key: str
    value: bytes


@wire("e.kv.get")
@attrs.frozen
class Get:
    """A read that goes through the log: linearizable, at the cost of a log entry."""

    key: str


@wire("e.kv.del")
@attrs.frozen
class Delete:
    key: str


@wire("e.kv.cas")
@attrs.frozen
class CompareAndSet:
    """Write ``value`` (None: delete) only if the key's value is ``expected`` (None: absent)."""

    key: str
    expected: bytes | None
    value: bytes | None


@wire("e.kv.value")
@attrs.frozen
class Value:
    """The key's value after the command (None: absent) and the position that wrote it
    (-1 when absent). For Delete and a failed CompareAndSet: the value before the command."""

    key: str
    value: bytes | None
    revision: int
    ok: bool = True  # False: a CompareAndSet whose expectation did not hold (nothing changed)


KVCommand = Put | Get | Delete | CompareAndSet


class KVStore:
    """Implements :class:`.StateMachine`."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, int]] = {}
        self._position = -1

    def apply(self, command: bytes, position: int, timestamp: float) -> bytes:
        if position <= self._position:
            message = f"record at position {position} already applied"
            return codec.encode(Rejection(ErrorCode.FAILED_PRECONDITION.value, message))
        self._position = position
        try:
            decoded = codec.decode(command)
        except codec.DecodeError as exc:
            return codec.encode(Rejection(ErrorCode.INVALID_ARGUMENT.value, str(exc)))
        return codec.encode(self.execute(decoded, position))

    def execute(self, command: object, revision: int) -> Value | Rejection:
        """Apply a command object directly; ``revision`` is recorded with what it writes."""
        if not isinstance(command, Put | Get | Delete | CompareAndSet):
            return Rejection(ErrorCode.INVALID_ARGUMENT.value, "not a key-value command")
        key = command.key
        if type(key) is not str or not 0 < len(key) <= MAX_KEY:
            return Rejection(
                ErrorCode.INVALID_ARGUMENT.value, f"key must be 1..{MAX_KEY} characters"
            )
        current = self._data.get(key)
        if isinstance(command, Get):
            return _value(key, current)
        if isinstance(command, Put):
            self._data[key] = (command.value, revision)
            return Value(key, command.value, revision)
        if isinstance(command, Delete):
            self._data.pop(key, None)
            return _value(key, current)
        if (current[0] if current else None) != command.expected:
            return attrs.evolve(_value(key, current), ok=False)
        if command.value is None:
            self._data.pop(key, None)
            return Value(key, None, -1)
        self._data[key] = (command.value, revision)
        return Value(key, command.value, revision)

    def get(self, key: str) -> bytes | None:
        found = self._data.get(key)
        return None if found is None else found[0]

    def __len__(self) -> int:
        return len(self._data)

    def snapshot(self) -> bytes:
        data = self._data
        rows = [[k, *data[k]] for k in sorted(data)]
        return codec.packb([_SNAPSHOT_MAGIC, _SNAPSHOT_VERSION, self._position, rows])

    def restore(self, data: bytes) -> None:
        restored = _parse_snapshot(data)
        if restored is None:
            raise ValueError("not a key-value store snapshot")
        self._data, self._position = restored


def _parse_snapshot(data: bytes) -> tuple[dict[str, tuple[bytes, int]], int] | None:
    try:
        obj: Any = codec.unpackb(data)
    except codec.DecodeError:
        return None
    if type(obj) is not list or len(obj) != 4 or obj[:2] != [_SNAPSHOT_MAGIC, _SNAPSHOT_VERSION]:
        return None
    position, rows = obj[2], obj[3]
    if type(position) is not int or type(rows) is not list:
        return None
    restored: dict[str, tuple[bytes, int]] = {}
    for row in rows:
        if type(row) is not list or len(row) != 3:
            return None
        key, value, revision = row
        if type(key) is not str or type(value) is not bytes or type(revision) is not int:
            return None
        restored[key] = (value, revision)
    return (restored, position) if len(restored) == len(rows) else None


def _value(key: str, current: tuple[bytes, int] | None) -> Value:
    return Value(key, None, -1) if current is None else Value(key, *current)
