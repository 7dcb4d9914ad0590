"""Length-prefixed frames and the envelope inside them (sans-IO, fuzzable).

A frame is a 4-byte big-endian length followed by that many payload bytes. The payload is the
msgpack array ``[kind, correlation_id, body]`` where ``body`` is ``codec.to_wire(message)`` for
one-way messages, requests and responses (``None`` for an empty response), the error text for
errors, and ``None`` for control frames. The decoder checks a frame's announced length against the
maximum before buffering its body, so a hostile length never makes us allocate.

Two kinds of bad frames: a broken envelope (:class:`~trio_zeebe.codec.DecodeError`) means the
stream can no longer be trusted; a sound envelope around a message that does not decode
(:class:`BadMessage`, e.g. a field out of range, or a type this node does not know) costs only
that message.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from trio_zeebe import codec
from trio_zeebe.codec import DecodeError

ONEWAY = 0
REQUEST = 1
RESPONSE = 2
ERROR = 3
BYE = 4  # "I will write nothing more on this connection" (graceful retirement of a duplicate)
PING = 5  # keepalive on an otherwise idle connection
_MAX_KIND = PING

HEADER = 4
DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024


class FrameTooLarge(DecodeError):
    """A frame announced (or would need) more than the maximum frame size."""


class BadMessage(DecodeError):
    """The envelope is sound but its message is not: drop (or refuse) that message only."""

    def __init__(self, kind: int, correlation_id: int, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.correlation_id = correlation_id


class Envelope(NamedTuple):
    kind: int
    correlation_id: int
    message: Any  # a decoded wire message, None, or the error text for ERROR


def frame(payload: bytes, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> bytes:
    if len(payload) > max_frame_bytes:
        raise FrameTooLarge(f"frame of {len(payload)} bytes exceeds maximum {max_frame_bytes}")
    return len(payload).to_bytes(HEADER, "big") + payload


def encode(
    kind: int,
    correlation_id: int,
    message: Any,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
) -> bytes:
    """One complete frame. Raises TypeError for a non-wire message, FrameTooLarge when too big."""
    body = message if kind == ERROR or message is None else codec.to_wire(message)
    return frame(codec.packb([kind, correlation_id, body]), max_frame_bytes)


def decode(payload: bytes) -> Envelope:
    """A frame's payload -> :class:`Envelope`; raises :class:`DecodeError` on anything malformed."""
    obj = codec.unpackb(payload)
    if not isinstance(obj, list) or len(obj) != 3:
        raise DecodeError("envelope is not a [kind, id, body] triple")
    kind, corr, body = obj
    if type(kind) is not int or not 0 <= kind <= _MAX_KIND:
        raise DecodeError(f"bad envelope kind {kind!r:.20}")
    if type(corr) is not int or corr < 0:
        raise DecodeError("bad correlation id")
    if kind == ERROR:
        if not isinstance(body, str):
            raise DecodeError("error body is not text")
        return Envelope(kind, corr, body)
    if body is None:
        if kind in (ONEWAY, REQUEST):
            raise DecodeError("message missing")
        return Envelope(kind, corr, None)
    if kind in (BYE, PING):
        raise DecodeError("control frame with a body")
    try:
        message = codec.from_wire(body)
    except DecodeError as exc:
        raise BadMessage(kind, corr, str(exc)) from None
    return Envelope(kind, corr, message)


class FrameDecoder:
    """Reassembles frames from arbitrary byte chunks.

    ``feed(chunk)`` then ``frames()`` returns every complete frame payload; an incomplete tail
    stays buffered ("needs more data"). Raises :class:`FrameTooLarge` as soon as a header
    announces a frame above the limit; the decoder is unusable afterwards (close the connection).
    """

    __slots__ = ("_buf", "_max")

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._buf = bytearray()
        self._max = max_frame_bytes

    def feed(self, data: bytes | bytearray) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def frames(self) -> list[bytes]:
        buf = self._buf
        end = len(buf)
        pos = 0
        out: list[bytes] = []
        while end - pos >= HEADER:
            size = int.from_bytes(buf[pos : pos + HEADER], "big")
            if size > self._max:
                raise FrameTooLarge(f"frame of {size} bytes announced, maximum is {self._max}")
            start = pos + HEADER
            if end - start < size:
                break
            out.append(bytes(buf[start : start + size]))
            pos = start + size
        if pos:
            del buf[:pos]
        return out
