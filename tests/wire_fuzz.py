"""Shared material for the decoder fuzz tests: every wire type, valid instances, hostile input.

* :func:`load_registry` imports every module of the package, so ``codec._by_tag`` holds every
  registered wire message.
* Hypothesis strategies: :func:`valid_messages` (instances built from the attrs fields' types),
  :func:`msgpack_values` (arbitrary msgpack structures: bytes/str/int/float/nil/bool keys and
  values, deep nesting) and :func:`hostile_msgpack` (raw bytes with huge declared lengths,
  extension types, nesting beyond msgpack's limit).
* The same two families for plain ``random.Random`` (:func:`random_message`,
  :func:`random_value`), for the frame fuzzer that runs for a given time rather than a given
  number of examples.
* Mutations of valid encodings: bit flips, truncation, splices, type swaps of fields.

Profiles: the decoder tests take their settings from :data:`DECODER_SETTINGS`, the hypothesis
profile named by ``TRIO_ZEEBE_HYPOTHESIS_PROFILE`` (``ci``, the default: few examples; ``fuzz``:
``TRIO_ZEEBE_FUZZ_EXAMPLES`` examples per test, default 2000), both without deadline.
``nox -s fuzz`` selects ``fuzz``.
"""

from __future__ import annotations

import enum
import importlib
import os
import pkgutil
import random
import struct
import types
import typing
from typing import Any, Union, get_args, get_origin

import attrs
import msgpack
from hypothesis import HealthCheck, reject, settings
from hypothesis import strategies as st

import trio_zeebe
from trio_zeebe import codec

PROFILE_ENV = "TRIO_ZEEBE_HYPOTHESIS_PROFILE"
EXAMPLES_ENV = "TRIO_ZEEBE_FUZZ_EXAMPLES"
SECONDS_ENV = "TRIO_ZEEBE_FUZZ_SECONDS"

settings.register_profile("ci", max_examples=50, deadline=None)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get(EXAMPLES_ENV, "2000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZING = os.environ.get(PROFILE_ENV) == "fuzz"
DECODER_SETTINGS = settings.get_profile("fuzz" if FUZZING else "ci")
PER_TYPE_SETTINGS = DECODER_SETTINGS if FUZZING else settings(DECODER_SETTINGS, max_examples=6)
"""For tests run once per wire type (50+ of them): fewer examples each in CI."""


def load_registry() -> dict[str, type[Any]]:
    """Import every module of the package (each registers its wire types); the registry."""
    for info in pkgutil.walk_packages(trio_zeebe.__path__, "trio_zeebe."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    import tests.transport.conftest  # noqa: F401  (the transport tests' own wire types)

    return dict(codec._by_tag)


# ---- valid values, by declared type --------------------------------------------------------

HOSTS = ["127.0.0.1", "localhost", "node-3", "10.0.0.7", "zeebe-0.zeebe.svc", "[::1]"]


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return get_args(tp)
    return None


def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@st.composite
def _addresses(draw: st.DrawFn) -> str:
    return f"{draw(st.sampled_from(HOSTS))}:{draw(st.integers(1, 65535))}"


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.binary(max_size=8),
)
documents = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
"""Free-form values the codec accepts (``Any``, e.g. job variables), NaN excluded for equality."""


def strategy_for(tp: Any, name: str = "") -> st.SearchStrategy[Any]:
    """Valid values of the declared type ``tp`` (``name``: the field, for addresses)."""
    if tp is int:
        return st.one_of(st.integers(-2, 300), st.integers(-(2**63), 2**63 - 1))
    if tp is bool:
        return st.booleans()
    if tp is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if tp is str:
        return _addresses() if name == "address" else st.text(max_size=12)
    if tp is bytes:
        return st.binary(max_size=24)
    if tp is type(None):
        return st.none()
    if tp is Any:
        return documents
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if isinstance(tp, type) and attrs.has(tp):
        return instances_of(tp)
    args = _union_args(tp)
    if args is not None:
        return st.one_of(*(strategy_for(a, name) for a in args))
    origin, args = get_origin(tp), get_args(tp)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(strategy_for(args[0], name), max_size=3).map(tuple)
    if origin is tuple:
        return st.tuples(*(strategy_for(a, name) for a in args))
    if origin is list:
        return st.lists(strategy_for(args[0], name), max_size=3)
    if origin is dict:
        if args[1] is Any:
            return st.dictionaries(st.text(max_size=6), documents, max_size=3)
        return st.dictionaries(strategy_for(args[0]), strategy_for(args[1]), max_size=3)
    raise NotImplementedError(f"no strategy for {tp!r}: extend tests/wire_fuzz.py")


@st.composite
def instances_of(draw: st.DrawFn, cls: type[Any]) -> Any:
    hints = _hints(cls)
    kwargs = {f.name: draw(strategy_for(hints[f.name], f.name)) for f in attrs.fields(cls)}
    try:
        return cls(**kwargs)
    except (ValueError, TypeError):  # an attrs validator refused the combination
        reject()


def valid_messages(registry: dict[str, type[Any]]) -> st.SearchStrategy[Any]:
    return st.sampled_from(sorted(registry)).flatmap(lambda tag: instances_of(registry[tag]))


# ---- hostile structures and bytes ------------------------------------------------------------

_hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(),  # NaN and infinities included
    st.text(max_size=10),
    st.binary(max_size=10),
    st.sampled_from(["t.hello", "r.append", "m.gossip", "e.complete", "[::1", "host:", ":80"]),
)
_keys = st.one_of(st.text(max_size=6), st.binary(max_size=6))


