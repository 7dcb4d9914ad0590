"""The `Network` interface every driver (Raft, SWIM, gateway forwarding) talks through.

Two implementations: :class:`trio_zeebe.transport.tcp.TcpTransport` (TCP + mutual TLS, production)
and :class:`trio_zeebe.testing.network.SimNetwork` endpoints (in memory, deterministic under
``MockClock``). Drivers only ever see this interface, so the same driver code runs in both.

Also the one grammar of peer addresses (:func:`split_address`, :func:`join_address`,
:func:`check_host`), used wherever an address enters: config, handshake, gossip, dialling.
"""

from __future__ import annotations

import ipaddress
import re
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


MAX_HOST_LENGTH = 253
"""A DNS name's limit (RFC 1035); IP literals are shorter."""

_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
_SCOPE = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
_PORT = re.compile(r"[0-9]{1,5}\Z")


def check_host(host: str) -> str:
    """``host`` if it is an IPv4 address, an IPv6 address (bare, as in config) or a DNS name
    (labels of 1-63 letters, digits and inner hyphens, at most 253 characters); else ValueError.
    """
    if type(host) is not str or not host:
        raise ValueError("host is empty")
    if len(host) > MAX_HOST_LENGTH:
        raise ValueError(f"host of {len(host)} characters (at most {MAX_HOST_LENGTH})")
    if ":" in host:
        address, sep, scope = host.partition("%")
        if sep and not _SCOPE.match(scope):
            raise ValueError(f"host {host[:60]!r}: bad IPv6 scope")
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            raise ValueError(f"host {host[:60]!r} is not an IPv6 address") from None
        return host
    labels = host.split(".")
    if labels[-1].isascii() and labels[-1].isdigit():
        # A numeric last label cannot be a DNS top-level domain: this must be an IPv4 address.
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"host {host[:60]!r} is not an IPv4 address") from None
        return host
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError(f"host {host[:60]!r} is not a valid DNS name")
    return host


def split_address(address: str, *, allow_port_zero: bool = False) -> tuple[str, int]:
    """``"host:port"`` or ``"[v6]:port"`` -> ``(host, port)``; ValueError when malformed.

    The host is checked by :func:`check_host` (an IPv6 address must be in brackets), the port
    must be 1..65535 (0, "any free port", only with ``allow_port_zero``, for binding).
    """
    if type(address) is not str:
        raise ValueError(f"address is not text but {type(address).__name__}")
    if len(address) > MAX_HOST_LENGTH + 8:
        raise ValueError(f"address of {len(address)} characters is too long")
    shown = repr(address[:80])
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not _PORT.match(port_text):
        raise ValueError(f"address {shown} is not host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if ":" not in host:
            raise ValueError(f"address {shown}: only an IPv6 address goes in brackets")
    elif "[" in host or "]" in host:
        raise ValueError(f"address {shown}: unbalanced brackets")
    elif ":" in host:
        raise ValueError(f"address {shown}: an IPv6 host must be in brackets ([::1]:26502)")
    try:
        check_host(host)
    except ValueError as exc:
        raise ValueError(f"address {shown}: {exc}") from None
    port = int(port_text)
    if not (0 if allow_port_zero else 1) <= port <= 65535:
        raise ValueError(f"address {shown}: port {port} out of range")
    return host, port


def join_address(host: str, port: int) -> str:
    """The ``host:port`` form (brackets around IPv6); ValueError for a bad host or port."""
    check_host(host)
    if type(port) is not int or not 0 <= port <= 65535:
        raise ValueError(f"port {port!r} out of range")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
