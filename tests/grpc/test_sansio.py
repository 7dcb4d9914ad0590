"""The sans-IO gRPC codecs: framing, timeouts, grpc-message, metadata, frame boundaries."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_zeebe.grpc.framing import (
    CompressedMessage,
    MessageDecoder,
    MessageTooLarge,
    encode_message,
)
from trio_zeebe.grpc.h2frames import CLIENT_PREFACE, FrameBoundary, FrameTooLarge
from trio_zeebe.grpc.metadata import (
    MalformedHeader,
    decode_grpc_message,
    decode_metadata,
    encode_grpc_message,
    encode_metadata,
    format_timeout,
    parse_timeout,
)
from trio_zeebe.grpc.status import GrpcError, StatusCode, status_for_http
from trio_zeebe.proto import gateway_pb2


@given(st.lists(st.binary(max_size=300), max_size=8), st.integers(1, 50))
def test_decoder_splits_messages_however_the_bytes_are_chunked(
    messages: list[bytes], chunk: int
) -> None:
    wire = b"".join(encode_message(m) for m in messages)
    decoder = MessageDecoder(max_size=1000)
    out: list[bytes] = []
    for i in range(0, len(wire), chunk):
        out += decoder.feed(wire[i : i + chunk])
    assert out == messages
    assert not decoder.partial


def test_decoder_refuses_an_oversized_message_from_its_prefix_alone() -> None:
    decoder = MessageDecoder(max_size=4 * 1024 * 1024)
    # Only the prefix announcing 4 MB + 1: refused before any payload arrives or is buffered.
    with pytest.raises(MessageTooLarge) as info:
        decoder.feed(struct.pack(">BI", 0, 4 * 1024 * 1024 + 1))
    assert info.value.size == 4 * 1024 * 1024 + 1
    assert "exceeds maximum size 4194304" in str(info.value)
    assert MessageDecoder(max_size=10).feed(encode_message(b"x" * 10)) == [b"x" * 10]


def test_decoder_refuses_compressed_and_invalid_flags() -> None:
    with pytest.raises(CompressedMessage, match="compressed flag set"):
        MessageDecoder().feed(struct.pack(">BI", 1, 3) + b"abc")
    with pytest.raises(CompressedMessage, match="invalid compressed flag 7"):
        MessageDecoder().feed(struct.pack(">BI", 7, 0))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (b"1H", 3600.0),
        (b"2M", 120.0),
        (b"10S", 10.0),
        (b"250m", 0.25),
        (b"7u", 7e-6),
        (b"99999999n", 0.099999999),
    ],
)
def test_timeout_units(value: bytes, seconds: float) -> None:
    assert parse_timeout(value) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", [b"", b"S", b"10", b"10s", b"123456789S", b"-1S", b"1.5S"])
def test_malformed_timeouts_are_refused(bad: bytes) -> None:
    with pytest.raises(MalformedHeader):
        parse_timeout(bad)


@given(st.floats(min_value=1e-9, max_value=10**8 * 3600, allow_nan=False))
def test_formatted_timeout_fits_8_digits_and_never_shortens(seconds: float) -> None:
    value = format_timeout(seconds)
    assert len(value) <= 9
    if seconds > 99999999 * 3600:
        assert value == b"99999999H"  # the longest timeout the header can say
        return
    parsed = parse_timeout(value)
    assert parsed >= seconds * (1 - 1e-9)
    assert parsed <= seconds * 1.001 + 1e-9


@given(st.text())
def test_grpc_message_round_trips_and_is_printable_ascii(message: str) -> None:
    encoded = encode_grpc_message(message)
    assert all(0x20 <= b <= 0x7E for b in encoded)
    assert decode_grpc_message(encoded) == message


def test_grpc_message_percent_encoding_follows_the_spec() -> None:
    assert encode_grpc_message("50% done\nnext: é") == b"50%25 done%0Anext: %C3%A9"
    assert decode_grpc_message(b"50%25 done%0Anext: %C3%A9") == "50% done\nnext: é"
    assert decode_grpc_message(b"bad %zz escape %4") == "bad %zz escape %4"


def test_metadata_binary_headers_are_base64_and_reserved_keys_refused() -> None:
    headers = encode_metadata([("x-id", "abc"), ("trace-bin", b"\x00\xff")])
    assert headers == [(b"x-id", b"abc"), (b"trace-bin", b"AP8")]
    received = decode_metadata(
        [(b":path", b"/x"), (b"content-type", b"application/grpc"), *headers, (b"junk-bin", b"!!")]
    )
    assert received == (("x-id", "abc"), ("trace-bin", b"\x00\xff"))
    for bad in [("grpc-timeout", "1S"), (":path", "/"), ("Bad Key", "x"), ("x", "caf\u00e9")]:
        with pytest.raises(ValueError):
            encode_metadata([bad])
    with pytest.raises(ValueError, match="-bin"):
        encode_metadata([("x", b"bytes")])


def test_frame_boundary_tracks_partial_frames_and_takes_out_goaway() -> None:
    settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    boundary = FrameBoundary(preface=True)
    boundary.feed(CLIENT_PREFACE[:10])
    assert boundary.mid_frame
    boundary.feed(CLIENT_PREFACE[10:] + settings[:4])
    assert boundary.mid_frame
    boundary.feed(settings[4:])
    assert not boundary.mid_frame
    data_frame = b"\x00\x00\x05\x00\x00\x00\x00\x00\x01" + b"hello"
    goaway = b"\x00\x00\x0a\x07\x00\x00\x00\x00\x00" + struct.pack(">II", 5, 0) + b"go"
    client = FrameBoundary(preface=False, extract_goaway=True)
    wire = data_frame + goaway + data_frame
    kept = b"".join(client.feed(wire[i : i + 3]) for i in range(0, len(wire), 3))
    assert kept == data_frame + data_frame
    assert [(g.last_stream_id, g.error_code, g.debug_data) for g in client.goaways] == [
        (5, 0, b"go")
    ]


def test_frame_boundary_keeps_the_byte_stream_whatever_the_reads() -> None:
    # Every split into three reads, among them a 9-byte read that ends one split frame header
    # and begins the next: it once came out as the read itself, bytes out of order.
    ping = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"12345678"
    settings_ack = b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"
    goaway = b"\x00\x00\x0a\x07\x00\x00\x00\x00\x00" + struct.pack(">II", 3, 0) + b"go"
    wire = ping + settings_ack + goaway + settings_ack + ping
    for i in range(1, len(wire)):
        for j in range(i + 1, len(wire)):
            client = FrameBoundary(preface=False, extract_goaway=True)
            kept = b"".join(client.feed(part) for part in (wire[:i], wire[i:j], wire[j:]))
            assert kept == ping + settings_ack + settings_ack + ping, (i, j)
            assert [(g.last_stream_id, g.debug_data) for g in client.goaways] == [(3, b"go")]
            assert client.headers_seen == 5 and not client.mid_frame


def test_frame_boundary_refuses_an_oversized_frame_from_its_header() -> None:
    boundary = FrameBoundary(preface=False, max_frame_size=16384)
    boundary.feed(b"\x00\x40\x00\x00\x00\x00\x00\x00\x01" + b"x" * 16384)  # exactly the limit
    with pytest.raises(FrameTooLarge, match="16777215"):
        boundary.feed(b"\xff\xff\xff\x00\x00\x00\x00\x00\x01")


def test_status_codes_and_rich_details() -> None:
    assert StatusCode.from_wire(14) is StatusCode.UNAVAILABLE
    assert StatusCode.from_wire(99) is StatusCode.UNKNOWN
    assert status_for_http(404) is StatusCode.UNIMPLEMENTED
    assert status_for_http(503) is StatusCode.UNAVAILABLE
    assert status_for_http(418) is StatusCode.UNKNOWN
    error = GrpcError.with_details(
        StatusCode.RESOURCE_EXHAUSTED, "all failed", [gateway_pb2.TopologyResponse(clusterSize=3)]
    )
    status = error.status()
    assert status is not None and status.code == 8 and status.message == "all failed"
    detail = gateway_pb2.TopologyResponse()
    assert status.details[0].Unpack(detail) and detail.clusterSize == 3
    assert GrpcError(StatusCode.INTERNAL, "x", b"\xff\xff").status() is None
