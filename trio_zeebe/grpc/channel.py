"""A gRPC client channel on anyio (trio or asyncio): one HTTP/2 connection, many calls.

``async with open_channel("127.0.0.1", 26500) as channel:`` connects (TLS with ALPN h2 when
given an ``ssl.SSLContext``, see :func:`client_ssl_context`; plaintext h2c without) and owns
a reader and a writer task until the block ends. Calls are multiplexed on the connection:

- ``await channel.unary(path, request_bytes, timeout=...)`` returns the response bytes;
- ``async with channel.server_stream(path, request_bytes, timeout=...) as stream:`` then
  ``async for message in stream`` yields each response message's bytes.

A non-OK status raises :class:`~.status.GrpcError`. A failing connection raises
:class:`ChannelError` (a GrpcError with code UNAVAILABLE) whose :attr:`ChannelError.sent`
says whether the request may have reached the server: False only when it certainly did not
(never written, refused with REFUSED_STREAM, or above a GOAWAY's last stream id), so the
caller may retry it elsewhere without risking doing it twice. Cancelling the caller, or the
timeout passing, resets the call's stream (RST_STREAM CANCEL); the server stops its handler.

Flow control is real both ways: a server-streaming call's window is handed back as the
caller consumes messages, so a slow consumer slows the server rather than filling memory.
"""

from __future__ import annotations

import collections
import heapq
import logging
import math
import ssl
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import anyio.streams.tls
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from .framing import (
    MAX_MESSAGE_BYTES,
    CompressedMessage,
    MessageDecoder,
    MessageTooLarge,
    encode_message,
)
from .h2frames import FrameTooLarge, GoAway, h2_connection
from .metadata import (
    MetadataValue,
    b64decode_lenient,
    decode_grpc_message,
    encode_metadata,
    format_timeout,
)
from .status import GrpcError, StatusCode, status_for_http

log = logging.getLogger("trio_zeebe.grpc.channel")

USER_AGENT = b"trio-zeebe-grpc/0.1"
_READ_BYTES = 65536
_STREAM_WINDOW = 1024 * 1024
_CONNECTION_WINDOW = 16 * 1024 * 1024
_HIGH_WATER = 512 * 1024
_UNCONSUMED_LIMIT = 1024 * 1024  # received-but-unread bytes before the window stays closed

_RESET_STATUS: dict[int, StatusCode] = {
    h2.errors.ErrorCodes.CANCEL: StatusCode.CANCELLED,
    h2.errors.ErrorCodes.ENHANCE_YOUR_CALM: StatusCode.RESOURCE_EXHAUSTED,
    h2.errors.ErrorCodes.INADEQUATE_SECURITY: StatusCode.PERMISSION_DENIED,
}


class ChannelError(GrpcError):
    """The connection could not carry the call (code UNAVAILABLE).

    ``sent`` is False when the request certainly never reached a handler (safe to retry on
    another gateway), True when it may have (the outcome is unknown).
    """

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(StatusCode.UNAVAILABLE, message)
        self.sent = sent


def client_ssl_context(
    ca: Path | None = None, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    """TLS for a channel: verify the server against ``ca`` (system roots if None), offer ALPN
    h2, and present ``cert``/``key`` when the server wants client certificates."""
    ctx = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key) if key is not None else None)
    ctx.set_alpn_protocols(["h2"])
    return ctx


