"""A :class:`Link`: what the TCP transport keeps about one peer address.

The link owns the bounded outbound queue of frames for the address, the connections to it and
the choice of the one that carries its traffic, and the dial state with its capped, jittered
exponential back-off. It does no I/O itself: the transport dials and serves connections, and a
connection's sender takes its frames from the link.
"""

from __future__ import annotations

import collections
import logging
import random
from typing import Protocol

import trio

log = logging.getLogger("trio_zeebe.transport")


class LinkConnection(Protocol):
    """What a link needs of the connections it chooses between."""

    @property
    def node_id(self) -> int: ...

    @property
    def incarnation(self) -> int: ...

    @property
    def dialled_by_us(self) -> bool: ...

    @property
    def retiring(self) -> bool: ...

    def retire(self) -> None:
        """Stop carrying traffic, finish what was written and close (the BYE exchange)."""

    def close(self) -> None:
        """Close now."""


class Link:
    """One remote address: its queue, its connections, its dial state.

    Duplicate connections (both sides dialled at once) are resolved the same way on both sides:
    the connection dialled by the lower node id wins, between two dials by the same node the
    newer; the loser is retired. A connection from a new incarnation of the peer (a restart)
    replaces all older ones at once.
    """

    def __init__(
        self,
        address: str,
        local_node_id: int,
        *,
        queue_frames: int,
        backoff_initial: float,
        backoff_max: float,
        rng: random.Random,
        stats: collections.Counter[str],
    ) -> None:
        self.address = address
        self.current: LinkConnection | None = None
        self.connections: set[LinkConnection] = set()
        self.dialling = False
        self.failures = 0
        self.backoff_until = float("-inf")
        self.ever_connected = False
        self._local_node_id = local_node_id
        self._queue: collections.deque[bytes] = collections.deque()
        self._queue_frames = queue_frames
        self._wake = trio.Event()
        self._backoff_initial, self._backoff_max = backoff_initial, backoff_max
        self._rng = rng
        self._stats = stats

    # ---- the outbound queue ----------------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._queue)

    def offer(self, frame: bytes) -> bool:
        """Queue ``frame`` if a connection exists or is being dialled and there is room."""
        if self.current is None and not self.dialling:
            self._stats["dropped_unreachable"] += 1
            return False
        if len(self._queue) >= self._queue_frames:
            self._stats["dropped_queue_full"] += 1
            return False
        self._queue.append(frame)
        self._wake.set()
        return True

    def take(self, max_bytes: int) -> tuple[int, bytes] | None:
        """Up to about ``max_bytes`` of queued frames in one piece (and how many), or None."""
        queue = self._queue
        if not queue:
            return None
        if len(queue) == 1:
            return 1, queue.popleft()
        parts: list[bytes] = []
        size = 0
        while queue and size < max_bytes:
            parts.append(queue.popleft())
            size += len(parts[-1])
        return len(parts), b"".join(parts)

    def drop_queued(self) -> None:
        self._stats["dropped_unreachable"] += len(self._queue)
        self._queue.clear()

    def wake(self) -> None:
        """Something changed (a frame queued, a connection chosen or retired): senders look."""
        self._wake.set()

    async def changed(self) -> None:
        """Wait for the next :meth:`wake` (or :meth:`offer`) after this call."""
        if self._wake.is_set():
            self._wake = trio.Event()
        await self._wake.wait()

    # ---- dialling --------------------------------------------------------------------------

    def should_dial(self, now: float) -> bool:
        """No connection, no dial under way, and not backing off: a frame for it needs a dial."""
        return self.current is None and not self.dialling and now >= self.backoff_until

    def dial_started(self) -> None:
        self.dialling = True

    def dial_succeeded(self) -> None:
        self.dialling = False
        if self.ever_connected:
            self._stats["reconnects"] += 1
        self.failures = 0

    def dial_failed(self, now: float) -> float:
        """Back off; the delay before the next dial."""
        self.dialling = False
        self.failures += 1
        delay: float = min(self._backoff_max, self._backoff_initial * 2.0 ** (self.failures - 1))
        delay *= self._rng.uniform(0.75, 1.0)  # jitter: peers must not re-dial in lockstep
        self.backoff_until = now + delay
        return delay

    def why_unavailable(self, now: float) -> str:
        wait = self.backoff_until - now
        if self.current is None and not self.dialling and wait > 0:
            return f"{self.address} unreachable (next dial in {wait:.2f}s)"
        return f"outbound queue to {self.address} is full"

    # ---- which connection carries the traffic ----------------------------------------------

    def adopt(self, conn: LinkConnection) -> bool:
        """A newly established connection; True if it shows the peer restarted (the traffic
        queued for and sent to its old incarnation is lost)."""
        self.ever_connected = True
        self.connections.add(conn)
        cur = self.current
        restarted = False
        if cur is None:
            self.current = conn
        elif conn.incarnation != cur.incarnation:
            log.info(
                "node %d at %s restarted: replacing its old connections",
                conn.node_id,
                self.address,
            )
            for old in self.connections:
                if old.incarnation != conn.incarnation:
                    old.close()
            self.drop_queued()
            self.current = conn
            restarted = True
        else:
            self._stats["duplicate_connections"] += 1
            if self._preferred(conn, cur):
                self.current = conn
                cur.retire()
            else:
                conn.retire()
        self._wake.set()
        return restarted

    def _preferred(self, new: LinkConnection, old: LinkConnection) -> bool:
        def dialler(c: LinkConnection) -> int:
            return self._local_node_id if c.dialled_by_us else c.node_id

        return dialler(new) <= dialler(old)

    def retired(self, conn: LinkConnection) -> None:
        """``conn`` started retiring: another connection (if any) carries the traffic."""
        if self.current is conn:
            self.current = self._usable()
        self._wake.set()

    def gone(self, conn: LinkConnection) -> bool:
        """``conn`` ended; True if it was the last usable one (the link is disconnected and
        what was queued is dropped)."""
        self.connections.discard(conn)
        lost = False
        if self.current is conn:
            self.current = self._usable()
            if self.current is None:
                log.info("disconnected from node %d at %s", conn.node_id, self.address)
                self._stats["disconnects"] += 1
                self.drop_queued()
                lost = True
        self._wake.set()
        return lost

    def _usable(self) -> LinkConnection | None:
        return next((c for c in self.connections if not c.retiring), None)
