"""The client's single multiplexed gateway connection, its TLS context and connect-error text.

:class:`_Connection` writes framed ``[correlation id, message]`` requests under a lock and a
reader task matches the answers to them; a broken connection fails every pending request with
:class:`~trio_zeebe.client_errors.ConnectionFailed` (or ``_NotSent`` when the request provably
never left). Failover between gateways and retries live in :class:`trio_zeebe.client.Client`.
"""

from __future__ import annotations

import itertools
import ssl
from typing import Any

import anyio
import anyio.abc

from . import codec
from .client_errors import ClientError, ConnectionFailed, DeadlineExceeded, _NotSent, error_from
from .engine.records import Rejection
from .gateway.messages import ErrorResponse
from .transport.frames import FrameDecoder, FrameTooLarge, frame


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

    def __init__(self, stream: anyio.abc.ByteStream, max_frame: int, name: str) -> None:
        self.stream = stream
        self.name = name
        self.decoder = FrameDecoder(max_frame)
        self.write_lock = anyio.Lock()
        self.pending: dict[int, anyio.Event] = {}
        self.results: dict[int, Any] = {}
        self.ids = itertools.count(1)
        self.broken: ClientError | None = None

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
            why = str(exc) or type(exc).__name__
            self._fail(ConnectionFailed(f"connection to gateway {self.name} lost: {why}"))
        except (FrameTooLarge, codec.DecodeError) as exc:
            self._fail(ConnectionFailed(f"gateway {self.name} sent a malformed frame: {exc}"))

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
                        # so the gateway cannot have decoded the request.
                        self.broken = ConnectionFailed(f"cannot send to gateway {self.name}: {exc}")
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


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed ({exc.verify_message}); pass the cluster CA"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if exc.__cause__ is not None:
        return _reason(exc.__cause__)  # anyio: "All connection attempts failed" from <cause>
    return str(exc) or type(exc).__name__
