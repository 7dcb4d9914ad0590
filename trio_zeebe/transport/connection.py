"""One established connection of :class:`~trio_zeebe.transport.tcp.TcpTransport`.

A mixin of ``TcpTransport``, kept apart so the transport fits in one reading: the connection's
tasks (reader, sender writing everything queued in one ``send_all``, keepalive), dispatch of
incoming frames to handlers, answering requests, and the BYE exchange that retires a duplicate
connection without losing what was written on it. Also the per-connection and per-link records
shared with :mod:`.links`. The overall design is described in :mod:`.tcp`.
"""

from __future__ import annotations

import collections
import logging
from typing import TYPE_CHECKING, Any

import attrs
import trio

from trio_zeebe import codec
from trio_zeebe.codec import DecodeError
from trio_zeebe.transport import frames
from trio_zeebe.transport.api import Handler, Peer, RemoteError
from trio_zeebe.transport.handshake import Hello
from trio_zeebe.transport.pending import PendingRequest

log = logging.getLogger("trio_zeebe.transport")

_RECEIVE_BYTES = 65536
_WRITE_CHUNK = 256 * 1024
_BYE = frames.encode(frames.BYE, 0, None)
_PING = frames.encode(frames.PING, 0, None)
_CLOSED = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


@attrs.define(eq=False)
class _Conn:
    stream: trio.abc.Stream
    peer: Peer
    incarnation: int
    dialled_by_us: bool
    link: _Link
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    retiring: bool = False
    retired_at: float = 0.0
    bye_sent: bool = False
    bye_received: bool = False
    last_recv: float = 0.0
    last_send: float = 0.0
    partial_since: float | None = None  # when the incomplete frame now buffered began


@attrs.define(eq=False)
class _Link:
    """Everything about one remote address: its queue, its connections, its dial state."""

    address: str
    queue: collections.deque[bytes] = attrs.field(factory=collections.deque)
    wake: trio.Event = attrs.field(factory=trio.Event)
    current: _Conn | None = None
    conns: set[_Conn] = attrs.field(factory=set)
    dialling: bool = False
    failures: int = 0
    backoff_until: float = float("-inf")
    ever_connected: bool = False


