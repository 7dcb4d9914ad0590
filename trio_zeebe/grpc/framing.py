"""gRPC's length-prefixed messages: a 1-byte compressed flag and a 4-byte big-endian length.

The decoder checks the announced length against the limit as soon as the 5-byte prefix is
complete, before it buffers any of the message: a peer cannot make it hold more than
``max_size`` bytes (plus one prefix) whatever it sends.
"""

from __future__ import annotations

import struct

PREFIX = struct.Struct(">BI")
PREFIX_BYTES = PREFIX.size
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""Zeebe's default maximum message size (``zeebe.gateway.network.maxMessageSize``)."""


class MessageTooLarge(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"gRPC message exceeds maximum size {limit}: {size}")
        self.size = size
        self.limit = limit


class CompressedMessage(Exception):
    """A message with the compressed flag set; this implementation only speaks identity."""

    def __init__(self, flag: int) -> None:
        if flag == 1:
            text = "compressed flag set with identity or empty encoding"
        else:
            text = f"invalid compressed flag {flag} in a message prefix"
        super().__init__(text)
        self.flag = flag


def encode_message(payload: bytes) -> bytes:
    """One uncompressed message, prefix and payload."""
    return PREFIX.pack(0, len(payload)) + payload


class MessageDecoder:
    """Splits a stream's DATA into messages (incrementally; any chunking of the input)."""

    __slots__ = ("_buffer", "_length", "max_size")

    def __init__(self, max_size: int = MAX_MESSAGE_BYTES) -> None:
        self.max_size = max_size
        self._buffer = bytearray()
        self._length: int | None = None  # of the message being read, once its prefix is in

    @property
    def partial(self) -> bool:
        """True while part of a message (or of its prefix) is buffered."""
        return bool(self._buffer) or self._length is not None

    def feed(self, data: bytes) -> list[bytes]:
        """The messages ``data`` completes, in order.

        Raises :class:`MessageTooLarge` or :class:`CompressedMessage`; the decoder is
        unusable after that (the stream has to end).
        """
        self._buffer += data
        messages: list[bytes] = []
        buffer = self._buffer
        while True:
            if self._length is None:
                if len(buffer) < PREFIX_BYTES:
                    break
                flag, length = PREFIX.unpack_from(buffer)
                if flag != 0:
                    raise CompressedMessage(flag)
                if length > self.max_size:
                    raise MessageTooLarge(length, self.max_size)
                del buffer[:PREFIX_BYTES]
                self._length = length
            if len(buffer) < self._length:
                break
            messages.append(bytes(buffer[: self._length]))
            del buffer[: self._length]
            self._length = None
        return messages
