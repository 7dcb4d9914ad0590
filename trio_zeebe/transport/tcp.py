"""The production :class:`~trio_zeebe.transport.api.Network`: TCP with mutual TLS.

One bidirectional connection per peer pair carries one-way messages, requests and responses.
Outbound frames for a peer wait on a bounded per-peer queue; the connection's sender task writes
everything queued in one ``send_all`` (many small Raft messages per TLS record). Connections are
dialled on demand and, after a failed dial, not again before a capped, jittered exponential
backoff has passed; meanwhile ``send`` drops and ``request`` fails fast.

Duplicate connections (both sides dialled at once) are resolved the same way on both sides: the
connection dialled by the lower node id wins (between two dials by the same node, the newer).
The loser is retired gracefully: each side writes a BYE frame as its last frame on it and keeps
reading it until the other's BYE, so nothing written on it is lost. Message order is kept per
connection; during such a switch-over two messages may overtake each other. A Hello carries a
random incarnation, so a restarted peer's new connection replaces the old ones at once.
"""

from __future__ import annotations

import collections
import itertools
import logging
import random
import ssl
from typing import Any

import attrs
import trio

from trio_zeebe import codec
from trio_zeebe.codec import DecodeError
from trio_zeebe.transport import frames
from trio_zeebe.transport.api import (
    Handler,
    MessageTooLarge,
    NotSent,
    Peer,
    PeerUnavailable,
    RemoteError,
    RequestTimeout,
    join_address,
    split_address,
)
from trio_zeebe.transport.handshake import (
    PROTOCOL_VERSION,
    Hello,
    Verdict,
    check_certificate,
    check_hello,
)
from trio_zeebe.transport.pending import PendingRequest

log = logging.getLogger("trio_zeebe.transport")

_RECEIVE_BYTES = 65536
_WRITE_CHUNK = 256 * 1024
_BYE = frames.encode(frames.BYE, 0, None)
_PING = frames.encode(frames.PING, 0, None)
_CLOSED = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


class _Refused(Exception):
    """Handshake refused (already logged and counted)."""


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


