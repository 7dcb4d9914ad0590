"""A simulated, deterministic :class:`~trio_zeebe.transport.api.Network` for tests.

``SimNetwork(rng)`` hands out endpoints (``sim.endpoint(peer)``) that implement the same interface
as the TCP transport, entirely in memory under trio: delays are ``trio.sleep``-based deadlines, so
it runs under ``MockClock(autojump_threshold=0)``. Per-link faults (drop, delay, duplicate,
reorder), partitions and crashes apply to requests and responses alike. Every random choice comes
from the one ``rng``, so a seed replays the same faults for the same sequence of calls.

Each endpoint has ``run()`` (start it with ``await nursery.start(endpoint.run)`` in the owning
node's nursery): it delivers the endpoint's inbound messages when due, calling one-way handlers
inline in delivery order and running each request handler in its own task, like the TCP
transport does. A crashed endpoint receives nothing; requests to it fail with ``PeerUnavailable``
(like a refused connection) and requests already waiting on it fail the same way.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import random
from collections.abc import Iterable
from typing import Any

import attrs
import trio
import trio.lowlevel

from trio_zeebe import codec
from trio_zeebe.transport.api import (
    Handler,
    NotSent,
    Peer,
    PeerUnavailable,
    RemoteError,
    RequestTimeout,
)
from trio_zeebe.transport.pending import PendingRequest

log = logging.getLogger("trio_zeebe.testing.network")

_ONEWAY, _REQUEST, _RESPONSE, _ERROR = range(4)


@attrs.frozen
class LinkFaults:
    """Faults of one direction of a link (or the default for all links)."""

    drop: float = 0.0  # probability a message is lost
    delay: tuple[float, float] = (0.0, 0.0)  # uniform one-way latency range, seconds
    duplicate: float = 0.0  # probability a message is delivered twice
    reorder: float = 0.0  # probability of an extra random delay (lets later messages overtake)
    reorder_delay: float = 0.05  # the extra delay is uniform in [0, reorder_delay]


class SimNetwork:
    """The simulated world: endpoints, link faults, partitions, crashes and counters."""

    def __init__(self, rng: random.Random, *, roundtrip: bool = True, queue_size: int = 10000):
        self.rng = rng
        self.roundtrip = roundtrip  # pass messages through the codec, as the wire would
        self.queue_size = queue_size
        self.default = LinkFaults()
        self._links: dict[tuple[str, str], LinkFaults] = {}
        self._group: dict[str, int] = {}  # address -> partition group; absent = reachable by all
        self._endpoints: dict[str, SimEndpoint] = {}
        self.crashed: set[str] = set()
        self.counters: collections.Counter[str] = collections.Counter()
        self._seq = itertools.count()

    # ---- topology ----------------------------------------------------------------------

    def endpoint(self, peer: Peer) -> SimEndpoint:
        """A new endpoint for ``peer``; replaces (detaches) an earlier one at the same address."""
        old = self._endpoints.get(peer.address)
        if old is not None:
            old._detach()
        ep = self._endpoints[peer.address] = SimEndpoint(self, peer)
        return ep

    def set_faults(
        self, faults: LinkFaults, src: str | None = None, dst: str | None = None
    ) -> None:
        """Faults for src -> dst, or the default for every link when both are None."""
        if src is None and dst is None:
            self.default = faults
        elif src is not None and dst is not None:
            self._links[(src, dst)] = faults
        else:
            raise ValueError("give both src and dst, or neither")

    def faults(self, src: str, dst: str) -> LinkFaults:
        return self._links.get((src, dst), self.default)

    def partition(self, *groups: Iterable[str]) -> None:
        """Only addresses in the same group reach each other; unlisted addresses reach no one."""
        self._group = {}
        for i, group in enumerate(groups):
            for address in group:
                self._group[address] = i
        for address in self._endpoints:
            self._group.setdefault(address, -1 - len(self._group))
        self._fail_pending(lambda src, dst: not self.connected(src, dst), RequestTimeout)

    def isolate(self, address: str) -> None:
        others = [a for a in self._endpoints if a != address]
        self.partition(others, [address])

    def heal(self) -> None:
        self._group = {}

    def connected(self, src: str, dst: str) -> bool:
        if src == dst or not self._group:
            return True
        g = self._group.get(src)
        return g is not None and g == self._group.get(dst)

    def crash(self, address: str) -> None:
        """The endpoint stops receiving; its queue is lost; requests to and from it fail."""
        self.crashed.add(address)
        ep = self._endpoints.get(address)
        if ep is not None:
            self.counters["dropped_crashed"] += len(ep._heap)
            ep._heap.clear()
            for pending in ep._pending.values():
                pending.resolve(error=PeerUnavailable(f"{address} crashed"))
        self._fail_pending(lambda src, dst: dst == address, PeerUnavailable)

    def restart(self, address: str) -> None:
        self.crashed.discard(address)

    def stats(self) -> dict[str, int]:
        return dict(self.counters)

    def _fail_pending(self, broken: Any, kind: type[Exception]) -> None:
        # a broken link never answers: requests on it end now (crash) or time out (partition)
        if kind is RequestTimeout:
            return
        for ep in self._endpoints.values():
            for pending in ep._pending.values():
                if broken(ep.local.address, pending.address):
                    pending.resolve(error=kind(f"{pending.address} is unreachable"))

    # ---- delivery ----------------------------------------------------------------------

    def _transmit(self, src: SimEndpoint, dst_address: str, item: tuple[Any, ...]) -> None:
        """Apply the link's faults and schedule delivery (zero, one or two copies)."""
        self.counters["sent"] += 1
        src._stats["frames_out"] += 1
        dst = self._endpoints.get(dst_address)
        if dst is None or dst_address in self.crashed:
            self.counters["dropped_crashed"] += 1
            return
        if not self.connected(src.local.address, dst_address):
            self.counters["dropped_partition"] += 1
            return
        f = self.faults(src.local.address, dst_address)
        rng = self.rng
        if f.drop and rng.random() < f.drop:
            self.counters["dropped_fault"] += 1
            return
        copies = 2 if f.duplicate and rng.random() < f.duplicate else 1
        if copies == 2:
            self.counters["duplicated"] += 1
        now = trio.current_time()
        for _ in range(copies):
            at = now + (rng.uniform(*f.delay) if f.delay[1] > 0 else 0.0)
            if f.reorder and rng.random() < f.reorder:
                self.counters["reordered"] += 1
                at += rng.uniform(0.0, f.reorder_delay)
            dst._schedule(at, next(self._seq), item)


