"""Knobs of the gRPC server: the broker's ``network.gateway`` section.

That TOML section is this class plus the listener's ``port`` (:mod:`trio_zeebe.config`), so each
knob's default and check are written here once. Defaults are Zeebe's gateway's, or gRPC's where
Zeebe has none.
"""

from __future__ import annotations

import attrs

from ..grpc.framing import MAX_MESSAGE_BYTES
from ..knobs import KnobError, duration, non_negative, number, size

NEW_WORK_PARTITIONS = ("round-robin", "local-first")
"""The gateway's choices of partition for new work (``network.new_work_partitions``)."""

MAX_WINDOW = 2**31 - 1
"""HTTP/2's largest flow-control window."""


@attrs.frozen
class GrpcServerConfig:
    """Message and header limits, flow-control windows, connection timeouts, keepalive rules."""

    max_message_size: int = size(MAX_MESSAGE_BYTES)
    """Largest request message accepted; larger ones get RESOURCE_EXHAUSTED (Zeebe: 4 MB)."""
    max_concurrent_streams: int = number(1000)
    """SETTINGS_MAX_CONCURRENT_STREAMS: calls one connection may have open at once."""
    stream_window: int = size(1024 * 1024)
    """The receive window of each call (HTTP/2 flow control)."""
    connection_window: int = size(16 * 1024 * 1024)
    """The receive window of the whole connection."""
    max_header_list_size: int = size(16 * 1024)
    """SETTINGS_MAX_HEADER_LIST_SIZE: the largest header block of a call."""
    handshake_timeout: float = duration(10.0)
    """TLS and the HTTP/2 preface must be done this long after accepting, or it is dropped."""
    frame_timeout: float = duration(10.0)
    """A peer may leave a frame half-sent this long before the connection is dropped."""
    idle_timeout: float = duration(600.0, check=non_negative)
    """A connection without calls this long is closed (GOAWAY); 0 keeps it forever."""
    keepalive_min_interval: float = duration(30.0)
    """Zeebe's ``minKeepAliveInterval``: pings closer than this count as strikes."""
    permit_keepalive_without_calls: bool = False
    """Whether pings on a connection without calls are fine (else they count as strikes)."""
    max_ping_strikes: int = number(2, check=non_negative)
    """More strikes than this: GOAWAY ENHANCE_YOUR_CALM ("too_many_pings"), as gRPC does."""

    def __attrs_post_init__(self) -> None:
        for name in ("stream_window", "connection_window"):
            if getattr(self, name) > MAX_WINDOW:
                raise KnobError(name, f"must be at most {MAX_WINDOW} bytes (HTTP/2's limit)")
