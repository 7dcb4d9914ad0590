"""The one wire codec: attrs messages <-> msgpack bytes through a single cattrs converter.

Every wire message is a frozen attrs class registered under a stable, short type tag with
:func:`wire`.  On the wire a message is the msgpack array ``[tag, {field: value, ...}]``.
Decoding never lets a foreign exception escape: unknown tags, wrong shapes, wrong types and
garbage bytes all raise :class:`DecodeError`.

What the wire may carry is narrower than what msgpack can express, so that anything decoded can
be encoded again and handled without surprises: ``int`` fields are signed 64-bit (Java's long, as
Zeebe's), ``float`` fields finite, ``str``/``bytes``/``bool`` exactly those types, lists and
tuples only from arrays, field names only text, no msgpack extension types, and free-form values
(``Any``, e.g. job variables) only nil/bool/int/float/str/bytes/arrays/text-keyed maps nested at
most :data:`MAX_DEPTH` deep.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, get_args, get_origin

import cattrs
import msgpack
from cattrs.errors import AttributeValidationNote, ForbiddenExtraKeysError, IterableValidationNote
from cattrs.preconf.msgpack import make_converter

T = TypeVar("T")

MAX_DEPTH = 100
"""How deeply free-form values may nest (msgpack itself stops at 1024, Python's repr near 1000)."""
INT_MIN, INT_MAX = -(2**63), 2**63 - 1

converter: cattrs.Converter = make_converter(forbid_extra_keys=True)


def _strict(kind: type[Any], accepted: tuple[type[Any], ...]) -> Callable[[Any, Any], Any]:
    # cattrs' defaults coerce ("5" -> 5, "false" -> True); on the wire and in config files a
    # value of the wrong type is an error, not something to guess at.
    def structure(value: Any, _: Any) -> Any:
        if type(value) in accepted:
            return value if type(value) is kind else kind(value)
        raise ValueError(f"expected {kind.__name__}, got {type(value).__name__}")

    return structure


def _structure_int(value: Any, _: Any) -> int:
    # msgpack carries up to 2**64 - 1; a peer's 2**64 - 1 as a term or index would make our own
    # term + 1 unencodable later, far from where it came in.
    if type(value) is not int:
        raise ValueError(f"expected int, got {type(value).__name__}")
    if not INT_MIN <= value <= INT_MAX:
        raise ValueError("integer out of the signed 64-bit range")
    return value


def _structure_float(value: Any, _: Any) -> float:
    if type(value) is float:
        if not math.isfinite(value):
            raise ValueError(f"expected a finite float, got {value}")
        return value
    if type(value) is int:
        return float(value)
    raise ValueError(f"expected float, got {type(value).__name__}")


converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook(bool, _strict(bool, (bool,)))
converter.register_structure_hook(float, _structure_float)
converter.register_structure_hook(str, _strict(str, (str,)))
converter.register_structure_hook(bytes, _strict(bytes, (bytes,)))


def _tuple_hook(tp: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    # cattrs would happily turn the string "ab" into ("a", "b"); list and tuple fields take arrays.
    # The items' hooks come from the converter asking (the checked one, or the fast copy).
    args = get_args(tp)
    if (len(args) == 2 and args[1] is Ellipsis) or get_origin(tp) is list:
        item_type = args[0]
        item = conv.get_structure_hook(item_type)
        make = tuple if get_origin(tp) is tuple else list

        def homogeneous(value: Any, _: Any) -> Any:
            if type(value) not in (list, tuple):
                raise ValueError(f"expected a list, got {type(value).__name__}")
            try:
                return make([item(v, item_type) for v in value])
            except Exception as exc:
                raise _at_index(tp, item_type, value, exc) from None

        return homogeneous
    hooks = [(conv.get_structure_hook(a), a) for a in args]

    def fixed(value: Any, _: Any) -> tuple[Any, ...]:
        if type(value) not in (list, tuple) or len(value) != len(hooks):
            raise ValueError(f"expected a list of {len(hooks)} items")
        return tuple([h(v, a) for (h, a), v in zip(hooks, value, strict=True)])

    return fixed


def _at_index(tp: Any, item_type: Any, value: Any, exc: Exception) -> Exception:
    # Only on failure: find which item it was, so the error names the path like cattrs does.
    hook = converter.get_structure_hook(item_type)
    for index, v in enumerate(value):
        try:
            hook(v, item_type)
        except Exception as item_exc:
            item_exc.add_note(IterableValidationNote(f"@ index {index}", index, item_type))
            return cattrs.IterableValidationError(f"While structuring {tp}", [item_exc], tp)
    return exc


def _is_sequence(tp: Any) -> bool:
    origin: Any = get_origin(tp)
    return origin is tuple or (origin is list and len(get_args(tp)) == 1)


converter.register_structure_hook_factory(_is_sequence, _tuple_hook)

_SCALARS = frozenset({type(None), bool, int, float, str, bytes})


def _structure_document(value: Any, _: Any = None) -> Any:
    """A free-form value as decoded, after checking it holds only plain data."""
    if type(value) in _SCALARS:
        return value
    scalars = _SCALARS
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:  # iterative: a deep value must not exhaust the Python stack
        node, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"value nested more than {MAX_DEPTH} levels deep")
        kind = type(node)
        if kind is list:
            items: Any = node
        elif kind is dict:
            for key in node:
                if type(key) is not str:
                    raise ValueError(f"map key of type {type(key).__name__}, expected text")
            items = node.values()
        else:
            raise ValueError(f"unsupported value of type {kind.__name__}")
        todo.extend((item, depth + 1) for item in items if type(item) not in scalars)
    return value


def _structure_object(value: Any, _: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise ValueError(f"expected a map, got {type(value).__name__}")
    result: dict[str, Any] = _structure_document(value)
    return result


converter.register_structure_hook_func(lambda tp: tp is Any, _structure_document)
converter.register_structure_hook_func(lambda tp: tp == dict[str, Any], _structure_object)

_by_tag: dict[str, type[Any]] = {}
_tag_of: dict[type[Any], str] = {}

# The hot path: wire messages are structured with hooks of a copy of ``converter`` made without
# cattrs' detailed validation (no per-field try/except and error lists: several times faster),
# under the same rules (the same hooks, extra keys forbidden). Only input that fails there is
# structured again by ``converter`` itself, whose errors name the field for DecodeError's text.
# The copy is made on first use and dropped whenever a hook is registered through
# :func:`register_structure_hook`, so both always agree.
_fast: cattrs.Converter | None = None
_fast_hooks: dict[type[Any], Callable[[Any, Any], Any]] = {}


def register_structure_hook(tp: Any, hook: Callable[[Any, Any], Any]) -> None:
    """Register a structure hook on the one converter (use this, not the converter's own
    method, so the hot path's copy picks it up)."""
    global _fast
    converter.register_structure_hook(tp, hook)
    _fast = None
    _fast_hooks.clear()


def _fast_hook(cls: type[Any]) -> Callable[[Any, Any], Any]:
    global _fast
    hook = _fast_hooks.get(cls)
    if hook is None:
        if _fast is None:
            _fast = converter.copy(detailed_validation=False)
        hook = _fast_hooks[cls] = _fast.get_structure_hook(cls)
    return hook


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
    body = obj[1]
    if not isinstance(body, dict):
        raise DecodeError(f"{obj[0]}: body is not a map")
    try:
        return _fast_hook(cls)(body, cls)
    except Exception:  # bad input: structure it again for an error that names the field
        pass
    try:
        return converter.structure(body, cls)
    except Exception as exc:  # cattrs raises many shapes of errors; all mean "bad input"
        raise DecodeError(f"{obj[0]}: {_describe(exc)}") from None


def structure(obj: Any, cls: type[T]) -> T:
    """``obj`` (decoded msgpack) as an attrs ``cls`` under the wire rules; DecodeError if not.

    For formats that are not tagged wire messages (files) but decode the same way."""
    try:
        return converter.structure(obj, cls)
    except Exception as exc:  # as in from_wire: every failure here is bad input
        raise DecodeError(f"{cls.__name__}: {_describe(exc)}") from None


def packb(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


def _no_extension(code: int, data: bytes) -> NoReturn:
    raise ValueError(f"msgpack extension type {code} is not part of the wire format")


def unpackb(data: bytes) -> Any:
    try:
        return msgpack.unpackb(
            data, raw=False, strict_map_key=True, use_list=True, ext_hook=_no_extension
        )
    except Exception as exc:  # msgpack raises ExtraData, FormatError, StackError, ValueError, ...
        raise DecodeError(f"not msgpack: {type(exc).__name__}") from None


class Reader:
    """``data`` decoded one msgpack value at a time, as :func:`unpackb` would decode it whole:
    a caller can do other work between the pieces of a big document (and needs memory only
    for the piece it holds). Raises DecodeError for anything that is not such msgpack."""

    def __init__(self, data: bytes) -> None:
        self._size = len(data)
        self._unpacker = msgpack.Unpacker(
            io.BytesIO(data),
            raw=False,
            strict_map_key=True,
            use_list=True,
            ext_hook=_no_extension,
            max_buffer_size=max(len(data), 1),
            read_size=min(max(len(data), 1), 1 << 16),
        )

    def array_header(self) -> int:
        """The length of the array that starts here (its items are the next values)."""
        try:
            return self._unpacker.read_array_header()  # type: ignore[no-any-return]
        except Exception as exc:
            raise DecodeError(f"not a msgpack array: {type(exc).__name__}") from None

    def value(self) -> Any:
        try:
            return self._unpacker.unpack()
        except Exception as exc:
            raise DecodeError(f"not msgpack: {type(exc).__name__}") from None

    def at_end(self) -> bool:
        """Whether every byte was read."""
        return self._unpacker.tell() == self._size  # type: ignore[no-any-return]


def encode(message: Any) -> bytes:
    return packb(to_wire(message))


def decode(data: bytes) -> Any:
    return from_wire(unpackb(data))


def _describe(exc: BaseException) -> str:
    """One short line for a structuring failure: the field path and the first problem.

    Written for hostile input: field names may be bytes, values anything, so nothing here
    formats the input except through a truncated ``repr`` (cattrs' own ``transform_error`` and
    even ``str()`` of its extra-keys error fail on bytes keys).
    """
    path: list[str] = []
    while isinstance(exc, cattrs.BaseValidationError) and exc.exceptions:
        inner = exc.exceptions
        # An unknown field explains the missing ones (a misspelt or non-text name): say that.
        exc = next((e for e in inner if isinstance(e, ForbiddenExtraKeysError)), inner[0])
        for note in getattr(exc, "__notes__", ()):
            if isinstance(note, AttributeValidationNote):
                path.append(f".{note.name}")
            elif isinstance(note, IterableValidationNote):
                path.append(f"[{note.index!r}]")
    if isinstance(exc, ForbiddenExtraKeysError):
        names = sorted(repr(name)[:40] for name in exc.extra_fields)
        text = "unknown field(s) " + ", ".join(names[:5])
    elif isinstance(exc, KeyError):
        text = "missing field"
    else:
        text = f"{type(exc).__name__}: {exc}"
    where = "".join(path).lstrip(".")
    return (f"{where}: {text}" if where else text)[:200]
