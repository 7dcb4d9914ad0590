"""Every wire decoder, fed valid, mutated and hostile input: it decodes or raises DecodeError.

Covers ``codec.decode``/``from_wire`` for every registered wire type, the peer envelope
(``transport.frames.decode``), the handshake check of whatever Hello decodes, and the gateway's
request parser. A decoded value must also encode again (the codec accepts nothing it could not
send). ``nox -s fuzz`` runs these with many more examples (see ``tests/wire_fuzz.py``).
"""

from __future__ import annotations

from typing import Any

import attrs
import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wire_fuzz import (
    DECODER_SETTINGS,
    PER_TYPE_SETTINGS,
    flip,
    hostile_msgpack,
    in_message,
    instances_of,
    load_registry,
    msgpack_values,
    pack,
    splice,
    swap_field,
    truncate,
    valid_messages,
)
from trio_zeebe import codec
from trio_zeebe.codec import DecodeError, wire
from trio_zeebe.transport import frames
from trio_zeebe.transport.handshake import PROTOCOL_VERSION, Hello, check_certificate, check_hello


@wire("x.sample")
@attrs.frozen
class Sample:
    """A wire message with the field kinds the codec treats specially (the job records that
    had them went with the msgpack client protocol): a float, a free-form JSON-like document,
    a tuple of ints."""

    key: int
    timeout: float = 0.0
    variables: dict[str, Any] = attrs.field(factory=dict)
    timed_out: tuple[int, ...] = ()


REGISTRY = load_registry()
TAGS = sorted(REGISTRY)
OURS = Hello(PROTOCOL_VERSION, "test", 1, "127.0.0.1:26502", 5)


def decodes_or_refuses(data: bytes) -> Any:
    """Decode through every entry point; only DecodeError may come out. The message or None."""
    try:
        message = codec.decode(data)
    except DecodeError:
        message = None
    else:
        assert type(message) in codec._tag_of
        again = codec.encode(message)  # whatever decodes can be sent on
        assert codec.encode(codec.decode(again)) == again
        if isinstance(message, Hello):  # the handshake's checks hold for any decoded Hello
            assert check_hello(OURS, message) is None or True
            check_certificate(message, None)
    for payload in (
        b"\x93\x00\x00" + data,  # a one-way envelope around it
        b"\x93\x01\x07" + data,  # a request
        b"\x93\x02\x07" + data,  # a response
    ):
        try:
            frames.decode(payload)
        except DecodeError:
            pass
    return message


def test_the_registry_holds_every_component_s_wire_types() -> None:
    prefixes = {tag.split(".")[0] for tag in TAGS}
    assert {"t", "r", "m", "g", "e", "p"} <= prefixes
    assert len(TAGS) >= 40  # (the msgpack job records and client protocol are gone)


@pytest.mark.parametrize("tag", TAGS)
@PER_TYPE_SETTINGS
@given(data=st.data())
def test_every_wire_type_round_trips_and_survives_mutations(tag: str, data: st.DataObject) -> None:
    message = data.draw(instances_of(REGISTRY[tag]), label="message")
    encoded = codec.encode(message)
    assert codec.decode(encoded) == message
    other = codec.encode(data.draw(valid_messages(REGISTRY), label="other"))
    mutated = data.draw(
        st.one_of(
            st.integers(0, 8 * len(encoded) - 1).map(lambda bit: flip(encoded, bit)),
            st.integers(0, len(encoded)).map(lambda keep: truncate(encoded, keep)),
            st.tuples(st.integers(0, 999), st.integers(0, 999), st.integers(1, 12)).map(
                lambda t: splice(encoded, other, *t)
            ),
        ),
        label="mutated",
    )
    decodes_or_refuses(mutated)


@pytest.mark.parametrize("tag", TAGS)
@PER_TYPE_SETTINGS
@given(data=st.data())
def test_type_swaps_of_fields_are_decoded_or_refused(tag: str, data: st.DataObject) -> None:
    message = data.draw(instances_of(REGISTRY[tag]), label="message")
    wire = swap_field(
        codec.to_wire(message),
        data.draw(st.integers(0, 10_000), label="which"),
        data.draw(msgpack_values(8), label="replacement"),
    )
    try:
        codec.from_wire(wire)
    except DecodeError:
        pass
    decodes_or_refuses(pack(wire))


@DECODER_SETTINGS
@given(obj=msgpack_values(), tag=st.sampled_from(TAGS))
def test_arbitrary_msgpack_structures_are_decoded_or_refused(obj: Any, tag: str) -> None:
    for candidate in (obj, [tag, obj], [tag, {"x": obj}], [obj, {}]):
        try:
            codec.from_wire(candidate)
        except DecodeError:
            pass
        decodes_or_refuses(pack(candidate))


@DECODER_SETTINGS
@given(raw=hostile_msgpack(), tag=st.sampled_from(TAGS))
def test_huge_lengths_deep_nesting_and_extension_types_are_refused(raw: bytes, tag: str) -> None:
    for data in in_message(REGISTRY, tag, raw):
        decodes_or_refuses(data)


