"""Peer transport: the `Network` interface and its TCP + mutual-TLS implementation."""

from trio_zeebe.transport.api import (
    Handler,
    MessageTooLarge,
    Network,
    Peer,
    PeerUnavailable,
    RemoteError,
    RequestTimeout,
    TransportError,
)
from trio_zeebe.transport.tcp import TcpTransport

__all__ = [
    "Handler",
    "MessageTooLarge",
    "Network",
    "Peer",
    "PeerUnavailable",
    "RemoteError",
    "RequestTimeout",
    "TcpTransport",
    "TransportError",
]
