"""The :class:`Dispatcher`: where the TCP transport's incoming messages go.

One handler per message type (``Network.on``); a request runs its handler in a task of its own
(a slow request does not hold up the connection) and its answer, or the error text, goes back
on the link it came from; a response resolves the request waiting for it. Messages a node sends
to itself take the same handlers without touching the network.
"""

from __future__ import annotations

import collections
import itertools
import logging
from typing import Any

import trio

from trio_zeebe import codec
from trio_zeebe.transport import frames
from trio_zeebe.transport.api import Handler, Peer, RemoteError, RequestTimeout
from trio_zeebe.transport.connection import Connection
from trio_zeebe.transport.links import Link
from trio_zeebe.transport.pending import PendingRequest

log = logging.getLogger("trio_zeebe.transport")


class Dispatcher:
    """Handlers by message type and the requests waiting for their responses."""

    def __init__(
        self, local_node_id: int, max_frame_bytes: int, stats: collections.Counter[str]
    ) -> None:
        self._node_id = local_node_id
        self._max = max_frame_bytes
        self._stats = stats
        self._handlers: dict[type, Handler] = {}
        self._pending: dict[int, PendingRequest] = {}
        self._correlation_ids = itertools.count(1)
        self._nursery: trio.Nursery | None = None

    def on(self, message_type: type, handler: Handler) -> None:
        try:
            codec.tag_of(message_type)
        except KeyError:
            raise ValueError(f"{message_type.__qualname__} is not a wire message") from None
        if message_type in self._handlers:
            raise ValueError(f"a handler for {message_type.__qualname__} is already registered")
        self._handlers[message_type] = handler

    def answer_in(self, nursery: trio.Nursery | None) -> None:
        """Where request handlers run (the transport's nursery while it runs)."""
        self._nursery = nursery

    # ---- requests waiting for responses -----------------------------------------------------

    @property
    def waiting(self) -> int:
        return len(self._pending)

    def expect(self, address: str) -> tuple[int, PendingRequest]:
        """A new correlation id for a request to ``address``, and what will hold its answer."""
        corr = next(self._correlation_ids)
        pending = self._pending[corr] = PendingRequest(address)
        return corr, pending

    def forget(self, corr: int) -> None:
        del self._pending[corr]

    def fail_requests(self, address: str | None, error: Exception) -> None:
        """Resolve every request waiting on ``address`` (None: on any address) with ``error``."""
        for pending in self._pending.values():
            if address is None or pending.address == address:
                pending.resolve(error=error)

    # ---- from the network (the connections' Receiver) --------------------------------------

    async def deliver(self, conn: Connection, envelope: frames.Envelope) -> None:
        kind, corr, message = envelope
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
        else:  # RESPONSE or ERROR
            pending = self._pending.get(corr)
            if pending is None or pending.address != conn.link.address:
                self._stats["late_responses"] += 1
            elif kind == frames.ERROR:
                pending.resolve(error=RemoteError(message))
            else:
                pending.resolve(message)

    def refuse(self, conn: Connection, bad: frames.BadMessage) -> None:
        # The stream is intact (the envelope decoded): drop this message, keep the connection.
        self._stats["dropped_undecodable"] += 1
        log.warning(
            "dropping a message from node %d at %s: %s", conn.peer.node_id, conn.peer.address, bad
        )
        if bad.kind == frames.REQUEST:
            error = f"node {self._node_id} cannot decode the request: {bad}"[:1000]
            conn.link.offer(frames.encode(frames.ERROR, bad.correlation_id, error))
        elif bad.kind == frames.RESPONSE:
            pending = self._pending.get(bad.correlation_id)
            if pending is not None and pending.address == conn.link.address:
                pending.resolve(error=RemoteError(f"undecodable response: {bad}"))

    async def _answer(self, link: Link, peer: Peer, corr: int, message: Any) -> None:
        frame = None
        handler = self._handlers.get(type(message))
        if handler is None:
            self._stats["dropped_no_handler"] += 1
            error = f"unknown message type {codec.tag_of(type(message))!r} at node {self._node_id}"
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
        link.offer(frame)

    # ---- to ourselves ----------------------------------------------------------------------

    async def deliver_loopback(self, local: Peer, messages: trio.MemoryReceiveChannel[Any]) -> None:
        """Run the handlers of the one-way messages this node sends itself, in order."""
        async for message in messages:
            handler = self._handlers.get(type(message))
            if handler is None:
                self._stats["dropped_no_handler"] += 1
                continue
            try:
                await handler(local, message)
            except Exception:
                self._stats["handler_errors"] += 1
                log.exception("handler for %s (loopback) failed", type(message).__name__)

    async def request_loopback(self, local: Peer, message: Any, timeout: float) -> Any:  # noqa: ASYNC109
        handler = self._handlers.get(type(message))
        if handler is None:
            raise RemoteError(f"unknown message type {type(message).__name__!r}")
        try:
            with trio.fail_after(timeout):
                return await handler(local, message)
        except trio.TooSlowError:
            raise RequestTimeout(f"no response from self within {timeout:g}s") from None
        except Exception as exc:
            self._stats["handler_errors"] += 1
            log.warning("handler for %s (loopback) failed", type(message).__name__, exc_info=True)
            raise RemoteError(f"{type(exc).__name__}: {exc}") from exc
