"""TLS for the gRPC gateway: the server context (ALPN ``h2``) and the ALPN check.

gRPC over TLS is HTTP/2 negotiated with ALPN; a client that negotiated no protocol, or
another one (an HTTP/1.1 client, a browser, curl without --http2), is not speaking gRPC: it
gets a one-line HTTP/1.1 answer saying so (what such a client can show) and the connection is
closed. The stream is the project's lean :class:`~trio_zeebe.transport.tls_stream.TLSStream`.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import trio

from ..transport.tls_stream import TLSStream

ALPN_H2 = "h2"

REFUSAL = (
    b"HTTP/1.1 426 Upgrade Required\r\n"
    b"Content-Type: text/plain\r\n"
    b"Connection: close\r\n"
    b"Content-Length: 66\r\n"
    b"\r\n"
    b"This is a gRPC endpoint: use HTTP/2, negotiated with TLS ALPN h2.\n"
)


def grpc_ssl_context(chain: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """Server-authenticated TLS offering ALPN h2; with ``client_ca`` clients need a certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(chain), str(key))
    if client_ca is not None:
        ctx.load_verify_locations(str(client_ca))
        ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols([ALPN_H2])
    return ctx


class GrpcTLSStream(TLSStream):
    """The transport's TLS stream, plus what gRPC needs to know about the session."""

    def selected_alpn_protocol(self) -> str | None:
        return self._tls.selected_alpn_protocol()


class ALPNRefused(Exception):
    def __init__(self, protocol: str | None) -> None:
        offered = f"ALPN {protocol!r}" if protocol else "no ALPN protocol"
        super().__init__(f"client negotiated {offered}, not h2: not a gRPC client")
        self.protocol = protocol


async def check_alpn(stream: GrpcTLSStream) -> None:
    """After the handshake: refuse (with a readable answer) a client that is not HTTP/2."""
    protocol = stream.selected_alpn_protocol()
    if protocol == ALPN_H2:
        return
    try:
        with trio.move_on_after(1.0):
            await stream.send_all(REFUSAL)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    raise ALPNRefused(protocol)
