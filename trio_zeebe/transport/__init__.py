"""Peer transport: the `Network` interface (trio-free; this package imports nothing else).

The TCP + mutual-TLS implementation is :class:`trio_zeebe.transport.tcp.TcpTransport`; import it
from there (it pulls in trio, which clients of this package's API need not load).
"""

from trio_zeebe.transport.api import (
    Handler,
    MessageTooLarge,
    Network,
    NotSent,
    Peer,
    PeerUnavailable,
    RemoteError,
    RequestTimeout,
    TransportError,
)

__all__ = [
    "Handler",
    "MessageTooLarge",
    "Network",
    "NotSent",
    "Peer",
    "PeerUnavailable",
    "RemoteError",
    "RequestTimeout",
    "TransportError",
]
