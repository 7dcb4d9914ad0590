"""A :class:`Connection`: one established, handshaken socket to a peer.

The connection runs three tasks until it ends: the reader (frames in, handed to a
:class:`Receiver`), the sender (everything its link has queued, in one ``send_all``, while it is
the link's chosen connection) and the keepalive (a PING on an idle connection; closing one that
went silent, that trickles a frame without finishing it, or whose retirement stalls). Retiring
a connection is the BYE exchange: each side writes BYE as its last frame and reads on until the
other's BYE, so nothing written on it is lost.
"""

from __future__ import annotations

import collections
import logging
from typing import Protocol

import trio

from trio_zeebe.codec import DecodeError
from trio_zeebe.transport import frames
from trio_zeebe.transport.api import Peer
from trio_zeebe.transport.config import TransportConfig
from trio_zeebe.transport.handshake import Hello
from trio_zeebe.transport.links import Link
from trio_zeebe.transport.tls_stream import describe_failure

log = logging.getLogger("trio_zeebe.transport")

RECEIVE_BYTES = 65536
GRACEFUL_CLOSE_TIMEOUT = 0.5  # seconds for a TLS close_notify before the socket is dropped
_WRITE_CHUNK = 256 * 1024
_BYE = frames.encode(frames.BYE, 0, None)
_PING = frames.encode(frames.PING, 0, None)
CLOSED = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
"""What a stream raises when the other side or the network went away."""


class Receiver(Protocol):
    """Where a connection hands what it reads (the transport's :class:`~.dispatch.Dispatcher`)."""

    async def deliver(self, conn: Connection, envelope: frames.Envelope) -> None:
        """A one-way message, request, response or error from the connection's peer."""

    def refuse(self, conn: Connection, bad: frames.BadMessage) -> None:
        """A sound envelope around a message that does not decode."""


class Connection:
    """One socket to a peer, from the end of its handshake until it closes."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        hello: Hello,
        link: Link,
        *,
        dialled_by_us: bool,
        receiver: Receiver,
        config: TransportConfig,
        stats: collections.Counter[str],
    ) -> None:
        now = trio.current_time()
        self.stream = stream
        self.peer = Peer(hello.node_id, link.address)
        self.incarnation = hello.incarnation
        self.dialled_by_us = dialled_by_us
        self.link = link
        self.retiring = False
        self._receiver = receiver
        self._config = config
        self._stats = stats
        self._scope = trio.CancelScope()
        self._retired_at = 0.0
        self._bye_sent = False
        self._bye_received = False
        self._last_recv = now
        self._last_send = now
        self._partial_since: float | None = None  # when the incomplete frame now buffered began

    @property
    def node_id(self) -> int:
        return self.peer.node_id

    def close(self) -> None:
        self._scope.cancel()

    def retire(self) -> None:
        if self.retiring:
            return
        self.retiring = True
        self._retired_at = trio.current_time()
        self.link.retired(self)

    async def run(self, decoder: frames.FrameDecoder, backlog: list[bytes]) -> None:
        """Serve until the connection ends (closed, broken, timed out, retired or cancelled);
        ``backlog``: frames the handshake read past its own."""
        with self._scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._send_loop)
                nursery.start_soon(self._keepalive_loop)
                await self._read_loop(decoder, backlog)

    async def aclose(self) -> None:
        """Close the stream: gracefully if that is quick, else forcefully."""
        with trio.CancelScope(shield=True):
            with trio.move_on_after(GRACEFUL_CLOSE_TIMEOUT):
                await self.stream.aclose()
            await trio.aclose_forcefully(self.stream)

    # ---- the three tasks -------------------------------------------------------------------

    async def _read_loop(self, decoder: frames.FrameDecoder, batch: list[bytes]) -> None:
        stream, peer, stats = self.stream, self.peer, self._stats
        receiver = self._receiver
        try:
            while True:
                for payload in batch:
                    try:
                        envelope = frames.decode(payload)
                    except frames.BadMessage as exc:
                        receiver.refuse(self, exc)
                        continue
                    stats["frames_in"] += 1
                    kind = envelope.kind
                    if kind == frames.BYE:
                        self._bye()
                    elif kind != frames.PING:
                        await receiver.deliver(self, envelope)
                data = await stream.receive_some(RECEIVE_BYTES)
                if not data:
                    return
                now = self._last_recv = trio.current_time()
                stats["bytes_in"] += len(data)
                decoder.feed(data)
                batch = decoder.frames()
                if not decoder.buffered:
                    self._partial_since = None
                elif batch or self._partial_since is None:
                    self._partial_since = now
        except frames.FrameTooLarge as exc:
            stats["oversized_frames"] += 1
            log.warning("closing connection to node %d at %s: %s", peer.node_id, peer.address, exc)
        except DecodeError as exc:
            stats["decode_errors"] += 1
            log.warning(
                "closing connection to node %d at %s: bad frame: %s",
                peer.node_id,
                peer.address,
                exc,
            )
        except CLOSED as exc:
            log.debug("connection to node %d closed: %s", peer.node_id, describe_failure(exc))
        finally:
            self._scope.cancel()

    def _bye(self) -> None:
        self._bye_received = True
        if self._bye_sent:  # both sides are done with it: close now
            self._scope.cancel()
        else:
            self.retire()

    async def _send_loop(self) -> None:
        link, stream, stats = self.link, self.stream, self._stats
        try:
            while True:
                if self.retiring:
                    await stream.send_all(_BYE)
                    self._bye_sent = True
                    if self._bye_received:
                        self._scope.cancel()
                    return
                if link.current is self:
                    batch = link.take(_WRITE_CHUNK)
                    if batch is not None:
                        count, data = batch
                        await stream.send_all(data)
                        self._last_send = trio.current_time()
                        stats["frames_out"] += count
                        stats["bytes_out"] += len(data)
                        stats["writes"] += 1
                        continue
                await link.changed()
        except CLOSED as exc:
            log.debug("writing to node %d failed: %s", self.peer.node_id, describe_failure(exc))
            self._scope.cancel()

    async def _keepalive_loop(self) -> None:
        # An idle peer still sends a PING every `keepalive` seconds, so silence for the idle
        # timeout means the connection is dead even if TCP has not noticed (partition).
        config, link = self._config, self.link
        while True:
            await trio.sleep(config.keepalive)
            now = trio.current_time()
            partial = self._partial_since
            if self.retiring and now - self._retired_at > config.idle_timeout:
                self._scope.cancel()
            elif partial is not None and now - partial > config.partial_frame_timeout:
                # A frame must arrive whole in time: a peer trickling one never-ending frame
                # would otherwise hold the connection (and its buffer) forever.
                self._stats["partial_frame_timeouts"] += 1
                log.warning(
                    "node %d at %s sent part of a frame %.1fs ago and not the rest: closing",
                    self.peer.node_id,
                    link.address,
                    now - partial,
                )
                self._scope.cancel()
            elif now - self._last_recv > config.idle_timeout:
                self._stats["idle_closed"] += 1
                log.warning(
                    "no traffic from node %d at %s for %.1fs: closing",
                    self.peer.node_id,
                    link.address,
                    now - self._last_recv,
                )
                self._scope.cancel()
            elif (
                link.current is self
                and now - self._last_send >= config.keepalive
                and not link.queued
            ):
                link.offer(_PING)