@asynccontextmanager
async def open_channel(
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    connect_timeout: float = 10.0,
    keepalive_interval: float | None = None,
    keepalive_timeout: float = 20.0,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
) -> AsyncIterator[Channel]:
    """Connect and yield a :class:`Channel`; the connection closes when the block ends.

    ``keepalive_interval`` sends an HTTP/2 PING that often while calls are open (gRPC's
    default without calls), and drops the connection when one is not answered within
    ``keepalive_timeout``; Zeebe's gateway allows one per 30 s.
    """
    try:
        with anyio.fail_after(connect_timeout):
            if ssl_context is not None:
                stream: anyio.abc.ByteStream = await anyio.connect_tcp(
                    host,
                    port,
                    ssl_context=ssl_context,
                    tls_hostname=server_hostname or host,
                    tls_standard_compatible=False,
                )
                alpn = stream.extra(anyio.streams.tls.TLSAttribute.alpn_protocol, None)
                if alpn != "h2":
                    await anyio.aclose_forcefully(stream)
                    raise ChannelError(
                        f"{host}:{port} did not negotiate HTTP/2 (ALPN {alpn!r}): not a gRPC "
                        f"server?",
                        sent=False,
                    )
            else:
                stream = await anyio.connect_tcp(host, port)
    except TimeoutError as exc:
        raise ChannelError(f"connecting to {host}:{port} timed out", sent=False) from exc
    except (OSError, ssl.SSLError, anyio.BrokenResourceError) as exc:
        raise ChannelError(f"cannot connect to {host}:{port}: {exc}", sent=False) from exc
    authority = f"{host}:{port}".encode()
    scheme = b"https" if ssl_context is not None else b"http"
    channel = Channel(stream, authority, scheme, max_message_bytes)
    # The caller's exception leaves the task group unwrapped (a task group would raise it as
    # an ExceptionGroup): it is held while the connection's own tasks are stopped.
    failure: BaseException | None = None
    try:
        async with anyio.create_task_group() as tg:
            channel._start()
            tg.start_soon(channel._reader)
            tg.start_soon(channel._writer)
            tg.start_soon(channel._watch_deadlines)
            if keepalive_interval is not None:
                tg.start_soon(channel._keepalive, keepalive_interval, keepalive_timeout)
            try:
                await channel._wait_for_settings(connect_timeout, f"{host}:{port}")
                yield channel
            except BaseException as exc:
                failure = exc
            finally:
                await channel._close_gracefully()
                tg.cancel_scope.cancel()
    finally:
        await anyio.aclose_forcefully(stream)
    if failure is not None:
        raise failure


class _Call:
    __slots__ = (
        "changed",
        "decoder",
        "ended",
        "error",
        "headers",
        "id",
        "messages",
        "queued_at",
        "status",
        "unacked",
        "unconsumed",
        "window",
    )

    def __init__(self, stream_id: int, max_size: int) -> None:
        self.id = stream_id
        self.decoder = MessageDecoder(max_size)
        self.messages: collections.deque[bytes] = collections.deque()
        # Made only when a task waits for them: most calls never wait for a window, and
        # an event costs more than the rest of a small call's bookkeeping.
        self.changed: anyio.Event | None = None
        self.window: anyio.Event | None = None
        self.headers: dict[bytes, bytes] | None = None
        self.status: GrpcError | None = None  # set with the trailers; code OK included
        self.error: GrpcError | None = None  # a failure of the call (reset, connection, ...)
        self.ended = False  # nothing more will arrive
        self.queued_at = math.inf  # output offset after its request headers
        self.unacked = 0  # received bytes not yet handed back to the flow-control window
        self.unconsumed = 0  # bytes of complete messages the caller has not taken yet

    def notify(self) -> None:
        if self.changed is not None:
            self.changed.set()
            self.changed = None

    async def wait_changed(self) -> None:
        """Until the next :meth:`notify` (the caller checks what it waits for again)."""
        if self.changed is None:
            self.changed = anyio.Event()
        await self.changed.wait()

    def open_window(self) -> None:
        if self.window is not None:
            self.window.set()


