"""SimNetwork: the in-memory Network under MockClock, with faults, deterministic per seed."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from tests.transport.conftest import Answer, Ask, Note
from trio_zeebe.testing.network import LinkFaults, SimEndpoint, SimNetwork
from trio_zeebe.transport.api import Peer, PeerUnavailable, RemoteError, RequestTimeout

A, B, C = "10.0.0.1:26502", "10.0.0.2:26502", "10.0.0.3:26502"


def endpoints(sim: SimNetwork, n: int = 3) -> tuple[list[SimEndpoint], list[list[tuple[int, int]]]]:
    eps, logs = [], []
    for i, address in enumerate([A, B, C][:n]):
        ep = sim.endpoint(Peer(i, address))
        log: list[tuple[int, int]] = []

        async def on_note(peer: Peer, msg: Note, log: list[tuple[int, int]] = log) -> None:
            log.append((peer.node_id, msg.n))

        async def on_ask(peer: Peer, msg: Ask, me: int = i) -> Answer:
            if msg.delay:
                await trio.sleep(msg.delay)
            if msg.fail:
                raise ValueError("nope")
            return Answer(msg.n, me)

        ep.on(Note, on_note)
        ep.on(Ask, on_ask)
        eps.append(ep)
        logs.append(log)
    return eps, logs


async def start(nursery: trio.Nursery, eps: list[SimEndpoint]) -> None:
    for ep in eps:
        await nursery.start(ep.run)


async def test_round_trips_and_errors(autojump_clock: trio.testing.MockClock) -> None:
    sim = SimNetwork(random.Random(1))
    sim.set_faults(LinkFaults(delay=(0.001, 0.005)))
    (a, b, _), logs = endpoints(sim)
    async with trio.open_nursery() as n:
        await start(n, [a, b])
        for i in range(10):
            a.send(B, Note(i))
        assert await a.request(B, Ask(1), timeout=1) == Answer(1, 1)
        assert await b.request(A, Ask(2), timeout=1) == Answer(2, 0)
        assert await a.request(A, Ask(3), timeout=1) == Answer(3, 0)  # to self
        with pytest.raises(RemoteError, match="ValueError: nope"):
            await a.request(B, Ask(4, fail=True), timeout=1)
        with pytest.raises(RequestTimeout):
            await a.request(B, Ask(5, delay=2), timeout=1)
        await trio.sleep(0.1)
        assert sorted(logs[1]) == [(0, i) for i in range(10)]
        n.cancel_scope.cancel()


async def test_drop_everything_times_out_requests(autojump_clock: trio.testing.MockClock) -> None:
    sim = SimNetwork(random.Random(2))
    (a, b, _), logs = endpoints(sim)
    sim.set_faults(LinkFaults(drop=1.0), A, B)
    async with trio.open_nursery() as n:
        await start(n, [a, b])
        a.send(B, Note(1))
        with pytest.raises(RequestTimeout):
            await a.request(B, Ask(1), timeout=0.5)
        b.send(A, Note(2))  # the other direction is unaffected
        await trio.sleep(0.01)
        assert logs[1] == [] and logs[0] == [(1, 2)]
        assert sim.stats()["dropped_fault"] == 2
        n.cancel_scope.cancel()


async def test_partition_isolate_heal(autojump_clock: trio.testing.MockClock) -> None:
    sim = SimNetwork(random.Random(3))
    (a, b, c), logs = endpoints(sim)
    async with trio.open_nursery() as n:
        await start(n, [a, b, c])
        sim.partition([A, B], [C])
        a.send(B, Note(1))
        a.send(C, Note(2))
        c.send(A, Note(3))
        with pytest.raises(RequestTimeout):
            await c.request(B, Ask(1), timeout=0.2)
        sim.heal()
        sim.isolate(B)
        a.send(B, Note(4))
        a.send(C, Note(5))
        sim.heal()
        a.send(B, Note(6))
        await trio.sleep(0.01)
        assert logs == [[], [(0, 1), (0, 6)], [(0, 5)]]
        assert await c.request(B, Ask(2), timeout=1) == Answer(2, 1)
        n.cancel_scope.cancel()


async def test_partition_drops_messages_already_in_flight(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = SimNetwork(random.Random(4))
    sim.set_faults(LinkFaults(delay=(0.1, 0.1)))
    (a, b), logs = endpoints(sim, 2)
    async with trio.open_nursery() as n:
        await start(n, [a, b])
        a.send(B, Note(1))
        await trio.sleep(0.05)
        sim.isolate(B)
        await trio.sleep(0.1)
        assert logs[1] == [] and sim.stats()["dropped_partition"] == 1
        n.cancel_scope.cancel()


async def test_duplicate_and_reorder(autojump_clock: trio.testing.MockClock) -> None:
    sim = SimNetwork(random.Random(5))
    sim.set_faults(LinkFaults(duplicate=1.0))
    (a, b), logs = endpoints(sim, 2)
    async with trio.open_nursery() as n:
        await start(n, [a, b])
        a.send(B, Note(1))
        assert await a.request(B, Ask(1), timeout=1) == Answer(1, 1)  # extra response ignored
        await trio.sleep(0.01)
        assert logs[1] == [(0, 1), (0, 1)]
        sim.set_faults(LinkFaults(reorder=0.5, reorder_delay=0.05))
        logs[1].clear()
        for i in range(50):
            a.send(B, Note(i))
        await trio.sleep(0.1)
        got = [m for _, m in logs[1]]
        assert sorted(got) == list(range(50)) and got != list(range(50))
        n.cancel_scope.cancel()


async def test_crash_and_restart(autojump_clock: trio.testing.MockClock) -> None:
    sim = SimNetwork(random.Random(6))
    sim.set_faults(LinkFaults(delay=(0.01, 0.02)))
    (a, b), logs = endpoints(sim, 2)
    async with trio.open_nursery() as n:
        await start(n, [a, b])

        async def crash_soon() -> None:
            await trio.sleep(0.1)
            sim.crash(B)

        n.start_soon(crash_soon)
        with pytest.raises(PeerUnavailable):  # pending request to B fails at the crash
            await a.request(B, Ask(1, delay=5), timeout=10)
        with pytest.raises(PeerUnavailable):  # like a refused connection
            await a.request(B, Ask(2), timeout=10)
        a.send(B, Note(1))
        sim.restart(B)
        assert await a.request(B, Ask(3), timeout=1) == Answer(3, 1)
        await trio.sleep(0.1)
        assert logs[1] == []
        n.cancel_scope.cancel()


async def _scenario(seed: int) -> tuple[list[list[tuple[int, int]]], dict[str, int], float]:
    sim = SimNetwork(random.Random(seed))
    sim.set_faults(
        LinkFaults(drop=0.2, delay=(0.001, 0.02), duplicate=0.1, reorder=0.2, reorder_delay=0.05)
    )
    eps, logs = endpoints(sim)
    async with trio.open_nursery() as n:
        await start(n, eps)
        outcomes = 0
        for i in range(60):
            src, dst = eps[i % 3], [A, B, C][(i + 1) % 3]
            src.send(dst, Note(i))
            try:
                await src.request(dst, Ask(i), timeout=0.05)
                outcomes += 1
            except RequestTimeout:
                pass
            if i == 30:
                sim.partition([A], [B, C])
            if i == 45:
                sim.heal()
        await trio.sleep(1)
        n.cancel_scope.cancel()
    return logs, sim.stats(), trio.current_time()


async def test_same_seed_same_run(autojump_clock: trio.testing.MockClock) -> None:
    first = await _scenario(42)
    second = await _scenario(42)
    other = await _scenario(43)
    assert first[0] == second[0] and first[1] == second[1]
    assert first[2] - 0 > 0
    assert (first[0], first[1]) != (other[0], other[1])
    assert first[1]["dropped_fault"] > 0 and first[1]["duplicated"] > 0
