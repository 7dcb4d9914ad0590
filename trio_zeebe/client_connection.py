"""The client's single multiplexed gateway connection, its TLS context and connect-error text.

:class:`_Connection` writes framed ``[correlation id, message]`` requests under a lock and a
reader task matches the answers to them; a broken connection fails every pending request with
:class:`~trio_zeebe.client_errors.ConnectionFailed` (or ``_NotSent`` when the request provably
never left). Failover between gateways and retries live in :class:`trio_zeebe.client.Client`.
"""

from __future__ import annotations

import itertools
import socket
import ssl
from typing import Any

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSAttribute

from . import codec
from .client_errors import ClientError, ConnectionFailed, DeadlineExceeded, _NotSent, error_from
from .engine.records import Rejection
from .gateway.messages import ErrorResponse
from .tlsfiles import TlsFileError, check_ca, check_chain_and_key, load_error
from .transport.frames import FrameDecoder, FrameTooLarge, frame


def client_ssl_context(
    ca: str | None, cert: str | None = None, key: str | None = None
) -> ssl.SSLContext:
    """Verify the gateway against ``ca`` (or the system store); optional client certificate.

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
    return ctx


class _Connection:
    """One gateway connection: a writer lock, a reader task, pending requests by id."""

    def __init__(self, stream: anyio.abc.ByteStream, max_frame: int, name: str) -> None:
        self.stream = stream
        self.name = name
        self.decoder = FrameDecoder(max_frame)
        self.write_lock = anyio.Lock()
        self.pending: dict[int, anyio.Event] = {}
        self.results: dict[int, Any] = {}
        self.ids = itertools.count(1)
        self.broken: ClientError | None = None
        self.received = False  # any byte from the gateway yet
        # Asked now: once the peer has reset the connection, the socket may not say any more.
        self.remote = stream.extra(SocketAttribute.remote_address, None)
        self.plain = stream.extra(TLSAttribute.ssl_object, None) is None
        self.reader_done = anyio.Event()

    async def read_loop(self) -> None:
        try:
            await self._read()
        finally:
            self.reader_done.set()

    async def _read(self) -> None:
        try:
            while True:
                data = await self.stream.receive()
                self.received = True
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
            if await self._hung_up_for_tls(exc):
                # A TLS gateway cannot have decoded a plain request: nothing was delivered.
                self._fail(
                    _NotSent(
                        f"{self.name} expects TLS; pass the cluster CA (--ca, ca=...) instead of "
                        "connecting without TLS"
                    )
                )
                return
            why = str(exc) or type(exc).__name__
            self._fail(ConnectionFailed(f"connection to gateway {self.name} lost: {why}"))
        except (FrameTooLarge, codec.DecodeError) as exc:
            self._fail(ConnectionFailed(f"gateway {self.name} sent a malformed frame: {exc}"))

    async def _hung_up_for_tls(self, exc: BaseException) -> bool:
        """A plain connection closed before the gateway said anything: is it a TLS gateway?"""
        if self.received or not self.plain or not isinstance(exc, _CLOSED):
            return False
        if not isinstance(self.remote, tuple):
            return False
        return await speaks_tls(str(self.remote[0]), int(self.remote[1]))

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
            raise _NotSent(self.broken.message)
        corr = next(self.ids)
        done = anyio.Event()
        self.pending[corr] = done
        data = frame(codec.packb([corr, codec.to_wire(message)]))
        try:
            with anyio.fail_after(timeout):
                async with self.write_lock:
                    if self.broken is not None:
                        raise _NotSent(self.broken.message)
                    try:
                        await self.stream.send(data)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                        # A failed send never wrote the frame's last bytes (or its TLS record),
                        # so the gateway cannot have decoded the request. The reader sees the
                        # same break and may know more (a TLS gateway hanging up): let it say.
                        with anyio.move_on_after(PROBE_TIMEOUT + 0.5):
                            await self.reader_done.wait()
                        if self.broken is None:
                            self.broken = ConnectionFailed(
                                f"cannot send to gateway {self.name}: {exc}"
                            )
                        raise _NotSent(self.broken.message) from None
                await done.wait()
        except TimeoutError:
            raise DeadlineExceeded(f"no answer from gateway within {timeout:g}s") from None
        except BaseException:
            self.results.pop(corr, None)
            raise
        finally:
            self.pending.pop(corr, None)
        result = self.results.pop(corr)
        if isinstance(result, ClientError):
            raise result
        if isinstance(result, ErrorResponse | Rejection):
            raise error_from(result.code, result.message)
        return result


PROBE_TIMEOUT = 2.0
"""How long the client spends finding out whether a gateway that hung up on it speaks TLS."""
_CLOSED = (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError, BrokenPipeError)
_NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"}
)


def _reason(exc: BaseException, *, tls: bool | None = None) -> str:
    """Why connecting failed, in a few words; ``tls``: whether the client was speaking TLS."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed ({exc.verify_message}); pass the cluster CA"
    if tls and _cut_handshake(exc):
        # A plain-TCP gateway reads the TLS hello as a bad preamble and hangs up (or, another
        # server, answers with bytes that are not TLS).
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