def msgpack_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Arbitrary msgpack structures (map keys text or bytes, as msgpack's strict mode allows)."""
    return st.recursive(
        _hostile_scalars,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_keys, inner, max_size=5),
        max_leaves=max_leaves,
    )


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


# msgpack headers that announce far more than follows: array32, map32, str32, bin32, ext32.
_HUGE_HEADERS = [b"\xdd", b"\xdf", b"\xdb", b"\xc6", b"\xc9"]


@st.composite
def hostile_msgpack(draw: st.DrawFn) -> bytes:
    """Raw msgpack-ish bytes aimed at the decoder's limits rather than at the schema."""
    kind = draw(st.sampled_from(["huge", "deep", "ext", "timestamp", "junk"]))
    if kind == "huge":
        header = draw(st.sampled_from(_HUGE_HEADERS))
        return header + struct.pack(">I", draw(st.integers(2**20, 2**32 - 1))) + b"\x00" * 8
    if kind == "deep":
        depth = draw(st.sampled_from([99, 100, 101, 500, 1023, 1024, 1025, 5000]))
        opener = draw(st.sampled_from([b"\x91", b"\x81\xa1k"]))  # [x] or {"k": x}
        return opener * depth + b"\xc0"
    if kind == "ext":
        code = draw(st.integers(-128, 127))
        data = draw(st.binary(max_size=16))
        return b"\xc7" + bytes([len(data)]) + struct.pack(">b", code) + data  # ext 8
    if kind == "timestamp":  # ext -1 is decoded by msgpack itself, not by an ext_hook
        return b"\xd6\xff" + draw(st.binary(min_size=4, max_size=4))
    return draw(st.binary(max_size=64))


def in_message(registry: dict[str, type[Any]], tag: str, inner: bytes) -> list[bytes]:
    """``inner`` (raw msgpack) placed where it reaches the decoder: alone, as a body, as a field."""
    name = attrs.fields(registry[tag])[0].name if attrs.fields(registry[tag]) else "x"
    prefix = pack(tag)
    key = pack(name)
    return [
        inner,
        b"\x92" + prefix + inner,  # [tag, inner]
        b"\x92" + prefix + b"\x81" + key + inner,  # [tag, {first field: inner}]
    ]


# ---- mutations -----------------------------------------------------------------------------