class SimEndpoint:
    """One node's view of the simulated network (implements ``Network``)."""

    def __init__(self, sim: SimNetwork, local: Peer) -> None:
        self.sim = sim
        self.local = local
        self._handlers: dict[type, Handler] = {}
        self._heap: list[tuple[float, int, tuple[Any, ...]]] = []
        self._wake = trio.Event()
        self._pending: dict[int, PendingRequest] = {}
        self._corr = itertools.count(1)
        self._stats: collections.Counter[str] = collections.Counter()
        self._detached = False

    def on(self, message_type: type, handler: Handler) -> None:
        if message_type in self._handlers:
            raise ValueError(f"a handler for {message_type.__qualname__} is already registered")
        self._handlers[message_type] = handler

    def send(self, address: str, message: Any) -> None:
        if self._detached or self.local.address in self.sim.crashed:
            self._stats["dropped_crashed"] += 1
            return
        self.sim._transmit(self, address, (_ONEWAY, 0, self.local, self._wire(message)))

    async def request(self, address: str, message: Any, *, timeout: float) -> Any:  # noqa: ASYNC109
        sim = self.sim
        if address in sim.crashed or address not in sim._endpoints or self._detached:
            await trio.lowlevel.checkpoint()  # like a refused connection: fails fast
            raise NotSent(f"{address} unreachable")
        corr = next(self._corr)
        pending = self._pending[corr] = PendingRequest(address)
        self._stats["requests"] += 1
        try:
            sim._transmit(self, address, (_REQUEST, corr, self.local, self._wire(message)))
            return self._unwire(await pending.outcome(timeout, self._stats))
        finally:
            del self._pending[corr]

    def stats(self) -> dict[str, int]:
        out = dict(self._stats)
        out["pending_requests"] = len(self._pending)
        out["queued_frames"] = len(self._heap)
        return out

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver inbound messages when they are due, until cancelled."""
        async with trio.open_nursery() as nursery:
            task_status.started()
            heap = self._heap
            while True:
                now = trio.current_time()
                while heap and heap[0][0] <= now:
                    _, _, item = heapq.heappop(heap)
                    await self._deliver(nursery, item)
                if self._wake.is_set():
                    self._wake = trio.Event()
                if heap:
                    with trio.move_on_at(heap[0][0]):
                        await self._wake.wait()
                else:
                    await self._wake.wait()

    # ---- internals ---------------------------------------------------------------------

    def _wire(self, message: Any) -> Any:
        return codec.encode(message) if self.sim.roundtrip else message

    def _unwire(self, data: Any) -> Any:
        return codec.decode(data) if self.sim.roundtrip and data is not None else data

    def _schedule(self, at: float, seq: int, item: tuple[Any, ...]) -> None:
        if len(self._heap) >= self.sim.queue_size:
            self.sim.counters["dropped_queue_full"] += 1
            return
        heapq.heappush(self._heap, (at, seq, item))
        self._wake.set()

    def _detach(self) -> None:
        self._detached = True
        self._heap.clear()
        for pending in self._pending.values():
            pending.resolve(error=PeerUnavailable("endpoint replaced"))

    async def _deliver(self, nursery: trio.Nursery, item: tuple[Any, ...]) -> None:
        kind, corr, sender, payload = item
        sim = self.sim
        if self.local.address in sim.crashed or self._detached:
            sim.counters["dropped_crashed"] += 1
            return
        if not sim.connected(sender.address, self.local.address):
            sim.counters["dropped_partition"] += 1  # the partition began while in flight
            return
        sim.counters["delivered"] += 1
        self._stats["frames_in"] += 1
        if kind in (_RESPONSE, _ERROR):
            pending = self._pending.get(corr)
            if pending is None or pending.address != sender.address:
                self._stats["late_responses"] += 1
            elif kind == _ERROR:
                pending.resolve(error=RemoteError(payload))
            else:
                pending.resolve(payload)
            return
        message = self._unwire(payload)
        handler = self._handlers.get(type(message))
        if kind == _ONEWAY:
            if handler is None:
                self._stats["dropped_no_handler"] += 1
                return
            try:
                await handler(sender, message)
            except Exception:
                self._stats["handler_errors"] += 1
                log.exception("handler for %s at %s failed", type(message).__name__, self.local)
        else:
            nursery.start_soon(self._answer, handler, sender, corr, message)

    async def _answer(self, handler: Handler | None, sender: Peer, corr: int, message: Any) -> None:
        if handler is None:
            self._stats["dropped_no_handler"] += 1
            reply: tuple[Any, ...] = (_ERROR, corr, self.local, "unknown message type")
        else:
            try:
                result = await handler(sender, message)
            except Exception as exc:
                self._stats["handler_errors"] += 1
                log.warning("handler for %s failed", type(message).__name__, exc_info=True)
                reply = (_ERROR, corr, self.local, f"{type(exc).__name__}: {exc}")
            else:
                payload = self._wire(result) if result is not None else None
                reply = (_RESPONSE, corr, self.local, payload)
        if self.local.address not in self.sim.crashed and not self._detached:
            self.sim._transmit(self, sender.address, reply)
