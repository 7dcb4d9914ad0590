"""A small HTTP/1.1 server on ``h11`` and trio for the monitoring port.

h11 does the protocol (framing, keep-alive, HEAD and 204 rules, chunked streams); this module
adds what a port that anyone on the network can reach needs around it:

* bounded resources: at most ``max_connections`` connections (one more is answered 503 and
  closed), at most ``max_streams`` open streaming responses (server-sent events);
* bounded requests: the request head (request line and headers) at most ``max_head_bytes``
  (431), the target at most ``max_target_bytes`` (414), at most ``max_headers`` header fields
  (431), a body at most ``max_body_bytes`` (413);
* timeouts: a request must arrive completely within ``request_timeout`` of its first byte (408,
  so a client trickling bytes cannot hold a connection), a kept-alive connection silent for
  ``idle_timeout`` is closed, and a write that a client does not read within ``write_timeout``
  ends that connection;
* routing: exact paths; an unknown path is a 404 that lists the known ones, a known path asked
  with another method a 405 with ``Allow``; ``OPTIONS`` answers 204 with ``Allow``; ``HEAD`` is
  answered like ``GET`` without the body.

Every connection runs in its own task, so one bad or slow client never delays the others.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

import attrs
import h11
import trio

log = logging.getLogger("trio_zeebe.monitoring")

RECEIVE_BYTES = 16384
GET_HEAD = frozenset({"GET", "HEAD"})


@attrs.frozen
class HttpLimits:
    """What one client may ask of the server (see the module docstring)."""

    max_connections: int = 64
    max_streams: int = 16
    max_head_bytes: int = 8192
    max_target_bytes: int = 2048
    max_headers: int = 64
    max_body_bytes: int = 16384
    request_timeout: float = 10.0
    idle_timeout: float = 60.0
    write_timeout: float = 10.0


@attrs.frozen
class Request:
    method: str
    target: str
    path: str
    query: Mapping[str, str]
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None


@attrs.frozen
class Response:
    """A complete response. ``Content-Length`` is added (except for 204 and 304)."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class StreamingResponse:
    """A response whose body is produced while it is sent (chunked), e.g. server-sent events.

    ``chunks`` is called once per request; the response ends when its iterator does, or when the
    client goes away or stops reading.
    """

    content_type: str
    chunks: Callable[[], AsyncIterator[bytes]]
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[Request], Awaitable[Response | StreamingResponse]]


@attrs.frozen
class Route:
    handler: Handler
    methods: frozenset[str] = GET_HEAD

    @property
    def allow(self) -> str:
        return ", ".join(sorted(self.methods | {"OPTIONS"}))


class _Close(Exception):
    """End this connection now (timeout, client gone): nothing more can be said on it."""


def text(status: int, body: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, body.encode(), "text/plain; charset=utf-8", headers)


