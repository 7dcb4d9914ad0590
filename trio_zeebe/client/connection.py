"""The client's gateway connection: one gRPC channel at a time, failover between gateways.

:class:`Connections` holds one HTTP/2 channel (:mod:`trio_zeebe.grpc.channel`) to one of the
client's gateway addresses and replaces it with one to the next address when it breaks. Every
call is retried on the next gateway when it certainly never reached one (the channel says so:
never written, refused, above a GOAWAY's last stream). After a call was sent and the
connection broke, only idempotent calls are retried; the others (creates: a job, an instance, a
deployment, raw records) raise :class:`~.errors.ConnectionFailed`: "maybe applied".

Connect errors are explained in a few words, including TLS on one side only: a plain client at
a TLS gateway ("expects TLS") and a TLS client at a plain one ("answered without TLS").
"""

from __future__ import annotations

import socket
import ssl

import anyio
import anyio.abc

from ..grpc.channel import Channel, ChannelError, open_channel
from ..grpc.status import GrpcError, StatusCode
from ..tlsfiles import TlsFileError, check_ca, check_chain_and_key, load_error
from .errors import (
    ClientError,
    ConnectionFailed,
    DeadlineExceeded,
    GatewayUnreachable,
    _NotSent,
    error_from,
)

PROBE_TIMEOUT = 2.0
"""How long the client spends finding out whether a gateway that hung up on it speaks TLS."""
KEEPALIVE = 45.0  # Zeebe's clients ping every 45 s; the gateway allows one per 30 s
CLOSE_TIMEOUT = 2.0


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (IPv6 hosts in brackets) -> (host, port); ValueError naming the problem."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"address {address!r} is not host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    number = int(port)
    if not 0 < number < 65536:
        raise ValueError(f"address {address!r}: port must be 1..65535")
    return host, number


def client_ssl_context(
    ca: str | None, cert: str | None = None, key: str | None = None
) -> ssl.SSLContext:
    """Verify the gateway against ``ca`` (or the system store), offer ALPN h2, and present a
    client certificate when given.

    A file that is missing, unreadable, not PEM or (the key) not matching the certificate
    raises :class:`~trio_zeebe.tlsfiles.TlsFileError` (a ValueError) naming the file.
    """
    if ca:
        check_ca(ca)
    if cert:
        check_chain_and_key(cert, key)
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if cert:
            ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:  # checked just above: the file changed meanwhile
        role = "ca" if ca and not cert else "chain"
        raise TlsFileError(role, cert or ca or "", load_error(exc)) from None
    ctx.set_alpn_protocols(["h2"])
    return ctx


