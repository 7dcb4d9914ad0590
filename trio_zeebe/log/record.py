"""Log record framing: encode entries into frames and scan a segment's bytes back into records.

Frame (little endian)::

    length u32 | crc32 u32 | index u64 | term u64 | kind u8 | data
    \\_ length = 17 + len(data), crc32 = zlib.crc32 over everything after the crc field

A segment file is a plain concatenation of frames; its name is the index of its first record.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Protocol

import attrs

__all__ = [
    "HEADER_SIZE",
    "MAX_RECORD_BYTES",
    "EntryLike",
    "LogCorruptionError",
    "LogRecord",
    "ScanResult",
    "encode_batch",
    "has_valid_frame",
    "scan",
]

_HEAD = struct.Struct("<IIQQB")  # length, crc, index, term, kind
_BODY = struct.Struct("<QQB")  # index, term, kind (the start of what the crc covers)
HEADER_SIZE = _HEAD.size  # 25
_LEN_CRC = struct.Struct("<II")
_PREFIX = _LEN_CRC.size  # 8
_MIN_LENGTH = _BODY.size  # 17
MAX_RECORD_BYTES = 256 * 1024 * 1024


class LogCorruptionError(Exception):
    """The log on disk is damaged before its tail; the broker must not start on it."""

    def __init__(self, path: str, offset: int, problem: str) -> None:
        super().__init__(f"log corruption in {path} at byte offset {offset}: {problem}")
        self.path = path
        self.offset = offset
        self.problem = problem


class EntryLike(Protocol):
    """Anything with the four fields of a Raft entry (e.g. ``trio_zeebe.raft`` Entry)."""

    @property
    def index(self) -> int: ...

    @property
    def term(self) -> int: ...

    @property
    def kind(self) -> int: ...

    @property
    def data(self) -> bytes: ...


@attrs.frozen
class LogRecord:
    """One entry as stored in (and recovered from) the log."""

    index: int
    term: int
    kind: int
    data: bytes


def encode_batch(
    entries: Sequence[EntryLike], first_index: int, prev_term: int
) -> tuple[bytes, list[int], list[int]]:
    """Frames for ``entries`` (indexes must run from ``first_index``, terms never decrease).

    Returns (bytes, relative offset of each frame, term of each entry).  Raises ValueError on
    a bad batch before anything is written.
    """
    parts: list[bytes] = []
    offsets: list[int] = []
    terms: list[int] = []
    pos = 0
    expect = first_index
    body_pack = _BODY.pack
    prefix_pack = _LEN_CRC.pack
    crc32 = zlib.crc32
    for e in entries:
        index, term, data = e.index, e.term, e.data
        if index != expect:
            raise ValueError(f"entries not contiguous: got index {index}, expected {expect}")
        if term < prev_term:
            raise ValueError(f"term goes backwards at index {index}: {term} < {prev_term}")
        try:
            body = body_pack(index, term, e.kind)
        except struct.error as exc:
            raise ValueError(f"entry {index}: index/term/kind out of range: {exc}") from exc
        length = _MIN_LENGTH + len(data)
        if length > MAX_RECORD_BYTES:
            raise ValueError(f"entry {index} too large: {len(data)} bytes")
        parts.append(prefix_pack(length, crc32(data, crc32(body))))
        parts.append(body)
        parts.append(data)
        offsets.append(pos)
        terms.append(term)
        pos += _PREFIX + length
        expect += 1
        prev_term = term
    return b"".join(parts), offsets, terms


@attrs.frozen
class ScanResult:
    """What :func:`scan` found in a segment's bytes."""

    records: list[LogRecord]
    offsets: list[int]
    end: int  # offset just after the last good record
    problem: str | None  # why scanning stopped before the end of the buffer, if it did


def scan(buf: bytes, first_index: int, path: str) -> ScanResult:
    """Parse frames from the start of ``buf``; stop at the first bad one.

    A frame with a good checksum but the wrong index or a decreasing term is corruption
    whatever follows, so it raises :class:`LogCorruptionError` straight away.
    """
    records: list[LogRecord] = []
    offsets: list[int] = []
    view = memoryview(buf)
    n = len(buf)
    off = 0
    expect = first_index
    prev_term = 0
    crc32 = zlib.crc32
    unpack = _HEAD.unpack_from
    problem: str | None = None
    while off < n:
        if n - off < HEADER_SIZE:
            problem = f"partial record header ({n - off} bytes)"
            break
        length, crc, index, term, kind = unpack(buf, off)
        if length < _MIN_LENGTH or length > MAX_RECORD_BYTES:
            problem = f"invalid record length {length}"
            break
        end = off + _PREFIX + length
        if end > n:
            problem = f"record of {length} bytes runs past the end of the file"
            break
        if crc32(view[off + _PREFIX : end]) != crc:
            problem = "checksum mismatch"
            break
        if index != expect:
            raise LogCorruptionError(path, off, f"record has index {index}, expected {expect}")
        if term < prev_term:
            raise LogCorruptionError(path, off, f"term goes backwards ({term} < {prev_term})")
        records.append(LogRecord(index, term, kind, bytes(view[off + HEADER_SIZE : end])))
        offsets.append(off)
        off = end
        expect += 1
        prev_term = term
    return ScanResult(records, offsets, off, problem)


def has_valid_frame(buf: bytes, start: int) -> bool:
    """Whether a checksum-valid frame starts anywhere at or after ``start``.

    Used to tell a torn tail (only garbage after the bad record) from corruption (good records
    after a bad one).  Linear in the remaining bytes; runs only on the recovery error path.
    """
    n = len(buf)
    view = memoryview(buf)
    unpack = _LEN_CRC.unpack_from
    crc32 = zlib.crc32
    for p in range(start, n - HEADER_SIZE + 1):
        length, crc = unpack(buf, p)
        if length < _MIN_LENGTH or p + _PREFIX + length > n:
            continue
        if crc32(view[p + _PREFIX : p + _PREFIX + length]) == crc:
            return True
    return False