class Channel:
    """Calls over one HTTP/2 connection; made by :func:`open_channel`."""

    def __init__(
        self, stream: anyio.abc.ByteStream, authority: bytes, scheme: bytes, max_size: int
    ) -> None:
        self._stream = stream
        self._authority = authority
        self._scheme = scheme
        self._max_size = max_size
        self._h2, self._frames = h2_connection(client_side=True)
        self._calls: dict[int, _Call] = {}
        self._out = bytearray()
        self._queued_total = 0  # bytes ever queued for the socket
        self._attempted_total = 0  # of which the writer has started to write
        self._out_ready = anyio.Event()
        self._out_space = anyio.Event()
        self._closed: ChannelError | None = None
        self._goaway: GoAway | None = None
        self._ping_acked = anyio.Event()
        self._slot_freed: anyio.Event | None = None  # made when a call waits for a slot
        # Unary calls' deadlines, soonest first; ended calls stay until they come up (or the
        # heap is compacted). One task watches them all: a cancel scope per call would cost
        # more than the rest of a small call.
        self._deadlines: list[tuple[float, int, _Call]] = []
        self._watch_scope: anyio.CancelScope | None = None
        self._settings_seen = anyio.Event()
        self._request_head = [(b":method", b"POST"), (b":scheme", scheme)]
        self._request_tail = [
            (b":authority", authority),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
            (b"user-agent", USER_AGENT),
        ]

    @property
    def closed(self) -> bool:
        """True once the connection cannot take new calls (failed, closed, or GOAWAY)."""
        return self._closed is not None or self._goaway is not None

    # ---- calls ----------------------------------------------------------------------

    async def unary(
        self,
        path: str,
        request: bytes,
        *,
        # gRPC's own deadline (sent as grpc-timeout), not only a local cancel scope
        timeout: float | None = None,  # noqa: ASYNC109
        metadata: Iterable[tuple[str, MetadataValue]] = (),
    ) -> bytes:
        """One request, one response: the response message's bytes, or GrpcError."""
        deadline = _deadline(timeout)
        call = None
        try:
            call = await self._start_call(path, request, timeout, metadata, deadline)
            if deadline != math.inf:
                self._watch(call, deadline)
            while not call.ended:
                await call.wait_changed()
            self._raise_for(call)
            if len(call.messages) != 1:
                raise GrpcError(
                    StatusCode.INTERNAL,
                    f"{path}: expected one response message, got {len(call.messages)}",
                )
            return call.messages.popleft()
        finally:
            if call is not None:
                self._finish(call)

    def server_stream(
        self,
        path: str,
        request: bytes,
        *,
        timeout: float | None = None,
        metadata: Iterable[tuple[str, MetadataValue]] = (),
    ) -> ServerStream:
        """A server-streaming call: ``async with`` it, then iterate over the messages."""
        return ServerStream(self, path, request, timeout, tuple(metadata))

    async def _start_call(
        self,
        path: str,
        request: bytes,
        grpc_timeout: float | None,
        metadata: Iterable[tuple[str, MetadataValue]],
        deadline: float,
    ) -> _Call:
        """The call, its request queued; DEADLINE_EXCEEDED if it has to wait (for a stream
        slot, window or output space) until ``deadline``."""
        if self._closed is not None:
            raise ChannelError(f"the connection is closed: {self._closed.message}", sent=False)
        if self._goaway is not None:
            raise ChannelError("the server is closing this connection (GOAWAY)", sent=False)
        if len(request) > self._max_size:
            raise GrpcError(
                StatusCode.RESOURCE_EXHAUSTED,
                f"request of {len(request)} bytes is larger than the maximum {self._max_size}",
            )
        headers = [*self._request_head, (b":path", path.encode()), *self._request_tail]
        if grpc_timeout is not None:
            headers.append((b"grpc-timeout", format_timeout(grpc_timeout)))
        if metadata:
            headers += encode_metadata(metadata)
        while True:
            try:
                stream_id = self._h2.get_next_available_stream_id()
                # h2 counts the open streams against the server's limit here (walking them
                # all: counting them first as well would double that).
                self._h2.send_headers(stream_id, headers)
                break
            except h2.exceptions.TooManyStreamsError:
                pass
            except h2.exceptions.H2Error as exc:
                raise ChannelError(f"cannot start a call: {exc}", sent=False) from exc
            # The server's SETTINGS_MAX_CONCURRENT_STREAMS: wait for a call to end, as gRPC does.
            if self._slot_freed is None:
                self._slot_freed = anyio.Event()
            await _wait(self._slot_freed, deadline)
            if self._closed is not None or self._goaway is not None:
                raise ChannelError("the connection closed while the call waited", sent=False)
        call = _Call(stream_id, self._max_size)
        self._calls[stream_id] = call
        self._flush()
        call.queued_at = self._queued_total
        try:
            await self._send_body(call, encode_message(request), deadline)
        except BaseException:
            self._finish(call)
            raise
        return call

    async def _send_body(self, call: _Call, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while True:
            if call.ended:
                return  # answered (or failed) before the request was out: nothing more to send
            size = min(
                len(view),
                self._h2.local_flow_control_window(call.id),
                self._h2.max_outbound_frame_size,
            )
            if size <= 0 and view:
                call.window = anyio.Event()
                await _wait(call.window, deadline)
                call.window = None
                continue
            last = size == len(view)
            try:
                self._h2.send_data(call.id, bytes(view[:size]), end_stream=last)
            except h2.exceptions.H2Error:
                return  # the stream closed meanwhile; its events tell the outcome
            view = view[size:]
            self._flush()
            if last:
                return
            while len(self._out) > _HIGH_WATER and self._closed is None:
                await _wait(self._out_space, deadline)

    def _watch(self, call: _Call, deadline: float) -> None:
        """End ``call`` with DEADLINE_EXCEEDED (and reset its stream) at ``deadline``."""
        heapq.heappush(self._deadlines, (deadline, call.id, call))
        if len(self._deadlines) > 2 * len(self._calls) + 64:
            self._deadlines = [entry for entry in self._deadlines if not entry[2].ended]
            heapq.heapify(self._deadlines)
        scope = self._watch_scope
        if scope is not None and deadline < scope.deadline:
            scope.deadline = deadline

    async def _watch_deadlines(self) -> None:
        while True:
            deadline = self._deadlines[0][0] if self._deadlines else math.inf
            with anyio.CancelScope(deadline=deadline) as self._watch_scope:
                await anyio.sleep_forever()
            self._watch_scope = None
            now = anyio.current_time()
            while self._deadlines and self._deadlines[0][0] <= now:
                call = heapq.heappop(self._deadlines)[2]
                if not call.ended:
                    call.error = GrpcError(StatusCode.DEADLINE_EXCEEDED, "Deadline exceeded")
                    self._finish(call)  # resets the stream: the server stops its handler
                    call.notify()

    def _raise_for(self, call: _Call) -> None:
        if call.error is not None:
            raise call.error
        status = call.status
        if status is None:
            raise ChannelError("the call ended without a status", sent=True)
        if status.code != StatusCode.OK:
            raise status

    def _finish(self, call: _Call) -> None:
        """The caller is done with the call: reset it if the server is not."""
        if not call.ended and self._closed is None:
            try:
                self._h2.reset_stream(call.id, h2.errors.ErrorCodes.CANCEL)
            except h2.exceptions.H2Error:
                pass
            self._flush()
        call.ended = True
        self._calls.pop(call.id, None)
        self._free_slot()

    def _consumed(self, call: _Call, message: bytes) -> None:
        call.unconsumed -= len(message)
        self._maybe_ack(call)

    def _maybe_ack(self, call: _Call) -> None:
        if call.unacked and call.unconsumed < _UNCONSUMED_LIMIT and self._closed is None:
            try:
                self._h2.acknowledge_received_data(call.unacked, call.id)
            except h2.exceptions.H2Error:
                pass
            call.unacked = 0
            self._flush()

    # ---- connection tasks -----------------------------------------------------------

    async def _wait_for_settings(self, limit: float, address: str) -> None:
        """The server's first SETTINGS (its stream limit among them) before any call."""
        with anyio.move_on_after(limit):
            await self._settings_seen.wait()
        if self._closed is not None:
            raise ChannelError(f"{address}: {self._closed.message}", sent=False)
        if not self._settings_seen.is_set():
            raise ChannelError(f"{address} sent no HTTP/2 SETTINGS: not a gRPC server?", sent=False)

    def _start(self) -> None:
        self._h2.initiate_connection()
        self._h2.update_settings(
            {
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _STREAM_WINDOW,
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
            }
        )
        self._h2.increment_flow_control_window(_CONNECTION_WINDOW - 65535)
        self._flush()

    async def _reader(self) -> None:
        try:
            while True:
                try:
                    data = await self._stream.receive(_READ_BYTES)
                except anyio.EndOfStream:
                    self._fail_all("the server closed the connection")
                    return
                try:
                    frames = self._frames.feed(data)
                except FrameTooLarge as exc:
                    self._fail_all(f"HTTP/2 protocol error: {exc}")
                    return
                for goaway in self._frames.goaways:
                    self._on_goaway(goaway)
                self._frames.goaways.clear()
                try:
                    events = self._h2.receive_data(frames)
                except h2.exceptions.ProtocolError as exc:
                    self._flush()
                    self._fail_all(f"HTTP/2 protocol error: {exc}")
                    return
                for event in events:
                    self._on_event(event)
                self._flush()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self._fail_all(f"connection lost: {exc}")

    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.DataReceived):
            call = self._calls.get(event.stream_id)
            if call is None or call.ended:
                if event.flow_controlled_length:
                    self._h2.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
                return
            call.unacked += event.flow_controlled_length
            try:
                for message in call.decoder.feed(event.data):
                    call.messages.append(message)
                    call.unconsumed += len(message)
            except (MessageTooLarge, CompressedMessage) as exc:
                code = (
                    StatusCode.RESOURCE_EXHAUSTED
                    if isinstance(exc, MessageTooLarge)
                    else StatusCode.INTERNAL
                )
                call.error = GrpcError(code, str(exc))
                self._end(call)
                self._finish(call)
                return
            self._maybe_ack(call)
            call.notify()
        elif isinstance(event, h2.events.ResponseReceived):
            call = self._calls.get(event.stream_id)
            if call is not None:
                call.headers = dict(event.headers)
                if b"grpc-status" in call.headers:
                    call.status = _status_from(call.headers)  # trailers-only
                elif call.headers.get(b":status") != b"200":
                    http = int(call.headers.get(b":status", b"0") or 0)
                    call.status = GrpcError(status_for_http(http), f"HTTP status {http}")
                call.notify()
        elif isinstance(event, h2.events.TrailersReceived):
            call = self._calls.get(event.stream_id)
            if call is not None:
                call.status = _status_from(dict(event.headers))
                call.notify()
        elif isinstance(event, h2.events.StreamEnded):
            call = self._calls.get(event.stream_id)
            if call is not None:
                if call.status is None:
                    call.error = GrpcError(StatusCode.INTERNAL, "the server sent no grpc-status")
                elif call.decoder.partial and call.status.code == StatusCode.OK:
                    call.error = GrpcError(StatusCode.INTERNAL, "the response ended mid-message")
                self._end(call)
        elif isinstance(event, h2.events.StreamReset):
            call = self._calls.get(event.stream_id)
            if call is not None and not call.ended:
                if call.status is None:
                    call.error = _reset_error(event.error_code)
                self._end(call)
        elif isinstance(event, h2.events.WindowUpdated):
            if event.stream_id == 0:
                for call in self._calls.values():
                    call.open_window()
            elif (waiting := self._calls.get(event.stream_id)) is not None:
                waiting.open_window()
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self._settings_seen.set()
            for call in self._calls.values():
                call.open_window()
        elif isinstance(event, h2.events.PingAckReceived):
            self._ping_acked.set()

    def _on_goaway(self, goaway: GoAway) -> None:
        """Calls above the last stream id were never processed; the others go on."""
        self._goaway = goaway
        reason = self._goaway_reason()
        for call in list(self._calls.values()):
            if call.id > goaway.last_stream_id and not call.ended:
                call.error = ChannelError(reason, sent=False)
                self._end(call)

    def _goaway_reason(self) -> str:
        goaway = self._goaway
        if goaway is None:
            return ""
        try:
            name = h2.errors.ErrorCodes(goaway.error_code).name
        except ValueError:
            name = str(goaway.error_code)
        reason = f"the server is closing the connection (GOAWAY {name}"
        if goaway.debug_data:
            reason += f": {goaway.debug_data.decode('utf-8', errors='replace')}"
        return reason + ")"

    def _end(self, call: _Call) -> None:
        call.ended = True
        call.open_window()
        call.notify()
        self._free_slot()

    def _free_slot(self) -> None:
        if self._slot_freed is not None:
            self._slot_freed.set()
            self._slot_freed = None

    def _fail_all(self, reason: str) -> None:
        if self._goaway is not None:
            reason = f"{reason}; {self._goaway_reason()}"
        if self._closed is None:
            self._closed = ChannelError(reason, sent=True)
        for call in list(self._calls.values()):
            if not call.ended:
                sent = self._attempted_total >= call.queued_at
                if self._goaway is not None and call.id > self._goaway.last_stream_id:
                    sent = False
                call.error = ChannelError(reason, sent=sent)
                self._end(call)
        self._out_space.set()
        self._settings_seen.set()
        self._free_slot()

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data:
            self._out += data
            self._queued_total += len(data)
            self._out_ready.set()

    async def _writer(self) -> None:
        try:
            while True:
                await self._out_ready.wait()
                self._out_ready = anyio.Event()
                while self._out:
                    data = bytes(self._out)
                    self._out.clear()
                    self._attempted_total += len(data)
                    await self._stream.send(data)
                space, self._out_space = self._out_space, anyio.Event()
                space.set()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self._fail_all(f"connection lost while sending: {exc}")

    async def _keepalive(self, interval: float, ack_timeout: float) -> None:
        while self._closed is None:
            await anyio.sleep(interval)
            if not self._calls:
                continue
            self._ping_acked = anyio.Event()
            self._h2.ping(b"trio-zb\x00")
            self._flush()
            with anyio.move_on_after(ack_timeout):
                await self._ping_acked.wait()
            if not self._ping_acked.is_set():
                self._fail_all(f"keepalive ping not answered within {ack_timeout:g} s")
                await self._stream.aclose()
                return

    async def _close_gracefully(self) -> None:
        for call in list(self._calls.values()):
            self._finish(call)
        if self._closed is None:
            self._closed = ChannelError("the channel was closed", sent=False)
            try:
                self._h2.close_connection()
            except h2.exceptions.H2Error:
                pass
            self._flush()
            with anyio.move_on_after(1.0, shield=True):
                while self._out:
                    self._out_ready.set()
                    await self._out_space.wait()