class ConnectionMixin:
    # State owned and initialised by TcpTransport; declared here for the type checker only.
    local: Peer
    _mode: str
    _max: int
    _keepalive: float
    _idle_timeout: float
    _frame_timeout: float
    _handlers: dict[type, Handler]
    _pending: dict[int, PendingRequest]
    _stats: collections.Counter[str]
    _nursery: trio.Nursery | None

    if TYPE_CHECKING:  # defined by LinksMixin

        def _enqueue(self, link: _Link, frame: bytes, dial: bool = True) -> bool: ...

        def _adopt(self, link: _Link, conn: _Conn) -> None: ...

        def _retire(self, conn: _Conn) -> None: ...

        def _gone(self, link: _Link, conn: _Conn) -> None: ...

    # ---- one established connection ---------------------------------------------------

    async def _serve(
        self,
        stream: trio.abc.Stream,
        hello: Hello,
        decoder: frames.FrameDecoder,
        backlog: list[bytes],
        link: _Link,
        dialled_by_us: bool,
    ) -> None:
        now = trio.current_time()
        conn = _Conn(
            stream,
            Peer(hello.node_id, link.address),
            hello.incarnation,
            dialled_by_us,
            link,
            last_recv=now,
            last_send=now,
        )
        if link.current is None:
            log.info(
                "connected to node %d at %s (%s, %s)",
                hello.node_id,
                link.address,
                self._mode,
                "dialled" if dialled_by_us else "accepted",
            )
        link.ever_connected = True
        self._adopt(link, conn)
        try:
            with conn.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._sender, conn)
                    nursery.start_soon(self._keepalive_task, conn)
                    await self._reader(conn, decoder, backlog)
        finally:
            with trio.CancelScope(shield=True):
                self._gone(link, conn)
                with trio.move_on_after(0.5):
                    await stream.aclose()
                await trio.aclose_forcefully(stream)

    async def _reader(self, conn: _Conn, decoder: frames.FrameDecoder, batch: list[bytes]) -> None:
        stream, peer = conn.stream, conn.peer
        try:
            while True:
                for payload in batch:
                    try:
                        envelope = frames.decode(payload)
                    except frames.BadMessage as exc:
                        self._bad_message(conn, exc)
                        continue
                    await self._dispatch(conn, envelope)
                data = await stream.receive_some(_RECEIVE_BYTES)
                if not data:
                    return
                now = conn.last_recv = trio.current_time()
                self._stats["bytes_in"] += len(data)
                decoder.feed(data)
                batch = decoder.frames()
                if not decoder.buffered:
                    conn.partial_since = None
                elif batch or conn.partial_since is None:
                    conn.partial_since = now
        except frames.FrameTooLarge as exc:
            self._stats["oversized_frames"] += 1
            log.warning("closing connection to node %d at %s: %s", peer.node_id, peer.address, exc)
        except DecodeError as exc:
            self._stats["decode_errors"] += 1
            log.warning(
                "closing connection to node %d at %s: bad frame: %s",
                peer.node_id,
                peer.address,
                exc,
            )
        except _CLOSED as exc:
            log.debug("connection to node %d closed: %s", peer.node_id, _describe(exc))
        finally:
            conn.scope.cancel()

    def _bad_message(self, conn: _Conn, exc: frames.BadMessage) -> None:
        # The stream is intact (the envelope decoded): drop this message, keep the connection.
        self._stats["dropped_undecodable"] += 1
        log.warning(
            "dropping a message from node %d at %s: %s", conn.peer.node_id, conn.peer.address, exc
        )
        if exc.kind == frames.REQUEST:
            error = f"node {self.local.node_id} cannot decode the request: {exc}"[:1000]
            self._enqueue(
                conn.link, frames.encode(frames.ERROR, exc.correlation_id, error), dial=False
            )
        elif exc.kind == frames.RESPONSE:
            pending = self._pending.get(exc.correlation_id)
            if pending is not None and pending.address == conn.link.address:
                pending.resolve(error=RemoteError(f"undecodable response: {exc}"))

    async def _dispatch(self, conn: _Conn, env: frames.Envelope) -> None:
        kind, corr, message = env
        self._stats["frames_in"] += 1
        if kind == frames.ONEWAY:
            handler = self._handlers.get(type(message))
            if handler is None:
                self._stats["dropped_no_handler"] += 1
                return
            try:
                await handler(conn.peer, message)
            except Exception:
                self._stats["handler_errors"] += 1
                log.exception(
                    "handler for %s from node %d failed", type(message).__name__, conn.peer.node_id
                )
        elif kind == frames.REQUEST:
            assert self._nursery is not None
            self._nursery.start_soon(self._answer, conn.link, conn.peer, corr, message)
        elif kind == frames.RESPONSE or kind == frames.ERROR:
            pending = self._pending.get(corr)
            if pending is None or pending.address != conn.link.address:
                self._stats["late_responses"] += 1
            elif kind == frames.ERROR:
                pending.resolve(error=RemoteError(message))
            else:
                pending.resolve(message)
        elif kind == frames.BYE:
            conn.bye_received = True
            if conn.bye_sent:  # both sides are done with it: close now
                conn.scope.cancel()
            else:
                self._retire(conn)

    async def _answer(self, link: _Link, peer: Peer, corr: int, message: Any) -> None:
        frame = None
        handler = self._handlers.get(type(message))
        if handler is None:
            self._stats["dropped_no_handler"] += 1
            error = (
                f"unknown message type {codec.tag_of(type(message))!r} at node {self.local.node_id}"
            )
        else:
            try:
                result = await handler(peer, message)
            except Exception as exc:
                self._stats["handler_errors"] += 1
                log.warning(
                    "handler for %s from node %d failed",
                    type(message).__name__,
                    peer.node_id,
                    exc_info=True,
                )
                error = f"{type(exc).__name__}: {exc}"
            else:
                try:
                    frame = frames.encode(frames.RESPONSE, corr, result, self._max)
                except (TypeError, ValueError, OverflowError) as exc:  # FrameTooLarge too
                    error = f"cannot send response: {exc}"
        if frame is None:
            frame = frames.encode(frames.ERROR, corr, error[:1000], self._max)
        self._enqueue(link, frame, dial=False)

    async def _sender(self, conn: _Conn) -> None:
        link, stream = conn.link, conn.stream
        queue = link.queue
        try:
            while True:
                if conn.retiring:
                    await stream.send_all(_BYE)
                    conn.bye_sent = True
                    if conn.bye_received:
                        conn.scope.cancel()
                    return
                if link.current is conn and queue:
                    if len(queue) == 1:
                        count, data = 1, queue.popleft()
                    else:
                        parts: list[bytes] = []
                        size = 0
                        while queue and size < _WRITE_CHUNK:
                            parts.append(queue.popleft())
                            size += len(parts[-1])
                        count, data = len(parts), b"".join(parts)
                    await stream.send_all(data)
                    conn.last_send = trio.current_time()
                    self._stats["frames_out"] += count
                    self._stats["bytes_out"] += len(data)
                    self._stats["writes"] += 1
                    continue
                if link.wake.is_set():
                    link.wake = trio.Event()
                await link.wake.wait()
        except _CLOSED as exc:
            log.debug("writing to node %d failed: %s", conn.peer.node_id, _describe(exc))
            conn.scope.cancel()

    async def _keepalive_task(self, conn: _Conn) -> None:
        # An idle peer still sends a PING every `keepalive` seconds, so silence for
        # `idle_timeout` means the connection is dead even if TCP has not noticed (partition).
        while True:
            await trio.sleep(self._keepalive)
            now = trio.current_time()
            if conn.retiring and now - conn.retired_at > self._idle_timeout:
                conn.scope.cancel()
            elif conn.partial_since is not None and now - conn.partial_since > self._frame_timeout:
                # A frame must arrive whole in time: a peer trickling one never-ending frame
                # would otherwise hold the connection (and its buffer) forever.
                self._stats["partial_frame_timeouts"] += 1
                log.warning(
                    "node %d at %s sent part of a frame %.1fs ago and not the rest: closing",
                    conn.peer.node_id,
                    conn.link.address,
                    now - conn.partial_since,
                )
                conn.scope.cancel()
            elif now - conn.last_recv > self._idle_timeout:
                self._stats["idle_closed"] += 1
                log.warning(
                    "no traffic from node %d at %s for %.1fs: closing",
                    conn.peer.node_id,
                    conn.link.address,
                    now - conn.last_recv,
                )
                conn.scope.cancel()
            elif (
                conn.link.current is conn
                and now - conn.last_send >= self._keepalive
                and not conn.link.queue
            ):
                self._enqueue(conn.link, _PING, dial=False)


def _describe(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, trio.BrokenResourceError) and cause is not None:
        exc = cause
    text = str(exc) or type(exc).__name__
    return text[:300]
