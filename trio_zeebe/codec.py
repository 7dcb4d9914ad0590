"""The one wire codec: attrs messages <-> msgpack bytes through a single cattrs converter.

Every wire message is a frozen attrs class registered under a stable, short type tag with
:func:`wire`.  On the wire a message is the msgpack array ``[tag, {field: value, ...}]``.
Decoding never lets a foreign exception escape: unknown tags, wrong shapes, wrong types and
garbage bytes all raise :class:`DecodeError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, get_args, get_origin

import cattrs
import msgpack
from cattrs.preconf.msgpack import make_converter

T = TypeVar("T")

converter: cattrs.Converter = make_converter(forbid_extra_keys=True)


def _strict(kind: type[Any], accepted: tuple[type[Any], ...]) -> Callable[[Any, Any], Any]:
    # cattrs' defaults coerce ("5" -> 5, "false" -> True); on the wire and in config files a
    # value of the wrong type is an error, not something to guess at.
    def structure(value: Any, _: Any) -> Any:
        if type(value) in accepted:
            return value if type(value) is kind else kind(value)
        raise ValueError(f"expected {kind.__name__}, got {type(value).__name__}")

    return structure


converter.register_structure_hook(int, _strict(int, (int,)))
converter.register_structure_hook(bool, _strict(bool, (bool,)))
converter.register_structure_hook(float, _strict(float, (float, int)))
converter.register_structure_hook(str, _strict(str, (str,)))
converter.register_structure_hook(bytes, _strict(bytes, (bytes,)))


def _tuple_hook(tp: Any) -> Callable[[Any, Any], Any]:
    # cattrs would happily turn the string "ab" into ('a', 'b'); a tuple field takes a list only.
    args = get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        item_type = args[0]
        item = converter.get_structure_hook(item_type)

        def homogeneous(value: Any, _: Any) -> tuple[Any, ...]:
            if type(value) not in (list, tuple):
                raise ValueError(f"expected a list, got {type(value).__name__}")
            return tuple([item(v, item_type) for v in value])

        return homogeneous
    hooks = [(converter.get_structure_hook(a), a) for a in args]

    def fixed(value: Any, _: Any) -> tuple[Any, ...]:
        if type(value) not in (list, tuple) or len(value) != len(hooks):
            raise ValueError(f"expected a list of {len(hooks)} items")
        return tuple([h(v, a) for (h, a), v in zip(hooks, value, strict=True)])

    return fixed


def _is_tuple(tp: Any) -> bool:
    origin: Any = get_origin(tp)
    return origin is tuple


converter.register_structure_hook_factory(_is_tuple, _tuple_hook)

_by_tag: dict[str, type[Any]] = {}
_tag_of: dict[type[Any], str] = {}


class DecodeError(ValueError):
    """Bytes or a structure that is not a valid message."""


def wire(tag: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: register an attrs class as a wire message under ``tag``."""

    def register(cls: type[T]) -> type[T]:
        if tag in _by_tag and _by_tag[tag] is not cls:
            raise ValueError(f"wire tag {tag!r} already used by {_by_tag[tag].__qualname__}")
        _by_tag[tag] = cls
        _tag_of[cls] = tag
        return cls

    return register


def tag_of(cls: type[Any]) -> str:
    return _tag_of[cls]


def to_wire(message: Any) -> list[Any]:
    """A registered message as the plain structure ``[tag, body]`` (ready for msgpack)."""
    try:
        tag = _tag_of[type(message)]
    except KeyError:
        raise TypeError(f"{type(message).__qualname__} is not a registered wire message") from None
    return [tag, converter.unstructure(message)]


def from_wire(obj: Any) -> Any:
    """Inverse of :func:`to_wire`; raises :class:`DecodeError` on anything malformed."""
    if not isinstance(obj, list | tuple) or len(obj) != 2 or not isinstance(obj[0], str):
        raise DecodeError("message is not a [tag, body] pair")
    cls = _by_tag.get(obj[0])
    if cls is None:
        raise DecodeError(f"unknown message type {obj[0][:40]!r}")
    if not isinstance(obj[1], dict):
        raise DecodeError(f"{obj[0]}: body is not a map")
    try:
        return converter.structure(obj[1], cls)
    except Exception as exc:  # cattrs raises many shapes of errors; all mean "bad input"
        raise DecodeError(f"{obj[0]}: {_describe(exc)}") from None


def packb(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


def unpackb(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises ExtraData, FormatError, ValueError, ...
        raise DecodeError(f"not msgpack: {type(exc).__name__}") from None


def encode(message: Any) -> bytes:
    return packb(to_wire(message))


def decode(data: bytes) -> Any:
    return from_wire(unpackb(data))


def _describe(exc: Exception) -> str:
    if isinstance(exc, cattrs.ClassValidationError):
        parts = cattrs.transform_error(exc)
        return "; ".join(parts)[:200]
    return f"{type(exc).__name__}: {exc}"[:200]
