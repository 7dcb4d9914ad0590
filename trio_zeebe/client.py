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
from .gateway.messages import (
    MAGIC,
    AppendRequest,
    AppendResponse,
    ErrorCode,
    ErrorResponse,
    RebalanceRequest,
    RebalanceResponse,
    Topology,
    TopologyRequest,
)
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
        except (
            anyio.EndOfStream,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            OSError,
            ssl.SSLError,
        ) as exc:
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

    async def request(self, message: Any, timeout: float) -> Any:  # noqa: ASYNC109
        if self.broken is not None:
            raise self.broken
        corr = next(self.ids)
        done = anyio.Event()
        self.pending[corr] = done
        data = frame(codec.packb([corr, codec.to_wire(message)]))
        try:
            with anyio.fail_after(timeout):
                async with self.write_lock:
                    await self.stream.send(data)
                await done.wait()
        except TimeoutError:
            self.pending.pop(corr, None)
            raise DeadlineExceeded(f"no answer within {timeout:g}s") from None
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self.pending.pop(corr, None)
            raise ConnectionFailed(f"cannot send to gateway: {exc}") from None
        result = self.results.pop(corr)
        if isinstance(result, ClientError):
            raise result
        if isinstance(result, ErrorResponse):
            raise RequestError(result.code, result.message)
        return result


class Client:
    """A gateway client. Use as ``async with Client(...) as client``."""

    def __init__(
        self,
        addresses: Sequence[str] | str = ("127.0.0.1:26500",),
        *,
        ca: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        insecure: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        request_timeout: float = 15.0,
        connect_timeout: float = 5.0,
        max_frame_bytes: int = DEFAULT_MAX_FRAME,
    ) -> None:
        self.addresses = [addresses] if isinstance(addresses, str) else list(addresses)
        if not self.addresses:
            raise ValueError("no gateway address given")
        self._targets = [split_address(a) for a in self.addresses]
        if insecure:
            self._ssl: ssl.SSLContext | None = None
        else:
            self._ssl = ssl_context or client_ssl_context(ca, cert, key)
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.max_frame_bytes = max_frame_bytes
        self._next_target = 0
        self._conn: _Connection | None = None
        self._connect_lock = anyio.Lock()
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> Self:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        if self._conn is not None:
            await self._close(self._conn)
        # The task group only hosts connection readers: the caller's own exception must come
        # out as itself, not wrapped in an exception group.
        await self._tg.__aexit__(None, None, None)
        return None

    async def _close(self, conn: _Connection) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await conn.stream.aclose()
            except Exception:  # closing a dead TLS stream can fail in many ways; it is closed
                pass
        if self._conn is conn:
            self._conn = None

    async def _connection(self) -> _Connection:
        async with self._connect_lock:
            if self._conn is not None and self._conn.broken is None:
                return self._conn
            if self._conn is not None:
                await self._close(self._conn)
            errors = []
            for _ in range(len(self._targets)):
                host, port = self._targets[self._next_target]
                self._next_target = (self._next_target + 1) % len(self._targets)
                try:
                    self._conn = await self._open(host, port)
                    return self._conn
                except (OSError, ssl.SSLError, TimeoutError, anyio.BrokenResourceError) as exc:
                    errors.append(f"{host}:{port}: {_reason(exc)}")
            raise ConnectionFailed("cannot reach any gateway: " + "; ".join(errors))

    async def _open(self, host: str, port: int) -> _Connection:
        assert self._tg is not None, "use the client as 'async with Client(...)'"
        with anyio.fail_after(self.connect_timeout):
            stream: anyio.abc.ByteStream
            if self._ssl is None:
                stream = await anyio.connect_tcp(host, port)
            else:
                stream = await anyio.connect_tcp(
                    host,
                    port,
                    ssl_context=self._ssl,
                    tls_standard_compatible=False,
                    tls_hostname=host,
                )
            try:
                await stream.send(MAGIC)
            except BaseException:
                await stream.aclose()
                raise
        conn = _Connection(stream, self.max_frame_bytes)
        self._tg.start_soon(conn.read_loop)
        return conn

    async def request(self, message: Any, *, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """Send one gateway request; on a broken connection retry once (on the next gateway)."""
        timeout = self.request_timeout if timeout is None else timeout
        try:
            conn = await self._connection()
            return await conn.request(message, timeout)
        except ConnectionFailed:
            conn = await self._connection()
            return await conn.request(message, timeout)

    async def append(self, partition_id: int, records: Sequence[bytes]) -> list[tuple[int, int]]:
        """Append raw records to a partition (at its leader's gateway); returns their positions
        (entry index, offset) once committed."""
        result = await self.request(AppendRequest(partition_id, tuple(records)))
        if not isinstance(result, AppendResponse):
            raise RequestError(ErrorCode.INTERNAL, f"unexpected answer {type(result).__name__}")
        return list(result.positions)

    async def rebalance(self) -> RebalanceResponse:
        """Ask leaders that are not their partition's primary to hand over to the primary."""
        result = await self.request(RebalanceRequest())
        if not isinstance(result, RebalanceResponse):
            raise RequestError(ErrorCode.INTERNAL, f"unexpected answer {type(result).__name__}")
        return result

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
