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

Hostile or broken peers cost only their own connection (the timeouts are the knobs of
:class:`~.config.TransportConfig`): a connection that has not completed its
handshake within ``handshake_timeout`` is closed (``handshake_timeouts``), so is one whose frame
is still incomplete ``partial_frame_timeout`` after its first byte (``partial_frame_timeouts``)
or that sends a broken envelope (``decode_errors``); a sound envelope around a message that does
not decode costs that message (``dropped_undecodable``; a request gets an error answer).
Addresses are checked before anything is dialled (``dropped_bad_address``).

The parts, each owned by the transport: a :class:`~.links.Link` per peer address (queue, dial
state, which connection carries the traffic), a :class:`~.connection.Connection` per socket
(reader, sender, keepalive, BYE), the :class:`~.handshake.Handshaker` (TLS, Hellos, verdicts)
and the :class:`~.dispatch.Dispatcher` (handlers, requests waiting for responses).
"""

from __future__ import annotations

import collections
import logging
import random
import ssl
from typing import Any

import trio

from trio_zeebe.codec import DecodeError
from trio_zeebe.transport import frames
from trio_zeebe.transport.api import (
    Handler,
    MessageTooLarge,
    NotSent,
    Peer,
    PeerUnavailable,
    join_address,
    split_address,
)
from trio_zeebe.transport.config import TransportConfig
from trio_zeebe.transport.connection import CLOSED, Connection
from trio_zeebe.transport.dispatch import Dispatcher
from trio_zeebe.transport.handshake import (
    PROTOCOL_VERSION,
    Established,
    Handshaker,
    Hello,
    Refused,
)
from trio_zeebe.transport.links import Link
from trio_zeebe.transport.tls_stream import describe_failure, is_tls_failure

log = logging.getLogger("trio_zeebe.transport")


class TcpTransport:
    """:class:`Network` over TCP (+ mutual TLS when both SSL contexts are given)."""

    def __init__(
        self,
        local: Peer,
        cluster_name: str,
        ssl_server: ssl.SSLContext | None = None,
        ssl_client: ssl.SSLContext | None = None,
        *,
        config: TransportConfig | None = None,
        max_frame_bytes: int = frames.DEFAULT_MAX_FRAME_BYTES,
        bind: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if (ssl_server is None) != (ssl_client is None):
            raise ValueError("give both SSL contexts (mutual TLS) or neither (plain TCP)")
        split_address(local.address, allow_port_zero=True)
        if bind is not None:
            split_address(bind, allow_port_zero=True)
        self.local = local
        self.cluster_name = cluster_name
        self.port: int | None = None
        self._ssl_server, self._ssl_client = ssl_server, ssl_client
        self._max = max_frame_bytes
        self.config = config = config or TransportConfig()
        self._bind = bind
        self._rng = rng or random.Random()
        self._incarnation = self._rng.getrandbits(62)
        self._stats: collections.Counter[str] = collections.Counter()
        self._dispatcher = Dispatcher(local.node_id, max_frame_bytes, self._stats)
        self._links: dict[str, Link] = {}
        self._handshaker: Handshaker | None = None  # once bound: the Hello names the port
        self._nursery: trio.Nursery | None = None
        self._loop_in, self._loop_out = trio.open_memory_channel[Any](config.queue_frames)

    # ---- Network interface -------------------------------------------------------------

    def on(self, message_type: type, handler: Handler) -> None:
        self._dispatcher.on(message_type, handler)

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
        try:
            link = self._link_to(address)
        except NotSent as exc:
            log.debug("not sending %s: %s", type(message).__name__, exc)
            return
        self._enqueue(link, frame)

    async def request(self, address: str, message: Any, *, timeout: float) -> Any:  # noqa: ASYNC109
        if address == self.local.address:
            return await self._dispatcher.request_loopback(self.local, message, timeout)
        link = self._link_to(address)
        corr, pending = self._dispatcher.expect(address)
        try:
            try:
                frame = frames.encode(frames.REQUEST, corr, message, self._max)
            except frames.FrameTooLarge as exc:
                raise MessageTooLarge(str(exc)) from None
            self._stats["requests"] += 1
            if not self._enqueue(link, frame):
                raise NotSent(self._why_unavailable(link))
            return await pending.outcome(timeout, self._stats)
        finally:
            self._dispatcher.forget(corr)

    def stats(self) -> dict[str, int]:
        out = dict(self._stats)
        out["connections"] = sum(len(link.connections) for link in self._links.values())
        out["pending_requests"] = self._dispatcher.waiting
        out["queued_frames"] = sum(link.queued for link in self._links.values())
        return out

    # ---- lifecycle ---------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Peer] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and serve until cancelled; ``task_status.started(local peer)`` once bound."""
        host, port = split_address(self._bind or self.local.address, allow_port_zero=True)
        listeners = await trio.open_tcp_listeners(port, host=host)
        if port == 0:  # one ephemeral port: keep only the first listener
            for extra in listeners[1:]:
                await extra.aclose()
            listeners = listeners[:1]
        self.port = listeners[0].socket.getsockname()[1]
        adv_host, adv_port = split_address(self.local.address, allow_port_zero=True)
        if adv_port == 0:
            self.local = Peer(self.local.node_id, join_address(adv_host, self.port))
        hello = Hello(
            PROTOCOL_VERSION,
            self.cluster_name,
            self.local.node_id,
            self.local.address,
            self._incarnation,
        )
        handshaker = self._handshaker = Handshaker(
            hello,
            self._ssl_server,
            self._ssl_client,
            max_frame_bytes=self._max,
            connect_timeout=self.config.connect_timeout,
            handshake_timeout=self.config.handshake_timeout,
            stats=self._stats,
        )
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._dispatcher.answer_in(nursery)
                nursery.start_soon(self._dispatcher.deliver_loopback, self.local, self._loop_out)
                await nursery.start(trio.serve_listeners, self._accepted, listeners)
                log.info(
                    "node %d listening on %s (%s)",
                    self.local.node_id,
                    self.local.address,
                    handshaker.mode,
                )
                task_status.started(self.local)
        finally:
            self._nursery = None
            self._dispatcher.answer_in(None)
            self._dispatcher.fail_requests(None, PeerUnavailable("transport stopped"))

    # ---- links: queueing and dialling --------------------------------------------------

    def _link_to(self, address: str) -> Link:
        """The link to ``address``, made on first use; NotSent (counted) for a bad address."""
        link = self._links.get(address)
        if link is None:
            try:
                link = self._new_link(address)
            except ValueError as exc:
                self._stats["dropped_bad_address"] += 1
                raise NotSent(str(exc)) from None
        return link

    def _new_link(self, address: str) -> Link:
        """The link to a new address; ValueError (and no link) for a malformed address."""
        split_address(address)
        link = self._links[address] = Link(
            address,
            self.local.node_id,
            queue_frames=self.config.queue_frames,
            backoff_initial=self.config.backoff_initial,
            backoff_max=self.config.backoff_max,
            rng=self._rng,
            stats=self._stats,
        )
        return link

    def _enqueue(self, link: Link, frame: bytes) -> bool:
        if link.current is None and not link.dialling:
            if self._nursery is None or not link.should_dial(trio.current_time()):
                self._stats["dropped_unreachable"] += 1
                return False
            link.dial_started()
            self._nursery.start_soon(self._dial, link)
        return link.offer(frame)

    def _why_unavailable(self, link: Link) -> str:
        if self._nursery is None:
            return "transport is not running"
        return link.why_unavailable(trio.current_time())

    async def _dial(self, link: Link) -> None:
        assert self._handshaker is not None
        try:
            established = await self._handshaker.dial(link.address)
        except (*CLOSED, trio.TooSlowError, DecodeError, ValueError, Refused) as exc:
            self._dial_failed(link, exc)
            return
        link.dial_succeeded()
        self._stats["connections_dialled"] += 1
        await self._serve(established, link, dialled_by_us=True)

    def _dial_failed(self, link: Link, exc: BaseException) -> None:
        delay = link.dial_failed(trio.current_time())
        self._stats["dial_failures"] += 1
        if is_tls_failure(exc):
            self._stats["tls_failures"] += 1
        if not isinstance(exc, Refused):
            level = logging.WARNING if link.failures == 1 else logging.DEBUG
            log.log(
                level,
                "cannot connect to %s: %s (retry in %.2fs)",
                link.address,
                describe_failure(exc),
                delay,
            )
        if link.current is None:
            # Never connected: whatever waited in the queue was not sent.
            link.drop_queued()
            reason = f"{link.address} unreachable: {describe_failure(exc)}"
            self._dispatcher.fail_requests(link.address, NotSent(reason))

    # ---- connections -------------------------------------------------------------------

    async def _accepted(self, raw: trio.SocketStream) -> None:
        assert self._handshaker is not None
        established = await self._handshaker.accept(raw)
        if established is not None:
            link = self._links.get(established.hello.address)
            if link is None:  # the Hello's address was checked by the handshake
                link = self._new_link(established.hello.address)
            await self._serve(established, link, dialled_by_us=False)

    async def _serve(self, established: Established, link: Link, *, dialled_by_us: bool) -> None:
        conn = Connection(
            established.stream,
            established.hello,
            link,
            dialled_by_us=dialled_by_us,
            receiver=self._dispatcher,
            config=self.config,
            stats=self._stats,
        )
        if link.current is None:
            assert self._handshaker is not None
            log.info(
                "connected to node %d at %s (%s, %s)",
                conn.node_id,
                link.address,
                self._handshaker.mode,
                "dialled" if dialled_by_us else "accepted",
            )
        if link.adopt(conn):
            self._fail_link_requests(link, f"node {conn.node_id} restarted")
        try:
            await conn.run(established.decoder, established.backlog)
        finally:
            if link.gone(conn):
                self._fail_link_requests(link, f"connection to {link.address} lost")
            await conn.aclose()

    def _fail_link_requests(self, link: Link, reason: str) -> None:
        self._dispatcher.fail_requests(link.address, PeerUnavailable(reason))