class ServerStream:
    """A server-streaming call: an async context manager and an async iterator of messages.

    Leaving the ``async with`` block before the stream ended cancels the call.
    """

    def __init__(
        self,
        channel: Channel,
        path: str,
        request: bytes,
        timeout: float | None,
        metadata: tuple[tuple[str, MetadataValue], ...],
    ) -> None:
        self._channel = channel
        self._path = path
        self._request = request
        self._timeout = timeout
        self._metadata = metadata
        self._deadline = _deadline(timeout)
        self._call: _Call | None = None

    async def __aenter__(self) -> ServerStream:
        await self._start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._call is not None:
            self._channel._finish(self._call)

    def __aiter__(self) -> ServerStream:
        return self

    async def _start(self) -> _Call:
        if self._call is None:
            # (its deadline applies once the request is out, as it always has)
            self._call = await self._channel._start_call(
                self._path, self._request, self._timeout, self._metadata, math.inf
            )
        return self._call

    async def __anext__(self) -> bytes:
        call = await self._start()
        try:
            with _deadline_scope(self._deadline):
                while not call.messages and not call.ended:
                    await call.wait_changed()
        except TimeoutError:
            self._channel._finish(call)
            raise GrpcError(StatusCode.DEADLINE_EXCEEDED, "Deadline exceeded") from None
        except BaseException:
            self._channel._finish(call)
            raise
        if call.messages and call.error is None:
            message = call.messages.popleft()
            self._channel._consumed(call, message)
            return message
        self._channel._finish(call)
        self._channel._raise_for(call)
        raise StopAsyncIteration