class _Held:
    """A channel kept open by a task of the client's task group until released."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.channel: Channel | None = None
        self.release = anyio.Event()
        self.closed = anyio.Event()


class Connections:
    """The client's channel and its failover; calls go through :meth:`unary` and
    :meth:`stream`."""

    def __init__(
        self,
        addresses: list[str],
        ssl_context: ssl.SSLContext | None,
        *,
        connect_timeout: float,
        max_message_bytes: int,
    ) -> None:
        self.targets = [split_address(a) for a in addresses]
        self.ssl_context = ssl_context
        self.connect_timeout = connect_timeout
        self.max_message_bytes = max_message_bytes
        self.failovers = 0
        self._next = 0
        self._held: _Held | None = None
        self._lock = anyio.Lock()
        self._tg: anyio.abc.TaskGroup | None = None

    async def open(self) -> None:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()

    async def close(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            held.release.set()
            # Let the channel say goodbye (GOAWAY, flush) before its tasks are cancelled.
            with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                await held.closed.wait()
        if self._tg is not None:
            # The task group only holds channels: the caller's own exception must come out as
            # itself, not wrapped in an exception group, so none is passed in.
            tg, self._tg = self._tg, None
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)

    @property
    def current(self) -> Channel | None:
        return self._held.channel if self._held is not None else None

    async def _channel(self) -> tuple[Channel, str]:
        async with self._lock:
            held = self._held
            if held is not None and held.channel is not None and not held.channel.closed:
                return held.channel, held.name
            if held is not None:
                self.failovers += 1
                held.release.set()
                self._held = None
            errors: list[str] = []
            tls_hint = ""
            for _ in range(len(self.targets)):
                host, port = self.targets[self._next]
                self._next = (self._next + 1) % len(self.targets)
                try:
                    held = await self._connect(host, port)
                except ChannelError as exc:
                    reason = await self._reason(host, port, exc)
                    if reason.startswith(f"{host}:{port} expects TLS"):
                        tls_hint = reason
                    errors.append(reason)
                    continue
                self._held = held
                assert held.channel is not None
                return held.channel, held.name
            if len(errors) == 1 and tls_hint:
                raise GatewayUnreachable(tls_hint)
            raise GatewayUnreachable("cannot reach any gateway: " + "; ".join(errors))

    async def _connect(self, host: str, port: int) -> _Held:
        if self._tg is None:
            raise RuntimeError("use the client as 'async with Client(...)'")
        held = _Held(f"{host}:{port}")
        await self._tg.start(self._hold, held, host, port)
        return held

    async def _hold(
        self,
        held: _Held,
        host: str,
        port: int,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        started = False
        try:
            async with open_channel(
                host,
                port,
                ssl_context=self.ssl_context,
                connect_timeout=self.connect_timeout,
                keepalive_interval=KEEPALIVE,
                max_message_bytes=self.max_message_bytes,
            ) as channel:
                held.channel = channel
                task_status.started()
                started = True
                await held.release.wait()
        except Exception:  # closing a broken connection must never take the client down
            if not started:
                raise
        finally:
            held.closed.set()

    async def _reason(self, host: str, port: int, exc: ChannelError) -> str:
        tls = self.ssl_context is not None
        cause = exc.__cause__
        if not tls and cause is None and await speaks_tls(host, port):
            # The TLS gateway read our HTTP/2 preface as a broken handshake and hung up.
            return (
                f"{host}:{port} expects TLS; pass the cluster CA (--ca, ca=...) instead of "
                "connecting without TLS"
            )
        if cause is not None:
            return f"{host}:{port}: {_reason(cause, tls=tls)}"
        return f"{host}:{port}: {exc.message}"

    # ---- calls ----------------------------------------------------------------------

    async def unary(
        self,
        path: str,
        request: bytes,
        *,
        timeout: float,  # noqa: ASYNC109
        idempotent: bool,
    ) -> bytes:
        """One call, failing over between gateways; the response bytes or a ClientError.

        Once a copy of the request was sent, a later failure to reach a gateway is
        :class:`ConnectionFailed` ("maybe applied"), never :class:`GatewayUnreachable`."""
        deadline = anyio.current_time() + timeout
        attempts = _Attempts(len(self.targets) + 1)
        while True:
            channel, name = await self._next_channel(deadline, timeout, attempts)
            left = deadline - anyio.current_time()
            try:
                return await channel.unary(path, request, timeout=max(left, 0.001))
            except ChannelError as exc:
                self._retry_or_raise(exc, name, path, idempotent, attempts)
            except GrpcError as exc:
                raise _status_error(exc, timeout) from None

    async def stream_all(
        self,
        path: str,
        request: bytes,
        *,
        timeout: float,  # noqa: ASYNC109
    ) -> list[bytes]:
        """A server-streaming call read to its end, failing over like an idempotent unary call
        while nothing has arrived; once messages came, a broken connection ends the stream
        with what arrived (those were delivered)."""
        deadline = anyio.current_time() + timeout
        attempts = _Attempts(len(self.targets) + 1)
        while True:
            channel, name = await self._next_channel(deadline, timeout, attempts)
            left = max(deadline - anyio.current_time(), 0.001)
            messages: list[bytes] = []
            try:
                async with channel.server_stream(path, request, timeout=left) as stream:
                    async for message in stream:
                        messages.append(message)
                return messages
            except ChannelError as exc:
                if messages:
                    return messages
                self._retry_or_raise(exc, name, path, True, attempts)
            except GrpcError as exc:
                if messages and exc.code == StatusCode.UNAVAILABLE:
                    return messages
                raise _status_error(exc, timeout) from None

    async def _ready_channel(
        self,
        deadline: float,
        timeout: float,  # noqa: ASYNC109 - for the message
    ) -> tuple[Channel, str]:
        left = deadline - anyio.current_time()
        if left <= 0:
            raise DeadlineExceeded(f"no answer from any gateway within {timeout:g}s")
        held = self._held
        if held is not None and held.channel is not None and not held.channel.closed:
            # The usual case, without the lock and a cancel scope (a call's fixed costs).
            return held.channel, held.name
        try:
            with anyio.fail_after(left):
                return await self._channel()
        except TimeoutError:
            raise DeadlineExceeded(f"no gateway connection within {timeout:g}s") from None

    async def _next_channel(
        self,
        deadline: float,
        timeout: float,  # noqa: ASYNC109 - for the message
        attempts: _Attempts,
    ) -> tuple[Channel, str]:
        """The channel for the next attempt of a call."""
        attempts.left -= 1
        try:
            return await self._ready_channel(deadline, timeout)
        except GatewayUnreachable as exc:
            raise attempts.maybe_applied(exc) from None

    def _retry_or_raise(
        self, exc: ChannelError, name: str, path: str, idempotent: bool, attempts: _Attempts
    ) -> None:
        """Return to retry the call on the next gateway; raise when that is not safe/left."""
        if not exc.sent:
            if attempts.left <= 0:
                raise attempts.maybe_applied(_NotSent(f"{name}: {exc.message}")) from None
            return
        attempts.sent = exc
        if not idempotent:
            rpc = path.rpartition("/")[2]
            raise ConnectionFailed(
                f"connection to gateway {name} lost: {exc.message}; the {rpc} request was sent "
                "and may or may not have been applied (not retried: it is not idempotent)"
            ) from None
        if attempts.left <= 0:
            raise ConnectionFailed(f"connection to gateway {name} lost: {exc.message}") from None


class _Attempts:
    """The attempts of one call: how many are left, and the failure of the last one that
    certainly reached a gateway (after it, "not delivered" can no longer be promised)."""

    def __init__(self, left: int) -> None:
        self.left = left
        self.sent: ChannelError | None = None

    def maybe_applied(self, exc: GatewayUnreachable) -> ClientError:
        """``exc`` as it is when no copy of the request was sent, else ConnectionFailed."""
        if self.sent is None:
            return exc
        return ConnectionFailed(
            f"{exc.message}; an earlier copy of the request was sent ({self.sent.message}) "
            "and may or may not have been applied"
        )


def _status_error(exc: GrpcError, timeout: float) -> ClientError:
    if exc.code == StatusCode.DEADLINE_EXCEEDED and exc.message == "Deadline exceeded":
        # The channel's own deadline (the client's request timeout), not the gateway's status.
        error = DeadlineExceeded(f"no answer from the gateway within {timeout:g}s")
        error.status = exc
        return error
    return error_from(exc)


_CLOSED = (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError, BrokenPipeError)
_NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"}
)


def _reason(exc: BaseException, *, tls: bool | None = None) -> str:
    """Why connecting failed, in a few words; ``tls``: whether the client was speaking TLS."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed ({exc.verify_message}); pass the cluster CA"
    if tls and _cut_handshake(exc):
        # A plain-TCP gateway reads the TLS hello as a bad HTTP/2 preface and hangs up (or,
        # another server, answers with bytes that are not TLS).
        return (
            "answered without TLS (it ended the TLS handshake); connect without TLS "
            "(--insecure, insecure=True) or enable TLS on the gateway"
        )
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror})"
    if exc.__cause__ is not None:
        return _reason(exc.__cause__, tls=tls)  # anyio: "All connection attempts failed" from <x>
    return str(exc) or type(exc).__name__


def _cut_handshake(exc: BaseException) -> bool:
    while True:
        if isinstance(exc, (*_CLOSED, ssl.SSLEOFError, ssl.SSLSyscallError)):
            return True
        if isinstance(exc, ssl.SSLError) and exc.reason in _NOT_TLS_REASONS:
            return True
        if exc.__cause__ is None:
            return False
        exc = exc.__cause__


async def speaks_tls(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:  # noqa: ASYNC109
    """Whether ``host:port`` completes a TLS handshake (its certificate is not checked: this
    only tells a TLS gateway from a plain one)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with anyio.move_on_after(timeout):
        try:
            stream = await anyio.connect_tcp(
                host, port, ssl_context=ctx, tls_standard_compatible=False
            )
        except (OSError, ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream):
            return False
        await anyio.aclose_forcefully(stream)
        return True
    return False


__all__ = [
    "Connections",
    "client_ssl_context",
    "speaks_tls",
    "split_address",
]
