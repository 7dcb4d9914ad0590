"""One client connection of the gRPC server: the h2 state machine and the calls on it.

One task reads the socket and feeds h2; each call's handler runs in its own task in a
nursery the connection owns; one writer task sends what h2 (and the calls) queued, as much
as is ready in one write. Everything touching the h2 state runs in these tasks of one trio
thread, so nothing needs locking.

Failure handling: a protocol error of the peer (bad preface, oversized frame, flow-control
violation, too many streams) ends the connection with the GOAWAY h2 prepared; a call's failure
ends only that call. A peer that never completes its preface, stalls inside a frame, or sits
idle without calls beyond the configured times is closed; one that pings too often gets GOAWAY
ENHANCE_YOUR_CALM, as gRPC servers do.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import trio
from hyperframe.frame import GoAwayFrame

from ..grpc.framing import CompressedMessage, MessageDecoder, MessageTooLarge, encode_message
from ..grpc.h2frames import FrameTooLarge, h2_connection
from ..grpc.metadata import (
    MalformedHeader,
    decode_metadata,
    encode_binary,
    encode_grpc_message,
    encode_metadata,
    parse_timeout,
)
from ..grpc.status import GrpcError, StatusCode
from .grpc_call import ServerCall
from .grpc_config import GrpcServerConfig
from .grpc_services import RpcKind, RpcMethod, ServiceRegistry

log = logging.getLogger("trio_zeebe.gateway.grpc")

_CONNECTION_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
_HIGH_WATER = 512 * 1024  # queued output beyond which senders wait for the writer
_READ_BYTES = 65536
_FLUSH_ON_CLOSE = 2.0  # seconds to get a final GOAWAY out
_RESPONSE_HEADERS = [
    (b":status", b"200"),
    (b"content-type", b"application/grpc"),
    (b"grpc-accept-encoding", b"identity"),
]  # never changed: h2 only reads the headers it is given


def _is_grpc_content_type(value: bytes) -> bool:
    """``application/grpc``, optionally ``+proto`` or another subtype, or with parameters."""
    return value == b"application/grpc" or value.startswith(
        (b"application/grpc+", b"application/grpc;")
    )


class _StreamGone(Exception):
    """The call's stream was reset or closed under it: nothing more can be sent."""


class _Refused(Exception):
    """A request that never becomes a call: answered trailers-only, with HTTP status ``http``."""

    def __init__(self, http: int, code: StatusCode, message: str) -> None:
        super().__init__(message)
        self.http = http
        self.error = GrpcError(code, message)


class _Stream:
    """The server's side of one call."""

    __slots__ = (
        "call",
        "cancel_reason",
        "closed",
        "decoder",
        "headers_sent",
        "id",
        "messages",
        "method",
        "partial_send",
        "remote_ended",
        "request_done",
        "window",
    )

    def __init__(self, stream_id: int, method: RpcMethod, call: ServerCall, max_size: int) -> None:
        self.id = stream_id
        self.method = method
        self.call = call
        self.decoder = MessageDecoder(max_size)
        self.messages: list[bytes] = []
        self.request_done = trio.Event()
        self.remote_ended = False
        self.window = trio.Event()
        self.headers_sent = False
        self.partial_send = False  # a message is half out: only RST_STREAM can end it now
        self.closed = False  # trailers sent or stream reset: the call is over on the wire
        self.cancel_reason: str | None = None