def _deadline(timeout: float | None) -> float:
    return math.inf if timeout is None else anyio.current_time() + timeout


async def _wait(event: anyio.Event, deadline: float) -> None:
    """``event.wait()``; DEADLINE_EXCEEDED (a GrpcError) when ``deadline`` comes first."""
    if deadline == math.inf:
        await event.wait()
        return
    with anyio.CancelScope(deadline=deadline) as scope:
        await event.wait()
    if scope.cancelled_caught:
        raise GrpcError(StatusCode.DEADLINE_EXCEEDED, "Deadline exceeded")


def _deadline_scope(deadline: float) -> AbstractContextManager[anyio.CancelScope]:
    if deadline == math.inf:
        return anyio.CancelScope()
    return anyio.fail_after(max(0.0, deadline - anyio.current_time()))


def _status_from(headers: dict[bytes, bytes]) -> GrpcError:
    try:
        code = StatusCode.from_wire(int(headers.get(b"grpc-status", b"")))
    except ValueError:
        return GrpcError(StatusCode.UNKNOWN, "malformed grpc-status")
    message = decode_grpc_message(headers.get(b"grpc-message", b""))
    details = None
    raw = headers.get(b"grpc-status-details-bin")
    if raw is not None:
        try:
            details = b64decode_lenient(raw)
        except ValueError:
            details = None
    return GrpcError(code, message, details)


def _reset_error(code: int) -> GrpcError:
    if code == h2.errors.ErrorCodes.REFUSED_STREAM:
        return ChannelError("the server refused the call (REFUSED_STREAM)", sent=False)
    status = _RESET_STATUS.get(code, StatusCode.INTERNAL)
    try:
        name = h2.errors.ErrorCodes(code).name
    except ValueError:
        name = str(code)
    return GrpcError(status, f"the server reset the stream ({name})")
