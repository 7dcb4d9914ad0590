"""Tunables of the TCP transport between brokers: the broker's ``network.internal_api`` section.

That TOML section is this class plus the listener's ``port`` (:mod:`trio_zeebe.config`), so each
knob's default and check are written here once.
"""

from __future__ import annotations

import attrs

from trio_zeebe.knobs import KnobError, duration, number


@attrs.frozen
class TransportConfig:
    """Timeouts, keepalive, reconnect back-off and queue bounds of peer connections."""

    queue_frames: int = number(4096)
    """Frames waiting per peer; past that, one-way messages are dropped (back-pressure)."""
    connect_timeout: float = duration(2.0)
    """A TCP connect to a peer must succeed within this long."""
    handshake_timeout: float = duration(2.0)
    """TLS and the Hello exchange must finish within this long, or the connection is closed."""
    partial_frame_timeout: float = duration(15.0)
    """A frame must be complete this long after its first byte arrived (slow-loris peers)."""
    keepalive: float = duration(1.0)
    """A PING goes out after this long without sending anything."""
    idle_timeout: float = duration(10.0)
    """Nothing received for this long (PINGs included) means the connection is dead."""
    backoff_initial: float = duration(0.05)
    """After a failed dial, the peer is not dialled again for this long, doubling per failure..."""
    backoff_max: float = duration(2.0)
    """... up to this long (jittered)."""

    def __attrs_post_init__(self) -> None:
        if self.keepalive >= self.idle_timeout:
            raise KnobError("keepalive", "must be shorter than idle_timeout")
        if self.backoff_initial > self.backoff_max:
            raise KnobError("backoff_initial", "must not exceed backoff_max")
