"""The gateway listener: clients connect to any broker's gateway port.

One task per connection reads frames; each request runs in its own task (so a long-polling
request does not hold up the others on the same connection); a writer task sends the answers,
as many as are ready in one write.
What a request does is decided by the ``handler`` the broker passes in.

Bad input from a client (a frame above the limit, bytes that are not a ``[correlation id,
message]`` request) is counted in ``rejected`` and closes that connection only; ``failures``
counts connections that ended in an unexpected error (a bug), which bad input never causes.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from .. import codec
from ..transport.frames import FrameDecoder, FrameTooLarge, frame
from ..transport.tls_stream import TLSStream
from .messages import MAGIC, ErrorCode, ErrorResponse

log = logging.getLogger("trio_zeebe.gateway")

Handler = Callable[[Any], Awaitable[Any]]

MAGIC_TIMEOUT = 10.0
_CONNECTION_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
MAX_PENDING_PER_CONNECTION = 1024
MAX_QUEUED_ANSWER_BYTES = 4 * 1024 * 1024


class GatewayRequestError(Exception):
    """Raised by handlers to answer a request with an error of a given kind."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def gateway_ssl_context(chain: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    """Server-authenticated TLS; with ``client_ca`` clients must present a certificate too."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(chain), str(key))
    if client_ca is not None:
        ctx.load_verify_locations(str(client_ca))
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class GatewayServer:
    def __init__(
        self,
        host: str,
        port: int,
        handler: Handler,
        *,
        ssl_context: ssl.SSLContext | None,
        max_frame_bytes: int,
    ) -> None:
        self.host = host
        self.port = port
        self.handler = handler
        self.ssl_context = ssl_context
        self.max_frame_bytes = max_frame_bytes
        self.connections = 0
        self.rejected = 0
        self.failures = 0

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        self.port = listeners[0].socket.getsockname()[1]
        tls = "TLS" if self.ssl_context is not None else "plain TCP"
        log.info("gateway listening on %s:%d (%s)", self.host, self.port, tls)
        async with trio.open_nursery() as nursery:
            task_status.started(self.port)
            await trio.serve_listeners(self._serve, listeners, handler_nursery=nursery)

    async def _serve(self, stream: trio.SocketStream) -> None:
        peer = _peer_name(stream)
        conn: trio.abc.Stream = stream
        try:
            if self.ssl_context is not None:
                conn = TLSStream(stream, self.ssl_context, server_side=True)
            with trio.move_on_after(MAGIC_TIMEOUT) as magic_timeout:
                magic = await _receive_exactly(conn, len(MAGIC))
            if magic_timeout.cancelled_caught or magic != MAGIC:
                self.rejected += 1
                log.info("gateway: dropped %s: not a trio_zeebe client (bad preamble)", peer)
                return
            self.connections += 1
            await self._session(conn, peer)
        except _CONNECTION_ERRORS as exc:
            log.debug("gateway: connection from %s ended: %r", peer, exc)
        except FrameTooLarge as exc:
            self.rejected += 1
            log.warning("gateway: closing %s: %s", peer, exc)
        except Exception:  # one connection's bug must never take the broker down
            self.failures += 1
            log.exception("gateway: connection from %s failed", peer)
        finally:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(conn)

    async def _session(self, conn: trio.abc.Stream, peer: str) -> None:
        decoder = FrameDecoder(self.max_frame_bytes)
        limiter = trio.CapacityLimiter(MAX_PENDING_PER_CONNECTION)
        outbox = _Outbox()

        async def answer(corr: int, request: Any) -> None:
            async with limiter:
                response = await self._dispatch(request)
                outbox.put(
                    frame(codec.packb([corr, codec.to_wire(response)]), self.max_frame_bytes)
                )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(outbox.write_to, conn)
            async with trio.open_nursery() as requests:
                try:
                    await self._read_requests(conn, decoder, requests, answer, outbox)
                except _CONNECTION_ERRORS as exc:
                    log.debug("gateway: connection from %s ended: %r", peer, exc)
                    nursery.cancel_scope.cancel()
                except (FrameTooLarge, codec.DecodeError) as exc:
                    self.rejected += 1
                    log.warning("gateway: closing %s: malformed request: %s", peer, exc)
                    nursery.cancel_scope.cancel()
            # The client closed its side cleanly: pending answers finished; send them, close.
            outbox.close()

    async def _read_requests(
        self,
        conn: trio.abc.Stream,
        decoder: FrameDecoder,
        nursery: trio.Nursery,
        answer: Callable[[int, Any], Awaitable[None]],
        outbox: _Outbox,
    ) -> None:
        while True:
            # A client that does not read its answers gets no more requests read.
            await outbox.room()
            data = await conn.receive_some(65536)
            if not data:
                return
            decoder.feed(data)
            for payload in decoder.frames():
                nursery.start_soon(answer, *parse_request(payload))

    async def _dispatch(self, request: Any) -> Any:
        try:
            return await self.handler(request)
        except GatewayRequestError as exc:
            return ErrorResponse(exc.code, exc.message)
        except Exception as exc:
            log.exception("gateway: request %s failed", type(request).__name__)
            return ErrorResponse(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")


def parse_request(payload: bytes) -> tuple[int, Any]:
    """A request frame's payload -> ``(correlation id, message)``; raises only DecodeError."""
    body = codec.unpackb(payload)
    if not isinstance(body, list) or len(body) != 2:
        raise codec.DecodeError("request is not [correlation id, message]")
    corr, message = body
    if type(corr) is not int or not 0 <= corr <= codec.INT_MAX:
        raise codec.DecodeError("correlation id is not a non-negative integer")
    return corr, codec.from_wire(message)


class _Outbox:
    """Answers waiting for the connection: one writer sends all that queued meanwhile.

    Answers finish one by one as their partitions commit; sending each alone would cost a TLS
    record and a system call apiece.
    """

    def __init__(self) -> None:
        self._frames: list[bytes] = []
        self._bytes = 0
        self._wake = trio.Event()
        self._drained = trio.Event()
        self._closed = False
        self._broken = False

    def put(self, data: bytes) -> None:
        if self._broken:
            return
        self._frames.append(data)
        self._bytes += len(data)
        self._wake.set()

    def close(self) -> None:
        """Send what is queued, then stop."""
        self._closed = True
        self._wake.set()

    async def room(self) -> None:
        while self._bytes > MAX_QUEUED_ANSWER_BYTES and not self._broken:
            self._drained = trio.Event()
            await self._drained.wait()

    async def write_to(self, conn: trio.abc.Stream) -> None:
        while True:
            if not self._frames:
                if self._closed:
                    return
                await self._wake.wait()
                self._wake = trio.Event()
                continue
            data = b"".join(self._frames)
            self._frames.clear()
            self._bytes = 0
            try:
                await conn.send_all(data)
            except _CONNECTION_ERRORS:
                # The client is gone; the reader notices and ends the session.
                self._broken = True
                self._frames.clear()
                self._drained.set()
                return
            self._drained.set()


async def _receive_exactly(stream: trio.abc.Stream, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = await stream.receive_some(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def _peer_name(stream: trio.SocketStream) -> str:
    try:
        host, port = stream.socket.getpeername()[:2]
        return f"{host}:{port}"
    except OSError:
        return "?"
