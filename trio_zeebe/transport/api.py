"""The `Network` interface every driver (Raft, SWIM, gateway forwarding) talks through.

Two implementations: :class:`trio_zeebe.transport.tcp.TcpTransport` (TCP + mutual TLS, production)
and :class:`trio_zeebe.testing.network.SimNetwork` endpoints (in memory, deterministic under
``MockClock``). Drivers only ever see this interface, so the same driver code runs in both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import attrs


@attrs.frozen
class Peer:
    """A broker as seen by the transport: its node id and advertised internal ``host:port``."""

    node_id: int
    address: str


Handler = Callable[[Peer, Any], Awaitable[Any | None]]
"""Called with the sending peer and the message; for requests the return value is the response
(a registered wire message or ``None``); for one-way messages it is ignored."""


class TransportError(Exception):
    """Base class of every error a :class:`Network` raises."""


class PeerUnavailable(TransportError):
    """The peer could not be reached (refused, backing off, connection lost, crashed)."""


class NotSent(PeerUnavailable):
    """The request never left this node (no connection could be made): it cannot have been
    executed, so even a non-idempotent request may be sent elsewhere. A plain
    :class:`PeerUnavailable` from ``request`` means the connection broke after sending."""


class RequestTimeout(TransportError):
    """No response within the request's timeout."""


class RemoteError(TransportError):
    """The remote handler failed (or the message type has no handler there)."""


class MessageTooLarge(TransportError):
    """The encoded message exceeds the maximum frame size."""


class Network(Protocol):
    """What a driver may do with the network.

    ``send`` is fire-and-forget and never blocks or raises for network trouble: the message is
    queued on a bounded per-peer queue and dropped (with a counter) when the queue is full or the
    peer is unreachable. ``request`` waits for the handler's return value.
    """

    local: Peer

    def on(self, message_type: type, handler: Handler) -> None: ...

    def send(self, address: str, message: Any) -> None: ...

    async def request(self, address: str, message: Any, *, timeout: float) -> Any: ...  # noqa: ASYNC109

    def stats(self) -> dict[str, int]: ...


def split_address(address: str) -> tuple[str, int]:
    """``"host:port"`` or ``"[v6]:port"`` -> ``(host, port)``; ValueError when malformed."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"address {address!r} is not host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"address {address!r}: port out of range")
    return host, port


def join_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