@DECODER_SETTINGS
@given(data=st.binary(max_size=300))
def test_random_bytes_are_decoded_or_refused(data: bytes) -> None:
    decodes_or_refuses(data)


# ---- the specific holes, kept as plain regression tests -------------------------------------


def _fields(cls: type[Any]) -> list[str]:
    return [f.name for f in attrs.fields(cls)]


def test_a_bytes_field_name_in_a_hello_is_a_decode_error() -> None:
    # The frame that stopped a broker: cattrs' error formatting raised TypeError on bytes keys.
    with pytest.raises(DecodeError, match=r"t.hello: unknown field\(s\) b'protocol_version'"):
        codec.decode(pack(["t.hello", {b"protocol_version": 1}]))
    with pytest.raises(DecodeError):
        codec.from_wire(["t.hello", {b"protocol_version": 1, "cluster_name": "c"}])


def test_a_bytes_field_name_nested_in_a_message_is_a_decode_error() -> None:
    member = {"node_id": 1, "address": "a:1", "incarnation": 1, b"state": 0}
    with pytest.raises(DecodeError, match="source: unknown field"):
        codec.from_wire(["m.gossip", {"source": member, "updates": []}])


@pytest.mark.parametrize("value", [2**63, 2**64 - 1, -(2**63) - 1])
def test_integers_beyond_64_bit_signed_are_refused(value: int) -> None:
    hello = {"protocol_version": 1, "cluster_name": "c", "node_id": 1, "address": "a:1"}
    with pytest.raises(DecodeError, match="signed 64-bit"):
        codec.from_wire(["t.hello", {**hello, "incarnation": value}])
    assert codec.from_wire(["t.hello", {**hello, "incarnation": 2**63 - 1}]).incarnation > 0


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_refused_in_float_fields(value: float) -> None:
    with pytest.raises(DecodeError, match="finite"):
        codec.decode(pack(["x.sample", {"key": 1, "timeout": value}]))


def test_free_form_values_nest_at_most_max_depth() -> None:
    def nested(depth: int) -> Any:
        value: Any = 1
        for _ in range(depth - 1):
            value = [value]
        return value

    ok = ["x.sample", {"key": 1, "variables": {"v": nested(codec.MAX_DEPTH - 1)}}]
    assert codec.decode(pack(ok)).variables["v"] == nested(codec.MAX_DEPTH - 1)
    too_deep = ["x.sample", {"key": 1, "variables": {"v": nested(codec.MAX_DEPTH + 1)}}]
    with pytest.raises(DecodeError, match="nested more than"):
        codec.decode(pack(too_deep))
    with pytest.raises(DecodeError, match="not msgpack"):  # beyond msgpack's own stack
        codec.decode(b"\x92\xa8x.sample\x82\xa3key\x01\xa9variables\x81\xa1v" + b"\x91" * 2000)


def test_free_form_values_take_text_map_keys_and_plain_data_only() -> None:
    with pytest.raises(DecodeError, match="map key of type bytes"):
        codec.from_wire(["x.sample", {"key": 1, "variables": {"v": {b"k": 1}}}])
    with pytest.raises(DecodeError, match="expected a map"):
        codec.from_wire(["x.sample", {"key": 1, "variables": [1]}])
    with pytest.raises(DecodeError, match="unsupported value of type Timestamp"):
        codec.decode(pack(["x.sample", {"key": 1, "variables": {"t": msgpack.Timestamp(1)}}]))


def test_extension_types_are_not_part_of_the_wire_format() -> None:
    data = pack(["x.sample", {"key": 1, "variables": {"x": msgpack.ExtType(3, b"zz")}}])
    with pytest.raises(DecodeError, match="not msgpack"):
        codec.decode(data)


def test_lists_are_not_made_from_text() -> None:
    with pytest.raises(DecodeError, match="expected a list"):
        source = {"node_id": 1, "address": "a:1", "incarnation": 1}
        codec.from_wire(["m.gossip", {"source": source, "updates": "abc"}])
    with pytest.raises(DecodeError, match=r"timed_out\[2\]: ValueError: expected int"):
        codec.from_wire(["x.sample", {"key": 1, "timed_out": [1, 2, "x"]}])


def test_a_gossiped_member_with_a_malformed_address_is_refused() -> None:
    for address in ["[::1", "host:", ":80", "h" * 5000 + ":1", "a:0", "a:70000"]:
        member = {"node_id": 1, "address": address, "incarnation": 1}
        with pytest.raises(DecodeError, match="address"):
            codec.from_wire(["m.gossip", {"source": member, "updates": []}])


def test_a_bad_message_in_a_sound_envelope_is_a_bad_message() -> None:
    bad = frames.frame(pack([frames.REQUEST, 9, ["t.hello", {b"x": 1}]]))[4:]
    with pytest.raises(frames.BadMessage) as info:
        frames.decode(bad)
    assert (info.value.kind, info.value.correlation_id) == (frames.REQUEST, 9)
    with pytest.raises(DecodeError) as broken:
        frames.decode(b"\xc1")
    assert not isinstance(broken.value, frames.BadMessage)