class TcpTransport:
    """:class:`Network` over TCP (+ mutual TLS when both SSL contexts are given)."""

    def __init__(
        self,
        local: Peer,
        cluster_name: str,
        ssl_server: ssl.SSLContext | None = None,
        ssl_client: ssl.SSLContext | None = None,
        *,
        max_frame_bytes: int = frames.DEFAULT_MAX_FRAME_BYTES,
        queue_frames: int = 4096,
        connect_timeout: float = 2.0,
        handshake_timeout: float = 2.0,
        backoff_initial: float = 0.05,
        backoff_max: float = 2.0,
        keepalive: float = 1.0,
        idle_timeout: float = 10.0,
        bind: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if (ssl_server is None) != (ssl_client is None):
            raise ValueError("give both SSL contexts (mutual TLS) or neither (plain TCP)")
        split_address(local.address)
        self.local = local
        self.cluster_name = cluster_name
        self.port: int | None = None
        self._ssl_server, self._ssl_client = ssl_server, ssl_client
        self._mode = "plain TCP" if ssl_server is None else "mutual TLS"
        self._max = max_frame_bytes
        self._queue_frames = queue_frames
        self._connect_timeout, self._handshake_timeout = connect_timeout, handshake_timeout
        self._backoff_initial, self._backoff_max = backoff_initial, backoff_max
        self._keepalive, self._idle_timeout = keepalive, idle_timeout
        self._bind = bind
        self._rng = rng or random.Random()
        self._incarnation = self._rng.getrandbits(62)
        self._handlers: dict[type, Handler] = {}
        self._links: dict[str, _Link] = {}
        self._pending: dict[int, PendingRequest] = {}
        self._corr = itertools.count(1)
        self._stats: collections.Counter[str] = collections.Counter()
        self._nursery: trio.Nursery | None = None
        self._loop_in, self._loop_out = trio.open_memory_channel[Any](queue_frames)

    # ---- Network interface -------------------------------------------------------------

    def on(self, message_type: type, handler: Handler) -> None:
        try:
            codec.tag_of(message_type)
        except KeyError:
            raise ValueError(f"{message_type.__qualname__} is not a wire message") from None
        if message_type in self._handlers:
            raise ValueError(f"a handler for {message_type.__qualname__} is already registered")
        self._handlers[message_type] = handler

    def send(self, address: str, message: Any) -> None:
        if address == self.local.address:
            try:
                self._loop_in.send_nowait(message)
            except trio.WouldBlock:
                self._stats["dropped_queue_full"] += 1
            return
        try:
            frame = frames.encode(frames.ONEWAY, 0, message, self._max)
        except frames.FrameTooLarge as exc:
            self._stats["dropped_too_large"] += 1
            log.warning("not sending %s to %s: %s", type(message).__name__, address, exc)
            return
        self._enqueue(self._link(address), frame)

    async def request(self, address: str, message: Any, *, timeout: float) -> Any:  # noqa: ASYNC109
        if address == self.local.address:
            return await self._loopback_request(message, timeout)
        corr = next(self._corr)
        try:
            frame = frames.encode(frames.REQUEST, corr, message, self._max)
        except frames.FrameTooLarge as exc:
            raise MessageTooLarge(str(exc)) from None
        link = self._link(address)
        self._stats["requests"] += 1
        pending = self._pending[corr] = PendingRequest(address)
        try:
            if not self._enqueue(link, frame):
                raise NotSent(self._why_unavailable(link))
            with trio.move_on_after(timeout):
                await pending.done.wait()
            if not pending.done.is_set():
                self._stats["requests_timed_out"] += 1
                raise RequestTimeout(f"no response from {address} within {timeout:g}s")
            if pending.error is not None:
                raise pending.error
            return pending.value
        finally:
            del self._pending[corr]

    def stats(self) -> dict[str, int]:
        out = dict(self._stats)
        out["connections"] = sum(len(link.conns) for link in self._links.values())
        out["pending_requests"] = len(self._pending)
        out["queued_frames"] = sum(len(link.queue) for link in self._links.values())
        return out

    # ---- lifecycle ---------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Peer] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and serve until cancelled; ``task_status.started(local peer)`` once bound."""
        host, port = split_address(self._bind or self.local.address)
        listeners = await trio.open_tcp_listeners(port, host=host)
        if port == 0:  # one ephemeral port: keep only the first listener
            for extra in listeners[1:]:
                await extra.aclose()
            listeners = listeners[:1]
        self.port = listeners[0].socket.getsockname()[1]
        adv_host, adv_port = split_address(self.local.address)
        if adv_port == 0:
            self.local = Peer(self.local.node_id, join_address(adv_host, self.port))
        self._hello = Hello(
            PROTOCOL_VERSION,
            self.cluster_name,
            self.local.node_id,
            self.local.address,
            self._incarnation,
        )
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._loopback_task)
                await nursery.start(trio.serve_listeners, self._accepted, listeners)
                log.info(
                    "node %d listening on %s (%s)",
                    self.local.node_id,
                    self.local.address,
                    self._mode,
                )
                task_status.started(self.local)
        finally:
            self._nursery = None
            for pending in self._pending.values():
                pending.resolve(error=PeerUnavailable("transport stopped"))

    # ---- queueing and dialling ---------------------------------------------------------

    def _link(self, address: str) -> _Link:
        link = self._links.get(address)
        if link is None:
            link = self._links[address] = _Link(address)
        return link

    def _enqueue(self, link: _Link, frame: bytes, dial: bool = True) -> bool:
        if link.current is None and not link.dialling:
            if self._nursery is None or not dial or trio.current_time() < link.backoff_until:
                self._stats["dropped_unreachable"] += 1
                return False
            link.dialling = True
            self._nursery.start_soon(self._dial, link)
        if len(link.queue) >= self._queue_frames:
            self._stats["dropped_queue_full"] += 1
            return False
        link.queue.append(frame)
        link.wake.set()
        return True

    def _why_unavailable(self, link: _Link) -> str:
        if self._nursery is None:
            return "transport is not running"
        wait = link.backoff_until - trio.current_time()
        if link.current is None and not link.dialling and wait > 0:
            return f"{link.address} unreachable (next dial in {wait:.2f}s)"
        return f"outbound queue to {link.address} is full"

    async def _dial(self, link: _Link) -> None:
        where = link.address
        try:
            host, port = split_address(where)
            with trio.fail_after(self._connect_timeout + self._handshake_timeout):
                raw = await trio.open_tcp_stream(host, port)
                stream: trio.abc.Stream = raw
                try:
                    if self._ssl_client is not None:
                        stream = trio.SSLStream(raw, self._ssl_client, server_hostname=host)
                        await stream.do_handshake()
                    decoder = frames.FrameDecoder(self._max)
                    hello, backlog = await self._handshake(stream, decoder, where, True)
                except BaseException:
                    await trio.aclose_forcefully(raw)
                    raise
        except (*_CLOSED, trio.TooSlowError, DecodeError, ValueError, _Refused) as exc:
            link.dialling = False
            self._dial_failed(link, exc)
            return
        link.dialling = False
        self._stats["connections_dialled"] += 1
        if link.ever_connected:
            self._stats["reconnects"] += 1
        link.failures = 0
        await self._serve(stream, hello, decoder, backlog, link, dialled_by_us=True)

    def _dial_failed(self, link: _Link, exc: BaseException) -> None:
        self._stats["dial_failures"] += 1
        if _is_tls_error(exc):
            self._stats["tls_failures"] += 1
        link.failures += 1
        delay = min(self._backoff_max, self._backoff_initial * 2 ** (link.failures - 1))
        delay *= self._rng.uniform(0.75, 1.0)  # jitter: peers must not re-dial in lockstep
        link.backoff_until = trio.current_time() + delay
        if not isinstance(exc, _Refused):
            level = logging.WARNING if link.failures == 1 else logging.DEBUG
            log.log(
                level,
                "cannot connect to %s: %s (retry in %.2fs)",
                link.address,
                _describe(exc),
                delay,
            )
        if link.current is None:
            # Never connected: whatever waited in the queue was not sent.
            self._drop_link_traffic(
                link, f"{link.address} unreachable: {_describe(exc)}", sent=False
            )

    def _drop_link_traffic(self, link: _Link, reason: str, *, sent: bool = True) -> None:
        self._stats["dropped_unreachable"] += len(link.queue)
        link.queue.clear()
        error = PeerUnavailable if sent else NotSent
        for pending in self._pending.values():
            if pending.address == link.address:
                pending.resolve(error=error(reason))

    # ---- accepting and handshaking -----------------------------------------------------

    async def _accepted(self, raw: trio.SocketStream) -> None:
        self._stats["connections_accepted"] += 1
        try:
            where = join_address(*raw.socket.getpeername()[:2])
        except OSError:
            where = "?"
        stream: trio.abc.Stream = raw
        try:
            with trio.fail_after(self._handshake_timeout):
                if self._ssl_server is not None:
                    stream = trio.SSLStream(raw, self._ssl_server, server_side=True)
                    await stream.do_handshake()
                decoder = frames.FrameDecoder(self._max)
                hello, backlog = await self._handshake(stream, decoder, where, False)
        except (*_CLOSED, trio.TooSlowError, DecodeError, _Refused) as exc:
            if not isinstance(exc, _Refused):
                if _is_tls_error(exc):
                    self._stats["tls_failures"] += 1
                self._stats["handshake_failures"] += 1
                log.warning("handshake with %s failed: %s", where, _describe(exc))
            await trio.aclose_forcefully(raw)
            return
        await self._serve(stream, hello, decoder, backlog, self._link(hello.address), False)

    async def _handshake(
        self, stream: trio.abc.Stream, decoder: frames.FrameDecoder, where: str, dialler: bool
    ) -> tuple[Hello, list[bytes]]:
        backlog: list[bytes] = []
        await stream.send_all(frames.frame(codec.encode(self._hello)))
        theirs = codec.decode(await _read_frame(stream, decoder, backlog))
        if not isinstance(theirs, Hello):
            raise DecodeError(f"expected a Hello, got {type(theirs).__name__}")
        cert = stream.getpeercert() if isinstance(stream, trio.SSLStream) else None
        reason = check_hello(self._hello, theirs) or check_certificate(theirs, cert)
        await stream.send_all(frames.frame(codec.encode(Verdict(reason is None, reason or ""))))
        # Always read their verdict too, so the dialler can say *why* it was refused.
        try:
            verdict = codec.decode(await _read_frame(stream, decoder, backlog))
        except (*_CLOSED, DecodeError):
            if reason is None:
                raise
            verdict = Verdict(True)
        if not isinstance(verdict, Verdict):
            raise DecodeError(f"expected a Verdict, got {type(verdict).__name__}")
        if reason is not None:
            self._stats["handshakes_refused"] += 1
        if not verdict.accepted:
            self._stats["handshakes_refused_by_peer"] += 1
        if (reason is not None and not dialler) or (reason is not None and verdict.accepted):
            log.warning("refusing connection %s %s: %s", "to" if dialler else "from", where, reason)
            raise _Refused(reason)
        if not verdict.accepted:
            log.warning("refused by %s: %s", where, verdict.reason)
            raise _Refused(verdict.reason)
        return theirs, backlog

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

    def _adopt(self, link: _Link, conn: _Conn) -> None:
        link.conns.add(conn)
        cur = link.current
        if cur is None:
            link.current = conn
        elif conn.incarnation != cur.incarnation:
            log.info(
                "node %d at %s restarted: replacing its old connections",
                conn.peer.node_id,
                link.address,
            )
            for old in link.conns:
                if old.incarnation != conn.incarnation:
                    old.scope.cancel()
            self._drop_link_traffic(link, f"node {conn.peer.node_id} restarted")
            link.current = conn
        else:
            self._stats["duplicate_connections"] += 1
            if self._preferred(conn, cur):
                link.current = conn
                self._retire(cur)
            else:
                self._retire(conn)
        link.wake.set()

    def _preferred(self, new: _Conn, old: _Conn) -> bool:
        def dialler(c: _Conn) -> int:
            return self.local.node_id if c.dialled_by_us else c.peer.node_id

        return dialler(new) <= dialler(old)

    def _retire(self, conn: _Conn) -> None:
        if conn.retiring:
            return
        conn.retiring = True
        conn.retired_at = trio.current_time()
        link = conn.link
        if link.current is conn:
            link.current = next((c for c in link.conns if not c.retiring), None)
        link.wake.set()

    def _gone(self, link: _Link, conn: _Conn) -> None:
        link.conns.discard(conn)
        if link.current is conn:
            link.current = next((c for c in link.conns if not c.retiring), None)
            if link.current is None:
                log.info("disconnected from node %d at %s", conn.peer.node_id, link.address)
                self._stats["disconnects"] += 1
                self._drop_link_traffic(link, f"connection to {link.address} lost")
        link.wake.set()

    async def _reader(self, conn: _Conn, decoder: frames.FrameDecoder, batch: list[bytes]) -> None:
        stream, peer = conn.stream, conn.peer
        try:
            while True:
                for payload in batch:
                    await self._dispatch(conn, frames.decode(payload))
                data = await stream.receive_some(_RECEIVE_BYTES)
                if not data:
                    return
                conn.last_recv = trio.current_time()
                self._stats["bytes_in"] += len(data)
                decoder.feed(data)
                batch = decoder.frames()
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
                except (TypeError, frames.FrameTooLarge) as exc:
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

    # ---- loopback ----------------------------------------------------------------------

    async def _loopback_task(self) -> None:
        async for message in self._loop_out:
            handler = self._handlers.get(type(message))
            if handler is None:
                self._stats["dropped_no_handler"] += 1
                continue
            try:
                await handler(self.local, message)
            except Exception:
                self._stats["handler_errors"] += 1
                log.exception("handler for %s (loopback) failed", type(message).__name__)

    async def _loopback_request(self, message: Any, timeout: float) -> Any:  # noqa: ASYNC109
        handler = self._handlers.get(type(message))
        if handler is None:
            raise RemoteError(f"unknown message type {type(message).__name__!r}")
        try:
            with trio.fail_after(timeout):
                return await handler(self.local, message)
        except trio.TooSlowError:
            raise RequestTimeout(f"no response from self within {timeout:g}s") from None
        except Exception as exc:
            self._stats["handler_errors"] += 1
            log.warning("handler for %s (loopback) failed", type(message).__name__, exc_info=True)
            raise RemoteError(f"{type(exc).__name__}: {exc}") from exc


async def _read_frame(
    stream: trio.abc.Stream, decoder: frames.FrameDecoder, out: list[bytes]
) -> bytes:
    while not out:
        data = await stream.receive_some(_RECEIVE_BYTES)
        if not data:
            raise trio.BrokenResourceError("connection closed during handshake")
        decoder.feed(data)
        out.extend(decoder.frames())
    return out.pop(0)


def _is_tls_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _describe(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, trio.BrokenResourceError) and cause is not None:
        exc = cause
    text = str(exc) or type(exc).__name__
    return text[:300]
