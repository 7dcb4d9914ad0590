"""What a gRPC method handler knows about the call it serves (:class:`ServerCall`)."""

from __future__ import annotations

import math

import trio

from ..grpc.metadata import Metadata, MetadataValue


class ServerCall:
    """One call on the server: handed to every handler next to the request.

    The handler runs inside :attr:`cancel_scope`. It is cancelled at once when the client
    resets the stream (or cancels the call), when the deadline from ``grpc-timeout`` passes
    (the client then gets DEADLINE_EXCEEDED), when the connection drops, and when a server
    shutdown's grace period runs out: a long poll never outlives its client.
    """

    __slots__ = (
        "_trailing",
        "cancel_scope",
        "deadline",
        "metadata",
        "method",
        "peer",
        "peer_certificate",
    )

    def __init__(
        self,
        *,
        method: str,
        peer: str,
        metadata: Metadata,
        deadline: float | None,
        peer_certificate: dict[str, object] | None = None,
    ) -> None:
        self.method = method
        """The request path, ``/package.Service/Method``."""
        self.peer = peer
        """``ipv4:host:port`` or ``ipv6:[host]:port``, as gRPC names peers."""
        self.metadata = metadata
        """The client's custom metadata (``-bin`` values decoded to bytes)."""
        self.deadline = deadline
        """When the client gives up, on the trio clock (``trio.current_time()``), or None."""
        self.peer_certificate = peer_certificate
        """The client's certificate (``ssl`` dict form) when TLS required one, else None."""
        self.cancel_scope = trio.CancelScope(deadline=math.inf if deadline is None else deadline)
        self._trailing: list[tuple[str, MetadataValue]] = []

    @property
    def cancelled(self) -> bool:
        """True once the call was cancelled for whatever reason (nothing more is sent)."""
        return self.cancel_scope.cancel_called

    def time_remaining(self) -> float | None:
        """Seconds until the deadline (never negative), or None without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - trio.current_time())

    def add_trailing_metadata(self, key: str, value: MetadataValue) -> None:
        """Custom metadata to send in the call's trailers (with any status)."""
        self._trailing.append((key, value))

    @property
    def trailing_metadata(self) -> Metadata:
        return tuple(self._trailing)
