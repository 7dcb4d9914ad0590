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

Hostile or broken peers cost only their own connection: a connection that has not completed its
handshake within ``handshake_timeout`` is closed (``handshake_timeouts``), so is one whose frame
is still incomplete ``partial_frame_timeout`` after its first byte (``partial_frame_timeouts``)
or that sends a broken envelope (``decode_errors``); a sound envelope around a message that does
not decode costs that message (``dropped_undecodable``; a request gets an error answer).
Addresses are checked before anything is dialled (``dropped_bad_address``).
"""

from __future__ import annotations

import collections
import itertools
import random
import ssl
from typing import Any

import trio

from trio_zeebe import codec
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
from trio_zeebe.transport.connection import ConnectionMixin, _Link, log
from trio_zeebe.transport.handshake import PROTOCOL_VERSION, Hello
from trio_zeebe.transport.links import LinksMixin
from trio_zeebe.transport.pending import PendingRequest


class TcpTransport(LinksMixin, ConnectionMixin):
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
        partial_frame_timeout: float = 15.0,
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
        self._mode = "plain TCP" if ssl_server is None else "mutual TLS"
        self._max = max_frame_bytes
        self._queue_frames = queue_frames
        self._connect_timeout, self._handshake_timeout = connect_timeout, handshake_timeout
        self._backoff_initial, self._backoff_max = backoff_initial, backoff_max
        self._keepalive, self._idle_timeout = keepalive, idle_timeout
        self._frame_timeout = partial_frame_timeout
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
        try:
            link = self._link(address)
        except ValueError as exc:
            self._stats["dropped_bad_address"] += 1
            log.debug("not sending %s: %s", type(message).__name__, exc)
            return
        self._enqueue(link, frame)

    async def request(self, address: str, message: Any, *, timeout: float) -> Any:  # noqa: ASYNC109
        if address == self.local.address:
            return await self._loopback_request(message, timeout)
        corr = next(self._corr)
        try:
            frame = frames.encode(frames.REQUEST, corr, message, self._max)
        except frames.FrameTooLarge as exc:
            raise MessageTooLarge(str(exc)) from None
        try:
            link = self._link(address)
        except ValueError as exc:
            self._stats["dropped_bad_address"] += 1
            raise NotSent(str(exc)) from None
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
