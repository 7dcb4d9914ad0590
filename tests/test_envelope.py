"""The processor's record envelope: exact layout, round trips, and a decoder that refuses
anything else with EnvelopeError (never another exception, never a non-finite stamp)."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_zeebe import codec
from trio_zeebe.processing import envelope
from trio_zeebe.processing.envelope import HEADER_SIZE, Envelope, EnvelopeError, Kind

request_ids = st.integers(0, envelope.MAX_REQUEST_ID)
stamps = st.floats(allow_nan=False, allow_infinity=False)
payload = st.binary(max_size=64)


def test_the_layout_is_a_fixed_header_then_the_payload() -> None:
    record = envelope.command(7, 1.5, b"cmd")
    assert record == b"\x01\x01" + struct.pack(">Qd", 7, 1.5) + b"cmd"
    assert HEADER_SIZE == 18
    assert envelope.time_record(8, 2.0) == b"\x01\x02" + struct.pack(">Qd", 8, 2.0)
    unit = envelope.unit(9, 3.0, [b"a", b"", b"bc"])
    assert unit == b"\x01\x03" + struct.pack(">QdI3I", 9, 3.0, 3, 1, 0, 2) + b"abc"


@settings(max_examples=300)
@given(rid=request_ids, stamp=stamps, data=payload)
def test_a_command_round_trips_with_its_payload_untouched(
    rid: int, stamp: float, data: bytes
) -> None:
    assert envelope.decode(envelope.command(rid, stamp, data)) == Envelope(
        Kind.COMMAND, rid, stamp, (data,)
    )


@settings(max_examples=300)
@given(rid=request_ids, stamp=stamps, payloads=st.lists(payload, min_size=1, max_size=20))
def test_a_unit_round_trips_in_order(rid: int, stamp: float, payloads: list[bytes]) -> None:
    decoded = envelope.decode(envelope.unit(rid, stamp, payloads))
    assert decoded == Envelope(Kind.UNIT, rid, stamp, tuple(payloads))


@given(rid=request_ids, stamp=stamps)
def test_a_time_record_carries_only_the_stamp(rid: int, stamp: float) -> None:
    assert envelope.decode(envelope.time_record(rid, stamp)) == Envelope(Kind.TIME, rid, stamp, ())
    with pytest.raises(EnvelopeError, match="no payload"):
        envelope.decode(envelope.time_record(rid, stamp) + b"x")


def test_the_old_msgpack_framing_is_not_an_envelope() -> None:
    """What a raw append used to put in the log, read as [request id, stamp, command]."""
    forged = codec.packb([1, 1e300, ["e.tick", {"now": 1.0}]])
    with pytest.raises(EnvelopeError, match="format 0x93"):
        envelope.decode(forged)
    with pytest.raises(EnvelopeError):
        envelope.decode(codec.packb([1, "stamp", b"cmd"]))


@pytest.mark.parametrize("stamp", [math.nan, math.inf, -math.inf])
def test_non_finite_stamps_are_neither_written_nor_read(stamp: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        envelope.command(1, stamp, b"")
    forged = b"\x01\x01" + struct.pack(">Qd", 1, stamp)
    with pytest.raises(EnvelopeError, match="not finite"):
        envelope.decode(forged)


def check_decoded(record: object) -> None:
    try:
        env = envelope.decode(record)
    except EnvelopeError:
        return
    assert isinstance(env.kind, Kind)
    assert type(env.request_id) is int and 0 <= env.request_id <= envelope.MAX_REQUEST_ID
    assert type(env.timestamp) is float and math.isfinite(env.timestamp)
    assert all(type(p) is bytes for p in env.payloads)
    expected = {Kind.COMMAND: 1, Kind.TIME: 0}.get(env.kind)
    assert len(env.payloads) == expected if expected is not None else len(env.payloads) >= 1


@settings(max_examples=1000)
@given(data=st.binary(max_size=80))
def test_arbitrary_bytes_decode_or_raise_envelope_error(data: bytes) -> None:
    check_decoded(data)
    check_decoded(b"\x01" + data)  # past the version byte, more often
    check_decoded(b"\x01\x03" + data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    rid, stamp = draw(request_ids), draw(stamps)
    record = bytearray(
        draw(
            st.sampled_from(
                [
                    envelope.command(rid, stamp, draw(payload)),
                    envelope.time_record(rid, stamp),
                    envelope.unit(rid, stamp, draw(st.lists(payload, min_size=1, max_size=5))),
                ]
            )
        )
    )
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(record) - 1))
        match draw(st.sampled_from(["flip", "cut", "insert"])):
            case "flip":
                record[at] ^= 1 << draw(st.integers(0, 7))
            case "cut":
                del record[at : at + draw(st.integers(1, 6))]
            case _:
                record[at:at] = draw(st.binary(min_size=1, max_size=6))
        if not record:
            break
    return bytes(record)


@settings(max_examples=1000)
@given(record=mutated())
def test_mutated_envelopes_decode_or_raise_envelope_error(record: bytes) -> None:
    check_decoded(record)


@pytest.mark.parametrize("record", [None, "text", 5, [b"x"], bytearray(b"\x01\x01")])
def test_records_that_are_not_bytes_are_refused(record: object) -> None:
    with pytest.raises(EnvelopeError, match="bytes"):
        envelope.decode(record)
