"""Fuzz the frame decoder and the envelope/message decoder: bad input is a DecodeError only."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.transport.conftest import Answer, Ask, Note
from trio_zeebe.codec import DecodeError
from trio_zeebe.transport import frames

MAX = 1024


def feed_all(chunks: list[bytes]) -> list[bytes]:
    decoder = frames.FrameDecoder(MAX)
    out: list[bytes] = []
    for chunk in chunks:
        decoder.feed(chunk)
        out.extend(decoder.frames())
    return out


def test_round_trip_across_arbitrary_chunking() -> None:
    wire = (
        b"".join(
            frames.encode(kind, corr, msg)
            for kind, corr, msg in [(0, 0, Note(1, "a")), (1, 7, Ask(2)), (2, 7, Answer(2, 1))]
        )
        + frames.encode(frames.ERROR, 9, "boom")
        + frames.encode(frames.RESPONSE, 3, None)
    )
    for size in (1, 2, 3, 7, 1000):
        payloads = feed_all([wire[i : i + size] for i in range(0, len(wire), size)])
        assert [frames.decode(p) for p in payloads] == [
            (0, 0, Note(1, "a")),
            (1, 7, Ask(2)),
            (2, 7, Answer(2, 1)),
            (3, 9, "boom"),
            (2, 3, None),
        ]


def test_oversized_frame_is_refused_from_its_header_alone() -> None:
    decoder = frames.FrameDecoder(MAX)
    decoder.feed((MAX + 1).to_bytes(4, "big"))  # no body needed: the header is enough
    with pytest.raises(frames.FrameTooLarge):
        decoder.frames()
    with pytest.raises(frames.FrameTooLarge):
        frames.encode(frames.ONEWAY, 0, Note(1, "x" * MAX), MAX)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_random_chunks_end_in_frames_or_decode_error(chunks: list[bytes]) -> None:
    try:
        payloads = feed_all(chunks)
    except DecodeError:
        return
    for p in payloads:
        assert len(p) <= MAX
        try:
            frames.decode(p)
        except DecodeError:
            pass


def _envelopes() -> st.SearchStrategy[object]:
    leaf = st.one_of(
        st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
        st.text(max_size=8), st.binary(max_size=8),
        st.floats(allow_nan=False), st.sampled_from(["t.test.note", "t.test.ask", "t.hello"]),
    )  # fmt: skip
    tree = st.recursive(
        leaf,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
        ),
        max_leaves=12,
    )
    return st.one_of(
        tree,
        st.tuples(st.integers(-2, 8), st.integers(-5, 2**64 - 1), tree).map(list),
        st.tuples(
            st.integers(0, 5), st.integers(0, 9),
            st.tuples(st.sampled_from(["t.test.note", "t.test.ask", "x"]), tree).map(list),
        ).map(list),
    )  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(_envelopes())
def test_structured_garbage_is_a_decode_error(obj: object) -> None:
    data = msgpack.packb(obj, use_bin_type=True)
    for payload in (data, data[: len(data) // 2], data + b"\x00"):
        try:
            frames.decode(payload)
        except DecodeError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_payload_bytes_are_a_decode_error(data: bytes) -> None:
    try:
        frames.decode(data)
    except DecodeError:
        pass


@given(st.integers(0, 200))
def test_truncated_valid_frame_needs_more_data(cut: int) -> None:
    wire = frames.encode(frames.REQUEST, 5, Ask(3, 0.5))
    cut = min(cut, len(wire) - 1)
    decoder = frames.FrameDecoder(MAX)
    decoder.feed(wire[:cut])
    assert decoder.frames() == []
    decoder.feed(wire[cut:])
    assert [frames.decode(p) for p in decoder.frames()] == [(1, 5, Ask(3, 0.5))]
