"""A family of the engine state: a dict that a snapshot can freeze in constant time.

Between snapshots a :class:`Family` is a plain dict (it overrides nothing, so every read and
write runs at dict speed). :meth:`Family.freeze` turns it, by swapping its class, into a
copy-on-write dict: its own storage stays exactly as it was at that moment, so a snapshot can
iterate the storage (:meth:`Family.frozen_items`) a piece at a time while processing goes on,
and the changes made meanwhile go to an overlay that every read consults first. Reads and
writes of a frozen family cost a Python call each; :meth:`Family.thaw` merges the overlay into
the storage (work in the number of changes made while frozen) and makes it a plain dict again.

The overlay keeps the dict's insertion order exactly: a key of the storage that is replaced
keeps its place, one that is deleted leaves it, and keys added (or deleted and added again)
while frozen follow the storage's keys in the order they were added -- as a plain dict would
have it, so iterating a frozen family and iterating it after the thaw give the same order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar, cast

__all__ = ["Family"]

K = TypeVar("K")
V = TypeVar("V")

_GONE: Any = object()  # in the overlay: a key of the storage deleted while frozen
_MISSING: Any = object()


class Family(dict[K, V]):
    """A state family (see the module docstring). Only :meth:`freeze` and :meth:`thaw` change
    how it behaves; all else is ``dict``."""

    # While frozen: storage keys replaced (value) or deleted (_GONE), in place; the keys added
    # since the freeze, in order; how many storage keys are _GONE.
    __slots__ = ("_added", "_changed", "_gone")
    _changed: dict[K, V]
    _added: dict[K, V]
    _gone: int

    @property
    def frozen(self) -> bool:
        return type(self) is _Frozen

    def freeze(self) -> None:
        """Keep the storage as it is now (constant time); later changes go to an overlay."""
        if self.frozen:
            raise RuntimeError("the family is frozen already")
        self._changed, self._added, self._gone = {}, {}, 0
        self.__class__ = _Frozen

    def frozen_items(self) -> Iterator[tuple[K, V]]:
        """The items as of :meth:`freeze`, in order; valid until :meth:`thaw`."""
        return iter(dict.items(self))

    def frozen_values(self) -> Iterator[V]:
        return iter(dict.values(self))

    def frozen_len(self) -> int:
        return dict.__len__(self)

    def thaw(self) -> None:
        """Merge the changes made while frozen into the storage: a plain dict again."""
        if not self.frozen:
            return
        setitem, delitem = dict.__setitem__, dict.__delitem__
        for key, value in self._changed.items():
            if value is _GONE:
                delitem(self, key)
            else:
                setitem(self, key, value)
        for key, value in self._added.items():
            setitem(self, key, value)
        self.__class__ = Family
        del self._changed, self._added, self._gone


class _Frozen(Family[K, V]):
    """A frozen :class:`Family`: the storage is left alone, the overlay holds the changes."""

    __slots__ = ()

    # --- reads ------------------------------------------------------------------------------

    def _lookup(self, key: K) -> Any:
        value = self._added.get(key, _MISSING)
        if value is not _MISSING:
            return value
        value = self._changed.get(key, _MISSING)
        if value is _GONE:
            return _MISSING
        if value is not _MISSING:
            return value
        return dict.get(self, key, _MISSING)

    def __getitem__(self, key: K) -> V:
        value = self._lookup(key)
        if value is _MISSING:
            raise KeyError(key)
        return cast(V, value)

    def get(self, key: K, default: Any = None) -> Any:
        value = self._lookup(key)
        return default if value is _MISSING else value

    def __contains__(self, key: object) -> bool:
        return self._lookup(cast(K, key)) is not _MISSING

    def __len__(self) -> int:
        return dict.__len__(self) - self._gone + len(self._added)

    def __iter__(self) -> Iterator[K]:
        return (key for key, _ in self._items())

    def _items(self) -> Iterator[tuple[K, V]]:
        changed = self._changed
        for key, value in dict.items(self):
            now = changed.get(key, _MISSING)
            if now is _MISSING:
                yield key, value
            elif now is not _GONE:
                yield key, now
        yield from self._added.items()

    def keys(self) -> list[K]:  # type: ignore[override]
        return [key for key, _ in self._items()]

    def values(self) -> list[V]:  # type: ignore[override]
        return [value for _, value in self._items()]

    def items(self) -> list[tuple[K, V]]:  # type: ignore[override]
        return list(self._items())

    def __reversed__(self) -> Iterator[K]:
        return reversed(self.keys())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Family({dict(self._items())!r})"

    def copy(self) -> dict[K, V]:
        return dict(self._items())

    # --- writes -----------------------------------------------------------------------------

    def __setitem__(self, key: K, value: V) -> None:
        added = self._added
        if key in added:
            added[key] = value
            return
        changed = self._changed
        if dict.__contains__(self, key) and changed.get(key, _MISSING) is not _GONE:
            changed[key] = value  # a key of the storage: replaced in place
        else:
            added[key] = value  # new, or deleted while frozen and added again: at the end

    def __delitem__(self, key: K) -> None:
        if self.pop(key, _MISSING) is _MISSING:
            raise KeyError(key)

    def pop(self, key: K, default: Any = _MISSING) -> Any:
        added = self._added
        if key in added:
            return added.pop(key)
        value = self._lookup(key)
        if value is _MISSING:
            if default is _MISSING:
                raise KeyError(key)
            return default
        self._changed[key] = _GONE
        self._gone += 1
        return value

    def setdefault(self, key: K, default: Any = None) -> Any:
        value = self._lookup(key)
        if value is _MISSING:
            self[key] = default
            return default
        return value

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def popitem(self) -> tuple[K, V]:
        keys = self.keys()
        if not keys:
            raise KeyError("popitem(): dictionary is empty")
        key = keys[-1]
        return key, self.pop(key)

    def clear(self) -> None:
        for key in self.keys():
            self.pop(key)

    def __ior__(self, other: Any) -> _Frozen[K, V]:  # type: ignore[override]
        self.update(other)
        return self

    def __or__(self, other: Any) -> dict[K, V]:  # type: ignore[override]
        return dict(self._items()) | dict(other)
