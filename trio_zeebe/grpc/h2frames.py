"""Where HTTP/2 frames begin and end in a received byte stream (sans-IO).

h2 buffers a partial frame silently; a connection needs to know whether the peer stopped
*inside* a frame (a stalled or malicious peer, closed after a timeout) or between frames (idle,
which is normal). This follows only the 9-byte frame headers' length fields.
"""

from __future__ import annotations

CLIENT_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_HEADER_BYTES = 9


class FrameBoundary:
    """Fed every received byte; :attr:`mid_frame` says whether a frame is incomplete."""

    __slots__ = ("_header", "_skip")

    def __init__(self, *, preface: bool) -> None:
        # A server first reads the client's connection preface, then frames.
        self._skip = len(CLIENT_PREFACE) if preface else 0
        self._header = bytearray()

    @property
    def mid_frame(self) -> bool:
        return self._skip > 0 or bool(self._header)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            if self._skip:
                step = min(self._skip, len(view))
                self._skip -= step
                view = view[step:]
                continue
            need = FRAME_HEADER_BYTES - len(self._header)
            self._header += view[:need]
            view = view[need:]
            if len(self._header) == FRAME_HEADER_BYTES:
                self._skip = int.from_bytes(self._header[:3], "big")
                self._header.clear()
