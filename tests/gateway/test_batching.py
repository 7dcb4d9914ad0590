"""Batched forwarding: the gateway side (ForwardBatcher) and the leader side (LeaderExecutor)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import trio
import trio.testing

from trio_zeebe.gateway.batching import ForwardBatcher
from trio_zeebe.gateway.forward import (
    ForwardCommands,
    ForwardReplies,
    ForwardReply,
    LeaderExecutor,
    Status,
)
from trio_zeebe.processing.processor import NotServing
from trio_zeebe.raft.errors import Backpressure, LeadershipLost, NotLeader
from trio_zeebe.transport.api import NotSent, Peer, RequestTimeout, TransportError


class FakeNetwork:
    """Answers each ForwardCommands with ``answer(request)`` after ``delay``."""

    def __init__(self, answer: Any, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.requests: list[tuple[str, ForwardCommands]] = []

    async def request(self, address: str, message: Any, *, timeout: float) -> Any:  # noqa: ASYNC109
        self.requests.append((address, message))
        with trio.fail_after(timeout):
            await trio.sleep(self.delay)
        return self.answer(message)


def echo(message: ForwardCommands) -> ForwardReplies:
    return ForwardReplies(
        tuple(ForwardReply(Status.OK, b"%d:" % pid + command) for pid, command in message.commands)
    )


async def forward_all(
    batcher: ForwardBatcher, calls: Sequence[tuple[str, int, bytes, float]]
) -> list[Any]:
    """Start every call in the same scheduler round; each one's reply or exception."""
    results: list[Any] = [None] * len(calls)

    async def one(i: int) -> None:
        address, pid, command, timeout = calls[i]
        try:
            results[i] = await batcher.forward(address, pid, command, timeout)
        except TransportError as exc:
            results[i] = exc

    async with trio.open_nursery() as nursery:
        for i in range(len(calls)):
            nursery.start_soon(one, i)
    return results


async def test_commands_queued_together_share_one_request_per_broker(
    autojump_clock: trio.testing.MockClock,
) -> None:
    network = FakeNetwork(echo, delay=0.01)
    batcher = ForwardBatcher(network)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(batcher.run)
        calls = [("b:1", 1, b"a", 5.0), ("b:2", 2, b"b", 5.0), ("b:1", 3, b"c", 5.0)]
        results = await forward_all(batcher, calls)
        assert [r.result for r in results] == [b"1:a", b"2:b", b"3:c"]  # each its own answer
        # (trio runs the callers in random order, so a batch's order is not fixed)
        assert sorted((a, sorted(m.commands)) for a, m in network.requests) == [
            ("b:1", [(1, b"a"), (3, b"c")]),
            ("b:2", [(2, b"b")]),
        ]
        # Later commands go in a later request: nothing waits for a batch to fill.
        assert (await batcher.forward("b:1", 1, b"d", 5.0)).result == b"1:d"
        assert len(network.requests) == 3
        nursery.cancel_scope.cancel()