def flip(data: bytes, bit: int) -> bytes:
    buf = bytearray(data)
    buf[(bit // 8) % len(buf)] ^= 1 << (bit % 8)
    return bytes(buf)


def truncate(data: bytes, keep: int) -> bytes:
    return data[: keep % (len(data) + 1)]


def splice(a: bytes, b: bytes, at: int, start: int, length: int) -> bytes:
    """``a`` with a piece of ``b`` inserted (or overwriting, when length is odd)."""
    at %= len(a) + 1
    start %= len(b) + 1
    piece = b[start : start + length]
    if length % 2:
        return a[:at] + piece + a[at + len(piece) :]
    return a[:at] + piece + a[at:]


def swap_field(wire: list[Any], path_choice: int, replacement: Any) -> list[Any]:
    """``[tag, body]`` with one field (possibly nested) replaced, renamed to bytes or dropped."""
    tag, body = wire
    body = _copy(body)
    maps: list[dict[Any, Any]] = []
    _collect_maps(body, maps)
    if not maps:
        return [tag, replacement]
    target = maps[path_choice % len(maps)]
    if not target:
        target["extra"] = replacement
        return [tag, body]
    keys = sorted(target, key=repr)
    key = keys[(path_choice // len(maps)) % len(keys)]
    action = path_choice % 3
    if action == 0:
        target[key] = replacement
    elif action == 1:
        target[key.encode() if isinstance(key, str) else key] = target.pop(key)
    else:
        del target[key]
    return [tag, body]


def _copy(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_copy(v) for v in obj]
    return obj


def _collect_maps(obj: Any, out: list[dict[Any, Any]]) -> None:
    if isinstance(obj, dict):
        out.append(obj)
        for v in obj.values():
            _collect_maps(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _collect_maps(v, out)


# ---- the same, driven by random.Random (for the time-bound frame fuzzer) ---------------------


def random_value(tp: Any, rng: random.Random, name: str = "") -> Any:
    """A valid value of declared type ``tp`` (see :func:`strategy_for`)."""
    if tp is int:
        return rng.choice([rng.randint(-2, 300), rng.randint(-(2**63), 2**63 - 1)])
    if tp is bool:
        return rng.random() < 0.5
    if tp is float:
        return rng.choice([0.0, 1.5, -2.25, rng.uniform(-1e9, 1e9)])
    if tp is str:
        if name == "address":
            return f"{rng.choice(HOSTS)}:{rng.randint(1, 65535)}"
        return "".join(rng.choice("abcé-_ .:\u2603") for _ in range(rng.randint(0, 10)))
    if tp is bytes:
        return rng.randbytes(rng.randint(0, 24))
    if tp is type(None):
        return None
    if tp is Any:
        return _random_document(rng, 3)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return rng.choice(list(tp))
    if isinstance(tp, type) and attrs.has(tp):
        return random_instance(tp, rng)
    args = _union_args(tp)
    if args is not None:
        return random_value(rng.choice(args), rng, name)
    origin, args = get_origin(tp), get_args(tp)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return tuple(random_value(args[0], rng, name) for _ in range(rng.randint(0, 3)))
    if origin is tuple:
        return tuple(random_value(a, rng, name) for a in args)
    if origin is list:
        return [random_value(args[0], rng, name) for _ in range(rng.randint(0, 3))]
    if origin is dict:
        return {
            random_value(args[0], rng): random_value(args[1], rng) for _ in range(rng.randint(0, 3))
        }
    raise NotImplementedError(f"no generator for {tp!r}")


def _random_document(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth <= 0 or roll < 0.6:
        return rng.choice([None, True, 7, -(2**63), 2**64 - 1, 0.5, "text", b"\x00\xff"])
    if roll < 0.8:
        return [_random_document(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {f"k{i}": _random_document(rng, depth - 1) for i in range(rng.randint(0, 3))}


def random_instance(cls: type[Any], rng: random.Random) -> Any:
    hints = _hints(cls)
    for _ in range(20):
        kwargs = {f.name: random_value(hints[f.name], rng, f.name) for f in attrs.fields(cls)}
        try:
            return cls(**kwargs)
        except (ValueError, TypeError):
            continue
    raise AssertionError(f"cannot build a valid {cls.__qualname__}")


def random_hostile_value(rng: random.Random, depth: int = 3) -> Any:
    """An arbitrary msgpack structure (see :func:`msgpack_values`)."""
    roll = rng.random()
    if depth <= 0 or roll < 0.55:
        return rng.choice(
            [
                None,
                True,
                False,
                0,
                -1,
                2**63,
                2**64 - 1,
                -(2**63),
                float("nan"),
                float("inf"),
                1.5,
                "",
                "t.hello",
                "[::1",
                "x" * rng.randint(0, 300),
                b"",
                b"\xff" * rng.randint(1, 8),
            ]
        )
    if roll < 0.75:
        return [random_hostile_value(rng, depth - 1) for _ in range(rng.randint(0, 4))]
    out: dict[Any, Any] = {}
    for i in range(rng.randint(0, 4)):
        key = rng.choice(["a", "node_id", "address", ""]) + str(i)
        out[key.encode() if rng.random() < 0.4 else key] = random_hostile_value(rng, depth - 1)
    return out


def random_mutation(data: bytes, other: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One byte-level mutation of ``data`` (``other``: a second valid encoding, for splices)."""
    kind = rng.choice(["flip", "truncate", "splice", "random"])
    if kind == "flip":
        for _ in range(rng.randint(1, 3)):
            data = flip(data, rng.randrange(len(data) * 8))
        return kind, data
    if kind == "truncate":
        return kind, truncate(data, rng.randrange(len(data)))
    if kind == "splice":
        return kind, splice(
            data,
            other,
            rng.randrange(len(data) + 1),
            rng.randrange(len(other) + 1),
            rng.randint(1, 9),
        )
    return kind, rng.randbytes(rng.randint(1, 40))
