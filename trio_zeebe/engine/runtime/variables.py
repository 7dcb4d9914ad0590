"""Variables, as Zeebe scopes them: each element instance is a scope, a scope sees its own
variables and those of its flow scopes up to the process instance (inner shadows outer).

* :meth:`Variables.set_local` writes every variable of a document in the given scope
  (input mappings, FailJob variables, SetVariables with ``local``).
* :meth:`Variables.merge` propagates: each variable goes to the nearest scope, from the given
  one upwards, that already has it; variables found nowhere are created in the process
  instance's scope (job completion, output mappings, SetVariables without ``local``).

Values are JSON-compatible Python values, stored as given and never mutated (a scope's dict is
replaced on change). :class:`ScopeView` is the read-only mapping FEEL evaluates against; it
looks names up lazily, so an expression never copies a scope.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from .state import EngineState

__all__ = ["MAX_JSON_DEPTH", "InvalidDocument", "ScopeView", "Variables", "dumps", "parse_document"]

MAX_JSON_DEPTH = 200
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


class InvalidDocument(ValueError):
    """A variables document that is not a JSON object; ``str()`` is Zeebe's message."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check(value: Any, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ValueError("nested too deeply")
    kind = type(value)
    if kind is dict:
        for item in value.values():
            _check(item, depth + 1)
    elif kind is list:
        for item in value:
            _check(item, depth + 1)
    elif kind is int and not _INT_MIN <= value <= _INT_MAX:
        raise ValueError("integer out of range")
    elif kind is float and not math.isfinite(value):
        raise ValueError("not a JSON number")


def parse_document(text: str) -> dict[str, Any]:
    """A request's variables document: blank means ``{}``; anything but a JSON object raises
    :class:`InvalidDocument` with Zeebe's gateway message."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text, parse_constant=_no_constant)
        _check(value, 0)
    except (ValueError, RecursionError):
        raise InvalidDocument(f"Invalid JSON value: {text[:1000]}") from None
    if type(value) is not dict:
        kind = "ARRAY" if type(value) is list else _json_kind(value)
        raise InvalidDocument(f"Expected document to be a root level object, but was '{kind}'")
    return value


def _json_kind(value: Any) -> str:
    if value is None:
        return "NIL"
    if type(value) is bool:
        return "BOOLEAN"
    if type(value) is int:
        return "INTEGER"
    if type(value) is float:
        return "FLOAT"
    return "STRING"


def dumps(value: Any) -> str:
    """JSON text as the API carries it (compact, insertion order, UTF-8 characters kept)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class ScopeView(Mapping[str, Any]):
    """The variables visible from a scope, inner scopes first; ``extra`` (if given) shadows
    them all (Zeebe's primary context, e.g. a multi-instance completion condition's counters,
    or the results of earlier mappings)."""

    __slots__ = ("_chain", "_extra", "_scopes")

    def __init__(
        self,
        scopes: Mapping[int, Mapping[str, Any]],
        chain: list[int],
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self._scopes = scopes
        self._chain = chain
        self._extra = extra

    def __getitem__(self, name: str) -> Any:
        extra = self._extra
        if extra is not None and name in extra:
            return extra[name]
        scopes = self._scopes
        for key in self._chain:
            values = scopes.get(key)
            if values is not None and name in values:
                return values[name]
        raise KeyError(name)

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # type: ignore[index]
        except (KeyError, TypeError):
            return False
        return True

    def _names(self) -> dict[str, None]:
        names: dict[str, None] = dict.fromkeys(self._extra or ())
        for key in self._chain:
            names.update(dict.fromkeys(self._scopes.get(key, ())))
        return names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


class Variables:
    """Reads and writes the variables family of an :class:`EngineState`."""

    def __init__(self, state: EngineState) -> None:
        self._state = state

    def chain(self, scope_key: int) -> list[int]:
        """The scope and its flow scopes, innermost first, ending at the process instance."""
        instances = self._state.instances
        chain = [scope_key]
        instance = instances.get(scope_key)
        while instance is not None and instance.flow_scope_key >= 0:
            chain.append(instance.flow_scope_key)
            instance = instances.get(instance.flow_scope_key)
        return chain

    def view(self, scope_key: int, extra: Mapping[str, Any] | None = None) -> ScopeView:
        return ScopeView(self._state.variables, self.chain(scope_key), extra)

    def local(self, scope_key: int) -> Mapping[str, Any]:
        return self._state.variables.get(scope_key, {})

    def get_local(self, scope_key: int, name: str) -> Any:
        return self._state.variables.get(scope_key, {}).get(name)

    def document(self, scope_key: int, names: tuple[str, ...] = ()) -> dict[str, Any]:
        """The visible variables as one document (inner scopes first); only ``names`` if any
        are given."""
        scopes = self._state.variables
        result: dict[str, Any] = {}
        if names:
            view = ScopeView(scopes, self.chain(scope_key))
            for name in names:
                if name not in result:
                    try:
                        result[name] = view[name]
                    except KeyError:
                        pass
            return result
        for key in self.chain(scope_key):
            for name, value in scopes.get(key, {}).items():
                if name not in result:
                    result[name] = value
        return result

    def set_local(self, scope_key: int, document: Mapping[str, Any]) -> None:
        if not document:
            return
        state = self._state
        old = state.variables.get(scope_key)
        new = dict(old) if old else {}
        for name, value in document.items():
            self._trace(scope_key, name, value, old)
            new[name] = value
        state.variables[scope_key] = new

    def set_one(self, scope_key: int, name: str, value: Any) -> None:
        self.set_local(scope_key, {name: value})

    def merge(self, scope_key: int, document: Mapping[str, Any]) -> None:
        if not document:
            return
        scopes = self._state.variables
        chain = self.chain(scope_key)
        root = chain[-1]
        placed: dict[int, dict[str, Any]] = {}
        for name, value in document.items():
            target = root
            for key in chain:
                values = scopes.get(key)
                if values is not None and name in values:
                    target = key
                    break
            placed.setdefault(target, {})[name] = value
        for key in chain:  # a deterministic order: innermost scope first
            if key in placed:
                self.set_local(key, placed[key])

    def _trace(self, scope_key: int, name: str, value: Any, old: Mapping[str, Any] | None) -> None:
        state = self._state
        if state.trace is None:
            return
        instance = state.instances.get(scope_key)
        pi_key = instance.process_instance_key if instance is not None else scope_key
        previous = old.get(name, _MISSING) if old else _MISSING
        if previous is _MISSING:
            intent = "CREATED"
        elif type(previous) is type(value) and previous == value:
            return  # Zeebe writes nothing for an identical value
        else:
            intent = "UPDATED"
        state.emit(
            "VARIABLE",
            intent,
            scope_key,
            {"name": name, "value": value, "scopeKey": scope_key, "processInstanceKey": pi_key},
        )


_MISSING: Any = object()
