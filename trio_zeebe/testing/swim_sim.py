"""A whole SWIM cluster in one process: N sans-IO membership cores on a virtual clock.

:class:`SwimSim` needs no trio: one priority queue holds message deliveries and per-node tick
wake-ups, and each node is ticked at its core's ``next_deadline()``. Faults: per-message loss,
per-node slowness (its inbox is processed late), crash/restart and partitions. Everything random
comes from one seed: same seed, same run. With ``wire=True`` every message goes through the
codec, as on a real network. Tests and ``bench/swim_sim.py`` use it; the Raft counterpart is
:mod:`trio_zeebe.testing.raft_group`.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable

from trio_zeebe import codec
from trio_zeebe.membership import Event, State, SwimConfig, SwimCore

BASE_INCARNATION = 1_700_000_000_000  # "wall clock ms" at virtual time 0

_TICK = 0
_DELIVER = 1


def address_of(i: int) -> str:
    return f"node{i}:26502"


class SimNode:
    def __init__(self, index: int, core: SwimCore) -> None:
        self.index = index
        self.core = core
        self.up = True
        self.slow = 0.0  # extra delay before this node sees a message
        self.tick_at = float("inf")


class SwimSim:
    """``n`` SWIM cores (node ids 0..n-1) and the network between them."""

    def __init__(
        self,
        n: int,
        *,
        seed: int = 0,
        config: SwimConfig | None = None,
        loss: float = 0.0,
        latency: tuple[float, float] = (0.0005, 0.003),
        wire: bool = False,
    ) -> None:
        self.rng = random.Random(seed)
        self.config = config or SwimConfig()
        self.loss = loss
        self.latency = latency
        self.wire = wire
        self.now = 0.0
        self.sent = 0
        self.events: list[tuple[float, int, Event]] = []
        self._queue: list[tuple[float, int, int, int, object]] = []
        self._counter = 0
        self._group: dict[int, int] = {}
        self._by_address: dict[str, int] = {address_of(i): i for i in range(n)}
        self.nodes = [SimNode(i, self._new_core(i)) for i in range(n)]

    # ---------------------------------------------------------------- control

    def _new_core(self, i: int) -> SwimCore:
        return SwimCore(
            node_id=i,
            address=address_of(i),
            incarnation=BASE_INCARNATION + int(self.now * 1000),
            rng=random.Random(self.rng.getrandbits(64)),
            config=self.config,
            now=self.now,
        )

    def join(self, i: int, contacts: Iterable[int]) -> None:
        node = self.nodes[i]
        node.core.join(address_of(c) for c in contacts)
        self._after(node)

    def join_all(self, contact: int = 0) -> None:
        for i in range(len(self.nodes)):
            self.join(i, [contact])

    def leave(self, i: int) -> None:
        """Graceful leave: the node announces it, then stops."""
        node = self.nodes[i]
        node.core.leave()
        self._after(node)
        node.up = False

    def set_properties(self, i: int, properties: dict[str, str]) -> None:
        node = self.nodes[i]
        node.core.set_properties(properties)
        self._after(node)

    def crash(self, i: int) -> None:
        self.nodes[i].up = False

    def restart(self, i: int, contacts: Iterable[int]) -> None:
        node = self.nodes[i]
        node.core = self._new_core(i)
        node.up = True
        node.tick_at = float("inf")
        self.join(i, contacts)

    def partition(self, *groups: Iterable[int]) -> None:
        self._group = {i: g for g, members in enumerate(groups) for i in members}

    def heal(self) -> None:
        self._group = {}

    def set_slow(self, i: int, delay: float) -> None:
        self.nodes[i].slow = delay

    # ---------------------------------------------------------------- running

    def run_until(self, t: float) -> None:
        queue = self._queue
        while queue and queue[0][0] <= t:
            when, _, kind, index, payload = heapq.heappop(queue)
            self.now = when
            node = self.nodes[index]
            if not node.up:
                continue
            if kind == _TICK:
                if when != node.tick_at:
                    continue  # superseded wake-up
                node.tick_at = float("inf")
                node.core.tick(when)
            else:
                node.core.step(payload, when)
            self._after(node)
        self.now = t

    def run_for(self, dt: float) -> None:
        self.run_until(self.now + dt)

    def _push(self, when: float, kind: int, index: int, payload: object) -> None:
        self._counter += 1
        heapq.heappush(self._queue, (when, self._counter, kind, index, payload))

    def _after(self, node: SimNode) -> None:
        out = node.core.take_outputs()
        for event in out.events:
            self.events.append((self.now, node.index, event))
        for send in out.sends:
            self.sent += 1
            dst = self._by_address.get(send.address)
            if dst is None or self.rng.random() < self.loss:
                continue
            if self._group and self._group.get(node.index) != self._group.get(dst):
                continue
            message: object = send.message
            if self.wire:
                message = codec.decode(codec.encode(message))
            delay = self.rng.uniform(*self.latency) + self.nodes[dst].slow
            self._push(self.now + delay, _DELIVER, dst, message)
        deadline = max(node.core.next_deadline(), self.now + 1e-4)
        if deadline < node.tick_at:
            node.tick_at = deadline
            self._push(deadline, _TICK, node.index, None)

    # ---------------------------------------------------------------- observing

    def up_nodes(self) -> list[int]:
        return [n.index for n in self.nodes if n.up]

    def state_of(self, observer: int, subject: int) -> State | None:
        record = self.nodes[observer].core.members(include_dead=True).get(subject)
        return None if record is None else record.state

    def sees_exactly(self, observer: int, expected: Iterable[int]) -> bool:
        """The observer's live view (alive, not suspect) is exactly ``expected``."""
        view = self.nodes[observer].core.members(include_dead=False)
        alive = {i for i, m in view.items() if m.state is State.ALIVE}
        return alive == set(expected) and len(view) == len(alive)

    def converged(self, group: Iterable[int] | None = None) -> bool:
        members = list(self.up_nodes() if group is None else group)
        return all(self.sees_exactly(i, members) for i in members)

    def run_until_converged(self, limit: float, group: Iterable[int] | None = None) -> float | None:
        """Step in 0.25 s slices until converged; the virtual time it took, or None."""
        start = self.now
        members = None if group is None else list(group)
        while self.now - start < limit:
            if self.converged(members):
                return self.now - start
            self.run_for(0.25)
        return self.now - start if self.converged(members) else None
