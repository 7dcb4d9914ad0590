"""The trio_zeebe client, built on anyio so it runs under trio and under asyncio.

    async with Client(["127.0.0.1:26500"], ca="certs/ca.pem") as client:
        topology = await client.topology()

A client talks to any broker's gateway; given several addresses it fails over to the next one
when a connection breaks. Requests are multiplexed over one connection with correlation ids.
"""

from __future__ import annotations

import itertools
import ssl
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.abc

from . import codec
from .gateway.messages import MAGIC, ErrorCode, ErrorResponse, Topology, TopologyRequest
from .transport.api import split_address
from .transport.frames import FrameDecoder, FrameTooLarge, frame

DEFAULT_MAX_FRAME = 4 * 1024 * 1024


class ClientError(Exception):
    """Base class of every error the client raises."""

    code: str = ErrorCode.INTERNAL


class ConnectionFailed(ClientError):
    code = ErrorCode.UNAVAILABLE


class DeadlineExceeded(ClientError):
    code = ErrorCode.DEADLINE_EXCEEDED


class RequestError(ClientError):
    """The gateway answered with an error; ``code`` says which kind."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def client_ssl_context(
    ca: str | None, cert: str | None = None, key: str | None = None
) -> ssl.SSLContext:
    """Verify the gateway against ``ca`` (or the system store); optional client certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


class _Connection:
    """One gateway connection: a writer lock, a reader task, pending requests by id."""

    def __init__(self, stream: anyio.abc.ByteStream, max_frame: int) -> None:
        self.stream = stream
        self.decoder = FrameDecoder(max_frame)
        self.write_lock = anyio.Lock()
        self.pending: dict[int, anyio.Event] = {}
        self.results: dict[int, Any] = {}
        self.ids = itertools.count(1)
        self.broken: BaseException | None = None

    async def read_loop(self) -> None:
        try:
            while True:
                data = await self.stream.receive()
                self.decoder.feed(data)
                for payload in self.decoder.frames():
                    corr, message = self._parse(payload)
                    if corr in self.pending:
                        self.results[corr] = message
                        self.pending.pop(corr).set()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError,
                ssl.SSLError) as exc:
            self._fail(ConnectionFailed(f"connection to gateway lost: {exc or type(exc).__name__}"))
        except (FrameTooLarge, codec.DecodeError) as exc:
            self._fail(ConnectionFailed(f"gateway sent a malformed frame: {exc}"))

    @staticmethod
    def _parse(frame: bytes) -> tuple[int, Any]:
        body = codec.unpackb(frame)
        if not isinstance(body, list) or len(body) != 2 or not isinstance(body[0], int):
            raise codec.DecodeError("response is not [correlation id, message]")
        return body[0], codec.from_wire(body[1])

    def _fail(self, exc: ClientError) -> None:
        self.broken = exc
        for corr, event in self.pending.items():
            self.results[corr] = exc
            event.set()
        self.pending.clear()

    async def request(self, message: Any, *, timeout: float | None = None) -> Any:
        """Send one gateway request; on a broken connection retry once (on the next gateway)."""
        timeout = self.request_timeout if timeout is None else timeout
        try:
            conn = await self._connection()
            return await conn.request(message, timeout)
        except ConnectionFailed:
            conn = await self._connection()
            return await conn.request(message, timeout)

    async def topology(self) -> Topology:
        result = await self.request(TopologyRequest())
        if not isinstance(result, Topology):
            raise RequestError(ErrorCode.INTERNAL, f"unexpected answer {type(result).__name__}")
        return result


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed ({exc.verify_message}); pass the cluster CA"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__