async def test_a_failed_request_fails_each_of_its_commands(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def refuse(message: ForwardCommands) -> Any:
        raise NotSent("connection refused")

    async with trio.open_nursery() as nursery:
        batcher = ForwardBatcher(FakeNetwork(refuse))  # type: ignore[arg-type]
        await nursery.start(batcher.run)
        results = await forward_all(batcher, [("b:1", 1, b"a", 5.0), ("b:1", 2, b"b", 5.0)])
        assert all(isinstance(r, NotSent) for r in results)  # provably not delivered: retry

        short = ForwardBatcher(FakeNetwork(lambda m: ForwardReplies(()), delay=0.0))  # type: ignore[arg-type]
        await nursery.start(short.run)
        (wrong,) = await forward_all(short, [("b:1", 1, b"a", 5.0)])
        assert isinstance(wrong, TransportError) and "ForwardReplies" in str(wrong)
        nursery.cancel_scope.cancel()


async def test_each_command_keeps_its_own_timeout(autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        batcher = ForwardBatcher(FakeNetwork(echo, delay=2.0))  # type: ignore[arg-type]
        await nursery.start(batcher.run)
        quick, patient = await forward_all(batcher, [("b:1", 1, b"a", 1.0), ("b:1", 1, b"b", 5.0)])
        assert isinstance(quick, RequestTimeout)
        assert patient.result == b"1:b"
        nursery.cancel_scope.cancel()


class FakeProcessor:
    def __init__(self, outcome: Any = None) -> None:
        self.outcome = outcome
        self.calls: list[list[bytes]] = []
        self.release = trio.Event()

    async def submit_many(self, commands: Sequence[bytes]) -> list[bytes | Exception]:
        self.calls.append(list(commands))
        await self.release.wait()
        if isinstance(self.outcome, NotLeader):
            raise self.outcome
        if self.outcome is not None:
            return [self.outcome] * len(commands)
        return [b"done:" + c for c in commands]


class FakePartitions:
    node_id = 7

    def __init__(self, processors: dict[int, FakeProcessor]) -> None:
        self.processors = processors

    def processor(self, pid: int) -> FakeProcessor | None:
        return self.processors.get(pid)


async def test_leader_takes_what_fits_its_in_flight_bound_and_refuses_the_rest() -> None:
    processor = FakeProcessor()
    executor = LeaderExecutor(FakePartitions({1: processor}), max_inflight=3)  # type: ignore[arg-type]
    replies: list[ForwardReply] = []

    async def run() -> None:
        replies.extend(await executor.execute_many(1, [b"a", b"b", b"c", b"d", b"e"]))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await trio.testing.wait_all_tasks_blocked()
        assert processor.calls == [[b"a", b"b", b"c"]]  # proposed together
        assert executor.inflight == {1: 3}
        busy = await executor.execute(1, b"f", 5.0)
        assert busy.status == Status.BACKPRESSURE and "max_inflight_per_partition" in busy.message
        processor.release.set()
    assert [r.status for r in replies] == [Status.OK] * 3 + [Status.BACKPRESSURE] * 2
    assert [r.result for r in replies[:3]] == [b"done:a", b"done:b", b"done:c"]
    assert executor.inflight == {} and executor.refused == 3


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (NotServing(7), Status.NOT_SERVING),
        (NotLeader(2), Status.NOT_LEADER),
        (LeadershipLost("gone"), Status.LOST),
        (Backpressure("full"), Status.BACKPRESSURE),
    ],
)
async def test_refusals_become_statuses_the_gateway_can_act_on(
    outcome: Exception, status: Status
) -> None:
    processor = FakeProcessor(outcome)
    processor.release.set()
    executor = LeaderExecutor(FakePartitions({1: processor}), max_inflight=10)  # type: ignore[arg-type]
    replies = await executor.execute_many(1, [b"a", b"b"])
    assert [r.status for r in replies] == [status, status]
    if status == Status.NOT_LEADER:
        assert replies[0].leader == 2
    assert executor.inflight == {}


async def test_one_request_for_several_partitions_answers_in_order() -> None:
    first, second = FakeProcessor(), FakeProcessor()
    first.release.set()
    second.release.set()
    executor = LeaderExecutor(FakePartitions({1: first, 2: second}), max_inflight=10)  # type: ignore[arg-type]
    request = ForwardCommands(((2, b"x"), (1, b"y"), (3, b"z"), (2, b"w")))
    answer = await executor.on_forward(Peer(1, "b:1"), request)
    assert [(r.status, r.result) for r in answer.replies] == [
        (Status.OK, b"done:x"),
        (Status.OK, b"done:y"),
        (Status.NO_PARTITION, b""),
        (Status.OK, b"done:w"),
    ]
    assert second.calls == [[b"x", b"w"]]  # a partition's share is proposed together


async def test_batches_stay_far_below_the_message_size_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    network = FakeNetwork(echo)
    batcher = ForwardBatcher(network)  # type: ignore[arg-type]
    big = b"v" * (400 * 1024)  # three fit in one request by count, not by size
    async with trio.open_nursery() as nursery:
        await nursery.start(batcher.run)
        results = await forward_all(batcher, [("b:1", 1, big, 5.0)] * 5)
        assert all(r.status == Status.OK for r in results)
        sizes = sorted(sum(len(c) for _, c in m.commands) for _, m in network.requests)
        assert len(network.requests) == 3 and max(sizes) <= 1024 * 1024
        nursery.cancel_scope.cancel()