class GrpcConnection:
    """Serves gRPC calls on one accepted connection until it ends (:meth:`run`)."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        registry: ServiceRegistry,
        config: GrpcServerConfig,
        *,
        peer: str,
        peer_certificate: dict[str, object] | None = None,
    ) -> None:
        self._stream = stream
        self._registry = registry
        self._config = config
        self.peer = peer
        self._peer_certificate = peer_certificate
        self._h2, self._frames = h2_connection(client_side=False)
        self._streams: dict[int, _Stream] = {}
        self._nursery: trio.Nursery | None = None
        self._out = bytearray()
        self._out_ready = trio.Event()
        self._out_space = trio.Event()
        self._writing = False
        self._broken = False
        self._done = False  # stop reading: the connection is being closed
        self._draining = False  # GOAWAY sent for shutdown: no new calls
        self._preface_seen = False
        self._mid_frame_since: float | None = None
        self._started = trio.current_time()
        self._idle_since = self._started
        self._read_scope: trio.CancelScope | None = None
        self._last_valid_ping = self._started
        self._ping_strikes = 0
        self.closed = trio.Event()

    # ---- lifecycle ------------------------------------------------------------------

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._h2.initiate_connection()
                self._h2.update_settings(
                    {
                        h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: (
                            self._config.max_concurrent_streams
                        ),
                        h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: self._config.stream_window,
                        h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: (
                            self._config.max_header_list_size
                        ),
                    }
                )
                extra = self._config.connection_window - 65535
                if extra > 0:
                    self._h2.increment_flow_control_window(extra)
                self._flush()
                nursery.start_soon(self._writer)
                await self._reader()
                await self._drain_output()
                nursery.cancel_scope.cancel()
        finally:
            self._done = True
            with trio.CancelScope(shield=True), trio.move_on_after(_FLUSH_ON_CLOSE):
                try:
                    await self._stream.aclose()
                except _CONNECTION_ERRORS:
                    pass
            self.closed.set()

    def begin_shutdown(self) -> None:
        """GOAWAY with the last stream id: calls in flight go on, new ones are refused.

        Sent as a raw frame rather than through h2, whose connection state would otherwise
        refuse to send anything more, including the answers of the calls in flight.
        """
        if self._draining or self._done:
            return
        self._draining = True
        goaway = GoAwayFrame(0)
        goaway.last_stream_id = self._h2.highest_inbound_stream_id
        goaway.error_code = h2.errors.ErrorCodes.NO_ERROR
        self._flush()
        self._out += goaway.serialize()
        self._out_ready.set()
        self._check_idle()

    def abort(self) -> None:
        """Cancel every call (the shutdown's grace period is over); the connection then ends."""
        self._draining = True
        for st in list(self._streams.values()):
            self._cancel(st, "shutdown")
        self._check_idle()

    @property
    def active_calls(self) -> int:
        return len(self._streams)

    # ---- reading --------------------------------------------------------------------

    async def _reader(self) -> None:
        config = self._config
        while not self._done:
            now = trio.current_time()
            if not self._preface_seen:
                deadline, why = self._started + config.handshake_timeout, "no HTTP/2 preface"
            elif self._frames.mid_frame:
                # from the frame's first byte: a trickle of bytes does not keep it open
                if self._mid_frame_since is None:
                    self._mid_frame_since = now
                deadline = self._mid_frame_since + config.frame_timeout
                why = "stalled inside a frame"
            else:
                deadline, why = self._idle_deadline(), "idle"
            with trio.CancelScope(deadline=deadline) as scope:
                self._read_scope = scope
                try:
                    data = await self._stream.receive_some(_READ_BYTES)
                except _CONNECTION_ERRORS:
                    return
            self._read_scope = None
            if scope.cancelled_caught:
                if why == "idle" and self._streams:
                    continue  # a call started meanwhile
                if self._closing():
                    return
                log.info("closing gRPC connection from %s: %s", self.peer, why)
                self._goaway(h2.errors.ErrorCodes.NO_ERROR if why == "idle" else None)
                return
            if not data:
                return
            headers_seen = self._frames.headers_seen
            try:
                self._frames.feed(data)
            except FrameTooLarge as exc:
                log.info("gRPC connection from %s: %s", self.peer, exc)
                self._goaway(h2.errors.ErrorCodes.FRAME_SIZE_ERROR)
                return
            if self._frames.headers_seen != headers_seen:
                self._mid_frame_since = None  # a new frame began: its own clock
            try:
                events = self._h2.receive_data(data)
            except h2.exceptions.ProtocolError as exc:
                log.info("gRPC connection from %s: protocol error: %s", self.peer, exc)
                # h2 queued a GOAWAY for most errors; a bad preface it leaves to us.
                self._goaway(h2.errors.ErrorCodes.PROTOCOL_ERROR, only_if_open=True)
                self._flush()
                return
            for event in events:
                self._on_event(event)
            self._flush()

    def _closing(self) -> bool:
        return self._done

    def _idle_deadline(self) -> float:
        if self._streams or not self._config.idle_timeout:
            return math.inf
        return self._idle_since + self._config.idle_timeout

    def _check_idle(self) -> None:
        """After a call ended: the idle clock restarts, a drained connection closes."""
        if self._streams:
            return
        self._idle_since = trio.current_time()
        if self._draining:
            self._done = True
        if self._read_scope is not None:
            self._read_scope.deadline = (
                -math.inf if self._done else min(self._read_scope.deadline, self._idle_deadline())
            )

    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.DataReceived):
            self._on_data(event)
        elif isinstance(event, h2.events.RequestReceived):
            self._on_request(event)
        elif isinstance(event, h2.events.StreamEnded):
            st = self._streams.get(event.stream_id)
            if st is not None:
                st.remote_ended = True
                st.request_done.set()
        elif isinstance(event, h2.events.StreamReset):
            st = self._streams.get(event.stream_id)
            if st is not None:
                st.closed = True
                self._cancel(st, "reset")
        elif isinstance(event, h2.events.WindowUpdated):
            self._wake_senders(event.stream_id)
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self._preface_seen = True
            self._wake_senders(0)
        elif isinstance(event, h2.events.PingReceived):
            self._on_ping()
        elif isinstance(event, h2.events.ConnectionTerminated):
            # h2 can send nothing after a GOAWAY in either direction: the calls end here.
            self._done = True
        # TrailersReceived (StreamEnded follows), acks and priority need nothing.

    def _on_data(self, event: h2.events.DataReceived) -> None:
        # Hand the window back at once: the decoder bounds what one call can buffer.
        if event.flow_controlled_length:
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        st = self._streams.get(event.stream_id)
        if st is None or st.closed or st.request_done.is_set():
            return
        self._reset_ping_strikes()
        try:
            st.messages.extend(st.decoder.feed(event.data))
        except MessageTooLarge as exc:
            self._fail_early(st, GrpcError(StatusCode.RESOURCE_EXHAUSTED, str(exc)))
        except CompressedMessage as exc:
            self._fail_early(st, GrpcError(StatusCode.INTERNAL, str(exc)))

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        stream_id = event.stream_id
        self._reset_ping_strikes()
        if self._draining or self._done:
            self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
            return
        headers = dict(event.headers)
        path = headers.get(b":path", b"").decode("latin-1")
        try:
            rpc, deadline = self._admit(headers, path)
        except _Refused as refused:
            self._send_early(stream_id, event, refused.http, refused.error)
            return
        call = ServerCall(
            method=path,
            peer=self.peer,
            metadata=decode_metadata(event.headers),
            deadline=deadline,
            peer_certificate=self._peer_certificate,
        )
        st = _Stream(stream_id, rpc, call, self._config.max_message_size)
        if event.stream_ended:
            st.remote_ended = True
            st.request_done.set()
        self._streams[stream_id] = st
        assert self._nursery is not None
        self._nursery.start_soon(self._run_call, st)

    def _admit(self, headers: dict[bytes, bytes], path: str) -> tuple[RpcMethod, float | None]:
        """The method a request calls and its deadline; _Refused if it cannot become a call."""
        method = headers.get(b":method", b"")
        if method != b"POST":
            raise _Refused(
                405,
                StatusCode.INTERNAL,
                f"gRPC requires HTTP method POST, not {method.decode('latin-1')}",
            )
        content_type = headers.get(b"content-type", b"")
        if not _is_grpc_content_type(content_type):
            raise _Refused(
                415,
                StatusCode.INTERNAL,
                f"invalid gRPC request content-type {content_type.decode('latin-1')!r}",
            )
        rpc = self._registry.lookup(path)
        if rpc is None:
            raise _Refused(200, StatusCode.UNIMPLEMENTED, f"Method not found: {path.lstrip('/')}")
        encoding = headers.get(b"grpc-encoding", b"identity")
        if encoding != b"identity":
            raise _Refused(
                200,
                StatusCode.UNIMPLEMENTED,
                f"Compression {encoding.decode('latin-1')!r} (grpc-encoding) is not "
                f"supported by this server; send messages uncompressed (identity)",
            )
        timeout = headers.get(b"grpc-timeout")
        if timeout is None:
            return rpc, None
        try:
            return rpc, trio.current_time() + parse_timeout(timeout)
        except MalformedHeader as exc:
            raise _Refused(200, StatusCode.INTERNAL, str(exc)) from None

    def _on_ping(self) -> None:
        """gRPC's keepalive enforcement: too many pings too close together end the connection."""
        now = trio.current_time()
        interval = self._config.keepalive_min_interval
        if not self._streams and not self._config.permit_keepalive_without_calls:
            interval = max(interval, 2 * 3600.0)  # grpc's implicit permit time without calls
        if now - self._last_valid_ping >= interval:
            self._last_valid_ping = now
            return
        self._ping_strikes += 1
        if self._ping_strikes > self._config.max_ping_strikes:
            log.warning("gRPC client %s pings too often; closing (too_many_pings)", self.peer)
            self._h2.close_connection(
                h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, additional_data=b"too_many_pings"
            )
            self._done = True

    def _reset_ping_strikes(self) -> None:
        self._ping_strikes = 0
        self._last_valid_ping = -math.inf

    # ---- calls ----------------------------------------------------------------------

    async def _run_call(self, st: _Stream) -> None:
        call = st.call
        try:
            with call.cancel_scope:
                if not st.request_done.is_set():  # (a wait on a set event still yields)
                    await st.request_done.wait()
                if st.closed:
                    return
                request = self._single_request(st)
                if st.method.kind is RpcKind.UNARY:
                    assert st.method.unary is not None
                    response = await st.method.unary(request, call)
                    # No checkpoint between the message and the status: the writer sends
                    # the whole answer (headers, message, trailers) in one write.
                    await self._send_message(st, response, checkpoint=False)
                else:
                    assert st.method.stream is not None

                    async def send(message: bytes) -> None:
                        await self._send_message(st, message)

                    await st.method.stream(request, call, send)
                self._send_status(st, StatusCode.OK, "")
            if call.cancel_scope.cancelled_caught and not st.closed:
                if st.cancel_reason is None:
                    self._end_with(st, GrpcError(StatusCode.DEADLINE_EXCEEDED, "Deadline exceeded"))
                elif st.cancel_reason == "shutdown":
                    self._end_with(
                        st, GrpcError(StatusCode.UNAVAILABLE, "The gateway is shutting down")
                    )
        except _StreamGone:
            pass
        except GrpcError as exc:
            self._end_with(st, exc)
        except Exception:
            log.exception("gRPC handler of %s failed", call.method)
            self._end_with(st, GrpcError(StatusCode.INTERNAL, "Unexpected error in the server"))
        finally:
            self._forget(st)

    def _single_request(self, st: _Stream) -> bytes:
        if st.decoder.partial:
            raise GrpcError(StatusCode.INTERNAL, "The request ended inside a message")
        if not st.messages:
            raise GrpcError(StatusCode.INTERNAL, "Half-closed without a request")
        if len(st.messages) > 1:
            raise GrpcError(
                StatusCode.INTERNAL, f"Too many requests: {st.method.path} takes exactly one"
            )
        return st.messages.pop()

    def _forget(self, st: _Stream) -> None:
        if not st.closed and not self._done:
            # A handler cancelled mid-message: the stream cannot be ended cleanly.
            self._reset(st, h2.errors.ErrorCodes.CANCEL)
        self._streams.pop(st.id, None)
        self._check_idle()

    def _cancel(self, st: _Stream, reason: str) -> None:
        if st.cancel_reason is None:
            st.cancel_reason = reason
        st.call.cancel_scope.cancel()
        st.window.set()

    def _end_with(self, st: _Stream, error: GrpcError) -> None:
        """End a call with an error status, if its stream can still carry one."""
        if st.closed:
            return
        if st.partial_send:
            self._reset(st, h2.errors.ErrorCodes.CANCEL)
            return
        try:
            self._send_status(st, error.code, error.message, error.details, ended_early=True)
        except _StreamGone:
            pass

    def _fail_early(self, st: _Stream, error: GrpcError) -> None:
        """A request that cannot be served (too large, compressed): answer now, stop the call."""
        self._end_with(st, error)
        self._cancel(st, "answered")

    # ---- writing --------------------------------------------------------------------

    async def _send_message(self, st: _Stream, payload: bytes, *, checkpoint: bool = True) -> None:
        """Queue one message (waiting for flow-control window and output space as needed);
        with ``checkpoint`` also let other tasks run afterwards, as a streaming handler's
        send should."""
        if st.closed:
            raise _StreamGone
        if not st.headers_sent:
            self._h2_call(st, self._h2.send_headers, st.id, _RESPONSE_HEADERS)
            st.headers_sent = True
        data = memoryview(encode_message(payload))
        st.partial_send = True
        while data:
            if st.closed:
                raise _StreamGone
            size = min(
                len(data),
                self._h2.local_flow_control_window(st.id),
                self._h2.max_outbound_frame_size,
            )
            if size <= 0:
                st.window = trio.Event()
                await st.window.wait()
                continue
            chunk = bytes(data[:size])
            self._h2_call(st, self._h2.send_data, st.id, chunk)
            data = data[size:]
            self._flush()
            if len(self._out) > _HIGH_WATER:
                await self._wait_for_space()
        st.partial_send = False
        self._reset_ping_strikes()
        if checkpoint:
            await trio.lowlevel.checkpoint()

    def _send_status(
        self,
        st: _Stream,
        code: StatusCode,
        message: str,
        details: bytes | None = None,
        *,
        ended_early: bool = False,
    ) -> None:
        trailers = self._status_headers(code, message, details)
        if st.call.trailing_metadata:
            try:
                trailers += encode_metadata(st.call.trailing_metadata)
            except ValueError as exc:
                log.error("gRPC handler of %s set bad trailing metadata: %s", st.call.method, exc)
        if not st.headers_sent:
            trailers = _RESPONSE_HEADERS + trailers  # trailers-only
        self._h2_call(st, self._h2.send_headers, st.id, trailers, True)
        st.headers_sent = True
        st.closed = True
        if ended_early and not st.remote_ended:
            # The client may still be sending: tell it to stop (the answer is complete).
            self._reset(st, h2.errors.ErrorCodes.NO_ERROR)
        self._flush()

    def _status_headers(
        self, code: StatusCode, message: str, details: bytes | None
    ) -> list[tuple[bytes, bytes]]:
        headers = [(b"grpc-status", b"%d" % code)]
        if message:
            headers.append((b"grpc-message", encode_grpc_message(message)))
        if details is not None:
            headers.append((b"grpc-status-details-bin", encode_binary(details)))
        return headers

    def _send_early(
        self, stream_id: int, event: h2.events.RequestReceived, http: int, error: GrpcError
    ) -> None:
        """Answer a request that never becomes a call (trailers-only, HTTP status ``http``)."""
        headers = [
            (b":status", b"%d" % http),
            (b"content-type", b"application/grpc"),
            *self._status_headers(error.code, error.message, error.details),
        ]
        try:
            self._h2.send_headers(stream_id, headers, end_stream=True)
            if not event.stream_ended:
                self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.NO_ERROR)
        except h2.exceptions.H2Error:
            pass  # the client reset it already

    def _reset(self, st: _Stream, code: h2.errors.ErrorCodes) -> None:
        st.closed = True
        try:
            self._h2.reset_stream(st.id, code)
        except h2.exceptions.H2Error:
            pass
        self._flush()

    def _h2_call(self, st: _Stream, operation: Callable[..., None], *args: object) -> None:
        """Run an h2 send for a call; a stream h2 considers gone ends the call quietly."""
        if self._broken:
            raise _StreamGone
        try:
            operation(*args)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError) as exc:
            st.closed = True
            raise _StreamGone from exc

    def _wake_senders(self, stream_id: int) -> None:
        if stream_id == 0:
            for st in self._streams.values():
                st.window.set()
        else:
            waiting = self._streams.get(stream_id)
            if waiting is not None:
                waiting.window.set()

    def _goaway(self, code: h2.errors.ErrorCodes | None, *, only_if_open: bool = False) -> None:
        self._done = True
        if code is None:
            return
        if only_if_open and self._h2.state_machine.state == h2.connection.ConnectionState.CLOSED:
            return
        try:
            self._h2.close_connection(code)
        except h2.exceptions.ProtocolError:
            pass
        self._flush()

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data:
            self._out += data
            self._out_ready.set()

    async def _wait_for_space(self) -> None:
        while len(self._out) > _HIGH_WATER and not self._broken:
            await self._out_space.wait()

    async def _drain_output(self) -> None:
        self._flush()
        with trio.move_on_after(_FLUSH_ON_CLOSE):
            while (self._out or self._writing) and not self._broken:
                self._out_ready.set()
                await self._out_space.wait()

    async def _writer(self) -> None:
        try:
            while True:
                await self._out_ready.wait()
                self._out_ready = trio.Event()
                while self._out:
                    data = bytes(self._out)
                    self._out.clear()
                    self._writing = True
                    await self._stream.send_all(data)
                    self._writing = False
                space, self._out_space = self._out_space, trio.Event()
                space.set()
        except _CONNECTION_ERRORS:
            self._broken = True
            self._done = True
            self._out_space.set()
            if self._nursery is not None:
                self._nursery.cancel_scope.cancel()