class HttpServer:
    """Serves ``routes`` (path -> :class:`Route`) on ``host:port`` (port 0: any free port)."""

    def __init__(
        self,
        host: str,
        port: int,
        routes: Mapping[str, Route],
        *,
        limits: HttpLimits | None = None,
        server_name: str = "trio_zeebe",
    ) -> None:
        self.host = host
        self.port = port
        self.routes = dict(routes)
        self.limits = limits or HttpLimits()
        self.server_name = server_name
        self.connections = 0
        self.streams = 0
        self.refused_connections = 0

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        if self.port == 0:  # one ephemeral port: keep only the first listener
            for extra in listeners[1:]:
                await extra.aclose()
            listeners = listeners[:1]
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            task_status.started(self.port)
            await trio.serve_listeners(self.serve_connection, listeners, handler_nursery=nursery)

    # -- one connection -----------------------------------------------------------------

    async def serve_connection(self, stream: trio.abc.Stream) -> None:
        """Answer requests on ``stream`` until either side closes it (any stream will do)."""
        if self.connections >= self.limits.max_connections:
            self.refused_connections += 1
            await self._refuse(stream)
            return
        self.connections += 1
        try:
            await self._serve(stream)
        except (_Close, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            self.connections -= 1
            await trio.aclose_forcefully(stream)

    async def _refuse(self, stream: trio.abc.Stream) -> None:
        conn = h11.Connection(h11.SERVER)
        busy = text(503, "too many connections to the monitoring port; retry shortly\n")
        data = conn.send(self._response_event(busy, close=True, extra=(("Retry-After", "1"),)))
        data += conn.send(h11.Data(data=busy.body)) + conn.send(h11.EndOfMessage())
        try:
            with trio.move_on_after(1.0):
                await stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    async def _serve(self, stream: trio.abc.Stream) -> None:
        limits = self.limits
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_head_bytes)
        while True:
            if not conn.trailing_data[0]:
                # Between requests: wait for the next one's first bytes, or give up quietly.
                with trio.move_on_after(limits.idle_timeout):
                    data = await stream.receive_some(RECEIVE_BYTES)
                    conn.receive_data(bytes(data))
                    if not data:
                        return
                if not conn.trailing_data[0] and conn.their_state is h11.IDLE:
                    return  # idle too long
            outcome: Request | Response | None = None
            with trio.move_on_after(limits.request_timeout) as scope:
                outcome = await self._read_request(conn, stream)
            if scope.cancelled_caught:
                outcome = text(408, "the request did not arrive in time\n")
            elif outcome is None:
                return  # the client closed the connection
            if isinstance(outcome, Response):  # the request was refused before its handler
                await self._respond(conn, stream, "GET", outcome, close=True)
                await self._linger(stream)
                return
            answer = await self._dispatch(outcome)
            await self._respond(conn, stream, outcome.method, answer, close=False)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    async def _read_request(
        self, conn: h11.Connection, stream: trio.abc.Stream
    ) -> Request | Response | None:
        """The next request, read completely; a Response when it must be refused; None when the
        connection closed before a request began."""
        limits = self.limits
        try:
            event = await _next_event(conn, stream)
            if isinstance(event, h11.ConnectionClosed):
                return None
            assert isinstance(event, h11.Request)
            target = event.target.decode("latin-1")
            if len(event.target) > limits.max_target_bytes:
                return text(414, f"the request target exceeds {limits.max_target_bytes} bytes\n")
            head_bytes = len(event.target) + sum(len(k) + len(v) + 4 for k, v in event.headers)
            if head_bytes > limits.max_head_bytes:  # h11 checks only a head still arriving
                return text(431, f"the request head exceeds {limits.max_head_bytes} bytes\n")
            if len(event.headers) > limits.max_headers:
                return text(431, f"more than {limits.max_headers} header fields\n")
            length = _content_length(event.headers)
            if length is not None and length > limits.max_body_bytes:
                return text(413, f"the request body exceeds {limits.max_body_bytes} bytes\n")
            if conn.they_are_waiting_for_100_continue:
                await self._send(
                    stream, conn.send(h11.InformationalResponse(status_code=100, headers=[]))
                )
            received = 0
            while True:  # read (and discard) a body: no route takes one
                part = await _next_event(conn, stream)
                if isinstance(part, h11.EndOfMessage):
                    break
                if isinstance(part, h11.ConnectionClosed):
                    return None
                assert isinstance(part, h11.Data)
                received += len(part.data)
                if received > limits.max_body_bytes:
                    return text(413, f"the request body exceeds {limits.max_body_bytes} bytes\n")
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint
            if status == 431:
                return text(431, f"the request head exceeds {limits.max_head_bytes} bytes\n")
            return text(status, f"malformed request: {exc}\n")
        split = urlsplit(target)
        return Request(
            method=event.method.decode("ascii", "replace"),
            target=target,
            path=split.path or "/",
            query=dict(parse_qsl(split.query)),
            headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers),
        )

    async def _dispatch(self, request: Request) -> Response | StreamingResponse:
        route = self.routes.get(request.path)
        if route is None:
            known = "\n".join(sorted(self.routes))
            return text(404, f"no such path: {request.path}\nthis port serves:\n{known}\n")
        if request.method == "OPTIONS":
            return Response(204, headers=(("Allow", route.allow),))
        if request.method not in route.methods:
            return text(
                405,
                f"{request.method} is not allowed on {request.path}; use {route.allow}\n",
                (("Allow", route.allow),),
            )
        try:
            return await route.handler(request)
        except Exception:
            log.exception("monitoring: %s %s failed", request.method, request.path)
            return text(500, "internal error; see the broker's log\n")

    # -- writing ------------------------------------------------------------------------

    def _response_event(
        self,
        response: Response | StreamingResponse,
        *,
        close: bool,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> h11.Response:
        headers = [("Date", formatdate(usegmt=True)), ("Server", self.server_name)]
        if isinstance(response, StreamingResponse):
            headers.append(("Content-Type", response.content_type))
            headers.append(("Cache-Control", "no-cache"))
        else:
            if response.content_type is not None:
                headers.append(("Content-Type", response.content_type))
            if response.status not in (204, 304):
                headers.append(("Content-Length", str(len(response.body))))
        headers += response.headers
        headers += extra
        if close:
            headers.append(("Connection", "close"))
        return h11.Response(
            status_code=response.status,
            headers=headers,
            reason=_reason(response.status),
        )

    async def _respond(
        self,
        conn: h11.Connection,
        stream: trio.abc.Stream,
        method: str,
        response: Response | StreamingResponse,
        *,
        close: bool,
    ) -> None:
        head_only = method == "HEAD"
        if isinstance(response, StreamingResponse):
            if self.streams >= self.limits.max_streams:
                response = text(503, "too many open event streams; retry shortly\n")
            elif not head_only:
                await self._stream(conn, stream, response)
                return
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            raise _Close()
        data = conn.send(self._response_event(response, close=close))
        if isinstance(response, Response) and response.body and not head_only:
            data += conn.send(h11.Data(data=response.body))
        data += conn.send(h11.EndOfMessage())
        await self._send(stream, data)

    async def _stream(
        self, conn: h11.Connection, stream: trio.abc.Stream, response: StreamingResponse
    ) -> None:
        self.streams += 1
        try:
            await self._send(stream, conn.send(self._response_event(response, close=True)))
            async with trio.open_nursery() as nursery:
                # A stream may stay silent for long: notice a client that hangs up meanwhile,
                # so its slot is free at once rather than at the next write.
                nursery.start_soon(_cancel_on_hangup, stream, nursery.cancel_scope)
                chunks = response.chunks()
                try:
                    async for chunk in chunks:
                        if chunk:
                            await self._send(stream, conn.send(h11.Data(data=chunk)))
                finally:
                    aclose = getattr(chunks, "aclose", None)
                    if aclose is not None:
                        with trio.CancelScope(shield=True):
                            await aclose()
                await self._send(stream, conn.send(h11.EndOfMessage()))
                nursery.cancel_scope.cancel()
        finally:
            self.streams -= 1

    async def _send(self, stream: trio.abc.Stream, data: bytes) -> None:
        if not data:
            return
        with trio.move_on_after(self.limits.write_timeout) as scope:
            await stream.send_all(data)
        if scope.cancelled_caught:
            raise _Close()

    async def _linger(self, stream: trio.abc.Stream) -> None:
        """Before closing after a refused request: stop sending and read what the client still
        sends for a moment, so its unread bytes do not reset the connection (which can destroy
        the error response before the client reads it)."""
        if isinstance(stream, trio.abc.HalfCloseableStream):
            try:
                await stream.send_eof()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                return
        drained = 0
        with trio.move_on_after(1.0):
            while drained < 1 << 20:
                chunk = await stream.receive_some(RECEIVE_BYTES)
                if not chunk:
                    break
                drained += len(chunk)


async def _cancel_on_hangup(stream: trio.abc.Stream, scope: trio.CancelScope) -> None:
    try:
        while await stream.receive_some(RECEIVE_BYTES):
            pass  # nothing more is expected on a streaming connection: ignore it
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass
    scope.cancel()


async def _next_event(conn: h11.Connection, stream: trio.abc.Stream) -> object:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(bytes(await stream.receive_some(RECEIVE_BYTES)))


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for key, value in headers:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # h11 has already refused a malformed one
    return None


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""
