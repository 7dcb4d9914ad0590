"""Link management of :class:`~trio_zeebe.transport.tcp.TcpTransport`: which connection
carries a peer's traffic.

A mixin of ``TcpTransport``, kept apart so the transport fits in one reading: the per-peer
outbound queue, dialling on demand with a capped, jittered exponential backoff, accepting and
handshaking, resolving duplicate connections, and failing waiting requests when a peer becomes
unreachable. The overall design is described in :mod:`.tcp`.
"""

from __future__ import annotations

import collections
import logging
import random
import ssl
from typing import TYPE_CHECKING

import trio

from trio_zeebe import codec
from trio_zeebe.codec import DecodeError
from trio_zeebe.transport import frames
from trio_zeebe.transport.api import NotSent, Peer, PeerUnavailable, join_address, split_address
from trio_zeebe.transport.connection import (
    _CLOSED,
    _RECEIVE_BYTES,
    _Conn,
    _describe,
    _Link,
    log,
)
from trio_zeebe.transport.handshake import Hello, Verdict, check_certificate, check_hello
from trio_zeebe.transport.pending import PendingRequest
from trio_zeebe.transport.tls_stream import TLSStream


class _Refused(Exception):
    """Handshake refused (already logged and counted)."""


class LinksMixin:
    # State owned and initialised by TcpTransport; declared here for the type checker only.
    local: Peer
    _ssl_server: ssl.SSLContext | None
    _ssl_client: ssl.SSLContext | None
    _max: int
    _queue_frames: int
    _connect_timeout: float
    _handshake_timeout: float
    _backoff_initial: float
    _backoff_max: float
    _rng: random.Random
    _hello: Hello
    _links: dict[str, _Link]
    _pending: dict[int, PendingRequest]
    _stats: collections.Counter[str]
    _nursery: trio.Nursery | None

    if TYPE_CHECKING:  # defined by ConnectionMixin

        async def _serve(
            self,
            stream: trio.abc.Stream,
            hello: Hello,
            decoder: frames.FrameDecoder,
            backlog: list[bytes],
            link: _Link,
            dialled_by_us: bool,
        ) -> None: ...

    # ---- queueing and dialling ---------------------------------------------------------

    def _link(self, address: str) -> _Link:
        """The link to ``address``; ValueError (and no link) for a malformed address."""
        link = self._links.get(address)
        if link is None:
            split_address(address)
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
                        stream = TLSStream(raw, self._ssl_client, server_hostname=host)
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
                    stream = TLSStream(raw, self._ssl_server, server_side=True)
                    await stream.do_handshake()
                decoder = frames.FrameDecoder(self._max)
                hello, backlog = await self._handshake(stream, decoder, where, False)
        except (*_CLOSED, trio.TooSlowError, DecodeError, _Refused) as exc:
            if not isinstance(exc, _Refused):
                if _is_tls_error(exc):
                    self._stats["tls_failures"] += 1
                if isinstance(exc, trio.TooSlowError):
                    # TCP (and TLS) done but no Hello in time: a stuck or hostile client.
                    self._stats["handshake_timeouts"] += 1
                    exc = trio.TooSlowError(f"no handshake within {self._handshake_timeout:g}s")
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
        cert = stream.getpeercert() if isinstance(stream, TLSStream) else None
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

    # ---- duplicate connections and lost connections ------------------------------------

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
