"""Header codecs of gRPC over HTTP/2: ``grpc-timeout``, ``grpc-message`` and custom metadata.

Following gRPC's doc/PROTOCOL-HTTP2.md: a timeout is at most 8 ASCII digits and a unit
(``H M S m u n``); ``grpc-message`` is percent-encoded UTF-8 (every byte outside
``0x20..0x7E``, and ``%`` itself, as ``%XX``), decoded leniently (a malformed escape stays as
it is); metadata keys are lowercase ``[0-9a-z_.-]``, and a key ending in ``-bin`` carries
bytes, base64-encoded on the wire (sent unpadded, accepted either way).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterable, Sequence

MetadataValue = str | bytes
Metadata = tuple[tuple[str, MetadataValue], ...]
"""Custom metadata as (key, value) pairs in order; values of ``-bin`` keys are bytes."""

_UNITS: tuple[tuple[bytes, float], ...] = (
    (b"n", 1e-9),
    (b"u", 1e-6),
    (b"m", 1e-3),
    (b"S", 1.0),
    (b"M", 60.0),
    (b"H", 3600.0),
)
_UNIT_SECONDS = dict(_UNITS)
_MAX_DIGITS = 8
_MAX_VALUE = 10**_MAX_DIGITS - 1


class MalformedHeader(ValueError):
    pass


def parse_timeout(value: bytes) -> float:
    """Seconds from a ``grpc-timeout`` value; MalformedHeader if it is not one."""
    digits, unit = value[:-1], value[-1:]
    if not digits or len(digits) > _MAX_DIGITS or not digits.isdigit() or unit not in _UNIT_SECONDS:
        raise MalformedHeader(f"malformed grpc-timeout: {value.decode('latin-1')!r}")
    return int(digits) * _UNIT_SECONDS[unit]


def format_timeout(seconds: float) -> bytes:
    """The most precise ``grpc-timeout`` that fits 8 digits, rounded up (never shorter)."""
    if seconds <= 0:
        return b"1n"  # already due: the smallest positive timeout
    for unit, scale in _UNITS:
        count = math.ceil(seconds / scale - 1e-9)
        if count <= _MAX_VALUE:
            return b"%d%s" % (max(count, 1), unit)
    return b"%dH" % _MAX_VALUE


_PLAIN = frozenset(range(0x20, 0x7F)) - {ord("%")}


def encode_grpc_message(message: str) -> bytes:
    data = message.encode("utf-8")
    if all(b in _PLAIN for b in data):
        return data
    return b"".join(bytes((b,)) if b in _PLAIN else b"%%%02X" % b for b in data)


_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")


def decode_grpc_message(value: bytes) -> str:
    if b"%" in value:
        value = _ESCAPE.sub(lambda m: bytes((int(m.group(1), 16),)), value)
    return value.decode("utf-8", errors="replace")


_KEY = re.compile(rb"[0-9a-z_.\-]+\Z")
# Headers gRPC itself uses: not metadata, whichever way they go.
RESERVED = frozenset(
    {
        b"content-type",
        b"te",
        b"grpc-timeout",
        b"grpc-encoding",
        b"grpc-accept-encoding",
        b"grpc-message-type",
        b"grpc-status",
        b"grpc-message",
        b"grpc-status-details-bin",
        b"connection",
        b"host",
    }
)


def encode_metadata(metadata: Iterable[tuple[str, MetadataValue]]) -> list[tuple[bytes, bytes]]:
    """Header pairs for custom metadata; ValueError names a key or value gRPC cannot carry."""
    headers = []
    for key, value in metadata:
        name = key.lower().encode("ascii", errors="replace")
        if not _KEY.match(name) or name.startswith(b":") or name in RESERVED:
            raise ValueError(f"metadata key {key!r} is reserved or not a valid gRPC key")
        if name.endswith(b"-bin"):
            headers.append(
                (name, encode_binary(value if isinstance(value, bytes) else value.encode()))
            )
        else:
            if isinstance(value, bytes):
                raise ValueError(f"metadata key {key!r} takes text; binary keys end in -bin")
            if not all(0x20 <= ord(c) <= 0x7E for c in value):
                raise ValueError(f"metadata value of {key!r} must be printable ASCII")
            headers.append((name, value.encode("ascii")))
    return headers


def decode_metadata(headers: Sequence[tuple[bytes, bytes]]) -> Metadata:
    """The custom metadata among received headers (pseudo and reserved headers left out).

    A ``-bin`` value that is not base64 is dropped, as gRPC implementations do.
    """
    pairs: list[tuple[str, MetadataValue]] = []
    for name, value in headers:
        if name.startswith(b":") or name in RESERVED:
            continue
        key = name.decode("latin-1")
        if name.endswith(b"-bin"):
            try:
                pairs.append((key, b64decode_lenient(value)))
            except (binascii.Error, ValueError):
                continue
        else:
            pairs.append((key, value.decode("latin-1")))
    return tuple(pairs)


def encode_binary(value: bytes) -> bytes:
    """A ``-bin`` header value: base64 without padding, as gRPC sends it."""
    return base64.b64encode(value).rstrip(b"=")


def b64decode_lenient(value: bytes) -> bytes:
    """Base64 with or without padding (gRPC senders differ)."""
    value = value.strip()
    return base64.b64decode(value + b"=" * (-len(value) % 4), validate=True)
