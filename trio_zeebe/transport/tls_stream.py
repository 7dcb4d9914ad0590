"""A lean TLS stream for peer connections: an ``ssl.SSLObject`` over memory BIOs on a socket.

Peer traffic is many small messages. ``trio.SSLStream`` is general (renegotiation, HTTPS-style
EOF handling, conflict detection between tasks) and costs about twice as much per message as
encrypting into a memory buffer and writing the socket directly, which is all this does. TLS
itself (certificates, verification, ciphers) is still the ``ssl`` module's, from the same
contexts (:mod:`.tls`).

Semantics the transport relies on, as trio.SSLStream's: one task sends while another receives;
``receive_some`` returns ``b""`` once the peer closed cleanly (close_notify); failures raise
``trio.BrokenResourceError`` with the ``ssl.SSLError``/``OSError`` as its cause; a stream whose
send was cancelled half-way is broken; ``aclose`` sends close_notify when it can.
"""

from __future__ import annotations

import os
import ssl

import trio

_READ_BYTES = 65536


def describe_failure(exc: BaseException) -> str:
    """A stream failure in one short line: the TLS or socket error behind a broken stream."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, trio.BrokenResourceError) and cause is not None:
        exc = cause
    text = str(exc) or type(exc).__name__
    return text[:300]


def is_tls_failure(exc: BaseException) -> bool:
    """Whether TLS (certificates, protocol) is behind ``exc``, as opposed to the network."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class TLSStream(trio.abc.Stream):
    """A client or server TLS stream over a connected socket (see the module docstring)."""

    def __init__(
        self,
        transport_stream: trio.SocketStream,
        context: ssl.SSLContext,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
    ) -> None:
        self.transport_stream = transport_stream
        self._fd = transport_stream.socket.fileno()
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming, self._outgoing, server_side=server_side, server_hostname=server_hostname
        )
        # Records leave in the order the SSLObject made them: one task writes the socket at a
        # time (a receive may have to send, e.g. a TLS 1.3 KeyUpdate answer).
        self._write_lock = trio.Lock()
        self._handshake_lock = trio.Lock()
        self._handshake_done = False
        self._broken: BaseException | None = None
        self._closed = False

    def getpeercert(self) -> dict[str, object] | None:
        return self._tls.getpeercert()  # type: ignore[return-value]

    # ---- trio.abc.Stream -------------------------------------------------------------

    async def do_handshake(self) -> None:
        self._check()
        async with self._handshake_lock:  # a sender and a receiver may both start it
            if self._handshake_done:
                return
            while True:
                try:
                    self._tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    await self._write_out()
                    await self._read_in()
                except ssl.SSLError as exc:
                    self._send_alert()
                    raise self._break(exc) from exc
            await self._write_out()
            self._handshake_done = True

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self._check()
        if not self._handshake_done:
            await self.do_handshake()
        try:
            self._tls.write(data)
        except ssl.SSLError as exc:
            raise self._break(exc) from exc
        await self._write_out()

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport_stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        self._check()
        if not self._handshake_done:
            await self.do_handshake()
        waited = False
        while True:
            try:
                data = self._tls.read(max_bytes or _READ_BYTES)
            except ssl.SSLWantReadError:
                if self._outgoing.pending:
                    await self._write_out()
                    waited = True
                waited |= await self._read_in()
                continue
            except ssl.SSLZeroReturnError:
                data = b""  # close_notify: a clean end of the stream
            except ssl.SSLError as exc:
                raise self._break(exc) from exc
            if self._outgoing.pending:
                await self._write_out()
            elif not waited:
                await trio.lowlevel.checkpoint()
            return data

    async def aclose(self) -> None:
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        try:
            if self._handshake_done and self._broken is None:
                try:
                    self._tls.unwrap()  # queues close_notify; the peer's answer is not awaited
                except ssl.SSLError:
                    pass
                await self._write_out(closing=True)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await self.transport_stream.aclose()

    # ---- internals --------------------------------------------------------------------

    def _check(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("this TLS stream was closed")
        if self._broken is not None:
            raise trio.BrokenResourceError("this TLS stream is broken") from self._broken

    def _break(self, cause: BaseException) -> trio.BrokenResourceError:
        if self._broken is None:
            self._broken = cause
        return trio.BrokenResourceError(str(cause) or type(cause).__name__)

    async def _write_out(self, *, closing: bool = False) -> None:
        async with self._write_lock:
            data = self._outgoing.read()
            if not data:
                return
            view = memoryview(data)
            try:
                while view:
                    try:
                        view = view[os.write(self._fd, view) :]
                    except BlockingIOError:
                        await trio.lowlevel.wait_writable(self._fd)
            except trio.Cancelled:
                if view and not closing:
                    self._break(trio.BrokenResourceError("send cancelled half-way"))
                raise
            except OSError as exc:
                raise self._break(exc) from exc

    async def _read_in(self) -> bool:
        """Feed what the socket has (waiting for some); True if it had to wait."""
        waited = False
        while True:
            try:
                data = os.read(self._fd, _READ_BYTES)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self._fd)
                waited = True
                continue
            except OSError as exc:
                raise self._break(exc) from exc
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()
            return waited

    def _send_alert(self) -> None:
        """Best effort, without waiting: the TLS alert, so the peer learns why."""
        try:
            os.write(self._fd, self._outgoing.read())
        except OSError:
            pass
