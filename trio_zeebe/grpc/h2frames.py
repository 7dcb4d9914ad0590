"""HTTP/2 frame boundaries in a received byte stream (sans-IO), and GOAWAY frames taken out.

h2 buffers a partial frame silently; a connection needs to know whether the peer stopped
*inside* a frame (a stalled or malicious peer, closed after a timeout) or between frames (idle,
which is normal). This follows the 9-byte frame headers' length fields.

It can also take GOAWAY frames out of the stream before h2 sees them: h2 treats a received
GOAWAY as the end of the connection and refuses every frame after it, while HTTP/2 (and a
graceful gRPC server shutdown) lets the streams below the GOAWAY's last stream id finish.
The client channel handles GOAWAY itself for that reason.
"""

from __future__ import annotations

import attrs
import h2.config
import h2.connection

CLIENT_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_HEADER_BYTES = 9
GOAWAY_TYPE = 0x7


class FrameTooLarge(Exception):
    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"frame of {length} bytes announced; the maximum is {limit}")
        self.length = length
        self.limit = limit


@attrs.frozen
class GoAway:
    last_stream_id: int
    error_code: int
    debug_data: bytes


class FrameBoundary:
    """Fed every received byte; :attr:`mid_frame` says whether a frame is incomplete."""

    __slots__ = (
        "_extract",
        "_frame",
        "_header",
        "_skip",
        "goaways",
        "headers_seen",
        "max_frame_size",
    )

    def __init__(
        self, *, preface: bool, extract_goaway: bool = False, max_frame_size: int | None = None
    ) -> None:
        # A server first reads the client's connection preface, then frames.
        self._skip = len(CLIENT_PREFACE) if preface else 0
        self._header = bytearray()
        self._extract = extract_goaway
        self._frame: bytearray | None = None  # a GOAWAY being taken out
        self.goaways: list[GoAway] = []
        """GOAWAY frames taken out of the stream, oldest first (the caller empties it)."""
        self.headers_seen = 0
        """Frame headers completed so far (a change means the frames made progress)."""
        self.max_frame_size = max_frame_size
        """Frames announcing more raise :class:`FrameTooLarge` from their header alone
        (h2 checks only once it buffered the whole frame)."""

    @property
    def mid_frame(self) -> bool:
        return self._skip > 0 or bool(self._header)

    def feed(self, data: bytes | bytearray) -> bytes | bytearray:
        """Account for ``data``; returns it, less any GOAWAY frames when extracting them.

        Raises :class:`FrameTooLarge` (a connection error: FRAME_SIZE_ERROR).
        """
        # Walks the frame headers by offset: one read carries a frame header per HEADERS or
        # DATA frame of every call answered, so this runs per frame, not per read.
        view = memoryview(data)
        size = len(view)
        extract = self._extract
        pieces: list[bytes | memoryview] = []  # extracting: the output, once it differs
        changed = False
        run = 0  # extracting: where the bytes kept since the last piece start
        pos = 0
        while pos < size:
            if self._skip:
                step = min(self._skip, size - pos)
                if self._frame is not None:  # a GOAWAY's payload: taken out
                    self._frame += view[pos : pos + step]
                    if run < pos:
                        pieces.append(view[run:pos])
                    run, changed = pos + step, True
                pos += step
                self._skip -= step
                if not self._skip and self._frame is not None:
                    self._take_goaway(self._frame)
                continue
            header: bytes | memoryview
            if self._header or size - pos < FRAME_HEADER_BYTES:
                # A header split between reads: held until it is whole.
                start = pos
                need = FRAME_HEADER_BYTES - len(self._header)
                self._header += view[pos : pos + need]
                pos = min(size, pos + need)
                if extract:
                    if run < start:
                        pieces.append(view[run:start])
                    changed = True
                if len(self._header) < FRAME_HEADER_BYTES:
                    run = size
                    break
                header = bytes(self._header)
                self._header.clear()
                whole = False
            else:
                header = view[pos : pos + FRAME_HEADER_BYTES]
                pos += FRAME_HEADER_BYTES
                whole = True
            self.headers_seen += 1
            self._skip = int.from_bytes(header[:3], "big")
            if self.max_frame_size is not None and self._skip > self.max_frame_size:
                raise FrameTooLarge(self._skip, self.max_frame_size)
            if extract and header[3] == GOAWAY_TYPE:
                if whole and run < pos - FRAME_HEADER_BYTES:
                    pieces.append(view[run : pos - FRAME_HEADER_BYTES])
                run, changed = pos, True
                self._frame = bytearray()
                if not self._skip:
                    self._take_goaway(self._frame)
            elif extract and not whole:
                pieces.append(header)
                run = pos
        if not extract or not changed:
            return data
        if run < size:
            pieces.append(view[run:size])
        return b"".join(pieces)

    def _take_goaway(self, payload: bytearray) -> None:
        self._frame = None
        if len(payload) < 8:
            # malformed: a connection error either way; report "nothing was processed"
            self.goaways.append(GoAway(0, 1, b""))
            return
        last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
        self.goaways.append(GoAway(last, int.from_bytes(payload[4:8], "big"), bytes(payload[8:])))


def h2_connection(*, client_side: bool) -> tuple[h2.connection.H2Connection, FrameBoundary]:
    """An h2 connection configured as both gRPC ends use it, and the boundary tracker for the
    bytes it receives (a server's expects the client preface; a client's takes GOAWAY out)."""
    connection = h2.connection.H2Connection(
        h2.config.H2Configuration(
            client_side=client_side,
            header_encoding=None,
            # Every header sent is built here, lowercase and valid: h2's checks and
            # normalization of them cost more than the rest of a small call.
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
    )
    frames = FrameBoundary(
        preface=not client_side,
        extract_goaway=client_side,
        max_frame_size=connection.local_settings.max_frame_size,
    )
    return connection, frames
