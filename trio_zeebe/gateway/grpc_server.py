"""The gRPC server: a listener whose connections each serve calls (:class:`GrpcServer`).

TLS when an ``ssl.SSLContext`` is given (it must offer ALPN h2: see
:func:`~.grpc_tls.grpc_ssl_context`), plaintext HTTP/2 with prior knowledge (h2c) without.
Which handler serves a call is the :class:`~.grpc_services.ServiceRegistry`'s business.

Started with ``port = await nursery.start(server.run)``; :meth:`GrpcServer.shutdown` stops
it gracefully (GOAWAY, calls in flight finish within the grace period, then are cancelled);
cancelling :meth:`GrpcServer.run` stops it at once.
"""

from __future__ import annotations

import logging
import socket
import ssl

import trio

from .grpc_config import GrpcServerConfig
from .grpc_services import ServiceRegistry
from .grpc_tls import ALPNRefused, GrpcTLSStream, check_alpn
from .h2connection import GrpcConnection

log = logging.getLogger("trio_zeebe.gateway.grpc")

_CONNECTION_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


def peer_name(stream: trio.SocketStream) -> str:
    """gRPC's way of naming a peer: ``ipv4:1.2.3.4:5`` or ``ipv6:[::1]:5``."""
    try:
        address = stream.socket.getpeername()
    except OSError:
        return "unknown"
    if stream.socket.family == socket.AF_INET6:
        return f"ipv6:[{address[0]}]:{address[1]}"
    return f"ipv4:{address[0]}:{address[1]}"


class GrpcServer:
    """Serves the services of ``registry`` over HTTP/2 on ``host:port``."""

    def __init__(
        self,
        registry: ServiceRegistry,
        *,
        host: str = "0.0.0.0",
        port: int = 26500,
        ssl_context: ssl.SSLContext | None = None,
        config: GrpcServerConfig | None = None,
    ) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.config = config or GrpcServerConfig()
        self._connections: set[GrpcConnection] = set()
        self._accepting = trio.CancelScope()
        self._shutting_down = False
        self._no_connections = trio.Event()
        self._no_connections.set()
        self._stopped = trio.Event()
        self.connections_served = 0

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self._connections)

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and serve until :meth:`shutdown` completes (or this is cancelled)."""
        listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        self.port = listeners[0].socket.getsockname()[1]
        kind = "TLS, ALPN h2" if self.ssl_context is not None else "h2c, plaintext"
        log.info("gRPC server listening on %s:%d (%s)", self.host, self.port, kind)
        try:
            async with trio.open_nursery() as nursery:
                task_status.started(self.port)
                with self._accepting:
                    if not self._shutting_down:
                        await trio.serve_listeners(self._serve, listeners, handler_nursery=nursery)
                for listener in listeners:
                    await listener.aclose()
        finally:
            self._stopped.set()

    async def shutdown(self, grace: float) -> None:
        """Stop accepting; let calls in flight finish for ``grace`` seconds, then cancel them.

        Every connection gets a GOAWAY naming its last stream, so clients retry new calls
        elsewhere (or after reconnecting) knowing those were never processed.
        """
        self._shutting_down = True
        self._accepting.cancel()
        for conn in list(self._connections):
            conn.begin_shutdown()
        with trio.move_on_after(grace):
            await self._no_connections.wait()
        for conn in list(self._connections):
            conn.abort()
        await self._stopped.wait()

    async def _serve(self, tcp: trio.SocketStream) -> None:
        peer = peer_name(tcp)
        if self._shutting_down:
            await tcp.aclose()
            return
        stream: trio.abc.Stream = tcp
        certificate = None
        try:
            tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            if self.ssl_context is not None:
                tls = GrpcTLSStream(tcp, self.ssl_context, server_side=True)
                stream = tls
                with trio.fail_after(self.config.handshake_timeout):
                    await tls.do_handshake()
                await check_alpn(tls)
                certificate = tls.getpeercert() or None
        except trio.TooSlowError:
            log.info("gRPC client %s did not complete the TLS handshake in time", peer)
            await _close(stream)
            return
        except ALPNRefused as exc:
            log.warning("refused connection from %s: %s", peer, exc)
            await _close(stream)
            return
        except _CONNECTION_ERRORS as exc:
            log.info("gRPC client %s: TLS handshake failed: %s", peer, exc.__cause__ or exc)
            await _close(stream)
            return
        conn = GrpcConnection(
            stream, self.registry, self.config, peer=peer, peer_certificate=certificate
        )
        self._connections.add(conn)
        if self._no_connections.is_set():
            self._no_connections = trio.Event()
        self.connections_served += 1
        try:
            if self.shutting_down:  # it began during the handshake
                conn.begin_shutdown()
            await conn.run()
        finally:
            self._connections.discard(conn)
            if not self._connections:
                self._no_connections.set()


async def _close(stream: trio.abc.Stream) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(1.0):
        try:
            await stream.aclose()
        except _CONNECTION_ERRORS:
            pass
