"""Settings of the gRPC server (defaults are Zeebe's gateway's, or gRPC's where Zeebe has none)."""

from __future__ import annotations

import attrs

from ..grpc.framing import MAX_MESSAGE_BYTES


@attrs.frozen
class GrpcServerConfig:
    max_message_bytes: int = MAX_MESSAGE_BYTES
    """Largest request message accepted; larger ones get RESOURCE_EXHAUSTED (Zeebe: 4 MB)."""
    max_concurrent_streams: int = 1000
    """SETTINGS_MAX_CONCURRENT_STREAMS: calls one connection may have open at once."""
    stream_window: int = 1024 * 1024
    """The receive window of each call (HTTP/2 flow control)."""
    connection_window: int = 16 * 1024 * 1024
    """The receive window of the whole connection."""
    max_header_list_bytes: int = 16 * 1024
    handshake_timeout: float = 10.0
    """Seconds for TLS and the HTTP/2 preface before a new connection is dropped."""
    frame_timeout: float = 10.0
    """Seconds a peer may leave a frame half-sent before the connection is dropped."""
    idle_timeout: float | None = 600.0
    """Seconds without calls before a connection is closed (GOAWAY); None keeps it."""
    keepalive_min_interval: float = 30.0
    """Zeebe's ``minKeepAliveInterval``: pings closer than this count as strikes."""
    permit_keepalive_without_calls: bool = False
    max_ping_strikes: int = 2
    """More strikes than this: GOAWAY ENHANCE_YOUR_CALM ("too_many_pings"), as gRPC does."""

    def __attrs_post_init__(self) -> None:
        if self.max_message_bytes <= 0:
            raise ValueError("max_message_bytes must be positive")
        if not 0 < self.stream_window < 2**31 or not 0 < self.connection_window < 2**31:
            raise ValueError("flow-control windows must be between 1 and 2^31-1 bytes")
        if self.max_concurrent_streams <= 0:
            raise ValueError("max_concurrent_streams must be positive")
