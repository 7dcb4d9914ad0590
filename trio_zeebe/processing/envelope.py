"""The processor's record envelope: the framing of every record a partition's processor proposes.

Only the processor writes envelopes; what a client sends is always the opaque payload inside
one, never parsed as framing. So a client cannot forge a request id, the leader's clock or a
record kind, whatever bytes it sends.

Format version 1 (all integers big-endian)::

    offset  size  field
    0       1     format version: 1 (a msgpack record of an older format starts with 0x90..0x9f)
    1       1     kind: 1 COMMAND, 2 TIME, 3 UNIT, 4 INTER
    2       8     request id (unsigned): pairs the applied record with the leader's waiting call
    10      8     leader timestamp (IEEE 754 double, Unix seconds; always finite)
    18      ...   payload, by kind:
                  COMMAND  one opaque command: the rest of the record
                  TIME     nothing: the leader's clock passed a deadline (the timestamp is it)
                  UNIT     u32 count n (>= 1), n x u32 lengths, then the n payloads back to back
                  INTER    one opaque command another partition's leader sent (inter-partition
                           commands: deployment distribution, acknowledgements, ...): the rest

A client's bytes only ever become a COMMAND or UNIT payload, so no client can produce an INTER
record: what arrives as one was sent by a partition leader over the mutually authenticated peer
transport (see :mod:`trio_zeebe.partitions.messenger`).

A UNIT carries the records of one raw append call, so they reach the log in the given order and
as one unit: one record is never split between Raft entries. Decoding is a fixed ``struct``
header and slices; anything else (short, unknown version or kind, a non-finite timestamp, lengths
that do not add up) raises :class:`EnvelopeError`, for any input at all.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from enum import IntEnum
from typing import NamedTuple

VERSION = 1

_HEADER = struct.Struct(">BBQd")
HEADER_SIZE = _HEADER.size  # 18
_COUNT = struct.Struct(">I")
MAX_REQUEST_ID = (1 << 64) - 1
MAX_UNIT = (1 << 32) - 1


class Kind(IntEnum):
    COMMAND = 1  # a client command for the state machine
    TIME = 2  # a leader time record: only the timestamp, no client payload
    UNIT = 3  # the records of one raw append call
    INTER = 4  # a command from another partition (for InterPartition.receive)


class EnvelopeError(ValueError):
    """Bytes that are not a processor envelope of a known format."""


class Envelope(NamedTuple):
    kind: Kind
    request_id: int
    timestamp: float
    payloads: tuple[bytes, ...]  # COMMAND, INTER: one; TIME: none; UNIT: one or more


def command(request_id: int, timestamp: float, payload: bytes) -> bytes:
    return _header(Kind.COMMAND, request_id, timestamp) + payload


def inter(request_id: int, timestamp: float, payload: bytes) -> bytes:
    return _header(Kind.INTER, request_id, timestamp) + payload


def time_record(request_id: int, timestamp: float) -> bytes:
    return _header(Kind.TIME, request_id, timestamp)


def unit(request_id: int, timestamp: float, payloads: Sequence[bytes]) -> bytes:
    count = len(payloads)
    if not 1 <= count <= MAX_UNIT:
        raise ValueError(f"a unit holds 1..{MAX_UNIT} records, got {count}")
    lengths = struct.pack(f">I{count}I", count, *map(len, payloads))
    return b"".join([_header(Kind.UNIT, request_id, timestamp), lengths, *payloads])


def _header(kind: Kind, request_id: int, timestamp: float) -> bytes:
    if not math.isfinite(timestamp):
        raise ValueError(f"timestamp must be finite, got {timestamp!r}")
    return _HEADER.pack(VERSION, kind, request_id, timestamp)


def decode(record: object) -> Envelope:
    if type(record) is not bytes:
        raise EnvelopeError(f"a record is bytes, got {type(record).__name__}")
    if len(record) < HEADER_SIZE:
        raise EnvelopeError(f"{len(record)} bytes is shorter than an envelope header")
    version, kind, request_id, timestamp = _unpack_header(record)
    if version != VERSION:
        raise EnvelopeError(f"unknown envelope format 0x{version:02x}")
    if not _isfinite(timestamp):
        raise EnvelopeError(f"timestamp {timestamp!r} is not finite")
    if kind == 1:
        return _new(Envelope, (_COMMAND, request_id, timestamp, (record[HEADER_SIZE:],)))
    if kind == 2:
        if len(record) != HEADER_SIZE:
            raise EnvelopeError("a time record carries no payload")
        return _new(Envelope, (_TIME, request_id, timestamp, ()))
    if kind == 3:
        return _new(Envelope, (_UNIT, request_id, timestamp, _unit_payloads(record)))
    if kind == 4:
        return _new(Envelope, (_INTER, request_id, timestamp, (record[HEADER_SIZE:],)))
    raise EnvelopeError(f"unknown envelope kind {kind}")


# The decoder runs for every record on every replica: no attribute lookups on its path.
_unpack_header = _HEADER.unpack_from
_isfinite = math.isfinite
_new = tuple.__new__
_COMMAND, _TIME, _UNIT, _INTER = Kind.COMMAND, Kind.TIME, Kind.UNIT, Kind.INTER


def _unit_payloads(record: bytes) -> tuple[bytes, ...]:
    start = HEADER_SIZE + _COUNT.size
    if len(record) < start:
        raise EnvelopeError("unit without a record count")
    (count,) = _COUNT.unpack_from(record, HEADER_SIZE)
    data = start + 4 * count
    if count == 0 or len(record) < data:
        raise EnvelopeError(f"unit of {count} records has no room for their lengths")
    lengths = struct.unpack_from(f">{count}I", record, start)
    if data + sum(lengths) != len(record):
        raise EnvelopeError("unit record lengths do not add up to its size")
    payloads = []
    for length in lengths:
        payloads.append(record[data : data + length])
        data += length
    return tuple(payloads)
